from __future__ import annotations

from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from apps.projects.models import ApiKey, Project


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


def _count(model_qs: QuerySet) -> Subquery:
    # A correlated COUNT per row: two plain joins would multiply each other's rows.
    return Coalesce(
        Subquery(
            model_qs.filter(project=OuterRef("pk"))
            .order_by()
            .values("project")
            .annotate(n=Count("pk"))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def projects_with_counts(*, archived: bool = False) -> QuerySet[Project]:
    """Projects for the list page with their agent and active-key counts, in one query."""
    from apps.agents.models import Agent

    return Project.objects.filter(archived=archived).annotate(
        agent_count=_count(Agent.objects.all()),
        key_count=_count(ApiKey.objects.active()),
    )


def project_get(slug: str) -> Project:
    """Any project, archived or not; 404 when unknown."""
    return get_object_or_404(Project, slug=slug)


def project_keys(project: Project) -> QuerySet[ApiKey]:
    """Keys of one project: active ones first, then the most recently revoked; newest first."""
    return (
        ApiKey.objects.filter(project=project)
        .select_related("created_by")
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at")
    )
