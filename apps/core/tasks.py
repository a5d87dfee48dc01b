from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from apps.core.models import ServiceBeat


def _beat(name: str, **detail: object) -> None:
    ServiceBeat.objects.update_or_create(
        name=name,
        defaults={"last_seen_at": timezone.now(), "detail": {"host": socket.gethostname(), **detail}},
    )


@shared_task(name="core.beat_tick", ignore_result=True)
def beat_tick() -> None:
    """Periodic: proves beat schedules and a worker runs them."""
    _beat("beat")


@shared_task(name="core.ping_worker", ignore_result=True)
def ping_worker(requested_by: str = "") -> None:
    """On demand: proves a worker picks up enqueued work."""
    _beat("worker", requested_by=requested_by)
