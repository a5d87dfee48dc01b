"""Process-local fan-out for live pages.

Channels' default is one layer subscription per socket: with a hundred open pages and a busy
project, every event is deserialised, queued and dispatched a hundred times per process before
a single byte is written. The hub subscribes once per process and group instead (its own layer
channel per group, so it knows which group a message came through), and hands each message to
the sockets that joined that group, in order. Together with the render cache in consumers.py a
fan-out costs one render plus one WebSocket write per socket.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class Member(Protocol):
    def hub_prepare(self, message: dict[str, Any]) -> Any: ...

    async def hub_deliver(self, message: dict[str, Any], prepared: Any) -> None: ...


class Hub:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.members: dict[str, set[Member]] = {}
        self.channels: dict[str, str] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.lock = asyncio.Lock()

    async def join(self, group: str, member: Member) -> None:
        async with self.lock:
            members = self.members.setdefault(group, set())
            members.add(member)
            if group not in self.channels:
                channel = await self.layer.new_channel(prefix="hub.")
                await self.layer.group_add(group, channel)
                self.channels[group] = channel
                self.tasks[group] = asyncio.ensure_future(self._pump(group, channel))

    async def leave(self, group: str, member: Member) -> None:
        async with self.lock:
            members = self.members.get(group)
            if not members:
                return
            members.discard(member)
            if members:
                return
            del self.members[group]
            channel = self.channels.pop(group)
            task = self.tasks.pop(group)
            await self.layer.group_discard(group, channel)
            task.cancel()

    async def _pump(self, group: str, channel: str) -> None:
        """Receive, and start each message's renders at once; a second task delivers in order.
        So rendering event n + 1 overlaps with writing event n to a hundred sockets."""
        queue: asyncio.Queue[tuple[dict[str, Any], list[tuple[Member, Any]]]] = asyncio.Queue()
        deliver = asyncio.ensure_future(self._deliver(queue))
        try:
            while True:
                try:
                    message = await self.layer.receive(channel)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("live hub: receiving on %s failed", group)
                    await asyncio.sleep(1)
                    continue
                prepared = []
                for member in list(self.members.get(group, ())):
                    try:
                        prepared.append((member, member.hub_prepare(message)))
                    except Exception:
                        logger.exception("live hub: preparing for %r failed", member)
                queue.put_nowait((message, prepared))
        finally:
            deliver.cancel()

    async def _deliver(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            message, prepared = await queue.get()
            for member, work in prepared:
                try:
                    await member.hub_deliver(message, work)
                except Exception:  # one broken page must not starve the others
                    logger.exception("live hub: delivering to %r failed", member)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
# The loop the sockets live on: with the in-memory layer (embedded mode) a write made in a
# worker thread must hand its message to this loop, the owner of the layer's queues.
serving_loop: asyncio.AbstractEventLoop | None = None


def hub() -> Hub:
    """The hub of the running event loop (one per server process; tests make new loops)."""
    global serving_loop
    loop = asyncio.get_running_loop()
    serving_loop = loop
    current = _hubs.get(loop)
    if current is None:
        current = _hubs[loop] = Hub()
    return current
