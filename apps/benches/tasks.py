"""Celery adapters for bench runs and their schedule."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="benches.execute_run", ignore_result=True)
def execute_run(run_id: int) -> None:
    from apps.benches.runner import run_execute

    run_execute(run_id=run_id)


@shared_task(name="benches.schedule", ignore_result=True)
def schedule() -> None:
    from apps.benches.services import schedule_sweep

    schedule_sweep()
