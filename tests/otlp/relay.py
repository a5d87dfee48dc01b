"""A loopback relay between an agent's OTLP exporter and the live platform that notes each
answer: an agent CLI keeps its export errors to itself (Codex writes them nowhere a test can
read) and the platform logs no access lines, so this is where a 4xx or a partial success
shows."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from google.protobuf import json_format

from apps.otlp.decode import JSON, RESPONSES, media_type

FORWARDED = ("Content-Type", "Content-Encoding", "Authorization")


class Relay:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.answers: list[dict[str, Any]] = []  # path, status, rejected, message
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def refused(self) -> list[dict[str, Any]]:
        """Answers that were not a plain 200 with nothing rejected."""
        with self.lock:
            return [a for a in self.answers if a["status"] != 200 or a["rejected"]]

    def signals(self) -> set[str]:
        with self.lock:
            return {a["path"].rsplit("/", 1)[-1] for a in self.answers}

    def _note(self, path: str, status: int, content_type: str, body: bytes) -> None:
        rejected, message = 0, ""
        signal = path.split("?")[0].rsplit("/", 1)[-1]
        if status == 200 and signal in RESPONSES and body:
            answer = RESPONSES[signal]()
            if media_type(content_type) == JSON:
                json_format.Parse(body, answer)
            else:
                answer.ParseFromString(body)
            partial = answer.partial_success
            rejected = sum(getattr(partial, f, 0) for f in (
                "rejected_log_records", "rejected_spans", "rejected_data_points"))
            message = partial.error_message
        elif status != 200:
            message = body[:300].decode(errors="replace")
        with self.lock:
            self.answers.append({"path": path, "status": status, "rejected": rejected,
                                 "message": message})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = b""  # the JavaScript exporters stream their bodies in chunks
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return body

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                headers = {h: self.headers[h] for h in FORWARDED if self.headers.get(h)}
                request = urllib.request.Request(relay.upstream + self.path, data=body,
                                                 headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, kind, answer = (response.status,
                                                response.headers.get("Content-Type", ""),
                                                response.read())
                except urllib.error.HTTPError as error:
                    status, kind, answer = (error.code, error.headers.get("Content-Type", ""),
                                            error.read())
                relay._note(self.path, status, kind, answer)
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
