"""Alerts in global search (apps/core/search.py): by title, newest first."""

from __future__ import annotations

from typing import Any

from apps.alerts.models import Alert
from apps.core.search import Hit


def find_alerts(query: str, *, project: Any, limit: int) -> list[Hit]:
    qs = Alert.objects.filter(title__icontains=query)
    qs = qs.filter(project=project) if project is not None else qs.filter(project__archived=False)
    rows = qs.only("id", "title", "state", "severity").order_by("-last_fired_at", "-id")[:limit]
    return [Hit(title=a.title, url=f"/alerts/{a.pk}/",
                meta=f"{a.get_severity_display()} · {a.get_state_display()}") for a in rows]
