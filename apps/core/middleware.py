from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict

# Extra form-action sources for sign-in pages, registered by apps at start-up (accounts adds a
# GitHub Enterprise server saved in Settings → Sign-in): called only on the paths listed.
FORM_ACTION_SOURCES: list[Callable[[], str]] = []
FORM_ACTION_PATHS = ("/accounts/", "/invite/")


class SecurityHeadersMiddleware:
    """CSP and Permissions-Policy on every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        form_targets = ["'self'"]
        github = settings.GITHUB_URL or "https://github.com"
        form_targets.append(github)
        self.csp = "; ".join(
            [
                "default-src 'self'",
                "script-src 'self'",
                # htmx injects its indicator styles; uPlot sets inline sizes and positions.
                "style-src 'self' 'unsafe-inline'",
                "img-src 'self' data: https:",
                "connect-src 'self' ws: wss:",
                "font-src 'self' data:",
                "worker-src 'self'",
                "manifest-src 'self'",
                "frame-ancestors 'none'",
                "base-uri 'self'",
                "object-src 'none'",
                f"form-action {' '.join(form_targets)}",
            ]
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        self.add_headers(request, response)
        return response

    def add_headers(self, request: HttpRequest, response: HttpResponse) -> None:
        if not request.path.startswith(("/api/v1/docs", "/admin/")):
            csp = self.csp
            if FORM_ACTION_SOURCES and request.path.startswith(FORM_ACTION_PATHS):
                extra = {source() for source in FORM_ACTION_SOURCES} - {"", *self.csp.split()}
                if extra:
                    csp = f"{csp} {' '.join(sorted(extra))}"
            response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")


NUL_IN_QUERY = "Query parameters may not contain NUL characters."


class ApiBodyLimitMiddleware:
    """For the API: a 413 for bodies over the upload limit, before anything reads them, and a
    400 for a NUL in the query string. PostgreSQL refuses NUL in text, so a filter holding one
    would fail as a 500; pages drop such parameters instead, as they ignore any filter they
    cannot use. It sits after CorsMiddleware so browser clients can read the answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        has_nul = bool(query) and ("%00" in query or "\x00" in query)
        if has_nul and not request.path.startswith("/api/"):
            kept = QueryDict(mutable=True)
            for name, values in request.GET.lists():
                clean = [v for v in values if "\x00" not in v]
                if clean and "\x00" not in name:
                    kept.setlist(name, clean)
            request.GET = kept
            request.META["QUERY_STRING"] = kept.urlencode()
        if request.path.startswith("/api/"):
            if has_nul:
                return JsonResponse({"error": NUL_IN_QUERY, "details": {}}, status=400)
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            # The OTLP intake has its own, larger limit and answers in OTLP's format.
            if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE and \
                    not request.path.startswith("/api/v1/otlp/"):
                return JsonResponse(
                    {"error": "Request body is larger than 1 MB.", "details": {}}, status=413
                )
        return self.get_response(request)
