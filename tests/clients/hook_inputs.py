"""The JSON Claude Code writes on a command hook's stdin, one builder per hook event.

Field names and example values are those of Claude Code's hooks reference
(https://code.claude.com/docs/en/hooks, "Hook input" and each event's "Input" section):
common fields session_id, transcript_path, cwd, permission_mode, hook_event_name; sub-agent
calls add agent_id and agent_type. Tool examples (Write with file_path/content, its
tool_response {filePath, success}, tool_use_id "toolu_01ABC123...") are the reference's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class Session:
    """One Claude Code session as the hooks see it, with a transcript file on disk."""

    def __init__(self, tmp: Path, session_id: str = "00893aaf-19fa-41d2-8238-13269b9b3ca0",
                 cwd: str = "/home/dev/projects/payments-api") -> None:
        self.session_id = session_id
        self.cwd = cwd
        folder = tmp / ".claude" / "projects" / "-home-dev-projects-payments-api"
        folder.mkdir(parents=True, exist_ok=True)
        self.transcript = folder / f"{session_id}.jsonl"
        self.transcript.touch()

    def common(self, event: str, **extra: Any) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "transcript_path": str(self.transcript),
            "cwd": self.cwd,
            "permission_mode": "default",
            "hook_event_name": event,
            **extra,
        }

    # one builder per hook event --------------------------------------------------------
    def session_start(self, source: str = "startup") -> dict[str, Any]:
        return self.common("SessionStart", source=source)

    def user_prompt_submit(self, prompt: str) -> dict[str, Any]:
        return self.common("UserPromptSubmit", prompt=prompt)

    def pre_tool_use(self, tool_name: str, tool_input: dict[str, Any], tool_use_id: str,
                     **extra: Any) -> dict[str, Any]:
        return self.common("PreToolUse", tool_name=tool_name, tool_input=tool_input,
                           tool_use_id=tool_use_id, **extra)

    def post_tool_use(self, tool_name: str, tool_input: dict[str, Any], tool_response: Any,
                      tool_use_id: str, **extra: Any) -> dict[str, Any]:
        return self.common("PostToolUse", tool_name=tool_name, tool_input=tool_input,
                           tool_response=tool_response, tool_use_id=tool_use_id, **extra)

    def post_tool_use_failure(self, tool_name: str, tool_input: dict[str, Any], error: str,
                              tool_use_id: str) -> dict[str, Any]:
        return self.common("PostToolUseFailure", tool_name=tool_name, tool_input=tool_input,
                           tool_use_id=tool_use_id, error=error, is_interrupt=False)

    def notification(self, message: str, notification_type: str) -> dict[str, Any]:
        return self.common("Notification", message=message, notification_type=notification_type)

    def stop(self, stop_hook_active: bool = False) -> dict[str, Any]:
        return self.common("Stop", stop_hook_active=stop_hook_active)

    def subagent_stop(self, agent_id: str, agent_type: str,
                      agent_transcript_path: str = "") -> dict[str, Any]:
        return self.common("SubagentStop", stop_hook_active=False, agent_id=agent_id,
                           agent_type=agent_type, agent_transcript_path=agent_transcript_path)

    def session_end(self, reason: str = "prompt_input_exit") -> dict[str, Any]:
        return self.common("SessionEnd", reason=reason)

    # the transcript ----------------------------------------------------------------------
    def add_assistant_message(self, message_id: str, usage: dict[str, int], *,
                              tool_use_id: str = "", chunks: int = 1,
                              path: Path | None = None,
                              model: str = "claude-sonnet-4-5-20250929") -> None:
        """An assistant response as Claude Code writes it: one line per content block, each
        repeating the message id and its usage (message.usage)."""
        lines = []
        for index in range(chunks):
            content: list[dict[str, Any]] = [{"type": "text", "text": f"part {index}"}]
            if tool_use_id and index == chunks - 1:
                content = [{"type": "tool_use", "id": tool_use_id, "name": "Bash",
                            "input": {"command": "pytest -q"}}]
            lines.append({
                "parentUuid": None, "isSidechain": False, "userType": "external",
                "cwd": self.cwd, "sessionId": self.session_id, "version": "2.0.42",
                "type": "assistant", "requestId": f"req_{message_id}",
                "uuid": f"{message_id}-{index}", "timestamp": "2026-11-21T10:00:00.000Z",
                "message": {
                    "id": message_id, "type": "message", "role": "assistant", "model": model,
                    "content": content, "stop_reason": None,
                    "usage": {"input_tokens": 0, "output_tokens": 0,
                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                              "service_tier": "standard", **usage},
                },
            })
        with open(path or self.transcript, "a") as fh:
            for line in lines:
                fh.write(json.dumps(line) + "\n")

    def add_user_line(self, text: str) -> None:
        with open(self.transcript, "a") as fh:
            fh.write(json.dumps({"type": "user", "sessionId": self.session_id,
                                 "message": {"role": "user", "content": text}}) + "\n")
