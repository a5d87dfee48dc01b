"""Agents in global search (apps/core/search.py): by name, session id or model."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from apps.agents.selectors.scope import agents_in
from apps.core.search import Hit


def find_agents(query: str, *, project: Any, limit: int) -> list[Hit]:
    rows = (
        agents_in(project, archived=None)
        .filter(Q(name__icontains=query) | Q(external_id__icontains=query)
                | Q(model__icontains=query))
        .select_related("project")
        .only("id", "name", "status", "kind", "external_id", "archived_at", "project__name")
        .order_by("archived_at", "name", "id")[:limit]
    )
    return [
        Hit(title=a.name, url=f"/agents/{a.pk}/",
            meta=" · ".join(filter(None, [a.get_status_display() if not a.archived_at
                                          else "Archived", a.kind, a.project.name])))
        for a in rows
    ]
