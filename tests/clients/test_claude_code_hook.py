"""The Claude Code hook against the real platform process: the hook JSON formats of Claude
Code's hooks reference fed on stdin, and what ends up in the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.agents.models import Agent, AgentEvent, AgentStatus, ToolSpan
from tests.clients.conftest import Hook, warm_up
from tests.clients.hook_inputs import Session
from tests.conftest import make_key
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def quiet(result) -> None:
    assert result.returncode == 0
    assert result.stdout == b""
    assert result.stderr == b""


@pytest.fixture
def hook(live, project, tmp_path: Path) -> Hook:
    key = make_key(project, "write")
    warm_up(live.url, key)
    return Hook(tmp_path, live.url, key)


def agent_of(session: Session, hook: Hook | None = None) -> Agent:
    agent = Agent.objects.filter(external_id=session.session_id).first()
    assert agent is not None, hook.log() if hook else "no agent"
    return agent


def status_trail(agent: Agent) -> list[str]:
    """Every status the engine recorded for the agent, oldest first (status_changed, blocked,
    unblocked... all carry from/to)."""
    events = AgentEvent.objects.filter(agent=agent).order_by("id").values_list("data", flat=True)
    return [e["to"] for e in events if isinstance(e, dict) and "to" in e and "from" in e]


def test_it_reports_a_whole_session(hook: Hook, cc_session: Session, project) -> None:
    quiet(hook(cc_session.session_start()))
    agent = agent_of(cc_session, hook)
    assert agent.project == project
    assert agent.name == f"payments-api #{cc_session.session_id[:6]}"
    assert agent.kind == "claude-code"
    assert agent.status == AgentStatus.IDLE
    assert agent.metadata["cwd"] == cc_session.cwd

    quiet(hook(cc_session.user_prompt_submit("Fix the failing invoice test")))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.WORKING
    assert agent.status_reason == "turn 1: Fix the failing invoice test"

    bash = {"command": "pytest -q tests/test_invoice.py", "description": "Run the test"}
    quiet(hook(cc_session.pre_tool_use("Bash", bash, "toolu_01ABC")))
    span = ToolSpan.objects.get(agent=agent, span_id="toolu_01ABC")
    assert span.tool_name == "Bash" and span.turn == 1 and span.outcome == "pending"

    quiet(hook(cc_session.notification("Claude needs your permission to use Bash",
                                       "permission_prompt")))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.BLOCKED
    assert agent.status_reason == "waiting for input: Claude needs your permission to use Bash"

    cc_session.add_assistant_message("msg_01", {"input_tokens": 1200, "output_tokens": 80,
                                                "cache_read_input_tokens": 15000,
                                                "cache_creation_input_tokens": 900},
                                     tool_use_id="toolu_01ABC", chunks=2)
    quiet(hook(cc_session.post_tool_use("Bash", bash, {"stdout": "1 passed", "stderr": "",
                                                       "interrupted": False}, "toolu_01ABC")))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.WORKING  # the permission was granted
    span.refresh_from_db()
    assert span.outcome == "ok"
    assert span.latency_ms is not None and span.latency_ms >= 0
    assert '"command": "pytest -q tests/test_invoice.py"' in span.input
    assert "1 passed" in span.output

    write = {"file_path": "/home/dev/projects/payments-api/notes.txt", "content": "done"}
    quiet(hook(cc_session.pre_tool_use("Write", write, "toolu_01DEF")))
    quiet(hook(cc_session.post_tool_use_failure("Write", write, "EACCES: permission denied",
                                                "toolu_01DEF")))
    failed = ToolSpan.objects.get(agent=agent, span_id="toolu_01DEF")
    assert failed.outcome == "error" and failed.error == "EACCES: permission denied"

    cc_session.add_assistant_message("msg_02", {"input_tokens": 30, "output_tokens": 250,
                                                "cache_read_input_tokens": 16000})
    quiet(hook(cc_session.stop()))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.IDLE and agent.status_reason == "turn finished"
    usage = list(AgentEvent.objects.filter(agent=agent, kind="agent.usage").order_by("id")
                 .values_list("data", flat=True))
    # One usage report per API message (its id is the key the server dedupes on).
    assert [u["key"] for u in usage] == ["req_msg_01", "req_msg_02"]
    totals = {k: sum(u.get(k, 0) for u in usage) for k in
              ("tokens_input", "tokens_output", "tokens_cache_read", "tokens_cache_write")}
    assert totals == {"tokens_input": 1230, "tokens_output": 330, "tokens_cache_read": 31000,
                      "tokens_cache_write": 900}
    assert usage[-1]["model"] == "claude-sonnet-4-5-20250929"
    assert agent.model == "claude-sonnet-4-5-20250929"  # SessionStart named none

    # A minute after the turn, Claude Code says it waits for input: idle, not blocked.
    quiet(hook(cc_session.notification("Claude is waiting for your input", "idle_prompt")))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.IDLE

    quiet(hook(cc_session.session_end("prompt_input_exit")))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.STOPPED
    assert agent.status_reason == "session ended (prompt_input_exit)"
    kinds = set(AgentEvent.objects.filter(agent=agent).values_list("kind", flat=True))
    assert {"hook.user_prompt", "hook.notification", "span.started", "span.finished",
            "agent.usage", "agent.status_changed"} <= kinds
    assert hook.spooled() == []


def test_it_reports_sub_agents_under_their_parent(hook: Hook, cc_session: Session) -> None:
    quiet(hook(cc_session.session_start()))
    quiet(hook(cc_session.user_prompt_submit("Review the payment module")))
    task_input = {"description": "Review payments code", "subagent_type": "code-reviewer",
                  "prompt": "Look for unchecked errors in payments/"}
    quiet(hook(cc_session.pre_tool_use("Agent", task_input, "toolu_01TASK")))
    parent = agent_of(cc_session)
    inside = {"agent_id": "a1b2c3", "agent_type": "code-reviewer"}
    quiet(hook({**cc_session.common("SubagentStart"), **inside}))
    child = Agent.objects.get(external_id=f"{cc_session.session_id}:a1b2c3")
    assert child.parent == parent
    assert child.status == AgentStatus.WORKING

    # Tool calls inside the sub-agent carry its agent_id and are its spans.
    grep = {"pattern": "except:", "path": "payments/"}
    quiet(hook(cc_session.pre_tool_use("Grep", grep, "toolu_01GREP", **inside)))
    quiet(hook(cc_session.post_tool_use("Grep", grep, {"matches": 2}, "toolu_01GREP", **inside)))
    assert ToolSpan.objects.get(span_id="toolu_01GREP").agent == child

    sub_transcript = cc_session.transcript.with_name("agent-a1b2c3.jsonl")
    cc_session.add_assistant_message("msg_sub", {"input_tokens": 400, "output_tokens": 90},
                                     path=sub_transcript)
    quiet(hook(cc_session.subagent_stop("a1b2c3", "code-reviewer", str(sub_transcript))))
    child.refresh_from_db()
    assert child.status == AgentStatus.STOPPED
    assert AgentEvent.objects.get(agent=child, kind="agent.usage").data["tokens_input"] == 400

    # The Agent tool's response names the agent it ran: the sub-agent takes the call's name.
    quiet(hook(cc_session.post_tool_use("Agent", task_input, {
        "status": "completed", "agentId": "a1b2c3", "content": [{"type": "text",
                                                                 "text": "2 issues"}]},
        "toolu_01TASK")))
    child.refresh_from_db()
    assert child.name == f"payments-api #{cc_session.session_id[:6]} › Review payments code"
    assert child.metadata["tool_use_id"] == "toolu_01TASK"
    assert ToolSpan.objects.get(span_id="toolu_01TASK").agent == parent
    assert Agent.objects.filter(parent=parent).count() == 1

    # Its last answer lands in its transcript after SubagentStop: the session's Stop reads it.
    cc_session.add_assistant_message("msg_sub2", {"input_tokens": 10, "output_tokens": 30},
                                     path=sub_transcript)
    quiet(hook(cc_session.stop()))
    keys = {e.data["key"] for e in AgentEvent.objects.filter(agent=child, kind="agent.usage")}
    assert keys == {"req_msg_sub", "req_msg_sub2"}


def test_it_spools_while_the_server_is_down_and_drains_in_order_later(
        live, project, tmp_path: Path, closed_url: str, cc_session: Session) -> None:
    key = make_key(project, "write")
    warm_up(live.url, key)
    down = Hook(tmp_path, closed_url, key)
    quiet(down(cc_session.session_start()))
    quiet(down(cc_session.user_prompt_submit("Bump the version")))
    for n in range(3):
        tool = {"command": f"echo {n}"}
        quiet(down(cc_session.pre_tool_use("Bash", tool, f"toolu_0{n}")))
        quiet(down(cc_session.post_tool_use("Bash", tool, {"stdout": str(n)}, f"toolu_0{n}")))
    quiet(down(cc_session.notification("Claude needs your permission to use Bash",
                                       "permission_prompt")))
    spooled = down.spooled()
    assert len(spooled) == 12
    assert not Agent.objects.filter(external_id=cc_session.session_id).exists()

    # The server is back: the next hook run sends the spool first, then its own events.
    up = Hook(tmp_path, live.url, key)
    quiet(up(cc_session.stop()))
    assert up.spooled() == []
    agent = agent_of(cc_session)
    assert agent.status == AgentStatus.IDLE  # Stop came last, after the spooled "blocked"
    spans = ToolSpan.objects.filter(agent=agent).order_by("id")
    assert [s.span_id for s in spans] == ["toolu_00", "toolu_01", "toolu_02"]
    assert all(s.outcome == "ok" and s.turn == 1 for s in spans)
    assert status_trail(agent) == ["idle", "working", "blocked", "idle"]

    # A retry of everything (as after a lost response) stores nothing twice.
    before = AgentEvent.objects.filter(project=project).count()
    (up.state / "spool.jsonl").write_text("".join(
        __import__("json").dumps(e) + "\n" for e in spooled))
    (up.state / "spool.offset").write_text("0")
    quiet(up(cc_session.stop()))  # Stop again: idle already, so no new status event
    assert up.spooled() == []
    assert AgentEvent.objects.filter(project=project).count() == before
    assert ToolSpan.objects.filter(agent=agent).count() == 3


def test_it_keeps_the_spool_when_the_key_is_refused(live, project, tmp_path: Path,
                                                    cc_session: Session) -> None:
    key = make_key(project, "write")
    warm_up(live.url, key)
    bad = Hook(tmp_path, live.url, "sbk_revoked-or-mistyped")
    quiet(bad(cc_session.session_start()))
    assert len(bad.spooled()) == 2  # 401: kept for when the key is fixed

    good = Hook(tmp_path, live.url, key)
    quiet(good(cc_session.user_prompt_submit("Hello")))
    assert good.spooled() == []
    assert agent_of(cc_session).status == AgentStatus.WORKING


def test_it_sets_aside_events_the_server_rejects(hook: Hook, cc_session: Session) -> None:
    quiet(hook(cc_session.session_start()))
    # A sub-agent stop for an agent never registered here: nothing to report, nothing stuck.
    quiet(hook(cc_session.subagent_stop("zzz", "general-purpose")))
    quiet(hook({**cc_session.common("PreCompact"), "trigger": "auto"}))
    assert hook.spooled() == []
    wait_for(lambda: AgentEvent.objects.filter(kind="hook.precompact").exists())
