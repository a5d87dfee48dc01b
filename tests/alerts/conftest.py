"""Alerts fixtures: agents, quick retries, and loopback receivers speaking HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from apps.alerts import rules, throttle
from tests.support import listen_port


@pytest.fixture(autouse=True)
def _alerts_settings(settings):
    settings.ALERTS_RETRY_DELAYS = [0.05, 0.15]
    settings.ALERTS_MAX_PER_AGENT_PER_HOUR = 3
    settings.SITE_URL = "http://switchboard.test"
    # The fake receivers listen on 127.0.0.1; tests of the guard itself turn this off.
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = True
    rules.invalidate()
    throttle.forget_policy()
    yield
    rules.invalidate()
    throttle.forget_policy()


@pytest.fixture
def make_agent(project):
    from apps.agents.models import Agent

    def make(name: str = "ada", *, status: str = "working", kind: str = "claude-code", proj: Any = None):
        return Agent.objects.create(project=proj or project, name=name, status=status, kind=kind)

    return make


@pytest.fixture
def agent(make_agent):
    return make_agent()


class Receiver:
    """A loopback HTTP server that records requests and answers with `statuses` in turn
    (the last one repeats). `check(request) -> str | None` may reject a request (400)."""

    def __init__(self, statuses: list[int] | None = None, check: Any = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses = list(statuses or [200])
        self.check = check
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                import time

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "at": time.monotonic()}
                try:
                    problem = receiver.check(req) if receiver.check else None
                except Exception as exc:  # a failed check is a rejection, never a hang
                    problem = f"{exc.__class__.__name__}: {exc}"
                with receiver.lock:
                    receiver.requests.append({**req, "problem": problem})
                    status = receiver.statuses[min(len(receiver.requests) - 1, len(receiver.statuses) - 1)]
                if problem:
                    status = 400
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else (problem or "nope").encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", listen_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index]["body"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None, check: Any = None) -> Receiver:
        r = Receiver(statuses, check)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def make_rule(db):
    """Rules for a test, on a table without the default rules (so counts are exact)."""
    from apps.alerts.models import AlertRule

    AlertRule.objects.all().delete()

    def make(event_kind: str = "agent.blocked", **fields: Any) -> AlertRule:
        fields.setdefault("name", f"Watch {event_kind}")
        fields.setdefault("channels", ["email", "slack", "webhook", "webpush"])
        fields.setdefault("respect_quiet_hours", True)
        fields.setdefault("respect_sleep_windows", True)
        rule = AlertRule.objects.create(event_kind=event_kind, **fields)
        rules.invalidate()
        return rule

    return make


@pytest.fixture
def emit():
    """Record an event the way services do, then evaluate it as the worker would."""
    from apps.alerts import engine
    from apps.core.events import record_event

    def go(kind: str, agent: Any, *, now: Any = None, status: str | None = None, **data: Any):
        if status is not None:
            type(agent).objects.filter(pk=agent.pk).update(status=status)
            agent.status = status
        kwargs = {"ts": now} if now is not None else {}
        event = record_event(kind, project=agent.project, agent=agent, data=data, **kwargs)
        return engine.evaluate_event(event.pk, now=now)

    return go
