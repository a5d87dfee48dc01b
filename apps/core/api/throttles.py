"""Rate limits for write endpoints, per API key and per client IP.

A fixed-window counter in the shared cache: one atomic `incr` per request, so the limit holds
across every web process when the cache is Redis (REDIS_URL), and costs the same at 10 or
10,000 requests per window (DRF's SimpleRateThrottle stores and rewrites a list of timestamps).
A client may burst up to twice the rate across a window boundary; the limits are generous
ceilings against runaway loops, not billing meters. Rates are read on every request, so
`override_settings(REST_FRAMEWORK=...)` works.

On Redis, a counter far from its limit is not asked on every request: each process counts
hits locally and adds them to the shared counter (one INCRBY) every SYNC_SECONDS or SYNC_HITS
hits, whichever comes first; within HEADROOM of the limit every hit goes to Redis, so the
limit itself is exact. The round trip was a third of a heartbeat's time; now a client far
below its limit pays it about once per SYNC_HITS requests per process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.core.api.permissions import api_key_of
from apps.core.api.rates import parse_rate

logger = logging.getLogger(__name__)


SYNC_SECONDS = 0.25
SYNC_HITS = 50
HEADROOM = 4 * SYNC_HITS  # other processes may each hold up to SYNC_HITS hits not yet added


class _Batch:
    __slots__ = ("known", "pending", "synced_at")

    def __init__(self) -> None:
        self.known = 0  # the shared count at the last trip
        self.pending = 0  # hits counted here since
        self.synced_at = float("-inf")


_batches: dict[str, _Batch] = {}
_batches_lock = threading.Lock()


def counted(key: str, timeout: int, limit: int) -> int:
    """Count one hit on `key` and return the count (see the module's docstring)."""
    if not isinstance(caches["default"], RedisCache):
        return hit(key, timeout)
    now = time.monotonic()
    with _batches_lock:
        batch = _batches.get(key)
        if batch is None:
            if len(_batches) > 10_000:  # keys name their window: old ones are dead
                _batches.clear()
            batch = _batches[key] = _Batch()
        batch.pending += 1
        estimate = batch.known + batch.pending
        if (estimate + HEADROOM < limit and batch.pending < SYNC_HITS
                and now - batch.synced_at < SYNC_SECONDS):
            return estimate
        amount, batch.pending = batch.pending, 0
    total = hit(key, timeout, amount)
    with _batches_lock:
        batch.known, batch.synced_at = max(batch.known, total), now
    return total


def hit(key: str, timeout: int, amount: int = 1) -> int:
    """Count one hit on `key` in the shared cache and return the count. On Redis this is one
    round trip (INCR and EXPIRE in a pipeline; Django's own add() + incr() takes three, as its
    incr() checks EXISTS first); on other caches it is add() + incr(). When the cache cannot be
    reached the count is kept in this process instead: writes go on (limited per process)
    rather than failing with a 500."""
    backend = caches["default"]
    try:
        if isinstance(backend, RedisCache):
            full_key = backend.make_and_validate_key(key)
            client = getattr(backend, "_hit_client", None)
            if client is None:  # Django builds a client object per call; one per backend will do
                client = backend._hit_client = backend._cache.get_client(full_key, write=True)
            pipe = client.pipeline(transaction=False)
            pipe.incrby(full_key, amount)
            pipe.expire(full_key, timeout)
            return int(pipe.execute()[0])
        backend.add(key, 0, timeout=timeout)
        try:
            return backend.incr(key, amount)
        except ValueError:  # expired between add() and incr()
            backend.set(key, amount, timeout=timeout)
            return amount
    except Exception as exc:  # noqa: BLE001 - any cache failure: count locally
        return _local_hit(key, timeout, exc, amount)


_local: dict[str, tuple[int, float]] = {}
_local_lock = threading.Lock()
_warned_at = 0.0


def _local_hit(key: str, timeout: int, exc: Exception, amount: int = 1) -> int:
    global _warned_at
    now = time.monotonic()
    with _local_lock:
        if now - _warned_at > 60:
            _warned_at = now
            logger.warning("rate limits counted in-process: the cache is unreachable (%s)",
                           type(exc).__name__)
        if len(_local) > 10_000:  # drop expired windows now and then
            for stale in [k for k, (_, until) in _local.items() if until < now]:
                del _local[stale]
        count, until = _local.get(key, (0, now + timeout))
        if until < now:
            count, until = 0, now + timeout
        _local[key] = (count + amount, until)
        return count + amount


class WindowThrottle(BaseThrottle):
    scope = ""

    def ident(self, request: Any) -> str | None:
        raise NotImplementedError

    @classmethod
    def over_limit(cls, ident: str) -> float | None:
        """Count a hit for `ident`: None if within the limit, else the seconds to wait."""
        rate = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(cls.scope))
        if rate is None:
            return None
        limit, seconds = rate
        now = time.time()
        window = int(now // seconds)
        if counted(f"throttle:{cls.scope}:{ident}:{seconds}:{window}", seconds + 5, limit) <= limit:
            return None
        return (window + 1) * seconds - now

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        ident = self.ident(request)
        wait = None if ident is None else self.over_limit(ident)
        if wait is None:
            return True
        self._wait = wait
        return False

    def wait(self) -> float:
        # At least one second, so 429 always carries Retry-After (DRF omits a 0).
        return max(1.0, getattr(self, "_wait", 1.0))


class WriteKeyThrottle(WindowThrottle):
    """Per API key; a browser session counts per user."""

    scope = "write_key"

    @staticmethod
    def key_ident(key: Any) -> str:
        return f"key-{key.pk}"

    def ident(self, request: Any) -> str | None:
        key = api_key_of(request)
        if key is not None:
            return self.key_ident(key)
        if request.user and request.user.is_authenticated:
            return f"user-{request.user.pk}"
        return None


class WriteIpThrottle(WindowThrottle):
    """Per client IP (X-Forwarded-For is trusted for NUM_PROXIES hops)."""

    scope = "write_ip"

    def ident(self, request: Any) -> str | None:
        return self.get_ident(request) or None


WRITE_THROTTLES = [WriteKeyThrottle, WriteIpThrottle]


def key_allowed(key: Any) -> bool:
    """The per-key limit for a caller without a DRF request (the heartbeat fast path)."""
    return WriteKeyThrottle.over_limit(WriteKeyThrottle.key_ident(key)) is None
