"""`manage.py serve` answers plain HTTP through the WSGI application on a thread pool
(apps/core/asgi_http.py) under granian's embedded server, WebSockets through Channels."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from typing import Any

import pytest
import requests

from apps.core.asgi_http import WsgiOverAsgi, wsgi_environ
from tests.conftest import make_key


def scope(**extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": [],
            "server": ("127.0.0.1", 8000), "client": ("10.1.2.3", 5555), "scheme": "http",
            "http_version": "1.1", **extra}


async def get(app: WsgiOverAsgi, path: str) -> list[dict[str, Any]]:
    """One GET through `app` as the ASGI server would make it: what the app sent back."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(path=path), receive, send)
    return sent


def test_the_environ_is_what_a_wsgi_server_builds():
    environ = wsgi_environ(scope(
        method="POST", path="/agents/café", query_string=b"q=%C3%A9&x=1",
        headers=[(b"content-type", b"application/json"), (b"content-length", b"999"),
                 (b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"2.2.2.2"),
                 (b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"host", b"example.com")]),
        b'{"ok": true}')
    assert environ["REQUEST_METHOD"] == "POST"
    # PEP 3333: bytes carried as latin-1, which Django decodes back as UTF-8.
    assert environ["PATH_INFO"] == "/agents/café".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "q=%C3%A9&x=1"
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "12"  # the body as read, not what the header claimed
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.1.1.1,2.2.2.2"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_HOST"] == "example.com"
    assert environ["REMOTE_ADDR"] == "10.1.2.3"
    assert environ["wsgi.input"].read() == b'{"ok": true}'

    from django.core.handlers.wsgi import WSGIRequest

    request = WSGIRequest(environ)
    assert request.path == "/agents/café"
    assert request.GET["q"] == "é"


def test_requests_run_side_by_side_on_the_pool():
    """A slow view does not hold up the others (Django's ASGI path runs them one at a time)."""
    def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        time.sleep(0.3)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    app = WsgiOverAsgi(slow_app, threads=4)

    async def four() -> list[list[dict[str, Any]]]:
        return await asyncio.gather(*(get(app, f"/{n}") for n in range(4)))

    started = time.monotonic()
    answers = asyncio.run(four())
    assert time.monotonic() - started < 0.9  # four 0.3 s requests, not 1.2 s
    assert [a[0]["status"] for a in answers] == [200] * 4
    assert [a[1]["body"] for a in answers] == [b"/0", b"/1", b"/2", b"/3"]


@pytest.mark.live
def test_the_platform_serves_pages_api_and_refusals(live, project):
    key = make_key(project)
    auth = {"Authorization": f"Bearer {key}"}
    assert requests.get(f"{live.url}/accounts/login/", timeout=5).status_code == 200
    assert requests.get(f"{live.url}/static/css/app.css", timeout=5).status_code == 200
    registered = requests.post(f"{live.url}/api/v1/agents", json={"name": "a", "external_id": "e"},
                               headers=auth, timeout=5)
    assert registered.status_code == 201, registered.text
    agent = registered.json()["id"]
    beat = requests.post(f"{live.url}/api/v1/agents/{agent}/heartbeat", json={}, headers=auth,
                         timeout=5)
    assert beat.status_code == 200 and beat.json()["agent"]["id"] == agent
    span = {"type": "span.start", "agent": agent, "idempotency_key": "k1",
            "data": {"span_id": "s1", "turn": 1, "tool_name": "Bash", "input": "ls"}}
    stored = requests.post(f"{live.url}/api/v1/events", json={"events": [span]}, headers=auth,
                           timeout=5)
    assert stored.status_code == 200 and stored.json()["accepted"] == 1, stored.text
    big = requests.post(f"{live.url}/api/v1/events", data=json.dumps({"x": "y" * 2_000_000}),
                        headers={**auth, "Content-Type": "application/json"}, timeout=10)
    assert big.status_code == 413 and big.json()["error"]
    missing = requests.get(f"{live.url}/agents/999999/", timeout=5, allow_redirects=False)
    assert missing.status_code in (302, 404)


@pytest.mark.live
def test_many_clients_at_once_are_all_answered(live, project):
    key = make_key(project)

    def register(n: int) -> int:
        return requests.post(f"{live.url}/api/v1/agents",
                             json={"name": f"agent {n}", "external_id": f"x-{n}"},
                             headers={"Authorization": f"Bearer {key}"}, timeout=20).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(register, range(48)))
    assert codes == [201] * 48


def test_answers_reach_their_own_requests_and_errors_theirs():
    """Answers come back to the loop in batches: each must resolve its own request, an
    exception must reach the request that raised it, and a request whose client went away
    (its coroutine cancelled) must not break the others."""
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/boom":
            raise RuntimeError("the view failed")
        if path == "/slow":
            time.sleep(0.2)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [path.encode()]

    server = WsgiOverAsgi(app, threads=3)

    async def one(path: str) -> bytes:
        return (await get(server, path))[1]["body"]

    async def many() -> tuple[list[bytes], BaseException | None, bool]:
        gone = asyncio.ensure_future(one("/slow"))
        await asyncio.sleep(0.05)
        gone.cancel()  # the client hung up while its request ran
        bodies = await asyncio.gather(*(one(f"/{n}") for n in range(200)))
        try:
            await one("/boom")
            error = None
        except RuntimeError as exc:
            error = exc
        await asyncio.sleep(0.3)  # the cancelled one's answer arrives and is dropped
        return bodies, error, gone.cancelled()

    bodies, error, cancelled = asyncio.run(many())
    assert bodies == [f"/{n}".encode() for n in range(200)]
    assert str(error) == "the view failed"
    assert cancelled
    # A second event loop (a new serve, a test) gets answers of its own.
    assert asyncio.run(one("/again")) == b"/again"
