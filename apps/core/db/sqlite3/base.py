"""Django's SQLite backend with one writer at a time per process, in line.

SQLite lets one writer in; every other connection that wants to write polls with sleeps of up
to 100 ms (its busy handler) until the lock is free. In `make run` the HTTP threads, the
embedded Celery worker and beat all write to one file, and under a burst those sleeps were
most of the latency (and, past `timeout`, "database is locked"). Here a write transaction
(`BEGIN IMMEDIATE`, every `transaction.atomic` block) first takes a process-wide lock and holds
it until COMMIT or ROLLBACK, so writers queue in the process and each starts the moment the
one before it is done. The fast paths' single statements take the same lock
(`apps.core.db.hot_writer`).

The lock is on only when `manage.py serve` turns it on (`enable_writer_queue()`): a test that
holds a transaction for its whole length must not make other threads wait. A writer waits at
most WRITER_WAIT seconds for it, then goes on to SQLite's own lock as before; another process
writing to the same file (a `manage.py` command) meets SQLite's lock as before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.sqlite3 import base

WRITER_WAIT = 5.0
writer_lock = threading.RLock()
_queue = {"on": False}


def enable_writer_queue(on: bool = True) -> None:
    _queue["on"] = on


def writer_queue_on() -> bool:
    return _queue["on"]


@contextmanager
def in_line() -> Iterator[None]:
    """One write outside a transaction, in line with the process's other writers; like a
    transaction it waits at most WRITER_WAIT, then meets SQLite's own lock."""
    acquired = writer_lock.acquire(timeout=WRITER_WAIT)
    try:
        yield
    finally:
        if acquired:
            writer_lock.release()


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_writer = False

    def _start_transaction_under_autocommit(self) -> None:
        if _queue["on"] and not self._holds_writer:
            self._holds_writer = writer_lock.acquire(timeout=WRITER_WAIT)
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer()
            raise

    def _release_writer(self) -> None:
        if self._holds_writer:
            self._holds_writer = False
            writer_lock.release()

    def _commit(self) -> Any:
        try:
            return super()._commit()
        finally:
            self._release_writer()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()
        finally:
            self._release_writer()

    def _close(self) -> Any:
        try:
            return super()._close()
        finally:
            self._release_writer()
