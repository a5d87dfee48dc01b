"""Shared test helpers: services that must exist under CI, free ports, waiting."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """A test that needs a service or Chromium fails under CI and skips on a laptop."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A free port on 127.0.0.1: any, or one of TEST_PORTS ("18700-18799") on a machine where
    tests may listen only there."""
    span = os.environ.get("TEST_PORTS", "")
    low, _, high = span.partition("-")
    candidates = range(int(low), int(high or low) + 1) if span else [0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError(f"no free port in TEST_PORTS={span}")


def listen_port() -> int:
    """What a test server binds: 0 (the system picks, no race), or a free port of TEST_PORTS."""
    return free_port() if os.environ.get("TEST_PORTS") else 0


def wait_for(predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def admin_form_data(client: Any, url: str, **changes: Any) -> dict[str, Any]:
    """The POST body of a Django admin change form as the page shows it, with `changes`."""
    form = client.get(url).context["adminform"].form
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        if name in form.Meta.__dict__.get("exclude", ()) or field.disabled:
            continue
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        if isinstance(value, list | tuple):
            data[name] = [getattr(v, "pk", v) for v in value]
            continue
        data[name] = getattr(value, "pk", value)
    data.update(changes)
    return data


# --- one request through a WSGI application -------------------------------------------------
class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes, by: set[str]):
        self.status_code = int(status.split()[0])
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        self.by = by  # which handler(s) saw the request

    def json(self) -> Any:
        return json.loads(self.body)


def call(app: Any, path: str, body: Any = None, *, raw: bytes | None = None, **headers: str):
    """One request through a WSGI application, as gunicorn would make it; `by` on the answer
    names the handlers that saw it (FastPath, WSGIHandler)."""
    from django.core import signals
    from django.db import close_old_connections
    from django.test import RequestFactory

    data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    request = RequestFactory().post(path, data=data, content_type="application/json", **headers)
    seen: set[str] = set()

    def started(sender: Any, **kwargs: Any) -> None:
        seen.add(sender.__name__)

    signals.request_started.connect(started)
    # As Django's test client does: the test's transaction must survive the request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc=None):
        answer["status"], answer["headers"] = status, response_headers

    try:
        chunks = application_iter = app(request.environ, start_response)
        body_bytes = b"".join(chunks)
        if hasattr(application_iter, "close"):
            application_iter.close()
    finally:
        signals.request_started.disconnect(started)
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return Answer(answer["status"], answer["headers"], body_bytes, seen)


def in_threads(work: Callable[[], Any], n: int, *, timeout: float = 60) -> list[Any]:
    """Run `work` in `n` threads at once, each on its own database connection (closed after),
    and return their results; the first exception any of them raised is raised here."""
    import threading

    from django.db import connections

    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(work())
        except BaseException as exc:  # noqa: BLE001 - raised below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if errors:
        raise errors[0]
    assert len(results) == n, "a thread did not finish in time"
    return results
