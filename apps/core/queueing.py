"""Enqueue a Celery task from a request without letting a dead broker fail that request.

Every task enqueued this way is one a periodic sweep also covers (the write it follows is
already committed: PendingEvaluation rows, stored webhook deliveries, pending notification
deliveries), so when Redis is down the request still answers 2xx and the work runs once the
broker is back. The warning is logged once per task name per minute, not once per request."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

logger = logging.getLogger("switchboard.queueing")
WARN_EVERY_SECONDS = 60.0
_warned: dict[str, float] = {}
_lock = threading.Lock()


def enqueue(task: Any, *args: Any, recovered_by: str, countdown: float | None = None) -> bool:
    """True when the broker took the task; False (logged, rate-limited) when it did not."""
    try:
        if countdown:
            task.apply_async(args=args, countdown=countdown)
        else:
            task.delay(*args)
        return True
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweep recovers the work
        name = getattr(task, "name", repr(task))
        warn_now_and_then(logger, name, "could not enqueue %s (%s: %s); %s will do it once the "
                          "broker is back", name, exc.__class__.__name__, exc, recovered_by)
        return False


def warn_now_and_then(log: logging.Logger, key: str, message: str, *args: Any) -> None:
    """One warning per `key` per WARN_EVERY_SECONDS: an outage is news once, not per request."""
    now = time.monotonic()
    with _lock:
        if now - _warned.get(key, -WARN_EVERY_SECONDS) < WARN_EVERY_SECONDS:
            return
        _warned[key] = now
    log.warning(message, *args)
