"""Celery adapters for benches: take ids, call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="benches.probe_endpoints", ignore_result=True)
def probe_endpoints() -> None:
    """Beat, every BENCH_PROBE_SECONDS: probe the enabled endpoints that are due."""
    from apps.benches.probe import endpoints_probe_due

    endpoints_probe_due()
