"""Celery adapters for bench runs, their schedule and endpoint liveness."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="benches.probe_endpoints", ignore_result=True)
def probe_endpoints() -> None:
    """Beat, every BENCH_PROBE_SECONDS: probe the enabled endpoints that are due."""
    from apps.benches.probe import endpoints_probe_due

    endpoints_probe_due()


@shared_task(name="benches.execute_run", ignore_result=True)
def execute_run(run_id: int) -> None:
    from apps.benches.runner import run_execute

    run_execute(run_id=run_id)


@shared_task(name="benches.schedule", ignore_result=True)
def schedule() -> None:
    from apps.benches.services import schedule_sweep

    schedule_sweep()
