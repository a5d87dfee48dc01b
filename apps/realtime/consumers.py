"""Base consumer for live pages.

Connect: authenticate (anonymous or outsider: accept then close with 4401/4403), resolve the
projects the page shows (`?project=<slug>` or every active project), join their groups, send a
snapshot. Then every `sb.event` from the channel layer becomes an HTML fragment rendered from
the same partial templates the page uses; static/js/live.js applies it only if its
`data-version` is newer than what the DOM has.

The consumer is asynchronous so that fan-out stays cheap: subclasses write plain synchronous
`render_snapshot()` / `render_event()` (they run in Django's database thread), and when
`event_cache_key()` says that every socket of a page type sees the same fragment, the fragment
is rendered once per process and event and the other sockets reuse it. Group messages reach
the sockets through the process's hub (apps/realtime/hub.py), one layer subscription per group.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.html import escape

from apps.core import roles
from apps.realtime.groups import project_group, pulse_group, user_group
from apps.realtime.hub import hub

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# Deltas to one socket closer together than this go out as one WebSocket message: at a few
# hundred events a second, per-message framing and write syscalls, not rendering, are the cost.
BATCH_SECONDS = 0.025
SKIP = object()  # hub_prepare: this socket does not want the message


class RenderCache:
    """Process-local fragments keyed by (page type, event, variant), with single-flight:
    when a hundred sockets receive the same event, one renders and the others await it.

    Entries live a few seconds only: a fan-out is over by then, and a short life means an id
    reused after the events table was emptied (SQLite, tests) never meets an old fragment."""

    def __init__(self, size: int = 4096, ttl: float = 5.0) -> None:
        self.size = size
        self.ttl = ttl
        self.done: OrderedDict[Hashable, tuple[float, str]] = OrderedDict()
        self.inflight: dict[Hashable, asyncio.Task[str]] = {}
        self.renders = 0
        self.hits = 0

    def start(self, key: Hashable, render: Callable[[], str]) -> str | asyncio.Future[str]:
        """The fragment if it is cached, else the (shared) future of its one render."""
        hit = self.done.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            self.hits += 1
            return hit[1]
        loop = asyncio.get_running_loop()
        pending = self.inflight.get(key)
        if pending is not None and pending.get_loop() is loop and not pending.done():
            self.hits += 1
            return pending
        self.renders += 1
        task = loop.create_task(self._run(key, render))
        self.inflight[key] = task
        return task

    async def _run(self, key: Hashable, render: Callable[[], str]) -> str:
        try:
            html = await database_sync_to_async(render)()
            self.done[key] = (time.monotonic(), html)
            self.done.move_to_end(key)
            while len(self.done) > self.size:
                self.done.popitem(last=False)
            return html
        finally:
            self.inflight.pop(key, None)

    async def get(self, key: Hashable, render: Callable[[], str]) -> str:
        started = self.start(key, render)
        return started if isinstance(started, str) else await asyncio.shield(started)

    def clear(self) -> None:
        self.done.clear()
        self.inflight.clear()


render_cache = RenderCache()


class LivePageConsumer(AsyncWebsocketConsumer):
    """Subclasses implement `render_snapshot()` and `render_event(message)` (synchronous; they
    may query the database); both return HTML (one or more top-level elements with id +
    data-version) or "" for nothing to send. Optional hooks: `setup()` (sync, after the
    projects are resolved; return False to refuse with 4404), `live_groups()` (not
    `groups`: Channels iterates that attribute itself), `wants(message)`
    (cheap filter without queries) and `event_cache_key(message)`."""

    page: str = ""
    shows_heartbeats = False  # the page shows last-heartbeat times (pulses keep them current)
    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        self._outbox: list[str] = []
        self._flush_at: asyncio.TimerHandle | None = None
        self._last_send = 0.0
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not roles.is_member(user):
            await self.accept()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user = user
        self.is_admin = roles.is_admin(user)
        raw = self.scope.get("query_string", b"").decode()
        self.query = {k: v[-1] for k, v in parse_qs(raw).items()}
        ok = await database_sync_to_async(self._prepare)()
        if not ok:
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        for group in [*self.live_groups(), user_group(user.pk)]:
            await hub().join(group, self)
            self.groups_joined.append(group)
        await self.accept()
        await self.send_snapshot()

    def _prepare(self) -> bool:
        self.project_ids = self.resolve_project_ids()
        return self.setup() is not False

    async def disconnect(self, code: int) -> None:
        if getattr(self, "_flush_at", None) is not None:
            self._flush_at.cancel()
            self._flush_at = None
        for group in getattr(self, "groups_joined", []):
            await hub().leave(group, self)

    async def hub_message(self, message: dict[str, Any]) -> None:
        """A group message, handed over by the process's hub (apps/realtime/hub.py)."""
        await self.hub_deliver(message, self.hub_prepare(message))

    def hub_prepare(self, message: dict[str, Any]) -> Any:
        """Start what delivering `message` needs (the render) without waiting for it, so the hub
        can start the next event's render while this one is still being sent."""
        if message.get("type") != "sb.event":
            return None
        if message.get("project_id") not in self.project_ids or not self.wants(message):
            return SKIP
        key = self.event_cache_key(message)
        if key is None:
            return asyncio.ensure_future(database_sync_to_async(self.render_event)(message))
        return render_cache.start(
            (
                self.page or type(self).__name__,
                message.get("event_id"),
                message.get("kind"),
                message.get("agent_id"),
                key,
            ),
            lambda: self.render_event(message),
        )

    async def hub_deliver(self, message: dict[str, Any], prepared: Any) -> None:
        if prepared is SKIP:
            return
        if prepared is None:
            kind = str(message.get("type", ""))
            handler = getattr(self, kind.replace(".", "_"), None)
            if handler is not None and not kind.startswith("websocket"):
                await handler(message)
            return
        try:
            html = prepared if isinstance(prepared, str) else await asyncio.shield(prepared)
        except Exception:  # one bad render must not kill the socket
            logger.exception("rendering %s for %s failed", message.get("kind"), type(self).__name__)
            return
        await self.send_delta(html)

    async def sb_revoke(self, message: dict[str, Any]) -> None:
        """The person's role changed or they were removed: close cleanly; the page reconnects
        and connect() decides again with what is true now."""
        await self.close(code=1000)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # The page may ask for a fresh snapshot (after it missed messages).
        if text_data and '"resync"' in text_data:
            await self.send_snapshot()

    async def send_snapshot(self) -> None:
        try:
            html = await database_sync_to_async(self.render_snapshot)()
        except Exception:
            logger.exception("snapshot of %s failed", type(self).__name__)
            return
        await self.flush()  # queued deltas first: the snapshot is the newer state
        await self.send_html(html)

    # --- channel layer handlers -----------------------------------------------------------
    async def sb_pulse(self, message: dict[str, Any]) -> None:
        """Heartbeat times (publish.pulse): one element live.js applies to every
        `time[data-heartbeat-of]` of those agents, when newer than what it shows."""
        if message.get("project_id") not in self.project_ids:
            return
        agents = {k: v for k, v in (message.get("agents") or {}).items()
                  if self.shows_heartbeat_of(int(k))}
        if agents:
            await self.send_delta(f'<template data-pulse="{escape(json.dumps(agents))}"></template>')

    def shows_heartbeat_of(self, agent_id: int) -> bool:
        return True

    async def sb_event(self, message: dict[str, Any]) -> None:
        # Only reached when a message is sent to this socket's own channel; group messages
        # come through the hub, which calls hub_prepare / hub_deliver itself.
        await self.hub_deliver(message, self.hub_prepare(message))

    async def send_delta(self, html: str) -> None:
        """Send now if the socket was quiet for BATCH_SECONDS; otherwise join the next batch."""
        if not html or not html.strip():
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._outbox and now - self._last_send >= BATCH_SECONDS:
            self._last_send = now
            await self.send(text_data=html)
            return
        self._outbox.append(html)
        if self._flush_at is None:
            delay = max(0.0, self._last_send + BATCH_SECONDS - now)
            self._flush_at = loop.call_later(delay, lambda: asyncio.ensure_future(self.flush()))

    async def flush(self) -> None:
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        if not self._outbox:
            return
        html = "".join(self._outbox)
        self._outbox.clear()
        self._last_send = asyncio.get_running_loop().time()
        try:
            await self.send(text_data=html)
        except Exception:  # the socket went away between two events
            logger.debug("dropping a batch for a closed socket", exc_info=True)

    # --- for subclasses --------------------------------------------------------------------
    def resolve_project_ids(self) -> set[int]:
        """Sets `self.project` (None: every active project) and returns the ids it covers. An
        unknown slug means every project, as on the pages (apps.projects.selectors)."""
        from apps.projects.models import Project

        slug = self.query.get("project", "")
        self.project = None
        if slug and slug != "all":
            self.project = Project.objects.filter(slug=slug).first()
        if self.project is not None:
            return {self.project.pk}
        return set(Project.objects.active().values_list("id", flat=True))

    def setup(self) -> bool | None:
        return True

    def site_url(self) -> str:
        """SITE_URL, or the origin the browser used to reach this socket."""
        from django.conf import settings

        if getattr(settings, "SITE_URL", ""):
            return settings.SITE_URL.rstrip("/")
        headers = dict(self.scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1") or "127.0.0.1:8000"
        scheme = "https" if self.scope.get("scheme") == "wss" else "http"
        return f"{scheme}://{host}"

    def live_groups(self) -> list[str]:
        groups = [project_group(pid) for pid in sorted(self.project_ids)]
        return groups + self.pulse_groups()

    def pulse_groups(self) -> list[str]:
        """Pages that show last-heartbeat times also hear heartbeat pulses."""
        if not self.shows_heartbeats:
            return []
        return [pulse_group(pid) for pid in sorted(self.project_ids)]

    def wants(self, message: dict[str, Any]) -> bool:
        return True

    def event_cache_key(self, message: dict[str, Any]) -> Hashable | None:
        """What, besides page type and event id, the fragment depends on; None: render per
        socket (it depends on the user or on per-socket state)."""
        return None

    def render_snapshot(self) -> str:
        raise NotImplementedError

    def render_event(self, message: dict[str, Any]) -> str:
        raise NotImplementedError

    async def send_html(self, html: str) -> None:
        if html and html.strip():
            await self.send(text_data=html)
