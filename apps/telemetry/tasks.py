"""Celery adapters for the rollups and retention."""

from __future__ import annotations

from celery import shared_task

# A beat run stops after this many seconds and leaves the rest to the next one, so a worker
# that was off for a day catches up in steps without holding the queue.
ROLLUP_BUDGET_SECONDS = 20.0


@shared_task(name="telemetry.rollup", ignore_result=True)
def rollup() -> None:
    from apps.telemetry.rollups import roll_up

    if roll_up(budget=ROLLUP_BUDGET_SECONDS).behind:
        rollup.apply_async(countdown=1)  # more to catch up: go on soon, not at the next beat


@shared_task(name="telemetry.reports", ignore_result=True)
def send_reports() -> None:
    """Scheduled reports whose period is complete and not sent yet (idempotent)."""
    from apps.telemetry.services import reports_send_due

    reports_send_due()


# A retention run deletes for at most this long, pausing between chunks (retention.PAUSE) so
# writers (SQLite has one at a time) get the database between them.
RETENTION_BUDGET_SECONDS = 60.0


@shared_task(name="telemetry.retention", ignore_result=True)
def retention() -> None:
    from apps.telemetry.retention import PAUSE, apply_retention

    outcome = apply_retention(budget=RETENTION_BUDGET_SECONDS, pause=PAUSE)
    if outcome.behind:
        retention.apply_async(countdown=5)  # a backlog: go on soon, not at the next beat
