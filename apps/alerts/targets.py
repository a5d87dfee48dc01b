"""Where notifications may be sent: the server must not become a way to reach the private
network it runs in (server-side request forgery). Webhook and Slack URLs, and web-push
endpoints, must resolve to public addresses; an owner who really sends to an internal
receiver sets ALERTS_ALLOW_PRIVATE_TARGETS=true. Checked when the target is saved and again
before each send (a name can be re-pointed after it was checked)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


def check_target(url: str, *, https_only: bool = False, what: str = "URL") -> None:
    parts = urlsplit(url)
    schemes = ("https",) if https_only else ("https", "http")
    if parts.scheme not in schemes or not parts.hostname:
        raise ValidationError(f"The {what} must be an {'https' if https_only else 'http(s)'} URL.")
    if getattr(settings, "ALERTS_ALLOW_PRIVATE_TARGETS", False):
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        raise ValidationError(f"The {what}'s host {parts.hostname!r} does not resolve.") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            raise ValidationError(
                f"The {what} points at a private, loopback or link-local address ({address}); "
                "Switchboard does not send there unless ALERTS_ALLOW_PRIVATE_TARGETS is set.")
