"""The OpenCode plugin: type-checked by TypeScript against @opencode-ai/plugin's real types,
then run under node the way OpenCode calls it, against the live platform."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from apps.agents.models import Agent, AgentEvent, AgentStatus, ToolSpan
from apps.telemetry.models import TokenUsage
from tests.clients.conftest import warm_up
from tests.clients.opencode_build import DRIVER, build
from tests.conftest import make_key

pytestmark = pytest.mark.django_db(transaction=True)

DIRECTORY = "/home/dev/projects/web-app"
SESSION = "ses_7f3a9c2e1ffeXq2Lr8JmNw"
CHILD = "ses_7f3a9c2e2001Ab9Kd0PqRs"
SAMPLES = Path(__file__).with_name("samples")


@pytest.fixture(scope="module")
def plugin_js(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("opencode"))


def run(plugin_js: Path, tmp: Path, steps: list[dict[str, Any]], url: str, key: str
        ) -> subprocess.CompletedProcess[str]:
    scenario = tmp / f"scenario-{time.monotonic_ns()}.json"
    scenario.write_text(json.dumps({"directory": DIRECTORY, "steps": steps}))
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp),
           "SWITCHBOARD_URL": url, "SWITCHBOARD_API_KEY": key,
           "SWITCHBOARD_STATE_DIR": str(tmp / "state"), "SWITCHBOARD_TIMEOUT": "10"}
    result = subprocess.run([shutil.which("node") or "node", str(DRIVER), str(plugin_js),
                             str(scenario)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "done"
    return result


def event(type_: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"hook": "event", "args": [{"event": {"type": type_, "properties": properties}}]}


def session_info(id_: str, parent: str | None = None, title: str = "") -> dict[str, Any]:
    info = {"id": id_, "projectID": "prj_1", "directory": DIRECTORY, "title": title,
            "version": "1.18.33", "time": {"created": 1795270000000, "updated": 1795270000000}}
    if parent:
        info["parentID"] = parent
    return {"info": info}


def assistant(id_: str, session: str, tokens: dict[str, Any]) -> dict[str, Any]:
    return event("message.updated", {"info": {
        "id": id_, "sessionID": session, "role": "assistant", "parentID": "msg_user1",
        "modelID": "claude-sonnet-4-5", "providerID": "anthropic", "mode": "build",
        "path": {"cwd": DIRECTORY, "root": DIRECTORY}, "cost": 0.01,
        "time": {"created": 1795270001000}, "tokens": tokens}})


def tool(hook: str, name: str, call: str, session: str = SESSION, **output: Any) -> dict[str, Any]:
    if hook == "before":
        return {"hook": "tool.execute.before",
                "args": [{"tool": name, "sessionID": session, "callID": call},
                         {"args": output.get("args", {})}]}
    return {"hook": "tool.execute.after",
            "args": [{"tool": name, "sessionID": session, "callID": call,
                      "args": output.get("args", {})},
                     {"title": output.get("title", name), "output": output.get("output", ""),
                      "metadata": output.get("metadata", {})}]}


def tokens(input_: int, output: int, reasoning: int = 0, read: int = 0, write: int = 0) -> dict:
    return {"input": input_, "output": output, "reasoning": reasoning,
            "cache": {"read": read, "write": write}}


def test_it_reports_a_session(live, project, plugin_js: Path, tmp_path: Path) -> None:
    steps = [
        event("session.created", session_info(SESSION, title="Fix login redirect")),
        {"hook": "chat.message", "args": [
            {"sessionID": SESSION, "agent": "build", "messageID": "msg_user1"},
            {"message": {}, "parts": []}]},
        event("session.status", {"sessionID": SESSION, "status": {"type": "busy"}}),
        tool("before", "bash", "call_01", args={"command": "npm test"}),
        event("permission.updated", {
            "id": "per_1", "type": "bash", "pattern": "npm test", "sessionID": SESSION,
            "messageID": "msg_a1", "callID": "call_01", "title": "npm test",
            "metadata": {}, "time": {"created": 1795270002000}}),
        event("permission.replied", {"sessionID": SESSION, "permissionID": "per_1",
                                     "response": "once"}),
        {"sleep": 20},
        tool("after", "bash", "call_01", args={"command": "npm test"},
             output="Tests: 12 passed", metadata={"exit": 0}),
        assistant("msg_a1", SESSION, tokens(2000, 100, 50, 12000, 800)),
        assistant("msg_a1", SESSION, tokens(2000, 340, 120, 12000, 800)),  # streamed again
        # A sub-agent (the task tool) runs in a child session.
        event("session.created", session_info(CHILD, SESSION, "Explore auth code (@explore)")),
        tool("before", "grep", "call_02", session=CHILD, args={"pattern": "redirect"}),
        tool("after", "grep", "call_02", session=CHILD, output="3 matches"),
        event("session.idle", {"sessionID": CHILD}),
        event("session.error", {"sessionID": SESSION, "error": {
            "name": "APIError", "data": {"message": "overloaded", "isRetryable": True}}}),
        event("session.idle", {"sessionID": SESSION}),
    ]
    key = make_key(project, "write")
    warm_up(live.url, key)
    run(plugin_js, tmp_path, steps, live.url, key)

    agent = Agent.objects.get(external_id=SESSION)
    assert agent.kind == "opencode" and agent.name == "web-app"
    assert agent.status == AgentStatus.IDLE and agent.status_reason == "turn finished"
    span = ToolSpan.objects.get(agent=agent, span_id="call_01")
    assert span.tool_name == "bash" and span.turn == 1 and span.outcome == "ok"
    assert span.latency_ms >= 20 and span.output == "Tests: 12 passed"
    assert json.loads(span.input) == {"command": "npm test"}
    # The message re-sent while it streamed: absolute figures under its id, counted once.
    row = TokenUsage.objects.get(agent=agent)
    assert row.key == "msg_a1" and row.turn == 1
    assert (row.tokens_output, row.tokens_cache_read, row.tokens_reasoning) == (340, 12000, 120)
    assert row.cost_usd == Decimal("0.01")  # OpenCode's own figure
    assert AgentEvent.objects.get(agent=agent, kind="agent.error").data["message"] == "overloaded"
    trail = [e["to"] for e in AgentEvent.objects.filter(agent=agent).order_by("id")
             .values_list("data", flat=True) if "to" in e and "from" in e]
    assert "blocked" in trail and trail[trail.index("blocked") + 1] == "working"

    child = Agent.objects.get(external_id=CHILD)
    assert child.parent == agent and child.status == AgentStatus.STOPPED
    assert ToolSpan.objects.get(span_id="call_02").agent == child


def test_it_spools_while_the_server_is_down_and_sends_later(live, project, plugin_js: Path,
                                                           tmp_path: Path,
                                                           closed_url: str) -> None:
    key = make_key(project, "write")
    warm_up(live.url, key)
    steps = [
        event("session.created", session_info(SESSION)),
        {"hook": "chat.message", "args": [{"sessionID": SESSION}, {"message": {}, "parts": []}]},
        tool("before", "read", "call_01", args={"filePath": "src/app.ts"}),
        tool("after", "read", "call_01", output="export const app = 1"),
        event("session.idle", {"sessionID": SESSION}),
    ]
    run(plugin_js, tmp_path, steps, closed_url, key)
    assert list((tmp_path / "state").glob("*.jsonl"))  # kept for later
    assert not Agent.objects.filter(external_id=SESSION).exists()

    # Next OpenCode start, server up: the spool goes first, then the new session's events.
    later = [event("session.created", session_info("ses_next")), {"sleep": 10}]
    run(plugin_js, tmp_path, later, live.url, key)
    assert list((tmp_path / "state").glob("*.jsonl")) == []
    agent = Agent.objects.get(external_id=SESSION)
    assert agent.status == AgentStatus.IDLE
    assert ToolSpan.objects.get(agent=agent, span_id="call_01").outcome == "ok"
    assert Agent.objects.filter(external_id="ses_next").exists()


def sample(name: str) -> list[dict[str, Any]]:
    """Hooks and events captured from the real opencode 1.18.33 binary (see the file's note)."""
    return json.loads((SAMPLES / f"opencode-{name}.json").read_text())["steps"]


def played(live, project, plugin_js: Path, tmp: Path, name: str) -> Agent:
    key = make_key(project, "write")
    warm_up(live.url, key)
    run(plugin_js, tmp, sample(name), live.url, key)
    return Agent.objects.get(kind="opencode")


def test_a_tool_that_throws_ends_its_span_from_the_part(live, project, plugin_js: Path,
                                                        tmp_path: Path) -> None:
    agent = played(live, project, plugin_js, tmp_path, "tool-throws")
    span = ToolSpan.objects.get(agent=agent, tool_name="read")
    assert span.outcome == "error" and span.error.startswith("File not found")
    assert span.latency_ms == 22  # OpenCode's own time.start/end of the part
    assert agent.status == AgentStatus.IDLE
    assert not AgentEvent.objects.filter(agent=agent, kind="agent.error").exists()
    rows = TokenUsage.objects.filter(agent=agent)
    assert rows.count() == 2 and {r.cost_usd for r in rows} == {Decimal("0.00285")}


def test_a_rejected_permission_blocks_then_denies_the_span(live, project, plugin_js: Path,
                                                          tmp_path: Path) -> None:
    agent = played(live, project, plugin_js, tmp_path, "permission-rejected")
    spans = {s.tool_name: s for s in ToolSpan.objects.filter(agent=agent)}
    assert spans["bash"].outcome == "ok" and spans["bash"].output == "hi\n"
    assert spans["read"].outcome == "denied" and "rejected permission" in spans["read"].error
    reasons = [e.data.get("reason") for e in AgentEvent.objects.filter(
        agent=agent, kind__in=["agent.blocked", "agent.unblocked"]).order_by("id")]
    assert reasons == ["waiting for permission: external_directory (/nonexistent/*)",
                       "permission rejected"]
    assert AgentEvent.objects.get(agent=agent, kind="hook.permission").data["call_id"] \
        == spans["read"].span_id


def test_esc_is_an_interruption_not_an_error(live, project, plugin_js: Path,
                                            tmp_path: Path) -> None:
    agent = played(live, project, plugin_js, tmp_path, "aborted")
    span = ToolSpan.objects.get(agent=agent, tool_name="bash")
    # The late tool.execute.after ("User aborted the command") does not turn it into ok.
    assert span.outcome == "cancelled"
    assert not AgentEvent.objects.filter(agent=agent, kind="agent.error").exists()
    assert agent.status == AgentStatus.IDLE and agent.status_reason == "interrupted"
