"""The real OpenCode CLI (from npm, pinned) runs headless against a fake OpenAI-compatible API,
with our plugin loaded from the project's `.opencode/plugins/`, reporting to the live platform:
what ends up in Switchboard is what the real binary's hooks and events made the plugin send."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from apps.agents.models import (
    Agent,
    AgentCommand,
    AgentEvent,
    AgentStatus,
    CommandStatus,
    TaskStatus,
    ToolSpan,
)
from apps.telemetry.models import TokenUsage
from tests.clients.conftest import status_trail as trail
from tests.clients.conftest import warm_up
from tests.clients.fake_openai import FakeOpenAI
from tests.clients.opencode_cli import OpenCode, bash, serve
from tests.conftest import make_key
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# 1500 prompt tokens of which 1000 cached, 70 out (fake_openai.USAGE) at the PRICES of
# opencode_cli: OpenCode's own figure for each answer.
COST = Decimal("0.00285")


@pytest.fixture
def api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def key(live, project) -> str:
    raw = make_key(project, "write")
    warm_up(live.url, raw)
    return raw


@pytest.fixture
def opencode(live, key: str, api: FakeOpenAI, tmp_path: Path) -> OpenCode:
    return OpenCode(tmp_path, api.url, live.url, key)


def session_agent(opencode: OpenCode) -> Agent:
    agent = wait_for(lambda: Agent.objects.filter(kind="opencode", parent=None).first(),
                     timeout=30, message="the session's agent")
    assert agent is not None, opencode.spooled()
    return agent


def test_it_reports_a_real_session(opencode: OpenCode, api: FakeOpenAI) -> None:
    missing = opencode.cwd / "missing.txt"
    api.script("INVOICES", [
        {"tools": [bash("echo hi", "say hi")]},
        {"tools": [{"name": "read", "input": {"filePath": str(missing)}}]},  # throws
        {"text": "The invoice file is missing."},
    ])
    result, events = opencode.run("INVOICES fix the failing test",
                                  SWITCHBOARD_AGENT_LABEL="nightly")
    assert result.returncode == 0, result.stderr
    agent = session_agent(opencode)
    assert agent.external_id == events[0]["sessionID"]
    assert agent.name == "billing-service"
    assert agent.label == "nightly"  # the plugin reads it from OpenCode's environment
    assert agent.status == AgentStatus.IDLE and agent.status_reason == "turn finished"
    assert trail(agent)[-2:] == ["working", "idle"]

    ok = ToolSpan.objects.get(agent=agent, tool_name="bash")
    assert ok.outcome == "ok" and ok.output.strip() == "hi" and ok.turn == 1
    assert json.loads(ok.input) == {"command": "echo hi", "description": "say hi"}
    assert ok.latency_ms is not None and ok.latency_ms < 10_000
    assert ok.span_id.startswith("call_")
    # A tool that throws never reaches tool.execute.after: its part says how it ended.
    failed = ToolSpan.objects.get(agent=agent, tool_name="read")
    assert failed.outcome == "error" and "File not found" in failed.error
    assert failed.finished_at is not None and failed.latency_ms is not None

    # Three answers, each an assistant message: one TokenUsage row per message id with
    # OpenCode's own cost, however often the message was re-sent while it grew.
    rows = list(TokenUsage.objects.filter(agent=agent).order_by("ts"))
    assert len(rows) == 3, opencode.spooled()
    assert all(r.key.startswith("msg_") for r in rows)
    assert [r.tokens_input for r in rows] == [500] * 3  # fresh prompt: 1500 - 1000 cached
    assert [r.tokens_cache_read for r in rows] == [1000] * 3
    assert [r.tokens_output for r in rows] == [70] * 3
    assert all(r.cost_usd == COST for r in rows)
    assert [r.turn for r in rows] == [1, 1, 1]
    assert {r.model for r in rows} == {"fake-coder-1"}
    reports = AgentEvent.objects.filter(agent=agent, kind="agent.usage")
    assert reports.count() == 3  # the zero-token first report of each message is not sent


def test_a_permission_prompt_blocks_and_is_denied_headless(live, key: str, api: FakeOpenAI,
                                                           tmp_path: Path) -> None:
    """`opencode run` has nobody to ask: it prints "permission requested: bash (...);
    auto-rejecting" and rejects at once. The agent is blocked in between and the span denied."""
    opencode = OpenCode(tmp_path, api.url, live.url, key, permission={"bash": "ask"})
    api.script("DEPLOY", [{"tools": [bash("touch deployed.txt", "deploy")]},
                          {"text": "Could not deploy."}])
    result, _ = opencode.run("DEPLOY the release")
    assert "auto-rejecting" in result.stderr
    agent = session_agent(opencode)
    blocked = AgentEvent.objects.filter(agent=agent, kind="agent.blocked").first()
    assert blocked is not None, trail(agent)
    assert "waiting for permission: bash (touch deployed.txt)" in blocked.data["reason"]
    after = trail(agent)[trail(agent).index("blocked") + 1:]
    assert after[0] == "working"  # "permission rejected"
    span = ToolSpan.objects.get(agent=agent, tool_name="bash")
    assert span.outcome == "denied" and "rejected" in span.error
    assert not (opencode.cwd / "deployed.txt").exists()
    asked = AgentEvent.objects.get(agent=agent, kind="hook.permission")
    assert asked.data["call_id"] == span.span_id
    assert agent.__class__.objects.get(pk=agent.pk).status == AgentStatus.IDLE


def test_a_stop_from_the_control_room_aborts_a_running_tool(opencode: OpenCode, api: FakeOpenAI,
                                                            admin_user) -> None:
    from apps.agents.services import agent_action

    api.script("MIGRATE", [
        {"tools": [bash("sleep 30 && touch step-one.txt", "step one")]},
        {"tools": [bash("touch step-two.txt", "step two")]},
        {"text": "Migrated."},
    ])
    started = time.monotonic()
    proc = opencode.start(*opencode.command("MIGRATE the database"))
    try:
        span = wait_for(lambda: ToolSpan.objects.filter(input__contains="sleep 30").first(),
                        timeout=90, message="the first tool to start")
        agent = span.agent
        clicked = time.monotonic()
        command = agent_action(agent=agent, action="stop", actor=admin_user, reason="wrong db")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - started < 30 + 20  # it did not sit out the sleep
    command.refresh_from_db()
    assert command.status == CommandStatus.ACKED, opencode.spooled()
    assert command.result == {"via": "session.abort", "done": True, "aborted": True}
    assert command.acked_at is not None and time.monotonic() - clicked < 20
    assert not (opencode.cwd / "step-one.txt").exists()
    assert not (opencode.cwd / "step-two.txt").exists()
    span.refresh_from_db()
    # The abort is not an error; OpenCode's late "completed" report does not undo cancelled.
    assert span.outcome == "cancelled"
    assert not AgentEvent.objects.filter(agent=agent, kind="agent.error").exists()
    agent.refresh_from_db()
    assert agent.status == AgentStatus.STOPPED
    assert "working" not in trail(agent)[trail(agent).index("stopped"):]


def test_an_idle_session_picks_up_an_assigned_task(opencode: OpenCode, api: FakeOpenAI,
                                                   admin_user) -> None:
    """`opencode serve` keeps sessions alive between prompts: the plugin polls for commands
    (SWITCHBOARD_POLL, 1 s here) and sends an assigned task as the session's next prompt."""
    from apps.agents.services import task_assign

    api.script("RENAME", [{"tools": [bash("echo renamed", "rename")]},
                          {"text": "Renamed the column."}])
    with serve(opencode) as session:
        agent = wait_for(lambda: Agent.objects.filter(external_id=session["id"]).first(),
                         timeout=30, message="the session to be registered")
        assert agent.status == AgentStatus.IDLE
        task = task_assign(agent=agent, title="RENAME the column", description="users.nm → name",
                           actor=admin_user)
        done = wait_for(lambda: task.__class__.objects.get(pk=task.pk).status
                        == TaskStatus.COMPLETED, timeout=60, message="the task to be done")
        assert done
    task.refresh_from_db()
    assert task.result == "Renamed the column."
    assert api.chats("RENAME"), "the task never reached the model"
    prompt = api.chats("RENAME")[0]["messages"]
    assert "users.nm → name" in json.dumps(prompt, ensure_ascii=False)
    command = AgentCommand.objects.get(agent=agent, action="task")
    assert command.status == CommandStatus.ACKED
    assert command.result == {"via": "session.promptAsync", "done": True}
    span = ToolSpan.objects.get(agent=agent, tool_name="bash")
    assert span.outcome == "ok" and span.task_id == task.pk


def test_permission_prompts_are_answered_from_the_control_room(live, key: str, api: FakeOpenAI,
                                                               tmp_path: Path,
                                                               admin_user) -> None:
    """Under `opencode serve` an "ask" waits for an answer: the plugin files it with Switchboard
    and answers it through the SDK with what the control room decided — Allow runs the tool,
    Deny refuses it."""
    from apps.agents.approvals import approval_decide
    from apps.agents.models import ApprovalRequest
    from apps.agents.services import task_assign

    opencode = OpenCode(tmp_path, api.url, live.url, key, permission={"bash": "ask"})
    api.script("RELEASE", [{"tools": [bash("touch approved.txt", "build")]},
                           {"tools": [bash("touch denied.txt", "deploy")]},
                           {"text": "Released."}])
    with serve(opencode) as session:
        agent = wait_for(lambda: Agent.objects.filter(external_id=session["id"]).first(),
                         timeout=30, message="the session to be registered")
        task_assign(agent=agent, title="RELEASE version 2", actor=admin_user)
        for decision, command in (("allow", "touch approved.txt"), ("deny", "touch denied.txt")):
            asked = wait_for(lambda c=command: ApprovalRequest.objects.filter(
                agent=agent, status="pending", summary__contains=c).first(),
                timeout=60, message=f"the prompt for {command}")
            assert asked.tool_name == "bash"
            assert Agent.objects.get(pk=agent.pk).status == AgentStatus.BLOCKED
            approval_decide(approval=asked, decision=decision, actor=admin_user)
            if decision == "allow":
                wait_for(lambda: (opencode.cwd / "approved.txt").exists(), timeout=30,
                         message="the allowed tool to run")
        wait_for(lambda: ToolSpan.objects.filter(agent=agent, input__contains="denied.txt",
                                                 outcome="denied").exists(),
                 timeout=30, message="the denied span")
    assert (opencode.cwd / "approved.txt").exists()
    assert not (opencode.cwd / "denied.txt").exists()
    spans = {s.input: s for s in ToolSpan.objects.filter(agent=agent)}
    allowed = next(s for i, s in spans.items() if "approved.txt" in i)
    assert allowed.outcome == "ok"
    decided = AgentEvent.objects.filter(agent=agent, kind="approval.decided")
    assert sorted(e.data["decision"] for e in decided) == ["allowed", "denied"]
