"""Celery adapters: take ids, call the engine or dispatch, schedule retries."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="alerts.evaluate_event", ignore_result=True)
def evaluate_event(event_id: int, kind: str | None = None, project_id: int | None = None) -> None:
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
