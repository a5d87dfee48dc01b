"""What the fake model APIs share: a threaded HTTP server on 127.0.0.1 (port 0), the requests
it saw, scripts keyed by a marker in the prompt, and default usage figures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class FakeHandler(BaseHTTPRequestHandler):
    """What every fake's HTTP side shares: quiet, reads the JSON body and records the request,
    answers JSON or a server-sent event stream. `fake` is the ScriptedFake serving it."""

    protocol_version = "HTTP/1.1"
    fake: Any = None

    def log_message(self, *args: Any) -> None:
        pass

    def read_request(self) -> tuple[str, dict[str, Any]]:
        """(path without the query, JSON body or {}), recorded in fake.requests."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?")[0]
        with self.fake.lock:
            self.fake.requests.append({"path": path, "body": body, "headers": dict(self.headers)})
        return path, body

    def extra_headers(self, status: int) -> dict[str, str]:
        return {}

    def send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in self.extra_headers(status).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_stream(self, frames: Iterable[bytes]) -> None:
        """A text/event-stream answer of `frames`; a client that hangs up ends it quietly."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        for name, value in self.extra_headers(200).items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for frame in frames:
                self.wfile.write(frame)
                self.wfile.flush()
        except OSError:
            pass  # the client hung up (an aborted session)
        self.close_connection = True


class ScriptedFake:
    USAGE: dict[str, int] = {}
    PATH = ""  # the URL's path prefix clients are given
    Handler: type[FakeHandler] = FakeHandler  # each fake's own do_GET / do_POST

    def __init__(self) -> None:
        self.scripts: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.usage = dict(self.USAGE)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (self.Handler,), {"fake": self})

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
