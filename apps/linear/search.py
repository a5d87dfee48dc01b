"""Linear issues in global search (apps/core/search.py): by identifier or title, among the
issues of the Linear teams (or projects) mapped to the Switchboard projects in scope."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from apps.core.search import Hit
from apps.linear.models import LinearIssue, ProjectMapping


def find_issues(query: str, *, project: Any, limit: int) -> list[Hit]:
    mappings = ProjectMapping.objects.filter(project__archived=False)
    if project is not None:
        mappings = mappings.filter(project=project)
    scope = Q(pk__in=[])
    for m in mappings.only("team_id", "linear_project_id"):
        covered = Q(team_id=m.team_id)
        if m.linear_project_id:
            covered &= Q(project_id=m.linear_project_id)
        scope |= covered
    rows = (
        LinearIssue.objects.filter(scope, deleted_at__isnull=True)
        .filter(Q(identifier__icontains=query)
                | Q(title__icontains=query))
        .select_related("state")
        .only("id", "identifier", "title", "url", "state__name", "archived_at")
        .order_by("archived_at", "-updated_at_linear", "-id")[:limit]
    )
    return [
        Hit(title=f"{i.identifier} {i.title}",
            url=i.url or "/board/",
            meta=i.state.name if i.state else "")
        for i in rows
    ]
