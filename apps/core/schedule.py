"""Apps add their Celery beat entries here from AppConfig.ready()."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings


def add_periodic(name: str, task: str, every: float | timedelta, **options: Any) -> None:
    seconds = every.total_seconds() if isinstance(every, timedelta) else float(every)
    settings.CELERY_BEAT_SCHEDULE[name] = {"task": task, "schedule": seconds, **options}
    from config.celery import app

    app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), name: settings.CELERY_BEAT_SCHEDULE[name]}
