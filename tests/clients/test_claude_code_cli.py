"""The real Claude Code CLI (from npm, pinned) runs headless against a fake Anthropic API, with
our hook on every hook event, reporting to the live platform: what ends up in Switchboard is
what the real client sent, not hand-written hook JSON."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.agents.models import (
    Agent,
    AgentCommand,
    AgentEvent,
    AgentStatus,
    ApprovalRequest,
    ApprovalStatus,
    CommandStatus,
    TaskStatus,
    ToolSpan,
)
from tests.clients.claude_cli import Claude
from tests.clients.conftest import status_trail as trail
from tests.clients.conftest import warm_up
from tests.clients.fake_anthropic import FakeAnthropic
from tests.conftest import make_key
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def claude(live, project, api: FakeAnthropic, tmp_path: Path) -> Claude:
    key = make_key(project, "write")
    warm_up(live.url, key)
    return Claude(tmp_path, api.url, live.url, key)


def bash(command: str, description: str = "run") -> dict:
    return {"name": "Bash", "input": {"command": command, "description": description}}


def session_agent(claude: Claude) -> Agent:
    agent = Agent.objects.filter(kind="claude-code", parent=None).first()
    assert agent is not None, claude.log()
    return agent


def test_it_reports_a_real_session(claude: Claude, api: FakeAnthropic) -> None:
    api.script("INVOICES", [
        {"tools": [bash("echo hi", "say hi")]},
        {"tools": [bash("ls /nonexistent-folder", "fails")]},
        {"text": "All tests pass."},
    ])
    result, messages = claude.run("INVOICES fix the failing test", "--allowedTools", "Bash",
                                  SWITCHBOARD_AGENT_LABEL="nightly")
    assert result.returncode == 0, result.stderr
    agent = session_agent(claude)
    assert agent.name.startswith("payments-api #")  # the folder and a short session id
    assert agent.label == "nightly"  # the hook reads it from Claude Code's environment
    assert agent.external_id == messages[-1]["session_id"]
    # -p sessions say nothing of their model at SessionStart: the first answer does.
    asked = {r["body"].get("model") for r in api.requests if r["path"].endswith("/messages")}
    assert agent.model and agent.model in asked, claude.log()
    assert agent.status == AgentStatus.STOPPED
    assert agent.status_reason == "session ended (other)"
    assert trail(agent)[-3:] == ["working", "idle", "stopped"]
    spans = {s.tool_name + ":" + s.input[:40]: s for s in ToolSpan.objects.filter(agent=agent)}
    ok = next(s for s in spans.values() if "echo hi" in s.input)
    failed = next(s for s in spans.values() if "nonexistent" in s.input)
    assert ok.outcome == "ok" and "hi" in ok.output
    assert failed.outcome == "error" and failed.error
    assert ok.latency_ms is not None and ok.latency_ms < 5000  # the tool's own duration_ms
    assert ok.span_id.startswith("toolu_")
    # Three answers from the API, each with its message id: usage reported once per message.
    usage = AgentEvent.objects.filter(agent=agent, kind="agent.usage")
    keys = [e.data.get("key") for e in usage]
    assert len(keys) == 3 and len(set(keys)) == 3, claude.log()
    assert all(e.data["tokens_cache_read"] == 15000 for e in usage)


def test_a_permission_prompt_blocks_and_a_denied_tool_closes_its_span(
        claude: Claude, api: FakeAnthropic) -> None:
    api.script("DEPLOY", [
        {"tools": [bash("touch deployed.txt", "deploy")]},
        {"text": "I could not deploy: permission denied."},
    ])
    # Nobody answers in the control room within the wait: the local prompt decides (headless
    # runs deny), and the request is marked as answered locally.
    result, _ = claude.run("DEPLOY the release", SWITCHBOARD_APPROVAL_WAIT="1")
    assert result.returncode == 0, result.stderr
    agent = session_agent(claude)
    approval = ApprovalRequest.objects.get(agent=agent)
    assert approval.status == ApprovalStatus.EXPIRED
    assert approval.summary == "permission to use Bash: touch deployed.txt"
    blocked = AgentEvent.objects.filter(agent=agent, kind="agent.blocked").first()
    assert blocked is not None, trail(agent)
    assert "permission to use Bash: touch deployed.txt" in str(blocked.data)
    span = ToolSpan.objects.get(agent=agent, tool_name="Bash")
    assert span.outcome == "denied"
    assert span.finished_at is not None
    assert not (claude.cwd / "deployed.txt").exists()
    assert "idle" in trail(agent)  # the turn finished after the denial
    assert ToolSpan.objects.filter(agent=agent, outcome="pending").count() == 0


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_a_permission_prompt_is_answered_from_the_control_room(
        claude: Claude, api: FakeAnthropic, admin_user, decision: str) -> None:
    from apps.agents.approvals import approval_decide

    api.script("RELEASE", [
        {"tools": [bash("touch released.txt", "release")]},
        {"text": "Released."},
    ])
    proc = claude.start("RELEASE it", SWITCHBOARD_APPROVAL_WAIT="60")
    try:
        approval = wait_for(lambda: ApprovalRequest.objects.filter(status="pending").first(),
                            timeout=60, message="the prompt to reach the control room")
        agent = approval.agent
        assert Agent.objects.get(pk=agent.pk).status == AgentStatus.BLOCKED
        time.sleep(1)  # a person takes a moment
        approval_decide(approval=approval, decision=decision, actor=admin_user)
        decided = time.monotonic()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    span = ToolSpan.objects.get(agent=agent, tool_name="Bash")
    if decision == "allow":
        assert (claude.cwd / "released.txt").exists()
        assert span.outcome == "ok"
        # The hook's poll picked the decision up well within a second or two.
        assert span.finished_at is not None
    else:
        assert not (claude.cwd / "released.txt").exists()
        assert span.outcome == "denied"
    assert time.monotonic() - decided < 30
    audit = AgentEvent.objects.get(agent=agent, kind="approval.decided")
    assert audit.actor == admin_user and audit.data["decision"] in ("allowed", "denied")


def test_an_api_error_puts_the_agent_in_error(claude: Claude, api: FakeAnthropic) -> None:
    api.script("OVERLOAD", [{"status": 529, "error": "overloaded_error"}])
    result, _ = claude.run("OVERLOAD please")
    agent = session_agent(claude)
    kinds = list(AgentEvent.objects.filter(agent=agent).values_list("kind", "data"))
    assert AgentEvent.objects.filter(agent=agent, kind="agent.error").exists(), (kinds, claude.log())
    assert "error" in trail(agent)
    assert "server_error" in AgentEvent.objects.filter(
        agent=agent, kind="agent.error").first().data["message"]


def test_sub_agents_are_paired_by_id(claude: Claude, api: FakeAnthropic) -> None:
    """Two sub-agents of one type launched in one answer (background, the default): each gets
    its own agent, named after its call, holding its own tool calls."""
    api.script("REVIEW", [
        {"tools": [
            {"name": "Agent", "input": {"description": "check billing", "subagent_type":
                                        "general-purpose", "prompt": "SUB-BILLING look"}},
            {"name": "Agent", "input": {"description": "check auth", "subagent_type":
                                        "general-purpose", "prompt": "SUB-AUTH look"}},
        ]},
        {"text": "Both started."},
    ])
    api.script("SUB-BILLING", [{"tools": [bash("echo billing-ok", "billing")]},
                               {"text": "billing fine"}])
    api.script("SUB-AUTH", [{"tools": [bash("echo auth-ok", "auth")]}, {"text": "auth fine"}])
    result, _ = claude.run("REVIEW the code", "--allowedTools", "Bash")
    assert result.returncode == 0, result.stderr
    main = session_agent(claude)
    subs = {a.name.split(" › ")[-1]: a for a in Agent.objects.filter(parent=main)}
    assert set(subs) == {"check billing", "check auth"}, claude.log()
    billing = ToolSpan.objects.filter(agent=subs["check billing"]).values_list("input", flat=True)
    auth = ToolSpan.objects.filter(agent=subs["check auth"]).values_list("input", flat=True)
    assert len(billing) == 1 and "billing-ok" in billing[0]
    assert len(auth) == 1 and "auth-ok" in auth[0]
    for sub in subs.values():
        assert sub.status == AgentStatus.STOPPED
        # The sub-agent's own answers, its last one included, are in its usage.
        keys = {e.data["key"] for e in AgentEvent.objects.filter(agent=sub, kind="agent.usage")}
        assert len(keys) == 2, claude.log()


def test_a_stop_from_the_control_room_reaches_a_running_session(
        claude: Claude, api: FakeAnthropic, admin_user) -> None:
    from apps.agents.services import agent_action

    api.script("MIGRATE", [
        {"tools": [bash("sleep 2", "step one")]},
        {"tools": [bash("touch step-two.txt", "step two")]},
        {"text": "Migrated."},
    ])
    proc = claude.start("MIGRATE the database", "--allowedTools", "Bash")
    try:
        span = wait_for(lambda: ToolSpan.objects.filter(input__contains="sleep 2").first(),
                        timeout=60, message="the first tool to start")
        agent = span.agent
        clicked = time.monotonic()
        command = agent_action(agent=agent, action="stop", actor=admin_user, reason="wrong branch")
        agent.refresh_from_db()
        assert agent.status == AgentStatus.STOPPED  # the server owns the state at once
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    command.refresh_from_db()
    assert command.status == CommandStatus.ACKED, claude.log()
    assert command.result["via"] == "PreToolUse", claude.log()
    assert command.acked_at is not None and time.monotonic() - clicked < 30
    assert not (claude.cwd / "step-two.txt").exists()  # the second tool never ran
    agent.refresh_from_db()
    assert agent.status == AgentStatus.STOPPED
    # No report of the session, late or not, undid the stop on the way.
    assert "working" not in trail(agent)[trail(agent).index("stopped"):]


def test_an_idle_worker_picks_up_an_assigned_task(claude: Claude, api: FakeAnthropic,
                                                   admin_user) -> None:
    """SWITCHBOARD_WAIT_FOR_TASK keeps a headless session at its Stop hook waiting for work:
    a task assigned in the control room becomes its next turn."""
    from apps.agents.services import agent_action, task_assign

    api.script("WORKER", [{"text": "Ready."}, {"text": "Renamed the column."}])
    proc = claude.start("WORKER wait for tasks", SWITCHBOARD_WAIT_FOR_TASK="30")
    try:
        agent = wait_for(lambda: Agent.objects.filter(status=AgentStatus.IDLE).first(),
                         timeout=60, message="the session to go idle")
        task = task_assign(agent=agent, title="Rename the column", description="users.nm → name",
                           actor=admin_user)
        done = wait_for(lambda: Agent.objects.get(pk=agent.pk).current_task_id is None
                        and task.__class__.objects.get(pk=task.pk).status == TaskStatus.COMPLETED,
                        timeout=60, message="the task to be done")
        assert done
        agent_action(agent=agent, action="stop", actor=admin_user)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    task.refresh_from_db()
    assert task.result == "Renamed the column."
    conversation = [r for r in api.requests if "Rename the column" in str(r["body"])]
    assert conversation, "the task never reached the model"
    assert AgentCommand.objects.filter(agent=agent, action="task",
                                       status=CommandStatus.ACKED).exists()


@pytest.mark.parametrize("keepalive", ["1", "0"])
def test_a_long_tool_keeps_the_session_working_while_claude_code_runs(
        claude: Claude, api: FakeAnthropic, project, keepalive: str) -> None:
    """A build longer than the project's idle threshold sends no hook; the hook's keep-alive
    (started at SessionStart, beating while the Claude Code process lives) is what keeps the
    agent "working" instead of "blocked (idle)". With the keep-alive off the same sweep blocks
    it, which is what the keep-alive is for."""
    from apps.agents.lifecycle import sweep_idle
    from apps.agents.models import LifecyclePolicy

    LifecyclePolicy.objects.create(project=project, idle_after_seconds=3)
    api.script("BUILD", [{"tools": [bash("sleep 7", "long build")]}, {"text": "Built."}])
    proc = claude.start("BUILD the release", "--allowedTools", "Bash",
                        SWITCHBOARD_KEEPALIVE=keepalive)
    try:
        span = wait_for(lambda: ToolSpan.objects.filter(input__contains="sleep 7").first(),
                        timeout=60, message="the build to start")
        time.sleep(5)  # well past the 3 s threshold, the build still running
        sweep_idle()
        agent = Agent.objects.get(pk=span.agent_id)
        still_running = ToolSpan.objects.get(pk=span.pk).finished_at is None
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert still_running
    if keepalive == "1":
        assert agent.status == AgentStatus.WORKING, claude.log()
        assert not AgentEvent.objects.filter(agent=agent, kind="agent.idle").exists()
    else:
        assert (agent.status, agent.status_reason) == (AgentStatus.BLOCKED, "idle")
    # Claude Code gone, the keep-alive ends too (its file is removed at SessionEnd).
    wait_for(lambda: not list((claude.state / "keepalive").glob("*.pid")), timeout=10,
             message="the keep-alive to end")
