"""Plain HTTP of the one-process server (`manage.py serve`) through the WSGI application.

Under ASGI Django runs every synchronous view on ONE thread (`thread_sensitive`), after an
event-loop hop per middleware; the WSGI application (config/wsgi.py) runs a request start to
finish on any thread and answers heartbeats and span events on its fast paths. So the server's
ASGI application hands each HTTP request to the WSGI application on a small thread pool and
keeps the event loop for WebSockets (Channels) alone.

The hand-off is lighter than `loop.run_in_executor`: a request goes to the threads on a plain
queue, and answers come back in batches: a thread that finishes appends its answer and wakes the
loop only if no wake-up is pending, and the loop then resolves every answer waiting. Under load
that is one self-pipe write and one loop iteration for several requests, and no
concurrent.futures Future, lock and chained callbacks per request.

The body is read whole before the view runs (Django reads it whole too; DATA_UPLOAD_MAX_MEMORY_SIZE
still answers 413 for what is too big, and a body past MAX_BODY is refused here without reading
on), and the answer is sent once it is complete: nothing here streams.
"""

from __future__ import annotations

import asyncio
import io
import queue
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_BODY = 64 * 1024 * 1024


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class _Answers:
    """Finished requests of one event loop, resolved by the loop in batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.ready: list[tuple[asyncio.Future[Answer], Answer | None, BaseException | None]] = []
        self.wake_pending = False

    def put(self, future: asyncio.Future[Answer], answer: Answer | None,
            error: BaseException | None) -> None:  # on a serving thread
        with self.lock:
            self.ready.append((future, answer, error))
            if self.wake_pending:
                return
            self.wake_pending = True
        try:
            self.loop.call_soon_threadsafe(self.resolve)
        except RuntimeError:  # the loop is closed: nobody waits for these answers any more
            pass

    def resolve(self) -> None:  # on the loop
        with self.lock:
            ready, self.ready = self.ready, []
            self.wake_pending = False
        for future, answer, error in ready:
            if future.done():  # cancelled: the client went away
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(answer)  # type: ignore[arg-type]


class WsgiOverAsgi:
    def __init__(self, app: WSGIApp, *, threads: int = 8) -> None:
        self.app = app
        self.threads = threads
        self._jobs: queue.SimpleQueue[tuple[dict[str, Any], asyncio.Future[Answer], _Answers]] \
            = queue.SimpleQueue()
        self._answers: dict[asyncio.AbstractEventLoop, _Answers] = {}
        self._started = False
        self._start_lock = threading.Lock()

    def _start(self) -> None:
        with self._start_lock:
            if self._started:
                return
            for n in range(self.threads):
                threading.Thread(target=self._serve, name=f"http_{n}", daemon=True).start()
            self._started = True

    def _serve(self) -> None:
        while True:
            environ, future, answers = self._jobs.get()
            try:
                answer, error = self._run(environ), None
            except BaseException as exc:  # noqa: BLE001 - the request's coroutine re-raises it
                answer, error = None, exc
            answers.put(future, answer, error)
            del environ, future, answers, answer, error  # nothing held between requests

    def _submit(self, environ: dict[str, Any]) -> asyncio.Future[Answer]:
        if not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        answers = self._answers.get(loop)
        if answers is None:
            answers = self._answers[loop] = _Answers(loop)
            for old in [other for other in self._answers if other.is_closed()]:
                del self._answers[old]
        future: asyncio.Future[Answer] = loop.create_future()
        self._jobs.put((environ, future, answers))
        return future

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            raise ValueError(f"WsgiOverAsgi serves http, not {scope['type']}")
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _answer(send, 413, [(b"content-type", b"text/plain")], b"Body too large.")
                return
            if not message.get("more_body"):
                break
        status, headers, payload = await self._submit(wsgi_environ(scope, bytes(body)))
        await _answer(send, status, headers, payload)

    def _run(self, environ: dict[str, Any]) -> Answer:
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            started["status"], started["headers"] = status, headers
            return lambda data: chunks.append(data)  # the legacy write() callable

        chunks: list[bytes] = []
        result = self.app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                   for k, v in started["headers"]]
        return int(started["status"].split(" ", 1)[0]), headers, b"".join(chunks)


async def _answer(send: Callable[..., Any], status: int, headers: list[tuple[bytes, bytes]],
                  payload: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def wsgi_environ(scope: dict[str, Any], body: bytes) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP scope (strings carry bytes as latin-1)."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_LENGTH":
            continue  # the body as read is what counts
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        key = f"HTTP_{name}"
        if key in environ:  # repeated: one value, as a proxy would fold it
            value = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}"
        environ[key] = value
    return environ
