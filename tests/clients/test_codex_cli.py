"""The real Codex CLI (from npm, pinned) runs headless against a fake Responses API, with our
hooks installed by `switchboard_hooks.py install codex`, reporting to the live platform: what ends
up in Switchboard is what the real client sent.

Not driven here: PermissionRequest (`codex exec` runs with approvals bypassed, so no prompt ever
opens; the remote-approval code is the Claude Code hook's, tested there) and sub-agents (the fake
model would have to drive Codex's multi-agent tools)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.agents.models import Agent, AgentCommand, AgentEvent, AgentStatus, CommandStatus, ToolSpan
from tests.clients.codex_cli import HOOKS, Codex
from tests.clients.conftest import status_trail as trail
from tests.clients.conftest import warm_up
from tests.clients.fake_responses import FakeResponses
from tests.conftest import make_key
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[FakeResponses]:
    with FakeResponses() as fake:
        yield fake


@pytest.fixture
def codex(live, project, api: FakeResponses, tmp_path: Path) -> Codex:
    key = make_key(project, "write")
    warm_up(live.url, key)
    return Codex(tmp_path, api.url, live.url, key)


def shell(cmd: str) -> dict:
    return {"call": {"name": "exec_command", "arguments": {"cmd": cmd}}}


def session_agent(codex: Codex) -> Agent:
    agent = Agent.objects.filter(kind="codex", parent=None).first()
    assert agent is not None, codex.log()
    return agent


def test_install_keeps_the_users_other_hooks(codex: Codex) -> None:
    path = codex.codex_home / "hooks.json"
    mine = {"type": "command", "command": "notify-send done"}
    settings = json.loads(path.read_text())
    settings["hooks"]["Stop"].insert(0, {"hooks": [mine]})
    path.write_text(json.dumps(settings))
    again = codex.install()  # a second install replaces ours, keeps theirs
    assert again["hooks"]["Stop"][0] == {"hooks": [mine]}
    assert len(again["hooks"]["Stop"]) == 2
    assert "switchboard_hooks" in again["hooks"]["Stop"][1]["hooks"][0]["command"]
    assert "hook codex" in again["hooks"]["PreToolUse"][0]["hooks"][0]["command"]


def test_it_reports_a_real_session(codex: Codex, api: FakeResponses) -> None:
    api.script("LEDGER", [shell("echo balanced"), shell("echo broken; exit 3"),
                          {"text": "The ledger balances."}])
    result = codex.run("LEDGER check the ledger")
    assert result.returncode == 0, result.stderr[-3000:]
    agent = session_agent(codex)
    assert agent.name.startswith("billing-service #"), agent.name
    assert agent.kind == "codex" and agent.model == "fake-codex-1"
    assert agent.status == AgentStatus.STOPPED, (agent.status, agent.status_reason, codex.log())
    assert agent.status_reason == "session ended (other)"
    assert trail(agent)[-3:] == ["working", "idle", "stopped"]

    spans = list(ToolSpan.objects.filter(agent=agent).order_by("started_at"))
    assert [s.tool_name for s in spans] == ["Bash", "Bash"], codex.log()
    ok, failed = spans
    assert ok.span_id.startswith("call_")  # Codex's own tool call id
    assert ok.outcome == "ok" and "balanced" in ok.output and "echo balanced" in ok.input
    assert failed.outcome == "error" and failed.error == "exit code 3"
    assert ok.latency_ms is not None and ok.latency_ms < 5000  # the command's own run time
    assert ok.turn == 1

    # Three model calls, each a token_count in the rollout: counted once each, split as
    # Switchboard counts (fresh input apart from cached, reasoning apart from output).
    usage = list(AgentEvent.objects.filter(agent=agent, kind="agent.usage")
                 .values_list("data", flat=True))
    assert len({u["key"] for u in usage}) == 3, codex.log()
    from apps.telemetry.models import TokenUsage

    rows = TokenUsage.objects.filter(agent=agent)
    assert rows.count() == 3
    assert sum(r.tokens_input for r in rows) == 3 * 500
    assert sum(r.tokens_cache_read for r in rows) == 3 * 1500
    assert sum(r.tokens_output for r in rows) == 3 * 100
    assert sum(r.tokens_reasoning for r in rows) == 3 * 20
    assert codex.log() == "(no hook log)" or "send failed" not in codex.log()

    # The hook's state is lost and the whole rollout is read again: the same keys, no new rows.
    shutil.rmtree(codex.state / "sessions")
    rollout = next(codex.codex_home.glob("sessions/**/rollout-*.jsonl"))
    replay = subprocess.run(
        [sys.executable, str(HOOKS), "hook", "codex"], env=codex.env(), timeout=30,
        capture_output=True, input=json.dumps({
            "session_id": agent.external_id, "turn_id": "t", "transcript_path": str(rollout),
            "cwd": str(codex.cwd), "hook_event_name": "Stop", "model": "fake-codex-1",
            "permission_mode": "bypassPermissions", "stop_hook_active": False,
            "last_assistant_message": "again"}).encode())
    assert replay.returncode == 0 and replay.stdout == b""
    assert AgentEvent.objects.filter(agent=agent, kind="agent.usage").count() == 6, codex.log()
    assert TokenUsage.objects.filter(agent=agent).count() == 3
    assert sum(r.tokens_input for r in TokenUsage.objects.filter(agent=agent)) == 3 * 500


def test_a_stop_from_the_control_room_denies_the_next_tool(
        codex: Codex, api: FakeResponses, admin_user) -> None:
    """Codex refuses `continue: false` at PreToolUse: the stop arrives as a denial of the next
    tool call (the model is told why) and the turn winds down."""
    from apps.agents.services import agent_action

    api.script("MIGRATE", [shell("sleep 3"), shell("touch step-two.txt"), {"text": "Stopped."}])
    proc = codex.start("MIGRATE the database")
    try:
        span = wait_for(lambda: ToolSpan.objects.filter(input__contains="sleep 3").first(),
                        timeout=60, message="the first command to start")
        agent = span.agent
        command = agent_action(agent=agent, action="stop", actor=admin_user, reason="wrong branch")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    command.refresh_from_db()
    assert command.status == CommandStatus.ACKED, codex.log()
    assert command.result["via"] == "PreToolUse"
    assert not (codex.cwd / "step-two.txt").exists()  # the second command never ran
    told = [r for r in api.responses("MIGRATE") if "stopped by" in json.dumps(r)]
    assert told, "the model was not told why its tool was denied"
    agent.refresh_from_db()
    assert agent.status == AgentStatus.STOPPED
    assert "working" not in trail(agent)[trail(agent).index("stopped"):]


def test_an_idle_worker_picks_up_an_assigned_task(codex: Codex, api: FakeResponses,
                                                   admin_user) -> None:
    """SWITCHBOARD_WAIT_FOR_TASK keeps `codex exec` at its Stop hook waiting for work: a task
    assigned in the control room is answered as `decision: block` with the task as the reason,
    which Codex runs as its next turn."""
    from apps.agents.services import task_assign

    api.script("WORKER", [{"text": "Ready."}])
    api.script("Rename the column", [shell("echo renamed"), {"text": "Renamed the column."}])
    proc = codex.start("WORKER wait for tasks", SWITCHBOARD_WAIT_FOR_TASK="8")
    try:
        agent = wait_for(lambda: Agent.objects.filter(kind="codex", status=AgentStatus.IDLE)
                         .first(), timeout=60, message="the session to go idle")
        time.sleep(0.5)
        task = task_assign(agent=agent, title="Rename the column", description="users.nm → name",
                           actor=admin_user)
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    task.refresh_from_db()
    assert task.status == "completed", (task.status, codex.log())
    assert task.result == "Renamed the column."
    assert AgentCommand.objects.filter(agent=agent, action="task",
                                       status=CommandStatus.ACKED).exists()
    assert ToolSpan.objects.filter(agent=agent, input__contains="echo renamed",
                                   outcome="ok").exists()
