"""Who answers for an agent, and the label a team groups agents by: set at registration,
changed by admins, filtered on in the list and the API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.agents.models import Agent
from apps.agents.services import agent_register, agent_set_owner
from apps.core.models import AuditEntry
from apps.projects.models import ApiKey
from tests.conftest import make_key


def test_a_new_agent_belongs_to_whoever_issued_its_key(project, admin_user, anon_api):
    raw = make_key(project)
    ApiKey.objects.filter(project=project).update(created_by=admin_user)
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    r = anon_api.post("/api/v1/agents", {"name": "builder", "external_id": "s-1",
                                         "label": "backend"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["owner"] == admin_user.pk and r.json()["label"] == "backend"
    again = anon_api.post("/api/v1/agents", {"name": "builder", "external_id": "s-1"},
                          format="json")
    assert again.json()["label"] == "backend"  # a re-registration without a label keeps it


def test_events_registration_carries_the_label_and_the_owner(project, admin_user, anon_api):
    raw = make_key(project)
    ApiKey.objects.filter(project=project).update(created_by=admin_user)
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    r = anon_api.post("/api/v1/events", {"events": [{
        "type": "agent.register",
        "data": {"name": "nightly-fixer", "kind": "claude-code", "external_id": "sess-9",
                 "label": "nightly"}}]}, format="json")
    assert r.status_code in (200, 201) and not r.json().get("rejected"), r.content
    agent = Agent.objects.get(external_id="sess-9")
    assert agent.label == "nightly" and agent.owner == admin_user


def test_a_label_too_long_is_refused(api):
    r = api.post("/api/v1/agents", {"name": "x", "label": "x" * 61}, format="json")
    assert r.status_code == 400 and "label" in r.json()["details"]


def test_admins_change_owner_and_label_with_an_audit_entry(project, admin_user, viewer, client):
    agent, _ = agent_register(project=project, name="builder")
    client.force_login(admin_user)
    url = reverse("agent-manage", args=[agent.pk])
    r = client.post(url, {"op": "owner", "owner": viewer.pk, "label": "ci"})
    assert r.status_code == 302
    agent.refresh_from_db()
    assert agent.owner == viewer and agent.label == "ci"
    entry = AuditEntry.objects.get(action="agent.owner_changed")
    assert entry.data["owner"] == viewer.username and entry.data["label"] == "ci"
    page = client.get(reverse("agent-detail", args=[agent.pk])).content.decode()
    assert 'id="agent-label">ci<' in page
    r = client.post(url, {"op": "owner", "owner": "999999", "label": "ci"}, follow=True)
    assert b"No such team member" in r.content


def test_viewers_cannot_change_the_owner(project, viewer, client):
    agent, _ = agent_register(project=project, name="builder")
    client.force_login(viewer)
    r = client.post(reverse("agent-manage", args=[agent.pk]),
                    {"op": "owner", "owner": viewer.pk, "label": "mine"})
    assert r.status_code == 403
    agent.refresh_from_db()
    assert agent.owner is None and agent.label == ""


def test_setting_the_same_values_records_nothing(project, admin_user):
    agent, _ = agent_register(project=project, name="builder", label="ci", owner=admin_user)
    agent_set_owner(agent=agent, owner_id=admin_user.pk, label="ci", actor=admin_user)
    assert not AuditEntry.objects.filter(action="agent.owner_changed").exists()


def test_the_list_filters_by_label_and_owner(project, admin_user, viewer, client):
    agent_register(project=project, name="alpha", label="backend", owner=admin_user)
    agent_register(project=project, name="beta", label="frontend", owner=viewer)
    agent_register(project=project, name="gamma", label="backend", owner=viewer)
    client.force_login(viewer)
    page = client.get(reverse("agents-list"), {"label": "backend"}).content.decode()
    assert "alpha" in page and "gamma" in page and ">beta<" not in page
    page = client.get(reverse("agents-list"), {"label": "backend", "owner": viewer.pk}
                      ).content.decode()
    assert "gamma" in page and ">alpha<" not in page
    full = client.get(reverse("agents-list")).content.decode()
    assert '<option value="frontend"' in full
    assert f'<option value="{admin_user.pk}"' in full
    # Nonsense is ignored or matches nothing, never an error.
    assert client.get(reverse("agents-list"), {"owner": "abc", "label": "x" * 500}
                      ).status_code == 200


def test_the_api_filters_by_label_and_owner(project, admin_user, api):
    agent_register(project=project, name="alpha", label="backend", owner=admin_user)
    agent_register(project=project, name="beta", label="frontend")
    names = [a["name"] for a in api.get("/api/v1/agents", {"label": "backend"}).json()["results"]]
    assert names == ["alpha"]
    names = [a["name"] for a in api.get("/api/v1/agents", {"owner": admin_user.pk}
                                        ).json()["results"]]
    assert names == ["alpha"]
    assert api.get("/api/v1/agents", {"owner": "abc"}).status_code == 400


@pytest.mark.parametrize("owner", ["999999", "x"])
def test_an_unknown_owner_is_refused(project, admin_user, client, owner):
    agent, _ = agent_register(project=project, name="builder", label="ci")
    client.force_login(admin_user)
    r = client.post(reverse("agent-manage", args=[agent.pk]),
                    {"op": "owner", "owner": owner, "label": "other"}, follow=True)
    assert "No such team member." in r.content.decode()
    agent.refresh_from_db()
    assert agent.owner is None and agent.label == "ci"
