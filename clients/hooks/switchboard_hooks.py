#!/usr/bin/env python3
"""Switchboard hooks for Codex, Gemini CLI, Cursor and GitHub Copilot, and a wrapper for any other
CLI agent (Aider, Amp, Goose, a script). Standard library only, Python 3.9+.

  python3 switchboard_hooks.py install codex|gemini-cli|cursor|copilot [PATH]
  python3 switchboard_hooks.py hook <kind>           (what the installed hooks run)
  python3 switchboard_hooks.py run [--kind K] [--name N] -- <command...>
  python3 switchboard_hooks.py notify <kind> [JSON]  (Aider's --notifications-command, Codex notify)

Configured like the Claude Code hook: SWITCHBOARD_URL, SWITCHBOARD_API_KEY, SWITCHBOARD_AGENT_NAME,
SWITCHBOARD_STATE_DIR (see clients/hooks/README.md).

The transport, the spool, the session state and the command answers are the Claude Code hook's
(`switchboard_hook.py`, which must sit beside this file or in ../claude-code/): each adapter here
translates its agent's hook input into Claude Code's shape (session_id, hook_event_name, tool_name,
tool_input, tool_use_id, ...), lets the shared Reporter turn it into events, and translates the
Reporter's answer (a stop, a sleep, the next task) back into what its agent reads on stdout.
A hook never breaks its agent: it exits 0, and a server that is down means the events wait in
the spool for the next run.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HERE = Path(__file__).resolve().parent
for _folder in (HERE, HERE.parent / "claude-code"):
    if (_folder / "switchboard_hook.py").exists():
        sys.path.insert(0, str(_folder))
        break
import switchboard_hook as sh  # noqa: E402

USER_AGENT = "switchboard-hooks/1"


def _label() -> dict[str, str]:
    """SWITCHBOARD_AGENT_LABEL, when set: the label the team groups its agents by."""
    label = os.environ.get("SWITCHBOARD_AGENT_LABEL", "").strip()[:60]
    return {"label": label} if label else {}


def parse_json(value: Any) -> Any:
    """A JSON document given as a string (Copilot's toolArgs, Cursor's tool_input), or the value."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def read_object(deadline: sh.Deadline) -> dict[str, Any] | None:
    """The JSON object on stdin, whatever its fields."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return None
        raw = sh._read_all(sys.stdin.fileno(), deadline)
        data = json.loads(raw.decode("utf-8", "replace")) if raw else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --- the Reporter, shared by every adapter ---------------------------------------------------
class PairingReporter(sh.Reporter):
    """For agents whose tool hooks carry no call id (Gemini CLI, Copilot, Cursor's shell and MCP
    hooks): a call gets `<kind>-<digest of tool and input>-<n>` at its start, and its end is
    paired with the oldest open call of the same tool and input."""

    def tool_ids(self) -> tuple[str, str]:
        given = str(self.data.get("tool_use_id") or "")
        tool = str(self.data.get("tool_name") or "")
        if given:
            return given, tool
        if "_span_id" in self.data:  # one hook call asks more than once
            return self.data["_span_id"], tool
        tool_input = self.data.get("tool_input")
        if self.data["hook_event_name"] != "PreToolUse":
            for span_id, span in self.open_spans().items():
                if span["tool"] == tool and span.get("input") == tool_input:
                    self.data["_span_id"] = span_id
                    return span_id, tool
        import hashlib

        digest = hashlib.sha1(json.dumps([tool, tool_input], sort_keys=True, default=str)
                              .encode()).hexdigest()[:12]
        calls = self.session.setdefault("calls", 0) + 1
        self.session["calls"] = calls
        self.data["_span_id"] = f"{self.kind}-{digest}-{calls}"
        return self.data["_span_id"], tool


class Adapter:
    """One agent: its kind, its hook input translated to Claude Code's shape, the Reporter's
    answer translated back, and where `install` writes which hooks."""

    kind = "custom"
    reporter: type[sh.Reporter] = PairingReporter
    events: dict[str, str] = {}  # the agent's hook event -> Claude Code's

    def __init_subclass__(cls) -> None:
        if cls.reporter.kind != cls.kind:  # the agents report under their own kind
            cls.reporter = type(f"{cls.__name__}Reporter", (cls.reporter,), {"kind": cls.kind})

    def __init__(self) -> None:
        self.native: dict[str, Any] = {}

    def read(self, deadline: sh.Deadline) -> dict[str, Any] | None:
        native = read_object(deadline)
        if native is None:
            return None
        self.native = native
        data = self.translate(native)
        if not data or not data.get("session_id") or not data.get("hook_event_name"):
            return None
        data["session_id"] = str(data["session_id"])
        return data

    def translate(self, native: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError

    def answer(self, answer: dict[str, Any] | None) -> dict[str, Any] | None:
        return answer

    def default_path(self) -> Path:
        raise NotImplementedError

    def install(self, path: Path) -> None:
        raise NotImplementedError

    def command(self) -> str:
        return sh.hook_command(__file__, f"hook {self.kind}")


def denial(answer: dict[str, Any] | None) -> str:
    """The text of a stop or sleep answer (PreToolUse / UserPromptSubmit), "" for none."""
    if not answer:
        return ""
    specific = answer.get("hookSpecificOutput") or {}
    return str(answer.get("stopReason") or specific.get("permissionDecisionReason") or "")


# --- Codex -------------------------------------------------------------------------------------
def read_rollout_usage(path: str, session: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Codex's rollout JSONL, from where the last read stopped: ([usage of each model call],
    last model). A `token_count` event's `last_token_usage` is one call; its natural key is the
    session's running total (`total_token_usage.total_tokens`), which every call moves on, so a
    repeated token_count or a second read of the same lines gives the same key and the server
    keeps it once. OpenAI counts cached input inside input_tokens and reasoning inside
    output_tokens; Switchboard counts them apart."""
    calls: list[dict[str, Any]] = []
    model = str(session.get("rollout_model") or "")
    if not path:
        return calls, model
    for raw in sh.new_lines(path, session):
        if b'"token_count"' not in raw and b'"turn_context"' not in raw:
            continue
        try:
            line = json.loads(raw)
            payload = line.get("payload") or {}
        except (ValueError, AttributeError):
            continue
        if line.get("type") == "turn_context" and isinstance(payload.get("model"), str):
            model = payload["model"]
            continue
        info = payload.get("info") if payload.get("type") == "token_count" else None
        last = info.get("last_token_usage") if isinstance(info, dict) else None
        total = info.get("total_token_usage") if isinstance(info, dict) else None
        if not isinstance(last, dict) or not isinstance(total, dict):
            continue

        def n(name: str, last: dict[str, Any] = last) -> int:
            value = last.get(name)
            return value if isinstance(value, int) and value > 0 else 0

        cached, reasoning = n("cached_input_tokens"), n("reasoning_output_tokens")
        calls.append({"key": f"{session.get('sid', '')}:{total.get('total_tokens')}",
                      "model": model, "tokens_input": max(0, n("input_tokens") - cached),
                      "tokens_cache_read": cached,
                      "tokens_cache_write": n("cache_write_input_tokens"),
                      "tokens_output": max(0, n("output_tokens") - reasoning),
                      "tokens_reasoning": reasoning})
    session["rollout_model"] = model
    return calls, model


def rollout_item(path: str, call_id: str) -> dict[str, Any]:
    """The `item_completed` record of tool call `call_id` near the end of Codex's rollout
    (exit_code, status, duration), or {}."""
    if not path or not call_id:
        return {}
    needle = f'"id":"{call_id}"'.encode()
    try:
        with open(os.path.expanduser(path), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 1024 * 1024))
            lines = fh.read().splitlines()
    except OSError:
        return {}
    for raw in reversed(lines):
        if needle in raw and b'"item_completed"' in raw:
            try:
                item = json.loads(raw)["payload"]["item"]
            except (ValueError, KeyError, TypeError):
                return {}
            return item if isinstance(item, dict) else {}
    return {}


class CodexReporter(sh.Reporter):
    kind = "codex"

    def handle(self) -> None:
        model = self.data.get("model")
        if isinstance(model, str) and model and model != self.session.get("model"):
            self.session["model"] = model  # every Codex hook names the model
            if self.session.get("registered"):
                self.ensure_main(force=True)
        super().handle()

    def on_post_tool_use(self) -> None:
        if str(self.data.get("tool_use_id") or "") in self.session.get("rollout_finished", []):
            return  # finished from the rollout when the turn ended before this hook ran
        # Codex hands the command's output only; its exit code and run time are in the rollout.
        done = rollout_item(str(self.data.get("transcript_path") or ""),
                            str(self.data.get("tool_use_id") or ""))
        if isinstance(done.get("duration"), dict):
            seconds = done["duration"].get("secs") or 0
            self.data["duration_ms"] = int(seconds * 1000 + (done["duration"].get("nanos") or 0)
                                           / 1e6)
        code = done.get("exit_code")
        if done.get("status") == "failed" or (isinstance(code, int) and code != 0):
            self.finish_span("error", self.data.get("tool_response"),
                             f"exit code {code}" if code is not None else "failed")
        else:
            super().on_post_tool_use()

    def close_spans(self, agent: str, outcome: str, reason: str, *, keep: str = "") -> None:
        # Codex runs PostToolUse in the background, and the turn can end before it reports: the
        # rollout already says how such a call ended, so it is not closed as "cancelled".
        path = str(self.data.get("transcript_path") or "")
        for span_id, span in list(self.open_spans().items()):
            if span["agent"] != agent or span_id == keep or span.get("asked"):
                continue
            done = rollout_item(path, span_id)
            if not done:
                continue
            self.open_spans().pop(span_id)
            code = done.get("exit_code")
            failed = done.get("status") == "failed" or (isinstance(code, int) and code != 0)
            finish: dict[str, Any] = {
                "span_id": span_id, "phase": "finish", "turn": span.get("turn", 0),
                "tool_name": span.get("tool", ""), "outcome": "error" if failed else "ok",
                "finished_at": self.ts}
            if failed:
                finish["error"] = f"exit code {code}" if code is not None else "failed"
            if isinstance(done.get("duration"), dict):
                finish["latency_ms"] = int((done["duration"].get("secs") or 0) * 1000
                                           + (done["duration"].get("nanos") or 0) / 1e6)
            self.emit("span.finish", agent, finish)
            self.session["rollout_finished"] = [
                *self.session.get("rollout_finished", [])[-50:], span_id]
        super().close_spans(agent, outcome, reason, keep=keep)

    def report_usage(self, path: str, external_id: str) -> None:
        self.session["sid"] = self.sid
        calls, model = read_rollout_usage(path, self.session)
        if model and not self.session.get("model"):
            self.session["model"] = model
            self.ensure_main(force=True)
        turn = int(self.session.get("turn") or 0)
        for call in calls:
            data = {**call, "turn": turn}
            if not data["model"]:
                data.pop("model")
            self.emit("usage", external_id, data)

    def decide(self) -> dict[str, Any] | None:
        answer = super().decide()
        if answer and self.data["hook_event_name"] == "PreToolUse":
            # Codex refuses continue:false and stopReason at PreToolUse: the deny alone.
            answer = {"hookSpecificOutput": answer["hookSpecificOutput"]}
        return answer

    def on_stop(self) -> None:
        super().on_stop()
        self.session["turn_id"] = self.data.get("turn_id")


class Codex(Adapter):
    """Codex speaks Claude Code's hook format (snake_case, same answers), plus `turn_id` and
    `model` on every hook. Hooks live in ~/.codex/hooks.json (or [hooks] in config.toml; Codex
    warns when a folder has both); Codex runs a hook only once it is trusted (/hooks in the TUI,
    or --dangerously-bypass-hook-trust for automation)."""

    kind = "codex"
    reporter = CodexReporter
    # (event, async, timeout s). Answering hooks run in the foreground.
    HOOKS = (("SessionStart", False, 10), ("UserPromptSubmit", False, 10),
             ("PreToolUse", False, 10), ("PermissionRequest", False, 120),
             ("PostToolUse", True, 30), ("Stop", False, 10), ("StopFailure", True, 30),
             ("SubagentStart", True, 30), ("SubagentStop", True, 30), ("SessionEnd", False, 10))

    def read(self, deadline: sh.Deadline) -> dict[str, Any] | None:
        return sh.read_stdin(deadline)

    def default_path(self) -> Path:
        home = os.environ.get("CODEX_HOME")
        return (Path(home) if home else Path.home() / ".codex") / "hooks.json"

    def install(self, path: Path) -> None:
        command = self.command()
        hooks = {}
        for event, background, timeout in self.HOOKS:
            entry: dict[str, Any] = {"type": "command", "command": command, "timeout": timeout}
            if background:
                entry["async"] = True
            hooks[event] = [{"hooks": [entry]}]
        sh.merge_hooks(path, hooks)


# --- Gemini CLI --------------------------------------------------------------------------------
EXIT_CODE_RE = re.compile(r"^Exit Code: (-?\d+)\s*$", re.M)


def shell_exit_code(response: Any) -> int:
    """The non-zero exit code Gemini CLI's shell tool writes into its result text, else 0."""
    content = response.get("llmContent") if isinstance(response, dict) else None
    if isinstance(content, list):
        content = "\n".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    match = EXIT_CODE_RE.search(content) if isinstance(content, str) else None
    return int(match.group(1)) if match else 0


class Gemini(Adapter):
    """Gemini CLI hooks (settings.json `hooks`): snake_case input with session_id, cwd,
    transcript_path; tool hooks carry no call id. Answers: decision deny + reason, continue."""

    kind = "gemini-cli"
    events = {"SessionStart": "SessionStart", "SessionEnd": "SessionEnd",
              "BeforeAgent": "UserPromptSubmit", "AfterAgent": "Stop",
              "BeforeTool": "PreToolUse", "AfterTool": "PostToolUse",
              "Notification": "Notification", "PreCompress": "PreCompress"}

    def translate(self, native: dict[str, Any]) -> dict[str, Any] | None:
        event = str(native.get("hook_event_name") or "")
        data = dict(native, hook_event_name=self.events.get(event, event))
        if event == "AfterAgent":
            data["last_assistant_message"] = native.get("prompt_response") or ""
        elif event == "AfterTool":
            response = native.get("tool_response")
            error = response.get("error") if isinstance(response, dict) else None
            code = shell_exit_code(response)
            if error:
                data.update(hook_event_name="PostToolUseFailure", error=parse_json(error))
            elif code:
                # A shell command that ran and failed is no tool error to Gemini CLI: its
                # exit code is only in the text the model gets ("Exit Code: 3").
                data.update(hook_event_name="PostToolUseFailure", error=f"exit code {code}")
        elif event == "Notification" and native.get("notification_type") == "ToolPermission":
            data["notification_type"] = "permission_prompt"
        elif event == "SessionStart":
            data.pop("model", None)
        return data

    def answer(self, answer: dict[str, Any] | None) -> dict[str, Any] | None:
        if not answer:
            return None
        if answer.get("decision") == "block":  # AfterAgent: the reason is the next prompt
            return {"decision": "deny", "reason": answer["reason"]}
        text = denial(answer)
        out: dict[str, Any] = {"decision": "deny", "reason": text}
        if answer.get("continue") is False:
            out.update({"continue": False, "stopReason": text})
        return out

    def default_path(self) -> Path:
        return Path.home() / ".gemini" / "settings.json"

    def install(self, path: Path) -> None:
        command = self.command()
        hooks = {event: [{"matcher": "*" if event in ("BeforeTool", "AfterTool") else "",
                          "hooks": [{"type": "command", "name": "switchboard",
                                     "command": command, "timeout": 10000}]}]
                 for event in self.events}
        for groups in hooks.values():
            if not groups[0]["matcher"]:
                del groups[0]["matcher"]
        sh.merge_hooks(path, hooks)


# --- Cursor ------------------------------------------------------------------------------------
class Cursor(Adapter):
    """Cursor hooks (.cursor/hooks.json or ~/.cursor/hooks.json, version 1): camelCase event
    names, snake_case fields; conversation_id is the session, workspace_roots[0] the folder."""

    kind = "cursor"
    events = {"sessionStart": "SessionStart", "sessionEnd": "SessionEnd",
              "beforeSubmitPrompt": "UserPromptSubmit", "stop": "Stop",
              "beforeShellExecution": "PreToolUse", "afterShellExecution": "PostToolUse",
              "beforeMCPExecution": "PreToolUse", "afterMCPExecution": "PostToolUse",
              "preToolUse": "PreToolUse", "postToolUse": "PostToolUse",
              "afterFileEdit": "PostToolUse", "afterAgentResponse": "AgentResponse",
              "subagentStart": "SubagentStart", "subagentStop": "SubagentStop"}
    PERMISSION_HOOKS = ("beforeShellExecution", "beforeMCPExecution", "preToolUse")

    def translate(self, native: dict[str, Any]) -> dict[str, Any] | None:
        event = str(native.get("hook_event_name") or "")
        roots = native.get("workspace_roots") or []
        cwd = native.get("cwd") or (roots[0] if isinstance(roots, list) and roots else "")
        data: dict[str, Any] = {
            "session_id": native.get("conversation_id") or native.get("session_id"),
            "hook_event_name": self.events.get(event, event), "cwd": cwd,
            "model": native.get("model") or "", "transcript_path": "",
        }
        if event in ("beforeShellExecution", "afterShellExecution"):
            data.update(tool_name="Shell", tool_input={"command": native.get("command") or ""},
                        tool_response={"output": native.get("output")})
        elif event in ("beforeMCPExecution", "afterMCPExecution", "preToolUse", "postToolUse"):
            data.update(tool_name=native.get("tool_name") or "MCP",
                        tool_input=parse_json(native.get("tool_input")),
                        tool_use_id=native.get("tool_use_id") or "",
                        tool_response=parse_json(native.get("result_json")
                                                 or native.get("tool_output")))
        elif event == "afterFileEdit":
            data.update(tool_name="Edit", tool_input={"file_path": native.get("file_path")},
                        tool_response={"edits": native.get("edits")})
        elif event == "beforeSubmitPrompt":
            data["prompt"] = native.get("prompt") or ""
        elif event == "stop":
            status = native.get("status")
            if status == "error":
                data.update(hook_event_name="StopFailure", error="cursor_error",
                            last_assistant_message="the agent loop ended on an error")
            data["stop_hook_active"] = int(native.get("loop_count") or 0) > 0
        elif event in ("subagentStart", "subagentStop"):
            data.update(agent_id=str(native.get("subagent_id") or native.get("agent_id")
                                     or native.get("generation_id") or ""),
                        agent_type=native.get("subagent_type") or "")
        elif event == "sessionEnd":
            data["reason"] = native.get("reason") or "other"
        duration = native.get("duration")
        if isinstance(duration, (int, float)) and not isinstance(duration, bool):
            data["duration_ms"] = duration
        return data

    def answer(self, answer: dict[str, Any] | None) -> dict[str, Any] | None:
        event = self.native.get("hook_event_name")
        text = denial(answer)
        if event in self.PERMISSION_HOOKS:
            # Cursor waits for a permission: allow unless the control room said stop or sleep.
            if text:
                return {"permission": "deny", "user_message": text, "agent_message": text}
            return {"permission": "allow"}
        if event == "beforeSubmitPrompt":
            return {"continue": False, "user_message": text} if text else {"continue": True}
        if event == "stop" and answer and answer.get("decision") == "block":
            return {"followup_message": answer["reason"]}
        return {}

    def default_path(self) -> Path:
        return Path.home() / ".cursor" / "hooks.json"

    def install(self, path: Path) -> None:
        command = self.command()
        sh.merge_hooks(path, {event: [{"command": command}] for event in self.events},
                       top={"version": 1})


# --- GitHub Copilot ------------------------------------------------------------------------------
class Copilot(Adapter):
    """GitHub Copilot CLI and cloud agent hooks (.github/hooks/*.json, version 1), camelCase:
    sessionId, cwd, toolName, toolArgs (a JSON string), toolResult {resultType, ...}."""

    kind = "copilot"
    events = {"sessionStart": "SessionStart", "sessionEnd": "SessionEnd",
              "userPromptSubmitted": "UserPromptSubmit", "preToolUse": "PreToolUse",
              "postToolUse": "PostToolUse", "errorOccurred": "StopFailure",
              "agentStop": "Stop", "subagentStop": "SubagentStop"}

    def translate(self, native: dict[str, Any]) -> dict[str, Any] | None:
        event = str(native.get("hookEventName") or native.get("hook_event_name")
                    or os.environ.get("SWITCHBOARD_HOOK_EVENT") or "")
        cwd = str(native.get("cwd") or os.getcwd())
        session = native.get("sessionId") or native.get("session_id")
        if not session:  # older payloads name no session: one per folder
            import hashlib

            session = "copilot-" + hashlib.sha1(cwd.encode()).hexdigest()[:16]
        data: dict[str, Any] = {
            "session_id": session, "hook_event_name": self.events.get(event, event), "cwd": cwd,
            "transcript_path": "", "tool_name": native.get("toolName") or "",
            "tool_input": parse_json(native.get("toolArgs")),
            "tool_use_id": native.get("toolCallId") or "",
            "prompt": native.get("prompt") or native.get("initialPrompt") or "",
            "source": native.get("source") or "startup",
            "reason": native.get("reason") or "other",
        }
        if event == "postToolUse":
            result = native.get("toolResult") or {}
            result = result if isinstance(result, dict) else {"textResultForLlm": result}
            data["tool_response"] = result
            if result.get("resultType") in ("failure", "denied"):
                data.update(hook_event_name="PostToolUseFailure",
                            error=str(result.get("textResultForLlm") or result["resultType"]))
        elif event == "errorOccurred":
            error = native.get("error") or {}
            error = error if isinstance(error, dict) else {"message": str(error)}
            data.update(error=str(error.get("name") or "error"),
                        last_assistant_message=str(error.get("message") or ""))
        elif event == "subagentStop":
            data.update(agent_id=str(native.get("agentId") or native.get("subagentId") or ""),
                        agent_type=str(native.get("agentName") or ""))
        return data

    def answer(self, answer: dict[str, Any] | None) -> dict[str, Any] | None:
        if not answer:
            return None
        if answer.get("decision") == "block":  # agentStop: the reason is the next prompt
            return {"decision": "block", "reason": answer["reason"]}
        text = denial(answer)
        if text and self.native.get("toolName") is not None:
            return {"permissionDecision": "deny", "permissionDecisionReason": text}
        return None

    def default_path(self) -> Path:
        return Path(".github") / "hooks" / "switchboard.json"

    def install(self, path: Path) -> None:
        entries = {}
        for event in self.events:
            # SWITCHBOARD_HOOK_EVENT: older Copilot payloads do not name their event.
            entries[event] = [{"type": "command", "timeoutSec": 30,
                               "bash": f"SWITCHBOARD_HOOK_EVENT={event} {self.command()}",
                               "powershell": f"$env:SWITCHBOARD_HOOK_EVENT='{event}'; "
                                             f"{self.command()}"}]
        sh.merge_hooks(path, entries, top={"version": 1})


ADAPTERS: dict[str, type[Adapter]] = {
    "codex": Codex, "gemini-cli": Gemini, "cursor": Cursor, "copilot": Copilot}
ALIASES = {"gemini": "gemini-cli", "github-copilot": "copilot", "cursor-agent": "cursor",
           "codex-cli": "codex", "claude": "claude-code", "amp-cli": "amp",
           "goose-cli": "goose"}


def hook(kind: str) -> None:
    """The hook entry point: answer on stdout what the agent expects, exit 0 whatever happens."""
    adapter = ADAPTERS[ALIASES.get(kind, kind)]()
    deadline = sh.Deadline(sh.env_float("SWITCHBOARD_TIMEOUT", 2.0))
    out = None
    try:
        out = adapter.answer(sh.run(deadline, read=adapter.read, reporter_class=adapter.reporter))
    except BaseException as exc:  # noqa: BLE001 - a reporting hook must never break its agent
        try:
            sh.debug(sh.state_dir(), f"{kind} hook error: {exc!r}")
        except BaseException:  # noqa: BLE001
            pass
        if isinstance(adapter, Cursor):
            out = adapter.answer(None)
    finally:
        try:
            if out is not None:
                sys.stdout.write(json.dumps(out))
                sys.stdout.flush()
        finally:
            os._exit(0)


# --- any CLI agent: run -- <command> ----------------------------------------------------------
# apps/agents/kinds.py's known kinds; a command named otherwise (python3, make) is "custom".
KNOWN_KINDS = ("claude-code", "opencode", "codex", "gemini-cli", "cursor", "copilot", "aider",
               "amp", "goose")


def kind_of(command: str) -> str:
    """The agent kind a command's name suggests (aider -> aider, gemini -> gemini-cli), else
    "custom"."""
    import re

    name = os.path.basename(command).lower()
    name = re.sub(r"\.(exe|cmd|bat|py|sh|js)$", "", name)
    slug = re.sub(r"[^a-z0-9]+", "-", name).strip("-")[:40]
    slug = ALIASES.get(slug, slug)
    return slug if slug in KNOWN_KINDS else "custom"


class Runner:
    """Reports a child process as an agent through the shared spool: registered and working at
    start, a heartbeat every SWITCHBOARD_HEARTBEAT seconds (default 30) while it lives, stopped
    (exit 0) or error (the exit code, or the signal that killed it) at the end. A `stop` command
    from the control room ends the child (SIGTERM)."""

    def __init__(self, argv: list[str], kind: str, name: str) -> None:
        self.argv = argv
        self.kind = kind
        self.name = name
        self.external_id = f"run-{os.urandom(8).hex()}"
        self.root = sh.state_dir()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.spool = sh.Spool(self.root)
        self.stopped_by = ""

    def event(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        return sh.event(type_, self.external_id, data, prefix="run")

    def send(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        if not os.environ.get("SWITCHBOARD_URL", "").strip():
            return []
        try:
            self.spool.append(list(events))
            return sh.drain(self.root, self.spool, sh.Deadline(sh.env_float("SWITCHBOARD_TIMEOUT",
                                                                            2.0)))
        except Exception as exc:  # noqa: BLE001 - reporting must never stop the child
            sh.debug(self.root, f"run: {exc!r}")
            return []

    def obey(self, commands: list[dict[str, Any]], child: Any) -> None:
        acks = []
        for command in commands:
            if command.get("agent_external_id") not in (None, self.external_id):
                continue
            if command.get("action") == "stop" and child.poll() is None:
                self.stopped_by = str(command.get("actor_label") or "the control room")
                child.terminate()
                result = {"via": "run", "done": True}
            else:
                result = {"via": "run", "done": True, "note": "no action needed"}
            acks.append(self.event("command.ack", {"command_id": command.get("id"),
                                                   "result": result}))
        if acks:
            self.send(*acks)

    def __call__(self) -> int:
        import signal
        import subprocess

        # Signals are caught from the start: one that arrives while the agent registers (before
        # the child exists) is passed on as soon as the child runs, never lost or fatal here.
        holder: dict[str, Any] = {"child": None, "pending": []}

        def forward(signum: int, _frame: Any) -> None:
            child = holder["child"]
            if child is None:
                holder["pending"].append(signum)
            elif child.poll() is None:
                child.send_signal(signum)

        for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), forward)
        cwd = os.getcwd()
        self.send(
            self.event("agent.register", {
                "name": self.name, "kind": self.kind, "external_id": self.external_id,
                "metadata": {"cwd": cwd, "command": self.argv[:20], "pid": os.getpid(),
                             "client": USER_AGENT}, **_label()}),
            self.event("agent.status", {"status": "working",
                                        "reason": f"running {os.path.basename(self.argv[0])}"}))
        env = dict(os.environ, SWITCHBOARD_RUN_AGENT=self.external_id)
        try:
            child = subprocess.Popen(self.argv, env=env)
        except OSError as exc:
            self.send(self.event("agent.error", {"message": f"could not start: {exc}"}),
                      self.event("agent.status", {"status": "error",
                                                  "reason": f"could not start: {exc}"}))
            return 127
        holder["child"] = child
        for signum in holder["pending"]:
            child.send_signal(signum)
        every = max(0.2, sh.env_float("SWITCHBOARD_HEARTBEAT", 30.0))
        while True:
            try:
                code = child.wait(timeout=every)
                break
            except subprocess.TimeoutExpired:
                self.obey(self.send(self.event("agent.heartbeat", {"message": "running"})), child)
        if code == 0:
            end = [self.event("agent.status", {"status": "stopped", "reason": "exited (code 0)"})]
        elif self.stopped_by:
            end = [self.event("agent.status", {"status": "stopped",
                                               "reason": f"stopped by {self.stopped_by}"})]
        else:
            if code < 0:
                try:
                    what = f"killed by {signal.Signals(-code).name}"
                except ValueError:
                    what = f"killed by signal {-code}"
            else:
                what = f"exited with code {code}"
            end = [self.event("agent.error", {"message": what, "exit_code": code}),
                   self.event("agent.status", {"status": "error", "reason": what})]
        self.send(*end)
        return code if code >= 0 else 128 - code


def run_command(args: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="switchboard_hooks.py run")
    parser.add_argument("--kind", default="")
    parser.add_argument("--name", default="")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(args)
    argv = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not argv:
        parser.error("nothing to run: run [--kind K] [--name N] -- <command...>")
    name = (options.name or os.environ.get("SWITCHBOARD_AGENT_NAME", "").strip()
            or os.path.basename(os.getcwd().rstrip("/\\")) or "agent")
    return Runner(argv, options.kind or kind_of(argv[0]), name[:150])()


# --- notify: an agent says it waits ---------------------------------------------------------------
def notify(kind: str, payload: str) -> None:
    """`notify aider`: Aider waits for input (its --notifications-command). Under `run --` it
    marks the wrapped agent; alone, an agent of this kind named after the folder.
    `notify codex '<json>'`: Codex's `notify` program after a turn (agent-turn-complete):
    the session's agent is idle."""
    kind = ALIASES.get(kind, kind)
    cwd = os.getcwd()
    root = sh.state_dir()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    spool = sh.Spool(root)
    info = parse_json(payload) if payload else {}
    info = info if isinstance(info, dict) else {}
    events = []

    def event(type_: str, agent: str, data: dict[str, Any]) -> None:
        events.append(sh.event(type_, agent, data, prefix="notify"))

    if kind == "codex" and info.get("thread-id"):
        agent = str(info["thread-id"])
        event("agent.status", agent, {"status": "idle", "reason": "turn finished"})
        event("hook.notify", agent, {"type": str(info.get("type") or ""),
                                     "turn_id": str(info.get("turn-id") or ""),
                                     "message": str(info.get("last-assistant-message") or "")[:2000]})
    else:
        agent = os.environ.get("SWITCHBOARD_RUN_AGENT", "")
        if not agent:
            agent = f"{kind}:{sh.safe_name(cwd)}"[:200]
            name = (os.environ.get("SWITCHBOARD_AGENT_NAME", "").strip()
                    or os.path.basename(cwd.rstrip("/\\")) or kind)
            event("agent.register", agent, {"name": name[:150], "kind": kind, "external_id": agent,
                                            "metadata": {"cwd": cwd, "client": USER_AGENT},
                                            **_label()})
        event("agent.status", agent, {"status": "blocked", "reason": "waiting for input"})
    if os.environ.get("SWITCHBOARD_URL", "").strip():
        spool.append(events)
        sh.drain(root, spool, sh.Deadline(sh.env_float("SWITCHBOARD_TIMEOUT", 2.0)))


USAGE = __doc__.split("\n\n")[1]


def main() -> None:
    args = sys.argv[1:]
    verb = args[0] if args else ""
    if verb == "hook" and len(args) >= 2:
        hook(args[1])
    elif verb == "run":
        sys.exit(run_command(args[1:]))
    elif verb == "notify" and len(args) >= 2:
        try:
            notify(args[1], args[2] if len(args) > 2 else "")
        except BaseException as exc:  # noqa: BLE001 - never fail the agent that notifies
            sh.debug(sh.state_dir(), f"notify error: {exc!r}")
        os._exit(0)
    elif verb == "install" and len(args) >= 2 and ALIASES.get(args[1], args[1]) in ADAPTERS:
        adapter = ADAPTERS[ALIASES.get(args[1], args[1])]()
        adapter.install(Path(args[2]).expanduser() if len(args) > 2 else adapter.default_path())
    else:
        sys.stderr.write(USAGE + "\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
