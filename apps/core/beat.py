"""Celery beat's scheduler, made to recover its broker connection by itself.

Celery's scheduler builds its producer (and the connection under it) once and reuses it for
good. After Redis went away and came back, kombu can leave that producer on a connection it
has already closed: every later send fails the same way (`'NoneType' object has no attribute
'hostname'` in the Redis transport) and nothing periodic runs again (the delivery and alert
sweeps that recover work lost with the broker included) until beat is restarted. Here a send
that fails drops the producer and its connection, so the next send builds fresh ones (waiting,
with celery's own retry log lines, while the broker is still down)."""

from __future__ import annotations

import logging
from typing import Any

from celery.beat import PersistentScheduler, SchedulingError

logger = logging.getLogger("switchboard.beat")


class Scheduler(PersistentScheduler):
    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True,
                    **kwargs: Any) -> Any:
        try:
            return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        except SchedulingError:
            self.publisher_reset()
            raise

    def publisher_reset(self) -> None:
        """Forget the producer and release its connection; both are rebuilt on next use."""
        self.__dict__.pop("producer", None)
        connection = self.__dict__.pop("connection", None)
        if connection is None:
            return
        try:
            connection.release()
        except Exception as exc:  # noqa: BLE001 - a broken connection may fail to close too
            logger.debug("beat: releasing a failed connection raised %r", exc)
