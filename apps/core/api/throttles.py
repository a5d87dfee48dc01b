"""Rate limits for write endpoints, per API key and per client IP.

A fixed-window counter in the shared cache: one atomic `incr` per request, so the limit holds
across every web process when the cache is Redis (REDIS_URL), and costs the same at 10 or
10,000 requests per window (DRF's SimpleRateThrottle stores and rewrites a list of timestamps).
A client may burst up to twice the rate across a window boundary; the limits are generous
ceilings against runaway loops, not billing meters. Rates are read on every request, so
`override_settings(REST_FRAMEWORK=...)` works.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.core.api.permissions import api_key_of
from apps.core.api.rates import parse_rate


class WindowThrottle(BaseThrottle):
    scope = ""

    def ident(self, request: Any) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        rate = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))
        ident = self.ident(request)
        if rate is None or ident is None:
            return True
        limit, seconds = rate
        now = time.time()
        window = int(now // seconds)
        key = f"throttle:{self.scope}:{ident}:{seconds}:{window}"
        cache.add(key, 0, timeout=seconds + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=seconds + 5)
            count = 1
        if count <= limit:
            return True
        self._wait = (window + 1) * seconds - now
        return False

    def wait(self) -> float:
        # At least one second, so 429 always carries Retry-After (DRF omits a 0).
        return max(1.0, getattr(self, "_wait", 1.0))


class WriteKeyThrottle(WindowThrottle):
    """Per API key; a browser session counts per user."""

    scope = "write_key"

    def ident(self, request: Any) -> str | None:
        key = api_key_of(request)
        if key is not None:
            return f"key-{key.pk}"
        if request.user and request.user.is_authenticated:
            return f"user-{request.user.pk}"
        return None


class WriteIpThrottle(WindowThrottle):
    """Per client IP (X-Forwarded-For is trusted for NUM_PROXIES hops)."""

    scope = "write_ip"

    def ident(self, request: Any) -> str | None:
        return self.get_ident(request) or None


WRITE_THROTTLES = [WriteKeyThrottle, WriteIpThrottle]
