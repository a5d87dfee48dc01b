"""`Authorization: Bearer sbk_...` for machines. An unknown or revoked key is a 401."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from apps.projects.models import KEY_PREFIX, ApiKey, hash_key

# last_used_at is written at most this often per key, to keep the hot path to one query.
LAST_USED_RESOLUTION = timedelta(seconds=60)


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
        key = (
            ApiKey.objects.select_related("project")
            .filter(key_hash=hash_key(raw), revoked_at__isnull=True, project__archived=False)
            .first()
        )
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return AnonymousUser(), key

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'
