"""`Authorization: Bearer sbk_...` for machines. An unknown or revoked key is a 401.

Agents send a request every few seconds with the same key, so each process keeps the keys it
has verified for a few seconds (API_KEY_CACHE_SECONDS, default 5; 0 turns it off) instead of
asking the database on every request. Revoking a key or archiving its project clears this
process's cache at once (`forget_api_keys`, on commit); other processes stop accepting the key
when their entry expires, within API_KEY_CACHE_SECONDS. Unknown keys are never cached.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from apps.projects.models import KEY_PREFIX, ApiKey, hash_key

# last_used_at is written at most this often per key, to keep the hot path free of writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)
CACHE_LIMIT = 4096  # distinct keys held per process before the cache starts over

_verified: dict[str, tuple[float, ApiKey]] = {}
_lock = threading.Lock()


def forget_api_keys() -> None:
    """Drop every key this process verified (a key was revoked, a project archived)."""
    with _lock:
        _verified.clear()


def verified_key(raw: str) -> ApiKey | None:
    """The active key with this secret (project loaded), or None."""
    digest = hash_key(raw)
    ttl = settings.API_KEY_CACHE_SECONDS
    now = time.monotonic()
    hit = _verified.get(digest)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    key = (
        ApiKey.objects.select_related("project")
        .filter(key_hash=digest, revoked_at__isnull=True, project__archived=False)
        .first()
    )
    with _lock:
        if key is None:
            _verified.pop(digest, None)
        elif ttl > 0:
            if len(_verified) >= CACHE_LIMIT:
                _verified.clear()
            _verified[digest] = (now, key)
    return key


def note_key_use(key: ApiKey) -> None:
    """Record that the key was used, at most once per LAST_USED_RESOLUTION (the cached key
    object carries the time, so this process's later requests with it skip the write)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Any) -> tuple[Any, ApiKey] | None:
        try:
            header = get_authorization_header(request).split()
        except UnicodeError:  # a header that is not latin-1 (possible under ASGI)
            raise exceptions.AuthenticationFailed("Malformed Authorization header.") from None
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            raw = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Malformed API key.") from None
        if not raw.startswith(KEY_PREFIX):
            raise exceptions.AuthenticationFailed("Unknown API key.")
        key = verified_key(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        note_key_use(key)
        return AnonymousUser(), key

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'
