from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

LAST_SEEN_RESOLUTION = timedelta(minutes=5)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(items: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


class TrustedProxyMiddleware:
    """Sign in the team member named by a trusted reverse proxy (e.g. Tailscale Serve).

    Active only when both TRUSTED_PROXY_USER_HEADER and TRUSTED_PROXY_IPS are set; the header is
    believed only from those addresses (the direct peer, REMOTE_ADDR). Settings are read per
    request so an override (tests, reload) takes effect at once.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = settings.TRUSTED_PROXY_USER_HEADER
        trusted = settings.TRUSTED_PROXY_IPS
        if header and trusted and not request.user.is_authenticated:
            self._maybe_login(request, header, tuple(trusted))
        return self.get_response(request)

    def _maybe_login(self, request: HttpRequest, header: str, trusted: tuple[str, ...]) -> None:
        meta_key = "HTTP_" + header.upper().replace("-", "_")
        login_name = request.META.get(meta_key, "").strip()
        if not login_name:
            return
        try:
            ip = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return
        if not any(ip in net for net in _networks(trusted)):
            return
        # Tailscale sends "user@github" style identities; the part before @ is the login.
        login_name = login_name.split("@", 1)[0]
        from apps.accounts.adapters import LOGIN_METHOD_ATTR
        from apps.accounts.services import user_for_trusted_login

        user = user_for_trusted_login(login_name=login_name)
        if user is not None:
            setattr(request, LOGIN_METHOD_ATTR, "trusted_proxy")
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")


class LastSeenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            now = timezone.now()
            if user.last_seen_at is None or now - user.last_seen_at > LAST_SEEN_RESOLUTION:
                get_user_model().objects.filter(pk=user.pk).update(last_seen_at=now)
                user.last_seen_at = now
        return self.get_response(request)
