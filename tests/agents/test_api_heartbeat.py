"""POST /agents/{id}/heartbeat and POST /agents/{id}/commands/{id}/ack."""

from __future__ import annotations

import pytest

from apps.agents.models import AgentCommand, AgentEvent, AgentStatus, CommandStatus
from apps.agents.services import agent_action

pytestmark = pytest.mark.django_db


def hb(api, agent, body=None):
    return api.post(f"/api/v1/agents/{agent.pk}/heartbeat", body or {}, format="json")


def test_it_records_a_heartbeat(api, agent):
    r = hb(api, agent)
    assert r.status_code == 200
    assert r.json()["commands"] == [] and r.json()["agent"]["id"] == agent.pk
    before = agent.last_heartbeat_at
    agent.refresh_from_db()
    assert agent.last_heartbeat_at > before


def test_a_plain_heartbeat_takes_at_most_three_queries(api, agent, django_assert_max_num_queries):
    hb(api, agent)  # the first use of a key writes its last_used_at
    with django_assert_max_num_queries(3):
        assert hb(api, agent).status_code == 200
    with django_assert_max_num_queries(3):
        assert hb(api, agent, {"status": "idle"}).status_code == 200


def test_a_plain_heartbeat_writes_no_event(api, agent):
    count = AgentEvent.objects.count()
    hb(api, agent)
    hb(api, agent, {"status": "idle"})
    assert AgentEvent.objects.count() == count


def test_it_changes_status_and_message(api, agent):
    r = hb(api, agent, {"status": "working", "message": "compiling"})
    assert r.json()["agent"]["status"] == "working"
    assert r.json()["agent"]["last_message"] == "compiling"
    assert AgentEvent.objects.filter(agent=agent, kind="agent.status_changed").exists()


def test_it_records_task_progress(api, agent):
    from apps.agents.services import task_assign

    task = task_assign(agent=agent, title="t")
    r = hb(api, agent, {"progress": {"done": 3, "of": 5}})
    assert r.json()["agent"]["current_task"]["progress"] == {"done": 3, "of": 5}
    task.refresh_from_db()
    assert task.progress == {"done": 3, "of": 5}


def test_commands_are_delivered_until_acked(api, agent):
    command = agent_action(agent=agent, action="sleep")
    first = hb(api, agent).json()["commands"]
    second = hb(api, agent).json()["commands"]
    assert [c["id"] for c in first] == [c["id"] for c in second] == [command.pk]
    assert first[0]["action"] == "sleep" and second[0]["delivery_count"] == 2
    r = api.post(f"/api/v1/agents/{agent.pk}/commands/{command.pk}/ack", {"result": {"ok": True}},
                 format="json")
    assert r.status_code == 200 and r.json()["status"] == "acked"
    assert hb(api, agent).json()["commands"] == []
    # acking twice changes nothing
    again = api.post(f"/api/v1/agents/{agent.pk}/commands/{command.pk}/ack", {}, format="json")
    assert again.status_code == 200
    command.refresh_from_db()
    assert command.status == CommandStatus.ACKED and command.result == {"ok": True}
    assert AgentEvent.objects.filter(kind="command.acked").count() == 1


def test_a_heartbeat_brings_an_offline_agent_back(api, agent):
    from apps.agents.models import Agent

    Agent.objects.filter(pk=agent.pk).update(status=AgentStatus.OFFLINE,
                                             previous_status=AgentStatus.IDLE)
    agent.refresh_from_db()
    r = hb(api, agent)
    assert r.json()["agent"]["status"] == "idle"
    assert AgentEvent.objects.filter(agent=agent, kind="agent.online").exists()


def test_it_rejects_bad_heartbeats(api, agent):
    r = hb(api, agent, {"status": "offline", "message": "x" * 3000})
    assert r.status_code == 400
    assert set(r.json()["details"]) == {"status", "message"}


def test_ack_of_unknown_or_foreign_command_is_404(api, agent, foreign_agent):
    foreign = agent_action(agent=foreign_agent, action="stop")
    assert api.post(f"/api/v1/agents/{agent.pk}/commands/{foreign.pk}/ack", {},
                    format="json").status_code == 404
    assert api.post(f"/api/v1/agents/{foreign_agent.pk}/commands/{foreign.pk}/ack", {},
                    format="json").status_code == 404
    assert api.post(f"/api/v1/agents/{agent.pk}/commands/99999/ack", {},
                    format="json").status_code == 404


def test_heartbeat_permissions(read_api, other_api, anon_api, agent):
    assert hb(read_api, agent).status_code == 403
    assert hb(other_api, agent).status_code == 404
    assert hb(anon_api, agent).status_code == 401
    command = agent_action(agent=agent, action="wake")
    url = f"/api/v1/agents/{agent.pk}/commands/{command.pk}/ack"
    assert read_api.post(url, {}, format="json").status_code == 403
    assert other_api.post(url, {}, format="json").status_code == 404
    assert anon_api.post(url, {}, format="json").status_code == 401
    assert AgentCommand.objects.get(pk=command.pk).status == CommandStatus.PENDING


def test_the_fast_path_answers_the_full_agent(api, make_agent):
    from apps.agents.models import AgentCommand
    from apps.agents.services import command_ack, task_assign

    parent = make_agent("parent", metadata={"repo": "switchboard"})
    make_agent("child", parent=parent)
    task_assign(agent=parent, title="ship", priority=2)
    for command in AgentCommand.objects.filter(agent=parent):
        command_ack(command=command)
    parent.refresh_from_db()
    body = hb(api, parent, {"status": "working"}).json()
    agent = body["agent"]
    assert agent["metadata"] == {"repo": "switchboard"}
    assert agent["sub_agent_count"] == 1 and agent["status"] == "working"
    assert agent["current_task"]["title"] == "ship" and agent["current_task"]["priority"] == 2
    assert agent["last_heartbeat_at"].endswith("Z") and agent["version"] == parent.version
    assert api.post("/api/v1/agents/999999/heartbeat", {}, format="json").status_code == 404


def test_it_rejects_a_heartbeat_that_is_not_an_object(api, agent):
    r = api.post(f"/api/v1/agents/{agent.pk}/heartbeat", [1, 2], format="json")
    assert r.status_code == 400 and r.json()["error"]
    r = hb(api, agent, {"message": 42})
    assert r.status_code == 400 and "message" in r.json()["details"]


def test_a_batch_can_leave_commands_waiting_for_the_next_report(api, agent):
    """`commands: false` (the Claude Code hook's keep-alive, which cannot act on commands) keeps
    a heartbeat from taking the agent's commands: they wait, undelivered, for a real hook."""
    agent.external_id = "sess-keepalive"
    agent.save(update_fields=["external_id"])
    command = agent_action(agent=agent, action="stop", actor_label="test")
    body = {"events": [{"type": "agent.heartbeat", "agent_external_id": "sess-keepalive",
                        "data": {}}], "commands": False}
    r = api.post("/api/v1/events", body, format="json")
    assert r.status_code == 200 and r.json()["commands"] == []
    command.refresh_from_db()
    assert command.status == CommandStatus.PENDING and command.delivered_at is None
    r = api.post("/api/v1/events", {**body, "commands": True}, format="json")
    assert [c["id"] for c in r.json()["commands"]] == [command.pk]
    assert api.post("/api/v1/events", {**body, "commands": "no"},
                    format="json").status_code == 400
