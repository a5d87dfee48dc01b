from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

LAST_SEEN_RESOLUTION = timedelta(minutes=5)


def _trusted_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in settings.TRUSTED_PROXY_IPS]


class TrustedProxyMiddleware:
    """Sign in the pre-authorised user named by a trusted reverse proxy (e.g. Tailscale Serve).

    Active only when both TRUSTED_PROXY_USER_HEADER and TRUSTED_PROXY_IPS are set; the header is
    believed only from those addresses.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = settings.TRUSTED_PROXY_USER_HEADER
        self.networks = _trusted_networks() if settings.TRUSTED_PROXY_IPS else []
        self.meta_key = "HTTP_" + self.header.upper().replace("-", "_") if self.header else ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.meta_key and self.networks and not request.user.is_authenticated:
            self._maybe_login(request)
        return self.get_response(request)

    def _maybe_login(self, request: HttpRequest) -> None:
        login_name = request.META.get(self.meta_key, "").strip()
        if not login_name:
            return
        # Tailscale sends "user@github" style identities; the part before @ is the login.
        login_name = login_name.split("@", 1)[0]
        try:
            ip = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return
        if not any(ip in net for net in self.networks):
            return
        from apps.accounts.services import user_for_trusted_login

        user = user_for_trusted_login(login_name=login_name)
        if user is not None:
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
