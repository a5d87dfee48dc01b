"""The embedded mode: a Celery worker and beat inside the server process.

start_worker (celery.contrib.testing) runs a real WorkController on a thread pool; beat's
Service runs in a thread. Both go through the embedded broker (kombu's filesystem transport in
the data dir; see CELERY_BROKER_URL in settings for why not memory://).
"""

from __future__ import annotations

import logging
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
        self._worker_cm.__enter__()
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
