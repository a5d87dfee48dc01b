"""The hooks into the event spine. Both decide for free (an in-process rule cache) whether an
event could matter to a rule:

- `record_pending` runs inside the event's transaction and writes a PendingEvaluation row, so
  no committed event is ever missed;
- `on_event` runs after commit and makes sure a drain task runs after it (`schedule_drain`:
  with Redis at most one on its way per queue, otherwise debounced per process), so a burst
  of events becomes a few batches instead of a task each.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache

from apps.alerts import rules

logger = logging.getLogger(__name__)
# A drain task is on its way while this flag is set; it expires on its own, so a lost task
# costs at most this long (the periodic sweep drains too).
DRAIN_FLAG_SECONDS = 10


def wanted(kind: str) -> bool:
    return settings.ALERTS_ENABLED and rules.is_interesting(kind)


def record_pending(event_id: int, kind: str, project_id: int, agent_id: int | None) -> None:
    if wanted(kind):
        from apps.alerts.models import PendingEvaluation

        PendingEvaluation.objects.create(event_id=event_id)


def record_pending_bulk(project_id: int, created: list[tuple[int, str, int | None]]) -> None:
    """Events of a POST /events batch: one INSERT for those a rule may watch, one drain."""
    if not settings.ALERTS_ENABLED:
        return
    wanted = [event_id for event_id, kind, _ in created if rules.is_interesting(kind)]
    if wanted:
        from django.db import transaction

        from apps.alerts.models import PendingEvaluation

        PendingEvaluation.objects.bulk_create([PendingEvaluation(event_id=i) for i in wanted])
        transaction.on_commit(schedule_drain)


def on_event(event_id: int, kind: str, project_id: int, agent_id: int | None) -> None:
    if wanted(kind):
        schedule_drain()


def drain_flag() -> str:
    return f"alerts:drain-scheduled:{settings.CELERY_TASK_DEFAULT_QUEUE}"


def schedule_drain(*, force: bool = False) -> None:
    """Make sure a drain runs after this moment.

    With Redis (a cache every process shares): enqueue one unless one is already on its way;
    the task clears the flag when it starts, so events committed while it runs schedule the
    next one. With a per-process cache a separate worker could not clear the flag, so each
    process debounces on its own: the first event of a DEBOUNCE_SECONDS window enqueues a
    drain at once, later ones in the window one more drain at the window's end (which then
    runs after all of them committed)."""
    from apps.alerts.tasks import drain
    from apps.core.queueing import enqueue

    why = "the periodic alerts sweep"  # PendingEvaluation rows are committed: nothing is lost
    if force:
        enqueue(drain, recovered_by=why)
    elif shared_cache():
        try:
            first = cache.add(drain_flag(), 1, timeout=DRAIN_FLAG_SECONDS)
        except Exception:  # noqa: BLE001 - Redis is down: the broker is too, most likely
            first = True
        if first:
            enqueue(drain, recovered_by=why)
    else:
        countdown = _debounce.next_countdown()
        if countdown is not None:
            enqueue(drain, recovered_by=why, countdown=countdown)


DEBOUNCE_SECONDS = 0.25


class _Debounce:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.window_ends = 0.0  # the first event at or after this time opens a new window
        self.trailing = 0.0  # the window end a trailing drain is scheduled for

    def next_countdown(self) -> float | None:
        """0: enqueue now; a number: enqueue with that countdown; None: already covered."""
        now = time.monotonic()
        with self.lock:
            if now >= self.window_ends:
                self.window_ends = now + DEBOUNCE_SECONDS
                return 0
            if self.trailing < self.window_ends:
                self.trailing = self.window_ends
                return self.window_ends - now
            return None


_debounce = _Debounce()


def shared_cache() -> bool:
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    return isinstance(caches["default"], RedisCache)
