"""Rate limits for write endpoints, per API key and per client IP, on the shared cache."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle

from apps.core.api.permissions import api_key_of


class WriteKeyThrottle(SimpleRateThrottle):
    scope = "write_key"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        key = api_key_of(request)
        ident = f"key-{key.pk}" if key is not None else (
            f"user-{request.user.pk}" if request.user.is_authenticated else None
        )
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class WriteIpThrottle(SimpleRateThrottle):
    scope = "write_ip"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


WRITE_THROTTLES = [WriteKeyThrottle, WriteIpThrottle]
