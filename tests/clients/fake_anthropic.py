"""A small fake of the Anthropic Messages API on 127.0.0.1, for driving the real Claude Code
CLI in tests. It speaks the streaming format Claude Code reads (server-sent events
`message_start`, `content_block_start/delta/stop`, `message_delta`, `message_stop`) and the
plain JSON answer for non-streaming calls.

What the model "says" is scripted per conversation. A conversation is recognised by a marker
string found in its first user message (the prompt of `claude -p`, or the prompt the Agent tool
gives a sub-agent); the reply is the script's step at the index of the number of assistant
turns already in the request. A step is one of:

    {"text": "..."}                              a plain answer (stop_reason end_turn)
    {"tools": [{"name": "Bash", "input": {...}}]} one or more tool calls (stop_reason tool_use)
    {"status": 529, "error": "overloaded_error"} an HTTP error with Anthropic's error body
    {"delay": 0.5, ...}                           wait before answering (any of the above)

Requests that match no script (title generation and other side calls) get a short text answer.
Every request is kept in `requests` for assertions.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.clients.fake_server import FakeHandler, ScriptedFake

MODEL = "claude-sonnet-4-5-20250929"
USAGE = {"input_tokens": 1200, "output_tokens": 80, "cache_read_input_tokens": 15000,
         "cache_creation_input_tokens": 900}


def _first_user_text(messages: list[dict[str, Any]]) -> str:
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(str(part.get("text") or "") for part in content
                             if isinstance(part, dict) and part.get("type") == "text")
    return ""


class FakeAnthropic(ScriptedFake):
    USAGE = USAGE
    PATH = ""

    # --- choosing the answer ------------------------------------------------------------
    def step_for(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        first = _first_user_text(messages)
        return self.scripted_step(first, messages)

    # --- the HTTP side ------------------------------------------------------------------
    class Handler(FakeHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_json(200, {"data": [], "has_more": False})

        def do_HEAD(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def extra_headers(self, status: int) -> dict[str, str]:
            headers = {"request-id": f"req_{uuid.uuid4().hex[:24]}"}
            if status >= 500 or status == 429:
                headers["x-should-retry"] = "false"
            return headers

        def do_POST(self) -> None:  # noqa: N802
            path, body = self.read_request()
            if path.endswith("/count_tokens"):
                self.send_json(200, {"input_tokens": 100})
                return
            if not path.endswith("/messages"):
                self.send_json(404, {"type": "error", "error": {"type": "not_found_error",
                                                                "message": path}})
                return
            step = self.fake.step_for(body)
            if step.get("delay"):
                time.sleep(float(step["delay"]))
            if step.get("status"):
                kind = str(step.get("error") or "api_error")
                self.send_json(int(step["status"]), {"type": "error", "error": {
                    "type": kind, "message": step.get("message") or kind}})
                return
            message = self.fake.message(body, step)
            if body.get("stream"):
                self.send_stream(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                                 for name, data in self.fake.events(message))
            else:
                self.send_json(200, message)

    def message(self, body: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if step.get("text") is not None:
            content.append({"type": "text", "text": str(step["text"])})
        for tool in step.get("tools") or []:
            content.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}",
                            "name": tool["name"], "input": tool.get("input") or {}})
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
            "model": str(body.get("model") or MODEL), "content": content,
            "stop_reason": "tool_use" if step.get("tools") else "end_turn",
            "stop_sequence": None, "usage": dict(step.get("usage") or self.usage),
        }

    @staticmethod
    def events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None,
                 "usage": {**usage, "output_tokens": 1}}
        out: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start}),
            ("ping", {"type": "ping"}),
        ]
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                out.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": {"type": "text", "text": ""}}))
                out.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "text_delta",
                                                              "text": block["text"]}}))
            else:
                out.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": {**block, "input": {}}}))
                out.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "input_json_delta",
                                                              "partial_json": json.dumps(
                                                                  block["input"])}}))
            out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        out.append(("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": message["stop_reason"],
                                                "stop_sequence": None},
                                      "usage": {"output_tokens": usage["output_tokens"]}}))
        out.append(("message_stop", {"type": "message_stop"}))
        return out
