"""publish(): send ids and primitives to groups after commit; consumers render partials.

Writes happen in sync code (views, API, Celery tasks). `async_to_sync(layer.group_send)` from a
thread without an event loop builds a new loop, and with the Redis layer a new connection, for
every call (~35 ms each, measured by benchmarks/fanout.py). So for layers other than the
in-memory one, messages go through one long-lived loop in a daemon thread that keeps its
connections; the in-memory layer must be called on the loop that owns its queues, which is what
async_to_sync does inside the server process. The writer does not wait for Redis: messages are
queued on that loop in order (one FIFO per process) and failures are logged; a page that misses
one recovers by its periodic resync, as after any at-most-once delivery.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.realtime.groups import agent_group, project_group, pulse_group

logger = logging.getLogger(__name__)
FLUSH_TIMEOUT = 2.0
COALESCE_SECONDS = 0.005
MAX_PENDING = 50_000  # writes whose messages wait for the channel layer, per process
# A plain heartbeat records no event; pages learn of it from a pulse: at most one per agent
# and process every PULSE_SECONDS, sent in one message per project every PULSE_BATCH_SECONDS.
PULSE_SECONDS = 10.0
PULSE_BATCH_SECONDS = 2.0


class _Outbox:
    """Messages for the channel layer, handed to the event loop `loop` in batches.

    Writers append to one FIFO and wake the loop only when it is not already draining; the
    loop takes everything queued at once and sends it in order (to Redis in one pipelined
    round trip). Under load that is one wake-up for dozens of messages instead of a coroutine
    and a self-pipe write each, and one round trip instead of one per message: they were a
    third of a span event's CPU (benchmarks/ingest.py)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.pending: list[tuple[Any, list[tuple[str, dict[str, Any]]]]] = []
        self.draining = False
        self.idle = threading.Event()
        self.idle.set()

    def submit(self, layer: Any, sends: list[tuple[str, dict[str, Any]]]) -> None:
        with self.lock:
            if len(self.pending) >= MAX_PENDING:  # the layer stalls: do not grow without bound
                from apps.core.queueing import warn_now_and_then

                warn_now_and_then(logger, "publisher-full", "%d live-page messages wait for "
                                  "the channel layer; dropping new ones (pages resync)",
                                  len(self.pending))
                return
            self.pending.append((layer, sends))
            self.idle.clear()
            if self.draining:
                return
            self.draining = True
        try:
            self.loop.call_soon_threadsafe(self._start)
        except RuntimeError:  # the loop closed meanwhile (a server stopping): nobody listens
            with self.lock:
                self.pending, self.draining = [], False
                self.idle.set()

    def _start(self) -> None:
        self.loop.create_task(self._drain())

    async def _drain(self) -> None:
        # A moment for the writers of the same instant to join the batch: a few milliseconds
        # on a live page, while under load each wake-up and round trip carries far more.
        await asyncio.sleep(COALESCE_SECONDS)
        while True:
            with self.lock:
                batch, self.pending = self.pending, []
                if not batch:
                    self.draining = False
                    self.idle.set()
                    return
            by_layer: dict[int, tuple[Any, list[tuple[str, dict[str, Any]]]]] = {}
            for layer, sends in batch:  # in practice one layer: the process's
                by_layer.setdefault(id(layer), (layer, []))[1].extend(sends)
            for layer, sends in by_layer.values():
                try:
                    await _publish_all(layer, sends)
                except Exception as exc:  # noqa: BLE001 - logged; pages resync what they miss
                    _log_exception(exc)

    def flush(self) -> None:
        """Wait (briefly) for what is queued, e.g. before a short-lived process exits."""
        self.idle.wait(FLUSH_TIMEOUT)


class _PublisherLoop(_Outbox):
    """For layers other than the in-memory one: a private event loop in a daemon thread, one
    per process (re-made after a fork), that keeps its connections."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        super().__init__(asyncio.new_event_loop())
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="sb-publisher", daemon=True
        )
        self.thread.start()
        atexit.register(self.flush)

    def flush(self) -> None:
        if self.pid == os.getpid():
            super().flush()


async def _publish_all(layer: Any, sends: list[tuple[str, dict[str, Any]]]) -> None:
    """Every message, in order; on channels_redis' pub/sub layer pipelined per Redis shard
    (a group always maps to the same shard, so each group's order is kept)."""
    inner = _pubsub_loop_layer(layer)
    if inner is None:
        for group, message in sends:
            await layer.group_send(group, message)
        return
    by_shard: dict[int, tuple[Any, list[tuple[str, bytes]]]] = {}
    for group, message in sends:
        channel = inner._get_group_channel_name(group)
        shard = inner._get_shard(channel)
        by_shard.setdefault(id(shard), (shard, []))[1].append(
            (channel, layer.serialize(message)))
    for shard, messages in by_shard.values():
        async with shard._lock:
            shard._ensure_redis()
            pipe = shard._redis.pipeline(transaction=False)
            for channel, data in messages:
                pipe.publish(channel, data)
            await pipe.execute()


def _pubsub_loop_layer(layer: Any) -> Any:
    """The running loop's RedisPubSubLoopLayer when `layer` is channels_redis' pub/sub layer
    with the internals this pipelining relies on (channels_redis 4.x); else None."""
    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    inner = layer._get_layer()
    shards = getattr(inner, "_shards", None)
    if not shards or not all(hasattr(s, "_ensure_redis") and hasattr(s, "_lock")
                             for s in shards):
        return None
    return inner


def _log_exception(exc: BaseException) -> None:
    """Pages resync what they missed when they reconnect, so a channel layer that is down is
    one warning a minute, not a traceback per event."""
    if isinstance(exc, OSError | RedisConnectionError | RedisTimeoutError):
        from apps.core.queueing import warn_now_and_then

        warn_now_and_then(logger, "channel-layer", "publishing to the channel layer failed "
                          "(%s: %s); live pages resync when it is back",
                          exc.__class__.__name__, exc)
    else:
        logger.error("publishing to the channel layer failed", exc_info=exc)


_publisher: _PublisherLoop | None = None
_publisher_lock = threading.Lock()


def _loop() -> _PublisherLoop:
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _PublisherLoop()
        return _publisher


_serving: _Outbox | None = None


def _serving_outbox(loop: asyncio.AbstractEventLoop) -> _Outbox:
    """The outbox of the server's own loop (the one-process server's in-memory layer)."""
    global _serving
    with _publisher_lock:
        if _serving is None or _serving.loop is not loop:
            _serving = _Outbox(loop)
        return _serving


def _send(layer: Any, sends: list[tuple[str, dict[str, Any]]]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        # Sync ORM code under a running loop (only tests driving a browser allow that) cannot
        # block on the layer; pages recover what they miss through resync and polling.
        logger.debug("not publishing %d message(s) from inside a running event loop", len(sends))
        return

    if isinstance(layer, InMemoryChannelLayer):
        from apps.realtime import hub

        loop = hub.serving_loop
        if loop is not None and loop.is_running() and not loop.is_closed():
            # Thread-safe hand-over to the loop that owns the in-memory queues.
            _serving_outbox(loop).submit(layer, sends)
        else:
            async_to_sync(_publish_all)(layer, sends)
    else:
        _loop().submit(layer, sends)


def flush() -> None:
    """Wait (briefly) until what this process queued was handed to the channel layer."""
    for outbox in (_publisher, _serving):
        if outbox is not None:
            outbox.flush()


def publish(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    _send(layer, [(group, message)])


def publish_event(*, event_id: int, kind: str, project_id: int, agent_id: int | None,
                  parent_id: int | None = None) -> None:
    """To the project's group and the agent's; a sub-agent's events also to its parent's group
    (the parent's page shows the sub-agent tree)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {
        "type": "sb.event",
        "event_id": event_id,
        "kind": kind,
        "project_id": project_id,
        "agent_id": agent_id,
        "parent_id": parent_id,
    }
    sends = [(project_group(project_id), message)]
    if agent_id is not None:
        sends.append((agent_group(agent_id), message))
    if parent_id is not None:
        sends.append((agent_group(parent_id), message))
    _send(layer, sends)


class _Pulses:
    """Heartbeat times waiting to go out, per project; flushed by a timer thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[int, dict[int, str]] = {}
        self.last: dict[int, float] = {}
        self.timer: threading.Timer | None = None

    def add(self, agent_id: int, project_id: int, at: Any) -> None:
        now = time.monotonic()
        last = self.last.get(agent_id)
        if last is not None and now - last < PULSE_SECONDS:
            return
        with self.lock:
            if len(self.last) > 100_000:
                self.last.clear()
            self.last[agent_id] = now
            self.pending.setdefault(project_id, {})[agent_id] = at.isoformat()
            if self.timer is None:
                self.timer = threading.Timer(PULSE_BATCH_SECONDS, self.flush)
                self.timer.daemon = True
                self.timer.start()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending, self.timer = self.pending, {}, None
        layer = get_channel_layer()
        if layer is None or not pending:
            return
        _send(layer, [
            (pulse_group(project_id), {"type": "sb.pulse", "project_id": project_id,
                                       "agents": {str(k): v for k, v in agents.items()}})
            for project_id, agents in pending.items()
        ])


_pulses = _Pulses()


def pulse(*, agent_id: int, project_id: int, at: Any) -> None:
    """A sign of life that changed nothing else (no event): pages update the agent's
    last-heartbeat time within PULSE_BATCH_SECONDS, at most every PULSE_SECONDS."""
    try:
        _pulses.add(agent_id, project_id, at)
    except Exception:  # never fail a heartbeat over a page update
        logger.exception("queueing a heartbeat pulse failed")


def revoke_sockets(user_id: int) -> None:
    """Close a person's open live pages: each reconnects at once and is authorised afresh, so
    a removed member's page stops (their sessions are gone) and a new role applies now."""
    from apps.realtime.groups import user_group

    publish(user_group(user_id), {"type": "sb.revoke"})
