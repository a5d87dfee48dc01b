"""The embedded mode: a Celery worker and beat inside the server process.

start_worker (celery.contrib.testing) runs a real WorkController on a thread pool; beat's
Service runs in a thread. Both go through the embedded broker (kombu's filesystem transport in
the data dir; see CELERY_BROKER_URL in settings for why not memory://).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import AbstractContextManager
from typing import Any

from celery.beat import Service
from celery.contrib.testing.worker import start_worker
from django.conf import settings

logger = logging.getLogger(__name__)


class EmbeddedCelery:
    def __init__(self, *, concurrency: int = 4, with_beat: bool = True) -> None:
        self.concurrency = concurrency
        self.with_beat = with_beat
        self._worker_cm: AbstractContextManager[Any] | None = None
        self._beat: Service | None = None
        self._beat_thread: threading.Thread | None = None

    def start(self) -> None:
        from config.celery import app

        self._worker_cm = start_worker(
            app,
            concurrency=self.concurrency,
            pool="threads",
            loglevel="WARNING",
            perform_ping_check=False,
            shutdown_timeout=10,
        )
        worker = self._worker_cm.__enter__()
        # `kill -USR2 <pid>`: what the embedded worker holds, to tell a stall from idleness.
        signal.signal(signal.SIGUSR2, lambda *_: _log_worker_state(worker))
        if self.with_beat:
            self._beat = Service(
                app=app,
                schedule_filename=settings.CELERY_BEAT_SCHEDULE_FILENAME,
                max_interval=5,
            )
            self._beat_thread = threading.Thread(
                target=self._beat.start, name="celery-beat", daemon=True
            )
            self._beat_thread.start()
        logger.info("embedded Celery worker (%s threads) and beat started", self.concurrency)

    def stop(self) -> None:
        if self._beat is not None:
            self._beat.stop()
        if self._worker_cm is not None:
            try:
                self._worker_cm.__exit__(None, None, None)
            except RuntimeError:
                logger.warning("embedded worker did not stop in time")


def _log_worker_state(worker: Any) -> None:
    from celery.worker import state

    consumer = worker.consumer
    lines = [
        f"embedded worker: qos={consumer.qos.value} "
        f"reserved={[r.name for r in state.reserved_requests]} "
        f"active={[r.name for r in state.active_requests]}"
    ]
    try:
        channel = consumer.task_consumer.channel
        delivered = getattr(channel.qos, "_delivered", {})
        lines.append(
            f"embedded broker channel: delivered-unacked={len(delivered)} "
            f"tasks={[(m.headers or {}).get('task') for m in list(delivered.values())[:20]]} "
            f"prefetch={channel.qos.prefetch_count}"
        )
    except Exception as exc:  # diagnostics must never raise
        lines.append(f"embedded broker channel: unavailable ({exc!r})")
    print("\n".join(lines), file=sys.stderr, flush=True)
