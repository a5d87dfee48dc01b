"""Celery adapters: take ids, call the engine or dispatch, schedule retries."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="alerts.drain", ignore_result=True)
def drain() -> None:
    """Evaluate the events waiting for the engine, in batches (engine.drain)."""
    from django.core.cache import cache

    from apps.alerts import engine
    from apps.alerts.reactor import drain_flag, schedule_drain

    cache.delete(drain_flag())  # events committed from now on schedule the next drain
    if engine.drain() == engine.DRAIN_UNFINISHED:
        schedule_drain(force=True)  # the time budget ran out with events still waiting


@shared_task(name="alerts.evaluate_event", ignore_result=True)
def evaluate_event(event_id: int, kind: str | None = None, project_id: int | None = None) -> None:
    """One event (messages queued by an earlier version; evaluation is idempotent)."""
    from apps.alerts import engine

    engine.evaluate_event(event_id, kind=kind, project_id=project_id)


@shared_task(name="alerts.deliver", ignore_result=True)
def deliver(delivery_id: int) -> None:
    from apps.alerts.dispatch import delivery_attempt

    delay = delivery_attempt(delivery_id=delivery_id)
    if delay is not None:
        # Backoff lives on the row too (next_attempt_at); the sweep re-enqueues a lost retry.
        deliver.apply_async((delivery_id,), countdown=delay)


@shared_task(name="alerts.sweep", ignore_result=True)
def sweep() -> None:
    from apps.alerts import engine

    engine.sweep()
