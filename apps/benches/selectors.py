"""Reads of runs shared by the command, the API and the pages."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.benches import results
from apps.benches.models import Run, RunLevel, RunState


def run_result(run: Run, levels: list[RunLevel] | None = None) -> dict[str, Any]:
    """A run as `manage.py bench run --json` prints it (and the API serves it)."""
    rows = levels if levels is not None else list(run.levels.all())
    return {
        "run": run.pk,
        "state": run.state,
        "endpoint": run.endpoint_id,
        "model": run.model,
        "suite": run.suite_id,
        "polluted": run.polluted,
        "concurrent_foreign_requests": run.concurrent_foreign_requests,
        "baseline": run.baseline_id,
        "levels": [results.level_row(level) for level in rows],
        "regressions": run.regressions,
        "error": run.error,
    }


def history(*, endpoint_id: int, model: str, limit: int = 30) -> QuerySet[Run]:
    """The latest finished runs of one endpoint and model, newest first, levels prefetched."""
    return (
        Run.objects.filter(endpoint_id=endpoint_id, model=model, state=RunState.FINISHED)
        .prefetch_related("levels")
        .order_by("-created_at", "-id")[:limit]
    )
