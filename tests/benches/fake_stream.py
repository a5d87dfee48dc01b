"""A fake streaming model server on 127.0.0.1 whose timings are set exactly.

It speaks just enough HTTP/1.1 (keep-alive, chunked responses) for httpx, and answers both
OpenAI-compatible `POST /v1/chat/completions` and Anthropic `POST /v1/messages` streams.
A request waits for one of `slots` (a queue, as a serving engine's batch), then its first
content chunk leaves `ttft_ms` after it got the slot and token i at ttft + i * itl: the
schedule is absolute, so a late wake-up shortens the next gap instead of shifting the rest.
A role-only chunk (OpenAI) or message_start (Anthropic) goes out before the slot is free,
so a client that takes it for the first token measures the wrong TTFT.

    with serving(Behaviour(ttft_ms=100, itl_ms=30)) as server: ... server.url, server.stats()
    python tests/benches/fake_stream.py --port 8000 --behaviour '{"itl_ms": 20, "slots": 256}'

`GET /v1/models` lists `models`, and a request with `"stream": false` gets one JSON answer,
both after `answer_ms` (what the endpoint liveness probes use); `down` makes every /v1
request answer 503.

GET or POST /_stats and POST /_behaviour (JSON of fields to change) are its controls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

LATE_S = 0.001


@dataclass
class Behaviour:
    ttft_ms: float = 100.0
    itl_ms: float = 30.0
    tokens: int = 10  # content chunks per response
    slots: int = 4
    usage: bool = True  # send usage (OpenAI only when the request asks for it)
    tokens_per_chunk: int = 1  # what usage reports per content chunk
    fail_every: int = 0  # every n-th request answers 500
    api_key: str = ""  # when set, requests without it answer 401
    models: list[str] = field(default_factory=lambda: ["fake-model"])  # GET /v1/models
    answer_ms: float = 0.0  # GET /v1/models and non-streaming completions wait this long
    down: bool = False  # every /v1 request answers 503 (a server that is up but failing)
    foreign: int = 0  # requests in flight for someone else, as GET /metrics reports them
    metrics: bool = True  # serve GET /metrics (vLLM's gauges) at all


@dataclass
class FakeStreamServer:
    behaviour: Behaviour
    host: str = "127.0.0.1"
    port: int = 0
    requests: int = 0
    seen_headers: list[dict[str, str]] = field(default_factory=list)
    max_in_slots: int = 0
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each request
    streams: list[list] = field(default_factory=list)  # [arrival, [token send times]]
    tokens_sent: int = 0
    tokens_late: int = 0  # left more than LATE_S after their time: the fake, not the client, lags

    async def start(self) -> None:
        self._slots = asyncio.Semaphore(self.behaviour.slots)
        self._in_slots = 0
        self._open = 0  # streams accepted and not finished, in a slot or waiting for one
        self._handlers: set[asyncio.Task[None]] = set()
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                await self._respond(writer, method, path, headers, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    def metrics_text(self) -> str:
        """vLLM's in-flight gauges: the streams in slots, those queued, and the foreign ones."""
        queued = self._open - self._in_slots
        return (
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="fake"}} {self._in_slots + self.behaviour.foreign}.0\n'
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{model_name="fake"}} {queued}.0\n'
        )

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        b = self.behaviour
        if not path.startswith("/_"):
            arrival = time.monotonic()
            self.arrivals.append(arrival)
            self.requests += 1
            self.seen_headers.append(headers)
        anthropic = path == "/v1/messages"
        if path == "/_stats":
            return await _plain(
                writer,
                200,
                {
                    "requests": self.requests,
                    "max_in_slots": self.max_in_slots,
                    "arrivals": self.arrivals,
                    "streams": self.streams,
                    "tokens_sent": self.tokens_sent,
                    "tokens_late": self.tokens_late,
                    "seen_headers": self.seen_headers,
                },
            )
        if path == "/_behaviour":
            for name, value in json.loads(body).items():
                setattr(b, name, value)
            return await _plain(writer, 200, asdict(b))
        if method == "GET" and path == "/metrics" and b.metrics:
            return await _text(writer, 200, self.metrics_text())
        listing = method == "GET" and path == "/v1/models"
        if not listing and (
            method != "POST" or path not in ("/v1/messages", "/v1/chat/completions")
        ):
            return await _plain(writer, 404, {"error": "not found"})
        given = (
            headers.get("x-api-key")
            if anthropic or "x-api-key" in headers
            else headers.get("authorization", "").removeprefix("Bearer ")
        )
        if b.api_key and given != b.api_key:
            return await _plain(writer, 401, {"error": {"message": "invalid api key"}})
        if b.down:
            return await _plain(writer, 503, {"error": {"message": "down for maintenance"}})
        if b.fail_every and self.requests % b.fail_every == 0:
            return await _plain(writer, 500, {"error": {"message": "overloaded"}})
        if listing:
            await asyncio.sleep(b.answer_ms / 1000)
            return await _plain(
                writer, 200, {"object": "list", "data": [{"id": m, "type": "model"} for m in b.models]}
            )
        request = json.loads(body)
        if request.get("stream") is False:
            await asyncio.sleep(b.answer_ms / 1000)
            return await _plain(writer, 200, _whole(request, anthropic))
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        self._open += 1
        try:
            events = _Anthropic(request, b) if anthropic else _OpenAI(request, b)
            _chunk(writer, events.opening())
            await writer.drain()
            sent: list[float] = []  # when each token actually left: the truth a client should see
            self.streams.append([arrival, sent])
            async with self._slots:
                self._in_slots += 1
                self.max_in_slots = max(self.max_in_slots, self._in_slots)
                try:
                    loop = asyncio.get_running_loop()
                    start = loop.time()
                    for i in range(b.tokens):
                        due = start + (b.ttft_ms + i * b.itl_ms) / 1000
                        delay = due - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        self.tokens_sent += 1
                        if loop.time() - due > LATE_S:
                            self.tokens_late += 1
                        _chunk(writer, events.token(i))
                        sent.append(loop.time())
                        await writer.drain()
                finally:
                    self._in_slots -= 1
            _chunk(writer, events.closing())
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            self._open -= 1


async def _text(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    data = text.encode()
    writer.write(
        b"HTTP/1.1 %d Fake\r\ncontent-type: text/plain; version=0.0.4\r\n"
        b"content-length: %d\r\n\r\n%s" % (status, len(data), data)
    )
    await writer.drain()


def _whole(request: dict, anthropic: bool) -> dict:
    """A one-token non-streaming answer."""
    model = request.get("model", "fake")
    if anthropic:
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": "tok0"}], "stop_reason": "max_tokens",
                "usage": {"input_tokens": 5, "output_tokens": 1}}
    return {"id": "chatcmpl-fake", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "tok0"},
                         "finish_reason": "length"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


def _sse(data: object, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {json.dumps(data)}\n\n".encode()


def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    if data:
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))


async def _plain(writer: asyncio.StreamWriter, status: int, payload: object) -> None:
    data = json.dumps(payload).encode()
    writer.write(
        b"HTTP/1.1 %d Fake\r\ncontent-type: application/json\r\ncontent-length: %d"
        b"\r\n\r\n%s" % (status, len(data), data)
    )
    await writer.drain()


class _OpenAI:
    def __init__(self, request: dict, behaviour: Behaviour) -> None:
        self.b = behaviour
        self.model = request.get("model", "fake")
        self.usage = behaviour.usage and bool(
            (request.get("stream_options") or {}).get("include_usage")
        )

    def _frame(self, delta: dict, usage: dict | None = None) -> dict:
        choices = [{"index": 0, "delta": delta, "finish_reason": None}] if delta else []
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "model": self.model,
            "choices": choices,
            "usage": usage,
        }

    def opening(self) -> bytes:
        return _sse(self._frame({"role": "assistant", "content": ""}))

    def token(self, i: int) -> bytes:
        return _sse(self._frame({"content": f" tok{i}"}))

    def closing(self) -> bytes:
        out = b""
        if self.usage:
            tokens = self.b.tokens * self.b.tokens_per_chunk
            out += _sse(
                self._frame(
                    {},
                    {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": tokens + 5},
                )
            )
        return out + b"data: [DONE]\n\n"


class _Anthropic:
    def __init__(self, request: dict, behaviour: Behaviour) -> None:
        self.b = behaviour
        self.model = request.get("model", "fake")

    def opening(self) -> bytes:
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.model,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }
        return (
            _sse({"type": "message_start", "message": message}, "message_start")
            + _sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            )
            + _sse({"type": "ping"}, "ping")
        )

    def token(self, i: int) -> bytes:
        return _sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": f" tok{i}"},
            },
            "content_block_delta",
        )

    def closing(self) -> bytes:
        delta: dict = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
        if self.b.usage:
            delta["usage"] = {"output_tokens": self.b.tokens * self.b.tokens_per_chunk}
        return (
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            + _sse(delta, "message_delta")
            + _sse({"type": "message_stop"}, "message_stop")
        )


@dataclass
class FakeProcess:
    """A running fake in its own process: its timers never wait for the GIL of the client
    under test, which a thread's do (by up to the 5 ms switch interval)."""

    url: str
    process: subprocess.Popen[str]

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, method="POST", data=json.dumps(payload or {}).encode()
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        """requests, max_in_slots and seen_headers (lower-case names) since it started."""
        return self._call("/_stats")

    def configure(self, **changes: Any) -> None:
        self._call("/_behaviour", changes)


@contextmanager
def serving(behaviour: Behaviour) -> Iterator[FakeProcess]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--behaviour", json.dumps(asdict(behaviour))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip() if process.stdout else ""
        if not port.isdigit():
            raise RuntimeError("the fake stream server did not start")
        yield FakeProcess(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout:
            process.stdout.close()


async def _main(behaviour: Behaviour, port: int) -> None:
    server = FakeStreamServer(behaviour, port=port)
    await server.start()
    print(server.port, flush=True)  # the parent reads the port it got
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--behaviour", default="{}", help="Behaviour's fields as JSON")
    args = parser.parse_args()
    try:
        asyncio.run(_main(Behaviour(**json.loads(args.behaviour)), args.port))
    except KeyboardInterrupt:
        pass
