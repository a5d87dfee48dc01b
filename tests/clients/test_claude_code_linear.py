"""Switchboard as a Linear agent with the real Claude Code CLI: an issue delegated in the fake
Linear reaches a real, idle Claude Code session through the live platform (web, worker, beat);
its permission prompt becomes an elicitation in Linear, the human's reply there unblocks it,
and its answer comes back to Linear as the session's response."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.agents.models import Agent, AgentStatus, ApprovalRequest, TaskStatus
from apps.linear.models import LinearIssue
from apps.linear.models_agent import LinearAgentSession, SessionState
from tests.clients.claude_cli import Claude
from tests.clients.conftest import warm_up
from tests.clients.fake_anthropic import FakeAnthropic
from tests.clients.linear_support import (  # noqa: F401 (app_installed: a fixture)
    app_installed,
    delegate,
    deliver,
    kinds,
)
from tests.conftest import make_key
from tests.linear.conftest import fake_linear, linear_conn, mapping, synced  # noqa: F401
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


def test_delegated_in_linear_done_by_claude_code(
        live, project, mapping, app_installed,  # noqa: F811 (fixtures imported above)
        fake_linear, api: FakeAnthropic, tmp_path: Path) -> None:  # noqa: F811
    key = make_key(project, "write")
    warm_up(live.url, key)
    claude = Claude(tmp_path, api.url, live.url, key)
    api.script("LINEARWORKER", [
        {"text": "Ready for work."},
        {"tools": [{"name": "Bash", "input": {"command": "touch released.txt",
                                              "description": "release"}}]},
        {"text": "Released: released.txt is in place."},
    ])
    proc = claude.start("LINEARWORKER wait for tasks", SWITCHBOARD_WAIT_FOR_TASK="90",
                        SWITCHBOARD_APPROVAL_WAIT="90")
    try:
        agent = wait_for(lambda: Agent.objects.filter(status=AgentStatus.IDLE,
                                                      kind="claude-code").first(),
                         timeout=60, message="the Claude Code session to go idle")
        local = LinearIssue.objects.filter(state__type__in=["backlog", "unstarted"]).first()
        session = delegate(live, fake_linear, agent, local)
        first = fake_linear.session_activities(session["id"])[0]["content"]["body"]
        assert agent.name in first and f"/agents/{agent.pk}/" in first
        # Claude Code picks the task up at its Stop hook and asks to run Bash.
        wait_for(lambda: "elicitation" in kinds(fake_linear, session["id"]), timeout=90,
                 message="the permission prompt to become an elicitation")
        elicitation = next(a for a in fake_linear.session_activities(session["id"])
                           if a["content"]["type"] == "elicitation")
        assert "Bash" in elicitation["content"]["body"]
        assert LinearAgentSession.objects.get(linear_id=session["id"]).state == \
            SessionState.AWAITING_INPUT
        assert deliver(live, fake_linear, fake_linear.session_event(
            "prompted", session, body="Allow")).status_code == 200
        wait_for(lambda: kinds(fake_linear, session["id"])[-1:] == ["response"], timeout=90,
                 message="the response in Linear")
    finally:
        from apps.agents.services import agent_action

        for a in Agent.objects.filter(kind="claude-code", parent=None):
            agent_action(agent=a, action="stop", actor_label="test")
        try:
            proc.wait(timeout=60)
        except Exception:  # noqa: BLE001 - a stuck CLI must not outlive the test
            proc.kill()
    assert (claude.cwd / "released.txt").exists()
    assert ApprovalRequest.objects.get(agent=agent).status == "allowed"
    assert kinds(fake_linear, session["id"]) == [
        "thought", "action", "elicitation", "thought", "response"]
    response = fake_linear.session_activities(session["id"])[-1]["content"]["body"]
    assert response == "Released: released.txt is in place."
    task = agent.tasks.get(linear_issue_id=local.linear_id)
    assert task.status == TaskStatus.COMPLETED
    # The session's plan, kept by agentSessionUpdate, ends with every step done.
    wait_for(lambda: fake_linear.agent_sessions[session["id"]].get("plan", [{}])[-1].get(
        "status") == "completed", timeout=15, message="the final plan in Linear")
    plan = fake_linear.agent_sessions[session["id"]]["plan"]
    assert [step["status"] for step in plan] == ["completed"] * 3
    assert plan[1]["content"] == f"{agent.name} works on {local.identifier}"
