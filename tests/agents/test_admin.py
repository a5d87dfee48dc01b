"""The owners' admin for agents goes through the services: events, live pages, alerts."""

from __future__ import annotations

import pytest

from apps.agents.models import Agent, AgentCommand, AgentEvent
from tests.realtime import seed
from tests.support import admin_form_data

pytestmark = pytest.mark.django_db


def test_an_edit_in_the_admin_is_an_event_and_the_status_is_not_a_field(client, owner, project):
    agent = seed.agent(project, "builder", status="working")
    client.force_login(owner)
    url = f"/admin/agents/agent/{agent.pk}/change/"
    page = client.get(url)
    assert "status" not in page.context["adminform"].form.fields  # read-only: use the actions
    r = client.post(url, admin_form_data(client, url, name="builder-2"))
    assert r.status_code == 302, r.content[:2000]
    assert Agent.objects.get(pk=agent.pk).name == "builder-2"
    event = AgentEvent.objects.filter(kind="agent.updated", agent=agent).latest("id")
    assert event.data == {"fields": ["name"]} and event.actor == owner


def test_admin_actions_steer_agents_like_the_control_room(client, owner, project):
    a = seed.agent(project, "a", status="working")
    b = seed.agent(project, "b", status="idle")
    client.force_login(owner)
    r = client.post("/admin/agents/agent/", {"action": "stop_agents",
                                             "_selected_action": [a.pk, b.pk]}, follow=True)
    assert b"Stop sent to 2 agent(s)." in r.content
    assert set(Agent.objects.values_list("status", flat=True)) == {"stopped"}
    assert AgentCommand.objects.filter(action="stop").count() == 2
    changed = AgentEvent.objects.filter(kind="agent.status_changed", actor=owner)
    assert sorted(e.data["to"] for e in changed) == ["stopped", "stopped"]
