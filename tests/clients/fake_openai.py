"""A small fake of the OpenAI Chat Completions API on 127.0.0.1, for driving the real OpenCode
CLI (through `@ai-sdk/openai-compatible`) in tests. It streams `chat.completion.chunk`
server-sent events the way OpenAI does: a role chunk, text or `tool_calls` deltas (the
arguments in two pieces), a finish chunk, then a chunk with `usage` and no choices (asked for
with `stream_options.include_usage`), then `data: [DONE]`.

What the model "says" is scripted per conversation, keyed by a marker string found in the
conversation's first user message (the prompt of `opencode run`); the reply is the step at the
index of the number of assistant messages already in the request. A step is one of:

    {"text": "..."}                                   a plain answer (finish_reason stop)
    {"tools": [{"name": "bash", "input": {...}}]}     tool calls (finish_reason tool_calls)
    {"status": 500, "error": "..."}                   an HTTP error with OpenAI's error body
    {"delay": 0.5, ...}                               wait before answering (any of the above)
    {"usage": {"prompt_tokens": ..., ...}, ...}       this answer's usage instead of USAGE

Requests that match no script (title generation and other side calls) get a short text answer.
Every request is kept in `requests` for assertions.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.clients.fake_server import FakeHandler, ScriptedFake

MODEL = "fake-coder-1"
USAGE = {"prompt_tokens": 1500, "completion_tokens": 70,
         "prompt_tokens_details": {"cached_tokens": 1000},
         "completion_tokens_details": {"reasoning_tokens": 0}}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text") or "") for part in content
                         if isinstance(part, dict) and part.get("type") == "text")
    return ""


def _user_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [_text(m.get("content")) for m in messages if m.get("role") == "user"]


class FakeOpenAI(ScriptedFake):
    USAGE = USAGE
    PATH = "/v1"

    def chats(self, marker: str) -> list[dict[str, Any]]:
        """The scripted conversation's requests (not title generation)."""
        with self.lock:
            return [r["body"] for r in self.requests
                    if any(marker in t for t in _user_texts(r["body"].get("messages") or [])[:1])]

    # --- choosing the answer ------------------------------------------------------------
    def step_for(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        users = _user_texts(messages)
        first = users[0] if users else ""
        # Title generation quotes the prompt inside its own instructions: only a conversation
        # whose system prompt is not the title agent's counts.
        system = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
        if "title" in system.lower() and "generat" in system.lower():
            return {"text": "A title"}
        return self.scripted_step(first, messages)

    # --- the HTTP side ------------------------------------------------------------------
    class Handler(FakeHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_json(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "fake"}]})

        def do_POST(self) -> None:  # noqa: N802
            path, body = self.read_request()
            if not path.endswith("/chat/completions"):
                self.send_json(404, {"error": {"message": path, "type": "not_found"}})
                return
            step = self.fake.step_for(body)
            if step.get("delay"):
                time.sleep(float(step["delay"]))
            if step.get("status"):
                self.send_json(int(step["status"]), {"error": {
                    "message": step.get("error") or "server error", "type": "server_error",
                    "code": None}})
                return
            if body.get("stream"):
                chunks = self.fake.chunks(body, step)
                self.send_stream([*(f"data: {json.dumps(c)}\n\n".encode() for c in chunks),
                                  b"data: [DONE]\n\n"])
            else:
                self.send_json(200, self.fake.completion(body, step))

    def _usage(self, step: dict[str, Any]) -> dict[str, Any]:
        usage = dict(step.get("usage") or self.usage)
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return usage

    def completion(self, body: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": step.get("text") or ""}
        calls = self._calls(step)
        if calls:
            message["tool_calls"] = calls
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
                "created": int(time.time()), "model": str(body.get("model") or MODEL),
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if calls else "stop"}],
                "usage": self._usage(step)}

    @staticmethod
    def _calls(step: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                 "function": {"name": tool["name"],
                              "arguments": json.dumps(tool.get("input") or {})}}
                for tool in step.get("tools") or []]

    def chunks(self, body: dict[str, Any], step: dict[str, Any]) -> list[dict[str, Any]]:
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": str(body.get("model") or MODEL)}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        out = [chunk({"role": "assistant", "content": ""})]
        if step.get("text"):
            out.append(chunk({"content": str(step["text"])}))
        calls = self._calls(step)
        for index, call in enumerate(calls):
            args = call["function"]["arguments"]
            half = len(args) // 2
            out.append(chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                              "function": {"name": call["function"]["name"],
                                                           "arguments": args[:half]}}]}))
            out.append(chunk({"tool_calls": [{"index": index,
                                              "function": {"arguments": args[half:]}}]}))
        out.append(chunk({}, "tool_calls" if calls else "stop"))
        out.append({**base, "choices": [], "usage": self._usage(step)})
        return out
