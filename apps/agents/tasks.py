"""Celery beat sweeps of the lifecycle engine. Thin: the rules live in lifecycle.py."""

from __future__ import annotations

from celery import shared_task

from apps.agents import lifecycle


@shared_task(name="agents.sweep_idle", ignore_result=True)
def sweep_idle() -> int:
    return lifecycle.sweep_idle()


@shared_task(name="agents.sweep_offline", ignore_result=True)
def sweep_offline() -> int:
    return lifecycle.sweep_offline()


@shared_task(name="agents.sweep_sleep_windows", ignore_result=True)
def sweep_sleep_windows() -> int:
    return lifecycle.sweep_sleep_windows()
