"""Archiving and deleting finished agents from the pages: out of the lists, history kept."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.agents.models import Agent, AgentEvent, AgentTask
from apps.agents.services import agent_register, task_assign
from tests.realtime import seed

pytestmark = pytest.mark.django_db


def manage(client, agent, op):
    return client.post(reverse("agent-manage", args=[agent.pk]), {"op": op}, follow=True)


def listed(client, query: str = "") -> str:
    return client.get(reverse("agents-list") + "?project=apollo" + query).content.decode()


def test_an_admin_archives_a_finished_agent_and_it_leaves_the_lists(client, admin_user, project):
    done = seed.agent(project, "finished-run", status="stopped")
    seed.agent(project, "busy-run", status="working")
    client.force_login(admin_user)
    body = listed(client)
    assert "finished-run" in body and "Archive finished (1)" in body
    r = manage(client, done, "archive")
    assert "Archived finished-run." in r.content.decode()
    body = listed(client)
    assert "finished-run" not in body and "busy-run" in body and "Archived (1)" in body
    overview = client.get(reverse("overview") + "?project=apollo").content.decode()
    assert "finished-run" not in overview
    archived = listed(client, "&archived=1")
    assert "finished-run" in archived and "busy-run" not in archived
    assert AgentEvent.objects.filter(kind="agent.archived", agent=done).exists()
    # The agent's own page still works and says so; unarchive brings it back.
    page = client.get(reverse("agent-detail", args=[done.pk])).content.decode()
    assert "Archived" in page and "Unarchive" in page
    manage(client, done, "unarchive")
    assert "finished-run" in listed(client)


def test_a_running_agent_cannot_be_archived_or_deleted(client, admin_user, project):
    busy = seed.agent(project, "busy-run", status="working")
    client.force_login(admin_user)
    for op in ("archive", "delete"):
        body = manage(client, busy, op).content.decode()
        assert "Only stopped or offline agents can be archived or deleted" in body
    busy.refresh_from_db()
    assert busy.archived_at is None


def test_reporting_again_brings_an_archived_agent_back(client, admin_user, project, api):
    done = seed.agent(project, "resumed", status="offline")
    client.force_login(admin_user)
    manage(client, done, "archive")
    r = api.post("/api/v1/events", {"events": [{
        "type": "agent.status", "agent_external_id": "sess-resumed",
        "data": {"status": "working", "reason": "resumed"}}]}, format="json")
    assert r.status_code == 200, r.json()
    done.refresh_from_db()
    assert done.archived_at is None and done.status == "working"
    # The heartbeat endpoint too.
    Agent.objects.filter(pk=done.pk).update(status="stopped")
    manage(client, done, "archive")
    assert api.post(f"/api/v1/agents/{done.pk}/heartbeat", {}, format="json").status_code == 200
    done.refresh_from_db()
    assert done.archived_at is None


def test_archive_finished_archives_every_stopped_or_offline_agent(client, admin_user, project):
    for name, status in [("a", "stopped"), ("b", "offline"), ("c", "idle"), ("d", "error")]:
        seed.agent(project, name, status=status)
    client.force_login(admin_user)
    r = client.post(reverse("agents-archive-finished") + "?project=apollo", follow=True)
    assert "Archived 2 finished agents." in r.content.decode()
    assert set(Agent.objects.filter(archived_at__isnull=False).values_list("name", flat=True)) \
        == {"a", "b"}
    event = AgentEvent.objects.get(kind="agents.archived")
    assert event.data == {"agents": 2} and event.actor == admin_user


def test_deleting_keeps_the_history_in_the_event_log(client, admin_user, project):
    parent = seed.agent(project, "session", status="stopped")
    child, _ = agent_register(project=project, name="session › explore", kind="claude-code",
                              external_id="sess-session:a1", parent=parent)
    Agent.objects.filter(pk=child.pk).update(status="stopped")
    task = task_assign(agent=parent, title="Rename the column")
    before = AgentEvent.objects.filter(agent__in=[parent, child]).count()
    assert before > 0
    client.force_login(admin_user)
    r = manage(client, parent, "delete")
    assert r.redirect_chain[-1][0].startswith(reverse("agents-list"))
    assert "Deleted session and 1 sub-agent; its events stay" in r.content.decode()
    assert not Agent.objects.filter(pk__in=[parent.pk, child.pk]).exists()
    # Every event is still there, unlinked, and the tombstone names the agent.
    assert AgentEvent.objects.filter(agent=None).count() >= before
    tomb = AgentEvent.objects.get(kind="agent.deleted")
    assert tomb.data["name"] == "session" and tomb.data["sub_agents"] == 1
    assert AgentTask.objects.get(pk=task.pk).agent_id is None
    activity = client.get(reverse("activity") + "?project=apollo")
    assert activity.status_code == 200


def test_viewers_cannot_archive_or_delete(client, viewer, project):
    done = seed.agent(project, "finished-run", status="stopped")
    client.force_login(viewer)
    assert client.post(reverse("agent-manage", args=[done.pk]), {"op": "delete"}).status_code \
        == 403
    assert client.post(reverse("agents-archive-finished")).status_code == 403
    assert "Archive finished" not in listed(client)
    assert Agent.objects.filter(pk=done.pk, archived_at=None).exists()


def test_archive_unarchive_and_delete_leave_audit_entries(client, admin_user, project):
    from apps.core.models import AuditEntry

    done = seed.agent(project, "finished-run", status="stopped")
    client.force_login(admin_user)
    manage(client, done, "archive")
    manage(client, done, "unarchive")
    manage(client, done, "delete")
    rows = list(AuditEntry.objects.filter(target_type="agent", target_id=str(done.pk))
                .order_by("id").values_list("action", "actor_label"))
    assert rows == [("agent.archived", admin_user.username),
                    ("agent.unarchived", admin_user.username),
                    ("agent.deleted", admin_user.username)]
    kinds = set(AgentEvent.objects.filter(project=project).values_list("kind", flat=True))
    assert {"agent.archived", "agent.unarchived", "agent.deleted"} <= kinds


def test_the_agent_page_offers_archive_and_a_confirmed_delete_to_admins_only(
        client, admin_user, viewer, project):
    done = seed.agent(project, "finished-run", status="stopped")
    client.force_login(admin_user)
    body = client.get(reverse("agent-detail", args=[done.pk])).content.decode()
    assert 'name="op" value="archive"' in body
    # Delete is behind a disclosure: the first click only shows what will go.
    confirm = body[body.index('id="act-delete"'):]
    assert "<summary" in confirm.split('value="delete"')[0]
    assert "Their events stay in the activity log" in confirm
    client.force_login(viewer)
    body = client.get(reverse("agent-detail", args=[done.pk])).content.decode()
    assert 'value="archive"' not in body and 'id="act-delete"' not in body
