"""The Gemini CLI, Cursor and GitHub Copilot adapters of switchboard_hooks.py (and one Codex race),
run as their agents run them (a subprocess fed the hook JSON on stdin) against the live platform.

Cursor and Copilot have no CLI on npm that runs offline; the real Gemini CLI runs with these
hooks in tests/otlp/test_gemini_cli.py (against tests/clients/fake_gemini.py). The
payloads follow each agent's documented schema: Gemini CLI's packages/core/src/hooks/types.ts
(HookInput, BeforeToolInput, AfterToolInput, AfterAgentInput, NotificationInput), Cursor's hooks
docs (conversation_id, generation_id, workspace_roots, model; beforeShellExecution {command, cwd},
afterShellExecution {output, duration}, stop {status, loop_count}) and GitHub's Copilot hooks
reference (sessionId, timestamp, cwd, toolName, toolArgs as a JSON string, toolResult
{resultType, textResultForLlm}, errorOccurred {error {message, name}}, agentStop)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from apps.agents.models import (
    Agent,
    AgentCommand,
    AgentEvent,
    AgentStatus,
    CommandStatus,
    ToolSpan,
)
from tests.clients.conftest import Hooks, status_trail, warm_up
from tests.conftest import make_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hooks(live, project, tmp_path: Path) -> Hooks:
    key = make_key(project, "write")
    warm_up(live.url, key)
    return Hooks(tmp_path, live.url, key)


def agent_of(session: str, hooks: Hooks) -> Agent:
    agent = Agent.objects.filter(external_id=session).first()
    assert agent is not None, hooks.log()
    return agent


# --- Gemini CLI ---------------------------------------------------------------------------------
def gemini(session: str, event: str, **fields: object) -> dict:
    return {"session_id": session, "transcript_path": "/tmp/none.json",
            "cwd": "/home/dev/weather-app", "hook_event_name": event,
            "timestamp": "2026-12-07T10:00:00.000Z", **fields}


def test_gemini_cli_session(hooks: Hooks, admin_user) -> None:
    from apps.agents.services import agent_action, task_assign

    sid = str(uuid.uuid4())
    assert hooks.answer("gemini-cli", gemini(sid, "SessionStart", source="startup")) is None
    agent = agent_of(sid, hooks)
    assert agent.kind == "gemini-cli" and agent.name == f"weather-app #{sid[:6]}"
    assert agent.status == AgentStatus.IDLE
    hooks.answer("gemini-cli", gemini(sid, "BeforeAgent", prompt="Add a forecast endpoint"))
    tool = {"command": "pytest -q"}
    assert hooks.answer("gemini-cli", gemini(sid, "BeforeTool", tool_name="run_shell_command",
                                             tool_input=tool)) is None
    span = ToolSpan.objects.get(agent=agent)
    assert span.outcome == "pending" and span.span_id.startswith("gemini-cli-")
    hooks.answer("gemini-cli", gemini(sid, "Notification", notification_type="ToolPermission",
                                      message="Allow pytest?", details={}))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.BLOCKED
    hooks.answer("gemini-cli", gemini(
        sid, "AfterTool", tool_name="run_shell_command", tool_input=tool,
        tool_response={"llmContent": "3 passed", "returnDisplay": "3 passed"}))
    span.refresh_from_db()  # paired by tool and input: Gemini gives no call id
    assert span.outcome == "ok" and "3 passed" in span.output and span.latency_ms is not None
    hooks.answer("gemini-cli", gemini(sid, "BeforeTool", tool_name="read_file",
                                      tool_input={"path": "x"}))
    hooks.answer("gemini-cli", gemini(sid, "AfterTool", tool_name="read_file",
                                      tool_input={"path": "x"},
                                      tool_response={"error": "ENOENT"}))
    failed = ToolSpan.objects.get(agent=agent, tool_name="read_file")
    assert failed.outcome == "error" and "ENOENT" in failed.error

    task = task_assign(agent=agent, title="Write the changelog", actor=admin_user)
    answer = hooks.answer("gemini-cli", gemini(sid, "AfterAgent", prompt="Add a forecast endpoint",
                                               prompt_response="Added.", stop_hook_active=False))
    # AfterAgent deny: the reason is Gemini CLI's next prompt.
    assert answer["decision"] == "deny" and "Write the changelog" in answer["reason"]
    assert AgentCommand.objects.get(agent=agent, action="task",
                                    data__task_id=task.pk).status == CommandStatus.ACKED

    agent_action(agent=agent, action="stop", actor=admin_user)
    answer = hooks.answer("gemini-cli", gemini(sid, "BeforeTool", tool_name="write_file",
                                               tool_input={"path": "CHANGELOG.md"}))
    assert answer["decision"] == "deny" and answer["continue"] is False
    assert "stopped by" in answer["reason"]
    hooks.answer("gemini-cli", gemini(sid, "SessionEnd", reason="exit"))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.STOPPED
    assert hooks.spooled() == []


# --- Cursor -------------------------------------------------------------------------------------
def cursor(conversation: str, event: str, **fields: object) -> dict:
    return {"conversation_id": conversation, "generation_id": str(uuid.uuid4()),
            "hook_event_name": event, "workspace_roots": ["/home/dev/shop-frontend"],
            "model": "claude-sonnet-4-5", "cursor_version": "2.0.77", **fields}


def test_cursor_session(hooks: Hooks, admin_user) -> None:
    from apps.agents.services import agent_action, task_assign

    cid = str(uuid.uuid4())
    assert hooks.answer("cursor", cursor(cid, "beforeSubmitPrompt", prompt="Fix the cart",
                                         attachments=[])) == {"continue": True}
    agent = agent_of(cid, hooks)
    assert agent.kind == "cursor" and agent.name.startswith("shop-frontend #")
    assert agent.status == AgentStatus.WORKING
    assert hooks.answer("cursor", cursor(cid, "beforeShellExecution", command="npm test",
                                         cwd="/home/dev/shop-frontend")) == {"permission": "allow"}
    assert hooks.answer("cursor", cursor(cid, "afterShellExecution", command="npm test",
                                         output="12 passing", duration=1234)) == {}
    span = ToolSpan.objects.get(agent=agent, tool_name="Shell")
    assert span.outcome == "ok" and span.latency_ms == 1234 and "12 passing" in span.output
    hooks.answer("cursor", cursor(cid, "beforeMCPExecution", tool_name="db_query",
                                  tool_input=json.dumps({"sql": "select 1"})))
    hooks.answer("cursor", cursor(cid, "afterMCPExecution", tool_name="db_query",
                                  tool_input=json.dumps({"sql": "select 1"}),
                                  result_json=json.dumps({"rows": [[1]]}), duration=40))
    mcp = ToolSpan.objects.get(agent=agent, tool_name="db_query")
    assert mcp.outcome == "ok" and mcp.latency_ms == 40
    hooks.answer("cursor", cursor(cid, "afterFileEdit", file_path="src/cart.ts",
                                  edits=[{"old_string": "a", "new_string": "b"}]))
    assert ToolSpan.objects.get(agent=agent, tool_name="Edit").outcome == "ok"

    task_assign(agent=agent, title="Add a cart test", actor=admin_user)
    answer = hooks.answer("cursor", cursor(cid, "stop", status="completed", loop_count=0))
    assert "Add a cart test" in answer["followup_message"]  # Cursor's next message

    agent_action(agent=agent, action="stop", actor=admin_user)
    answer = hooks.answer("cursor", cursor(cid, "beforeShellExecution", command="rm -rf dist",
                                           cwd="/home/dev/shop-frontend"))
    assert answer["permission"] == "deny" and "stopped by" in answer["user_message"]
    hooks.answer("cursor", cursor(cid, "stop", status="error", loop_count=1))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.ERROR
    hooks.answer("cursor", cursor(cid, "sessionEnd", reason="user_close"))
    agent.refresh_from_db()
    assert agent.status == AgentStatus.STOPPED and "user_close" in agent.status_reason


def test_cursor_allows_even_when_the_server_is_down(hooks: Hooks, closed_url: str) -> None:
    answer = hooks.answer("cursor", cursor("c-1", "beforeShellExecution", command="ls", cwd="/"),
                          SWITCHBOARD_URL=closed_url, SWITCHBOARD_TIMEOUT="1")
    assert answer == {"permission": "allow"}
    assert [e["type"] for e in hooks.spooled()][:2] == ["agent.register", "span.start"]


# --- GitHub Copilot -----------------------------------------------------------------------------
def copilot(session: str, **fields: object) -> dict:
    return {"sessionId": session, "timestamp": 1704614400000, "cwd": "/home/dev/infra", **fields}


def test_copilot_session(hooks: Hooks, admin_user) -> None:
    from apps.agents.services import agent_action, task_assign

    sid = "01HW2X3Y4Z5ABC"
    hooks.answer("copilot", copilot(sid, source="new", initialPrompt="Bump terraform"),
                 SWITCHBOARD_HOOK_EVENT="sessionStart")
    agent = agent_of(sid, hooks)
    assert agent.kind == "copilot" and agent.name == f"infra #{sid[:6]}"
    hooks.answer("copilot", copilot(sid, prompt="Bump terraform to 1.9"),
                 SWITCHBOARD_HOOK_EVENT="userPromptSubmitted")
    args = json.dumps({"command": "terraform plan"})
    assert hooks.answer("copilot", copilot(sid, toolName="bash", toolArgs=args),
                        SWITCHBOARD_HOOK_EVENT="preToolUse") is None
    hooks.answer("copilot", copilot(sid, toolName="bash", toolArgs=args, toolResult={
        "resultType": "failure", "textResultForLlm": "Error: no credentials"}),
        SWITCHBOARD_HOOK_EVENT="postToolUse")
    span = ToolSpan.objects.get(agent=agent)
    assert span.outcome == "error" and "no credentials" in span.error
    assert '"command": "terraform plan"' in span.input  # toolArgs is a JSON string

    task_assign(agent=agent, title="Open the PR", actor=admin_user)
    answer = hooks.answer("copilot", copilot(sid, transcriptPath="/tmp/t.jsonl",
                                             stopReason="end_turn"),
                          SWITCHBOARD_HOOK_EVENT="agentStop")
    assert answer["decision"] == "block" and "Open the PR" in answer["reason"]

    agent_action(agent=agent, action="sleep", actor=admin_user)
    answer = hooks.answer("copilot", copilot(sid, toolName="edit", toolArgs="{}"),
                          SWITCHBOARD_HOOK_EVENT="preToolUse")
    assert answer["permissionDecision"] == "deny"
    assert "put to sleep" in answer["permissionDecisionReason"]
    agent.refresh_from_db()
    assert agent.status == AgentStatus.SLEEPING

    hooks.answer("copilot", copilot(sid, error={"message": "rate limited", "name": "RateLimit"}),
                 SWITCHBOARD_HOOK_EVENT="errorOccurred")
    agent.refresh_from_db()
    assert agent.status == AgentStatus.ERROR and "rate limited" in agent.status_reason
    hooks.answer("copilot", copilot(sid, reason="complete"), SWITCHBOARD_HOOK_EVENT="sessionEnd")
    agent.refresh_from_db()
    assert agent.status == AgentStatus.STOPPED
    assert "error" in status_trail(agent)


def test_install_writes_each_agents_file(hooks: Hooks, tmp_path: Path) -> None:
    gemini_path = tmp_path / "settings.json"
    gemini_path.write_text(json.dumps({"theme": "dark", "hooks": {"BeforeTool": [
        {"matcher": "write_file", "hooks": [{"type": "command", "command": "lint.sh"}]}]}}))
    assert hooks("install", "gemini-cli", str(gemini_path)).returncode == 0
    settings = json.loads(gemini_path.read_text())
    assert settings["theme"] == "dark"
    assert settings["hooks"]["BeforeTool"][0]["matcher"] == "write_file"  # theirs, kept
    assert "hook gemini-cli" in settings["hooks"]["BeforeTool"][1]["hooks"][0]["command"]
    assert set(settings["hooks"]) >= {"SessionStart", "BeforeAgent", "AfterAgent", "AfterTool",
                                      "Notification", "PreCompress", "SessionEnd"}

    cursor_path = tmp_path / ".cursor" / "hooks.json"
    assert hooks("install", "cursor", str(cursor_path)).returncode == 0
    assert hooks("install", "cursor", str(cursor_path)).returncode == 0  # twice: no duplicates
    cursor_hooks = json.loads(cursor_path.read_text())
    assert cursor_hooks["version"] == 1
    assert len(cursor_hooks["hooks"]["stop"]) == 1
    assert "hook cursor" in cursor_hooks["hooks"]["afterShellExecution"][0]["command"]

    copilot_path = tmp_path / ".github" / "hooks" / "switchboard.json"
    assert hooks("install", "copilot", str(copilot_path)).returncode == 0
    entry = json.loads(copilot_path.read_text())["hooks"]["preToolUse"][0]
    assert entry["type"] == "command" and "hook copilot" in entry["bash"]
    assert "SWITCHBOARD_HOOK_EVENT=preToolUse" in entry["bash"]


# --- Codex --------------------------------------------------------------------------------------
def test_codex_stop_before_the_background_post_tool_use_takes_the_outcome_from_the_rollout(
        hooks: Hooks, tmp_path: Path) -> None:
    """Codex runs PostToolUse in the background; seen in the real CLI under load, the turn's Stop
    came first and closed the call as cancelled, though the rollout already said exit code 3."""
    sid, call = str(uuid.uuid4()), "call_5e3e45c090784d068b4c"
    rollout = tmp_path / "rollout.jsonl"
    rollout.write_text(json.dumps({"type": "event_msg", "payload": {
        "type": "item_completed", "thread_id": sid, "item": {
            "type": "CommandExecution", "id": call, "status": "completed", "exit_code": 3,
            "aggregated_output": "broken\n", "duration": {"secs": 0, "nanos": 19_000_000}}}},
        separators=(",", ":")) + "\n")

    def codex(event: str, **fields: object) -> dict:
        return {"session_id": sid, "turn_id": "t1", "transcript_path": str(rollout),
                "cwd": "/home/dev/billing", "hook_event_name": event, "model": "gpt-5-codex",
                "permission_mode": "bypassPermissions", **fields}

    hooks.answer("codex", codex("SessionStart", source="startup"))
    hooks.answer("codex", codex("PreToolUse", tool_name="Bash", tool_use_id=call,
                                tool_input={"command": "echo broken; exit 3"}))
    hooks.answer("codex", codex("Stop", stop_hook_active=False, last_assistant_message="Done."))
    span = ToolSpan.objects.get(span_id=call)
    assert (span.outcome, span.error, span.latency_ms) == ("error", "exit code 3", 19), hooks.log()
    # The background PostToolUse still runs, late: the call is not finished a second time.
    hooks.answer("codex", codex("PostToolUse", tool_name="Bash", tool_use_id=call,
                                tool_input={"command": "echo broken; exit 3"},
                                tool_response="broken\n"))
    assert AgentEvent.objects.filter(kind="span.finished", data__span_id=call).count() == 1
