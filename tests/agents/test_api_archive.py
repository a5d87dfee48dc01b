"""POST /api/v1/agents/{id}/archive and /unarchive: the agent page's buttons over the API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.agents.models import Agent, AgentEvent
from apps.core.models import AuditEntry
from tests.conftest import make_key
from tests.realtime import seed

pytestmark = pytest.mark.django_db


def url(agent, tail):
    return f"/api/v1/agents/{agent.pk}/{tail}"


def test_a_write_key_archives_and_unarchives_a_finished_agent(api, project):
    done = seed.agent(project, "finished-run", status="stopped")
    r = api.post(url(done, "archive"))
    assert r.status_code == 200 and r.json()["archived_at"] is not None
    assert Agent.objects.get(pk=done.pk).archived_at is not None
    r = api.post(url(done, "unarchive"))
    assert r.status_code == 200 and r.json()["archived_at"] is None
    kinds = list(AgentEvent.objects.filter(agent=done, kind__endswith="archived")
                 .order_by("id").values_list("kind", flat=True))
    assert kinds == ["agent.archived", "agent.unarchived"]
    actions = list(AuditEntry.objects.filter(target_id=str(done.pk)).order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["agent.archived", "agent.unarchived"]
    assert AuditEntry.objects.filter(target_id=str(done.pk))[0].actor_label.startswith("key:")


def test_a_running_agent_is_a_400(api, project):
    busy = seed.agent(project, "busy", status="working")
    r = api.post(url(busy, "archive"))
    assert r.status_code == 400 and "Only stopped or offline agents" in r.content.decode()
    assert Agent.objects.get(pk=busy.pk).archived_at is None


def test_a_read_key_cannot_archive(read_key, project):
    done = seed.agent(project, "finished-run", status="stopped")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert client.post(url(done, "archive")).status_code == 403
    assert Agent.objects.get(pk=done.pk).archived_at is None


def test_another_projects_key_gets_a_404(project, other_project):
    done = seed.agent(project, "finished-run", status="stopped")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(other_project)}")
    assert client.post(url(done, "archive")).status_code == 404


def test_an_admin_session_archives_a_viewer_session_cannot(admin_user, viewer, project):
    done = seed.agent(project, "finished-run", status="offline")
    client = APIClient()
    client.force_login(viewer)
    assert client.post(url(done, "archive")).status_code == 403
    client.force_login(admin_user)
    r = client.post(url(done, "archive"))
    assert r.status_code == 200
    entry = AuditEntry.objects.get(action="agent.archived", target_id=str(done.pk))
    assert entry.actor == admin_user
