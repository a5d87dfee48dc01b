"""Telemetry pages: the analytics page, and `/metrics` for Prometheus."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # a machine's bearer token, no cookies: nothing for CSRF to protect
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (apps/telemetry/metrics.py), for whoever holds METRICS_TOKEN; a 404 like
    any unknown page while the token is unset. Sessions play no part, an owner's included."""
    from apps.telemetry import metrics

    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    if not _bearer_matches(request.headers.get("Authorization", ""), token):
        response = HttpResponse("A valid bearer token is required.\n", status=401,
                                content_type="text/plain; charset=utf-8")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)


def _bearer_matches(header: str, token: str) -> bool:
    import hmac

    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # As bytes: compare_digest refuses str holding anything but ASCII.
    return hmac.compare_digest(given.strip().encode(), token.encode())
