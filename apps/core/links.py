"""Absolute links to this server: in notifications, in Linear, in snippets to paste elsewhere.

SITE_URL (no trailing slash) when it is set, since behind a proxy the request's own host may be
an internal one; otherwise the address the request came to; with no request, the default
development address.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

DEFAULT_SITE_URL = "http://127.0.0.1:8000"


def site_url(request: HttpRequest | None = None) -> str:
    """This server's origin, without a trailing slash."""
    if settings.SITE_URL:
        return settings.SITE_URL
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return DEFAULT_SITE_URL


def absolute_url(path: str, request: HttpRequest | None = None) -> str:
    """`path` (starting with /) on this server."""
    return site_url(request) + path
