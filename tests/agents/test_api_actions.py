"""Steering endpoints: /actions, /assign, /block, /unblock, /complete, /error, /tasks."""

from __future__ import annotations

import pytest

from apps.agents.models import (
    AgentCommand,
    AgentEvent,
    AgentStatus,
    AgentTask,
    CommandAction,
    TaskStatus,
)

pytestmark = pytest.mark.django_db


def url(agent, tail):
    return f"/api/v1/agents/{agent.pk}/{tail}"


def test_actions_change_state_and_queue_a_command(api, agent):
    r = api.post(url(agent, "actions"), {"action": "sleep", "reason": "night"}, format="json")
    assert r.status_code == 201
    assert r.json()["agent"]["status"] == "sleeping"
    assert r.json()["command"]["action"] == "sleep"
    r = api.post(url(agent, "actions"), {"action": "wake"}, format="json")
    assert r.json()["agent"]["status"] == "idle"
    r = api.post(url(agent, "actions"), {"action": "stop"}, format="json")
    assert r.json()["agent"]["status"] == "stopped"
    r = api.post(url(agent, "actions"), {"action": "restart"}, format="json")
    assert r.json()["agent"]["status"] == "idle"
    assert list(AgentCommand.objects.filter(agent=agent).values_list("action", flat=True)) == [
        "sleep", "wake", "stop", "restart"]
    kinds = list(AgentEvent.objects.filter(agent=agent).values_list("kind", flat=True))
    assert "agent.sleeping" in kinds and "agent.woke" in kinds


def test_actions_reject_unknown_actions(api, agent):
    r = api.post(url(agent, "actions"), {"action": "explode"}, format="json")
    assert r.status_code == 400 and "action" in r.json()["details"]
    assert not AgentCommand.objects.exists()


def test_assign_starts_a_task_on_a_free_agent(api, agent):
    r = api.post(url(agent, "assign"), {"title": "Fix CI", "priority": 2,
                                        "linear_issue_id": "LIN-1"}, format="json")
    assert r.status_code == 201
    task = AgentTask.objects.get(pk=r.json()["id"])
    assert task.status == TaskStatus.IN_PROGRESS and task.linear_issue_id == "LIN-1"
    agent.refresh_from_db()
    assert agent.status == AgentStatus.WORKING and agent.current_task == task
    command = AgentCommand.objects.get(agent=agent)
    assert command.action == CommandAction.TASK and command.data["task_id"] == task.pk
    event = AgentEvent.objects.get(kind="task.assigned")
    assert event.data == {"task_id": task.pk, "title": "Fix CI", "linear_issue_id": "LIN-1",
                          "priority": 2}


def test_assign_rejects_bad_input(api, agent):
    r = api.post(url(agent, "assign"), {"priority": 9}, format="json")
    assert r.status_code == 400 and set(r.json()["details"]) == {"title", "priority"}
    assert not AgentTask.objects.exists()


def test_block_and_unblock_return_to_the_previous_state(api, agent):
    api.post(url(agent, "assign"), {"title": "t"}, format="json")
    r = api.post(url(agent, "block"), {"reason": "waiting for input"}, format="json")
    assert r.json()["status"] == "blocked" and r.json()["status_reason"] == "waiting for input"
    r = api.post(url(agent, "unblock"), {}, format="json")
    assert r.json()["status"] == "working"
    assert api.post(url(agent, "block"), {}, format="json").status_code == 400


def test_complete_hands_out_the_next_task(api, agent):
    first = api.post(url(agent, "assign"), {"title": "one"}, format="json").json()
    second = api.post(url(agent, "assign"), {"title": "two"}, format="json").json()
    assert second["status"] == "pending"
    r = api.post(url(agent, "complete"), {"result": "merged"}, format="json")
    assert r.status_code == 200 and r.json()["id"] == first["id"]
    assert r.json()["status"] == "completed" and r.json()["result"] == "merged"
    agent.refresh_from_db()
    assert agent.current_task_id == second["id"]


def test_complete_needs_a_task(api, agent, foreign_agent):
    r = api.post(url(agent, "complete"), {}, format="json")
    assert r.status_code == 400 and "task" in r.json()["details"]
    from apps.agents.services import task_assign

    foreign = task_assign(agent=foreign_agent, title="theirs")
    r = api.post(url(agent, "complete"), {"task": foreign.pk}, format="json")
    assert r.status_code == 400
    foreign.refresh_from_db()
    assert foreign.status == TaskStatus.IN_PROGRESS


def test_error_records_and_counts(api, agent):
    for _ in range(3):
        r = api.post(url(agent, "error"), {"message": "tool crashed", "data": {"code": 1}},
                     format="json")
        assert r.status_code == 201
    assert r.json()["agent"]["status"] == "blocked"
    assert AgentEvent.objects.filter(agent=agent, kind="agent.error").count() == 3
    assert api.post(url(agent, "error"), {}, format="json").status_code == 400


def test_tasks_list_create_and_patch(api, agent):
    created = api.post(url(agent, "tasks"), {"title": "write docs", "description": "README"},
                       format="json")
    assert created.status_code == 201
    task_id = created.json()["id"]
    listed = api.get(url(agent, "tasks")).json()["results"]
    assert [t["id"] for t in listed] == [task_id]
    assert api.get(url(agent, "tasks"), {"status": "completed"}).json()["results"] == []
    r = api.patch(url(agent, f"tasks/{task_id}"), {"title": "write better docs",
                                                   "progress": {"pct": 50}}, format="json")
    assert r.status_code == 200 and r.json()["title"] == "write better docs"
    r = api.patch(url(agent, f"tasks/{task_id}"), {"status": "failed", "error": "no access"},
                  format="json")
    assert r.json()["status"] == "failed" and r.json()["error"] == "no access"
    assert AgentEvent.objects.filter(kind="task.failed").count() == 1
    assert api.get(url(agent, f"tasks/{task_id}")).json()["status"] == "failed"


def test_task_patch_validates(api, agent, foreign_agent):
    task_id = api.post(url(agent, "tasks"), {"title": "t"}, format="json").json()["id"]
    r = api.patch(url(agent, f"tasks/{task_id}"), {"status": "in_progress", "priority": "x"},
                  format="json")
    assert r.status_code == 400 and set(r.json()["details"]) == {"status", "priority"}
    assert api.patch(url(foreign_agent, f"tasks/{task_id}"), {"title": "x"},
                     format="json").status_code == 404
    assert api.patch(url(agent, "tasks/9999"), {"title": "x"}, format="json").status_code == 404


ENDPOINTS = [
    ("post", "actions", {"action": "sleep"}),
    ("post", "assign", {"title": "t"}),
    ("post", "block", {"reason": "r"}),
    ("post", "unblock", {}),
    ("post", "complete", {"result": "r"}),
    ("post", "error", {"message": "m"}),
    ("post", "tasks", {"title": "t"}),
    ("post", "workflow", {"steps": [{"title": "t"}]}),
    ("post", "workflow/signal", {"signal": "pause"}),
    ("post", "heartbeat", {}),
    ("get", "tasks", None),
    ("get", "workflow", None),
]


@pytest.mark.parametrize(("method", "tail", "body"), ENDPOINTS)
def test_agent_endpoints_enforce_permissions(method, tail, body, read_api, other_api, anon_api,
                                             agent):
    before = AgentEvent.objects.count()
    call = lambda client: getattr(client, method)(url(agent, tail), body, format="json")  # noqa: E731
    assert call(anon_api).status_code == 401
    assert call(other_api).status_code == 404
    if method == "post":
        assert call(read_api).status_code == 403
    else:
        assert call(read_api).status_code in (200, 404)  # 404: no workflow yet
    assert AgentEvent.objects.count() == before


@pytest.mark.parametrize(("method", "tail", "body"), ENDPOINTS)
def test_agent_endpoints_404_for_unknown_agents(method, tail, body, api):
    r = getattr(api, method)(f"/api/v1/agents/424242/{tail}", body, format="json")
    assert r.status_code == 404 and r.json()["error"]
