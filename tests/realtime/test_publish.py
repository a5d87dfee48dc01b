"""The publisher's one FIFO per process on channels_redis' pub/sub layer against a real Redis
(REDIS_URL, else 127.0.0.1:6379 db 12): messages from many writer threads, batched and
pipelined, all arrive, each group's in the order each writer sent them."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections import defaultdict

import pytest
from asgiref.sync import async_to_sync
from channels_redis.pubsub import RedisPubSubChannelLayer

from apps.realtime import publish
from tests.support import missing, port_open

WRITERS, PER_WRITER = 4, 300


@pytest.fixture
def layer() -> RedisPubSubChannelLayer:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/12"
    if not port_open("127.0.0.1", int(url.split(":")[2].split("/")[0])):
        missing(f"Redis is not reachable at {url}")
    return RedisPubSubChannelLayer(hosts=[url], prefix=f"t{uuid.uuid4().hex[:8]}")


def test_messages_from_many_writers_all_arrive_in_each_writers_order(layer):
    groups = ["project-a", "agent-b"]

    def writer(w: int) -> None:
        for n in range(PER_WRITER):
            message = {"type": "sb.test", "w": w, "n": n}
            publish._send(layer, [(groups[0], message), (groups[1], message)])

    async def scenario() -> dict[tuple[str, int], list[int]]:
        channels = {}
        for group in groups:
            channels[group] = await layer.new_channel()
            await layer.group_add(group, channels[group])
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        await asyncio.to_thread(lambda: [t.join() for t in threads])
        seen: dict[tuple[str, int], list[int]] = defaultdict(list)
        for group, channel in channels.items():
            for _ in range(WRITERS * PER_WRITER):
                message = await asyncio.wait_for(layer.receive(channel), timeout=10)
                seen[(group, message["w"])].append(message["n"])
        for group, channel in channels.items():
            await layer.group_discard(group, channel)
        return seen

    seen = async_to_sync(scenario)()
    assert sorted(seen) == sorted((g, w) for g in groups for w in range(WRITERS))
    for key, numbers in seen.items():
        assert numbers == list(range(PER_WRITER)), key


def test_flush_waits_for_what_is_queued(layer):
    async def scenario() -> int:
        channel = await layer.new_channel()
        await layer.group_add("flushed", channel)
        await asyncio.to_thread(lambda: [
            publish._send(layer, [("flushed", {"type": "sb.test", "n": n})]) for n in range(200)])
        await asyncio.to_thread(publish.flush)
        # Everything was handed to Redis by now: all of it is there to read at once.
        got = 0
        while got < 200:
            await asyncio.wait_for(layer.receive(channel), timeout=2)
            got += 1
        return got

    assert async_to_sync(scenario)() == 200
