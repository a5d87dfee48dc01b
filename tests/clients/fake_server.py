"""What the fake model APIs share: a threaded HTTP server on 127.0.0.1 (port 0), the requests
it saw, scripts keyed by a marker in the prompt, and default usage figures."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class ScriptedFake:
    USAGE: dict[str, int] = {}
    PATH = ""  # the URL's path prefix clients are given

    def __init__(self) -> None:
        self.scripts: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.usage = dict(self.USAGE)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.PATH}"

    def script(self, marker: str, steps: list[dict[str, Any]]) -> None:
        self.scripts[marker] = steps

    def scripted_step(self, first_prompt: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The step of the script whose marker is in the conversation's first prompt, by how
        many answers the conversation holds already."""
        # The longest marker wins, so "SUB-TASK" is not mistaken for "TASK".
        found = [m for m in self.scripts if m in first_prompt]
        if not found:
            return {"text": "Untitled"}
        steps = self.scripts[max(found, key=len)]
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        return steps[turn] if turn < len(steps) else {"text": "Done."}

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
