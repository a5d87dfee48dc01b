from __future__ import annotations

from django.http import HttpRequest

from apps.projects.models import Project


def current_project(request: HttpRequest) -> Project | None:
    """The project chosen by ?project= or the session; None means all projects."""
    if not hasattr(request, "_current_project"):
        slug = getattr(request, "project_slug", "")
        request._current_project = (  # type: ignore[attr-defined]
            Project.objects.filter(slug=slug).first() if slug else None
        )
    return request._current_project  # type: ignore[attr-defined]


def selectable_projects() -> list[Project]:
    return list(Project.objects.active().only("id", "name", "slug"))
