"""A small fake of the Gemini API (`POST /v1beta/models/<model>:streamGenerateContent?alt=sse`
and `:generateContent`) on 127.0.0.1, for driving the real Gemini CLI in tests: it reaches us
through GOOGLE_GEMINI_BASE_URL (the CLI's "gateway" auth, which the genai SDK sends to
`<base>/v1beta/...`). A streamed answer is one server-sent event per JSON chunk carrying
`candidates` and, on the last, `usageMetadata`, `modelVersion` and `responseId`.

What the model "says" is scripted per conversation, keyed by a marker in a user turn; the reply
is the step at the index of the number of model turns after the newest user turn with the marker.
A step is one of:

    {"text": "..."}                                         a plain answer
    {"call": {"name": "run_shell_command", "args": {...}}}  one function call
    {"usage": {"promptTokenCount": ..., ...}, ...}          this answer's usage instead of USAGE

Requests that match no script (the CLI's own side calls) get a short text answer.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.clients.fake_server import FakeHandler, ScriptedFake

MODEL = "gemini-2.5-flash"
USAGE = {"promptTokenCount": 3000, "cachedContentTokenCount": 1000, "candidatesTokenCount": 80,
         "thoughtsTokenCount": 12}


def _texts(content: dict[str, Any]) -> str:
    return "\n".join(str(p.get("text") or "") for p in content.get("parts") or []
                     if isinstance(p, dict))


class FakeGemini(ScriptedFake):
    USAGE = USAGE

    def step_for(self, body: dict[str, Any]) -> dict[str, Any]:
        contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
        last: tuple[int, str] | None = None
        for index, content in enumerate(contents):
            if content.get("role", "user") == "user":
                found = [m for m in self.scripts if m in _texts(content)]
                if found:
                    last = (index, max(found, key=len))
        if last is None:
            return {"text": "Untitled"}
        steps = self.scripts[last[1]]
        turn = sum(1 for c in contents[last[0]:] if c.get("role") == "model")
        return steps[turn] if turn < len(steps) else {"text": "Done."}

    def answer(self, model: str, step: dict[str, Any]) -> dict[str, Any]:
        if step.get("call"):
            call = step["call"]
            part: dict[str, Any] = {"functionCall": {"name": call["name"],
                                                     "args": call.get("args") or {}}}
        else:
            part = {"text": step.get("text") or ""}
        usage = dict(step.get("usage") or self.usage)
        usage["totalTokenCount"] = (usage.get("promptTokenCount", 0)
                                    + usage.get("candidatesTokenCount", 0)
                                    + usage.get("thoughtsTokenCount", 0))
        return {"candidates": [{"content": {"role": "model", "parts": [part]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": usage, "modelVersion": model,
                "responseId": f"resp-{uuid.uuid4().hex[:16]}"}

    class Handler(FakeHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_json(200, {"models": [{"name": f"models/{MODEL}"}]})

        def do_POST(self) -> None:  # noqa: N802
            path, body = self.read_request()
            model = path.rsplit("/", 1)[-1].split(":")[0] or MODEL
            if path.endswith(":countTokens"):
                self.send_json(200, {"totalTokens": 100})
                return
            if not path.endswith(("GenerateContent", "generateContent")):
                self.send_json(404, {"error": {"code": 404, "message": path,
                                               "status": "NOT_FOUND"}})
                return
            answer = self.fake.answer(model, self.fake.step_for(body))
            if path.endswith(":streamGenerateContent"):
                self.send_stream([f"data: {json.dumps(answer)}\r\n\r\n".encode()])
            else:
                self.send_json(200, answer)
