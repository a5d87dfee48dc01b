from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

SESSION_KEY = "current_project"


class CurrentProjectMiddleware:
    """`?project=<slug>` picks the project (shareable links) and is remembered in the session;
    `?project=` (empty) or `all` means every project."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        slug = None
        if "project" in request.GET:
            slug = request.GET["project"].strip()
            if slug in ("", "all"):
                slug = ""
            if hasattr(request, "session") and request.user.is_authenticated:
                request.session[SESSION_KEY] = slug
        elif hasattr(request, "session") and request.user.is_authenticated:
            slug = request.session.get(SESSION_KEY, "")
        request.project_slug = slug or ""  # type: ignore[attr-defined]
        return self.get_response(request)
