"""Which rows a page shows: one project, or every active project."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.agents.models import Agent, AgentEvent
from apps.projects.models import Project


def agents_in(project: Project | None, *, archived: bool | None = False) -> QuerySet[Agent]:
    """Agents of one project, or of every active project when `project` is None; archived
    agents (finished ones put away) only with `archived=True`, and then only they; both with
    `archived=None`."""
    qs = Agent.objects.all()
    if archived is not None:
        qs = qs.filter(archived_at__isnull=not archived)
    if project is not None:
        return qs.filter(project=project)
    return qs.filter(project__archived=False)


def events_in(project: Project | None) -> QuerySet[AgentEvent]:
    qs = AgentEvent.objects.all()
    if project is not None:
        return qs.filter(project=project)
    return qs.filter(project__archived=False)
