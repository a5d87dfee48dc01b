"""The production broker: kombu's Redis transport, with a closed channel failing as a lost
connection rather than as a programming error.

When Redis goes away, Celery's worker resets its event loop and then runs the acknowledgements
still queued on it, and kombu may already have collected the connection under those messages'
channel. kombu's Redis channel then builds its connection parameters from a transport whose
client is gone and raises `AttributeError: 'NoneType' object has no attribute 'hostname'`. That
is not among the connection errors Celery expects there, so it escaped the loop's reset half
way (the acks queued behind it dropped, the hub left without a poller), and in a CI run of the
production fault test the worker, once Redis was back, never consumed again (127 Linear
deliveries never applied). Raised as
redis' ConnectionError instead, the ack is logged as impossible (the message is redelivered:
tasks are acknowledged late and idempotent), the reset completes and the consumer reconnects.
Celery beat's producer fails the same way and is retried by kombu like any lost connection."""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:
            raise redis.exceptions.ConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
