"""Service-level rules: events through record_event with version bumps, no half-written change."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.agents.models import Agent, AgentEvent, AgentStatus, AgentTask
from apps.agents.services import (
    agent_heartbeat,
    agent_register,
    agent_set_status,
    task_assign,
    task_complete,
)

pytestmark = pytest.mark.django_db


def test_register_is_idempotent_and_bumps_versions(project):
    agent, created = agent_register(project=project, name="a", external_id="x")
    again, created_again = agent_register(project=project, name="b", external_id="x")
    assert created and not created_again and again.pk == agent.pk
    agent.refresh_from_db()
    assert agent.name == "b" and agent.version == 3  # 1 + registered + updated
    assert list(AgentEvent.objects.values_list("kind", flat=True).order_by("id")) == [
        "agent.registered", "agent.updated"]


def test_every_status_change_records_one_event_and_bumps_the_version(make_agent):
    agent = make_agent()
    version = Agent.objects.get(pk=agent.pk).version
    agent_since = Agent.objects.get(pk=agent.pk).status_since.isoformat()
    agent_set_status(agent=agent, status="blocked", reason="needs a key")
    agent_set_status(agent=agent, status="idle")
    agent.refresh_from_db()
    assert agent.version == version + 2
    events = list(AgentEvent.objects.filter(agent=agent).order_by("id"))[-2:]
    assert [e.kind for e in events] == ["agent.blocked", "agent.unblocked"]
    assert events[0].data == {"from": "idle", "to": "blocked", "reason": "needs a key",
                              "since": agent_since}
    # The unblock says since when it was blocked: the rollups count the time spent there.
    assert events[1].data["since"] == events[0].ts.isoformat()


def test_task_assign_links_a_linear_issue(make_agent):
    agent = make_agent()
    task = task_assign(agent=agent, title="LIN-7 fix login", linear_issue_id="lin_7", priority=2)
    assert task.linear_issue_id == "lin_7" and task.status == "in_progress"
    done = task_complete(task=task, result="PR #12")
    again = task_complete(task=task, result="other")
    assert done.status == again.status == "completed" and again.result == "PR #12"
    assert AgentEvent.objects.filter(kind="task.completed").count() == 1


def test_a_failing_service_writes_nothing(make_agent):
    agent = make_agent()
    events, version = AgentEvent.objects.count(), Agent.objects.get(pk=agent.pk).version
    with pytest.raises(ValidationError):
        task_assign(agent=agent, title="x" * 400)
    assert not AgentTask.objects.exists()
    assert AgentEvent.objects.count() == events
    assert Agent.objects.get(pk=agent.pk).version == version
    assert Agent.objects.get(pk=agent.pk).status == AgentStatus.IDLE


def test_reactors_hear_state_changes_after_commit(make_agent, django_capture_on_commit_callbacks):
    from apps.core.events import register_reactor

    heard = []
    register_reactor("test-agents", lambda eid, kind, pid, aid: heard.append((kind, aid)))
    agent = make_agent()
    with django_capture_on_commit_callbacks(execute=True):
        agent_set_status(agent=agent, status="blocked", reason="r")
        assert heard == []
    assert ("agent.blocked", agent.pk) in heard


def test_a_plain_heartbeat_publishes_nothing(make_agent, django_capture_on_commit_callbacks):
    agent = make_agent()
    with django_capture_on_commit_callbacks() as callbacks:
        assert agent_heartbeat(agent=agent) == []
    assert callbacks == []
