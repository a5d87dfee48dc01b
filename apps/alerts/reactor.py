"""The hook into the event spine: runs after commit in the ingestion process, so it only
decides (for free) whether the event could matter and enqueues the evaluation."""

from __future__ import annotations

import logging

from django.conf import settings

from apps.alerts import rules

logger = logging.getLogger(__name__)


def on_event(event_id: int, kind: str, project_id: int, agent_id: int | None) -> None:
    if not settings.ALERTS_ENABLED or not rules.is_interesting(kind):
        return
    from apps.alerts.tasks import evaluate_event

    evaluate_event.delay(event_id, kind, project_id)
