"""Fast paths: a WSGI wrapper that answers the two hottest agent requests without the rest of
the stack.

1. Heartbeats. Agents send one every few seconds, and almost all of them change nothing but
   the timestamp. Through Django's middleware, URL resolver and DRF such a request cost about
   1.4 ms of CPU, most of it not about the heartbeat; this path does the same work in a
   fraction:

    POST /api/v1/agents/<id>/heartbeat with a write-scoped `Authorization: Bearer sbk_...`
    and a valid body that changes nothing (no new status, message or progress, no commands
    waiting, the agent not offline or idle-blocked).

   It uses the same pieces as the regular view: `services.agent_touch` (one UPDATE …
   RETURNING), `heartbeat_is_plain` and the same JSON (`agent_json`).

2. One span event: `POST /api/v1/events` with `{"events": [one span.start or span.finish]}`,
   what every Claude Code tool call sends (apps/agents/intake.py: one statement on
   PostgreSQL), and the same start or finish through the span API, `POST /api/v1/spans`
   (that statement also returning the span for the answer; on SQLite a read after it).

Both share the key check (`verified_key`, the per-process key cache), the per-key rate limit
(`key_allowed`) and the security headers. Everything else (an error of any kind, a state
change, commands to deliver, a browser with an Origin header, a request that must be
redirected to HTTPS or names a host not allowed, a body the lean code does not reproduce
exactly) falls through to Django untouched, which answers exactly as before: a fast path only
ever answers 200.

It wraps the WSGI application (config/wsgi.py): granian in production, or gunicorn, and
`manage.py serve`, which hands plain HTTP to it (config/asgi.py). Under Django's ASGI path
(`SERVE_WITH=daphne`) these requests take the regular views.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import DisallowedHost
from django.core.handlers.base import reset_urlconf
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections, reset_queries
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

from apps.agents import intake, services
from apps.agents import serializers as s
from apps.core.api.throttles import key_allowed
from apps.core.middleware import SecurityHeadersMiddleware
from apps.projects.authentication import note_key_use, verified_key
from apps.projects.models import KEY_PREFIX

log = logging.getLogger(__name__)

PATH = re.compile(r"^/api/v1/agents/([1-9][0-9]{0,17})/heartbeat$")
EVENTS_PATH = "/api/v1/events"
SPANS_PATH = "/api/v1/spans"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _only_djangos_receivers() -> bool:
    from django.core.cache import caches
    from django.core.cache.backends.base import BaseCache

    started, started_async = signals.request_started._live_receivers(FastPath)
    finished, finished_async = signals.request_finished._live_receivers(FastPath)
    closing = any(type(caches[alias]).close is not BaseCache.close for alias in settings.CACHES)
    return (not started_async and not finished_async and not closing
            and set(started) == {reset_queries, close_old_connections}
            and set(finished) == {close_old_connections, close_caches, reset_urlconf})


def _nothing(request: Any) -> None:  # get_response for middleware used only for its hooks
    return None


class FastPath:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.renderer = JSONRenderer()
        self._header_cache: dict[tuple[bool, str], list[tuple[str, str]]] = {}
        # One serializer kept for its fields: DRF builds a ModelSerializer's fields anew for
        # each instance, which was a third of a span API request.
        self.span_json = s.SpanSerializer()
        self._signals_key: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
        self._signals_lean = False
        self._settings_changed()
        signals.setting_changed.connect(self._settings_changed, weak=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") == "POST" and not environ.get("HTTP_ORIGIN"):
            path = environ.get("PATH_INFO", "")
            match = PATH.match(path)
            if match or path in (EVENTS_PATH, SPANS_PATH):
                answered = self._try(environ, start_response, int(match[1]) if match else None)
                if answered is not None:
                    return answered
        return self.app(environ, start_response)

    def _try(self, environ: dict[str, Any], start_response: Callable[..., Any],
             agent_id: int | None) -> list[bytes] | None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.startswith(KEY_PREFIX) or " " in raw:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return None
        if length:
            if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != "application/json":
                return None
            body = environ["wsgi.input"].read(length)
            # Whatever happens next, Django can still read the body.
            environ["wsgi.input"] = io.BytesIO(body)
        elif agent_id is None:
            return None
        else:
            body = b""
        lean = self._lean_signals()
        if lean:
            close_old_connections()
        else:
            signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            if agent_id is None:
                return self._event(environ, start_response, raw, body,
                                   spans=environ["PATH_INFO"] == SPANS_PATH)
            return self._answer(environ, start_response, agent_id, raw, body)
        except Exception:  # anything unexpected: the regular stack answers (and logs) it
            log.exception("fast path failed; handing the request to Django")
            return None
        finally:
            if not lean:
                signals.request_finished.send(sender=self.__class__)

    def _lean_signals(self) -> bool:
        """True while request_started and request_finished have only Django's own receivers:
        then what they would do for a fast-path request is one check of the database
        connection's age and health (close_old_connections). The rest does nothing here:
        the fast paths set no urlconf, the cache backends in use close nothing, and the query
        log is bounded. Sending both signals was 15 % of a heartbeat's time. Any other
        receiver (a test's CaptureQueriesContext, a third-party app) and both are sent."""
        key = (tuple(r[0] for r in signals.request_started.receivers),
               tuple(r[0] for r in signals.request_finished.receivers))
        if key != self._signals_key:
            self._signals_key, self._signals_lean = key, _only_djangos_receivers()
        return self._signals_lean

    def _caller(self, environ: dict[str, Any], raw: str) -> tuple[WSGIRequest, Any] | None:
        """The request and its write key, when nothing in Django's stack would answer
        differently: an allowed host, no HTTPS redirect, a valid key within its rate limit."""
        request = WSGIRequest(environ)
        try:
            request.get_host()
        except DisallowedHost:
            return None
        if self.security.process_request(request) is not None:  # the HTTPS redirect
            return None
        key = verified_key(raw)
        if key is None or not key.can_write or not key_allowed(key):
            return None
        return request, key

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any],
                agent_id: int, raw: str, body: bytes) -> list[bytes] | None:
        try:
            data = s.heartbeat_input(json.loads(body) if body else {})
        except (ValueError, ValidationError):
            return None
        caller = self._caller(environ, raw)
        if caller is None:
            return None
        request, key = caller
        agent = services.agent_touch(project_id=key.project_id, agent_id=agent_id)
        if agent is None or not services.heartbeat_is_plain(
                agent, data.get("status"), data["message"], data.get("progress")):
            return None
        note_key_use(key)
        payload = {"agent": s.agent_json(agent), "commands": []}
        return self._respond(request, start_response, payload, "POST, OPTIONS")

    def _event(self, environ: dict[str, Any], start_response: Callable[..., Any],
               raw: str, body: bytes, *, spans: bool = False) -> list[bytes] | None:
        """One span event (`/events`), or the span API's start or finish (`/spans`)."""
        try:
            data = json.loads(body)
            span = intake.plan_span_api(data) if spans else intake.plan(data)
        except ValueError:
            return None
        if span is None:
            return None
        caller = self._caller(environ, raw)
        if caller is None:
            return None
        request, key = caller
        answer = intake.record(span, project_id=key.project_id, label=f"key:{key.prefix}",
                               now=timezone.now(), whole_span=spans)
        if answer is None:
            return None
        note_key_use(key)
        if spans:  # the span as the span API answers it (SQLite: one more query)
            stored = span.span or intake.span_read(span.span_pk)
            answer = self.span_json.to_representation(stored)
        return self._respond(request, start_response, answer, "GET, POST, HEAD, OPTIONS")

    def _respond(self, request: WSGIRequest, start_response: Callable[..., Any],
                 data: dict[str, Any], allow: str) -> list[bytes]:
        payload = self.renderer.render(data)
        start_response("200 OK", [*self._headers_for(request, allow),
                                  ("Content-Length", str(len(payload)))])
        return [payload]

    def _headers_for(self, request: WSGIRequest, allow: str) -> list[tuple[str, str]]:
        """The headers the full stack sends with a 200 JSON answer, built through the same
        middleware once per (HTTPS or not, Allow) and reused: they depend on nothing else."""
        cache_key = (request.is_secure(), allow)
        headers = self._header_cache.get(cache_key)
        if headers is None:
            response = HttpResponse(b"", content_type="application/json")
            # As the full stack sends them: DRF adds Vary: Accept when it could render
            # another format (DEBUG's browsable API), the session and CORS middleware the rest.
            many = len(api_settings.DEFAULT_RENDERER_CLASSES) > 1
            response.headers["Vary"] = "Accept, Cookie, origin" if many else "Cookie, origin"
            response.headers["Allow"] = allow
            response = self.security.process_response(request, response)
            response = self.frame_options.process_response(request, response)
            self.headers.add_headers(request, response)
            headers = [(k, v) for k, v in response.items() if k.lower() != "content-length"]
            self._header_cache[cache_key] = headers
        return headers

    def _settings_changed(self, **kwargs: Any) -> None:
        """The middleware used for its headers, built from the settings; again when tests
        change settings at run time, with the headers built from it."""
        self.security = SecurityMiddleware(_nothing)
        self.frame_options = XFrameOptionsMiddleware(_nothing)
        self.headers = SecurityHeadersMiddleware(_nothing)
        self._header_cache.clear()
