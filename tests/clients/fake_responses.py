"""A small fake of the OpenAI Responses API (`POST /v1/responses`, streamed) on 127.0.0.1, for
driving the real Codex CLI in tests. It streams server-sent events the way OpenAI does:
`response.created`, one `response.output_item.added` / `response.output_item.done` pair per output
item (a `function_call` or an assistant `message`), then `response.completed` with `usage`.

What the model "says" is scripted per conversation, keyed by a marker in the conversation's first
user message; the reply is the step at the index of the number of model turns already in the
request after the last user message with the marker (each function_call_output is the end of one
model turn), so a task that arrives later in the same conversation has a script of its own.
A step is one of:

    {"text": "..."}                                   a plain answer
    {"call": {"name": "shell", "arguments": {...}}}   one function call
    {"usage": {"input_tokens": ..., ...}, ...}        this answer's usage instead of USAGE

Requests that match no script (title or summary side calls) get a short text answer.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.clients.fake_server import FakeHandler, ScriptedFake

MODEL = "fake-codex-1"
USAGE = {"input_tokens": 2000, "input_tokens_details": {"cached_tokens": 1500},
         "output_tokens": 120, "output_tokens_details": {"reasoning_tokens": 20}}


def _texts(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text") or "") for p in content or [] if isinstance(p, dict))


class FakeResponses(ScriptedFake):
    USAGE = USAGE
    PATH = "/v1"

    def step_for(self, body: dict[str, Any]) -> dict[str, Any]:
        items = [i for i in body.get("input") or [] if isinstance(i, dict)]
        last: tuple[int, str] | None = None  # (index, marker) of the newest scripted prompt
        for index, item in enumerate(items):
            if item.get("role") in ("user", "developer"):
                found = [m for m in self.scripts if m in _texts(item)]
                if found:
                    last = (index, max(found, key=len))
        if last is None:
            return {"text": "Untitled"}
        steps = self.scripts[last[1]]
        turn = sum(1 for i in items[last[0]:] if i.get("type") == "function_call_output")
        return steps[turn] if turn < len(steps) else {"text": "Done."}

    def responses(self, marker: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.requests if marker in json.dumps(r["body"])]

    def events(self, body: dict[str, Any], step: dict[str, Any]) -> list[dict[str, Any]]:
        rid = f"resp_{uuid.uuid4().hex[:20]}"
        model = str(body.get("model") or MODEL)
        if step.get("call"):
            call = step["call"]
            item: dict[str, Any] = {"type": "function_call", "id": f"fc_{uuid.uuid4().hex[:20]}",
                                    "call_id": call.get("call_id") or f"call_{uuid.uuid4().hex[:20]}",
                                    "name": call["name"], "status": "completed",
                                    "arguments": json.dumps(call.get("arguments") or {})}
        else:
            item = {"type": "message", "id": f"msg_{uuid.uuid4().hex[:20]}", "role": "assistant",
                    "status": "completed", "content": [{"type": "output_text",
                                                        "text": step.get("text") or "",
                                                        "annotations": []}]}
        usage = dict(step.get("usage") or self.usage)
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        base = {"id": rid, "object": "response", "model": model, "created_at": 0}
        return [
            {"type": "response.created", "response": {**base, "status": "in_progress"}},
            {"type": "response.output_item.added", "output_index": 0,
             "item": {**item, "status": "in_progress"}},
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed",
             "response": {**base, "status": "completed", "output": [item], "usage": usage}},
        ]

    class Handler(FakeHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_json(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "fake"}]})

        def do_POST(self) -> None:  # noqa: N802
            path, body = self.read_request()
            if not path.endswith("/responses"):
                self.send_json(404, {"error": {"message": path, "type": "not_found"}})
                return
            events = self.fake.events(body, self.fake.step_for(body))
            self.send_stream(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
                             for e in events)
