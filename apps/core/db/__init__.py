"""Database helpers shared by the backend, the test suite and the benchmarks."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any


def database_url(settings_dict: dict[str, Any], name: str | None = None) -> str:
    """A DATABASE_URL for a connection's settings (optionally another database name on the
    same server), to hand the same database to a subprocess (a platform, a worker)."""
    name = name or settings_dict["NAME"]
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}{host}:{settings_dict.get('PORT') or 5432}/{name}"


def greatest(connection: Any) -> str:
    """The SQL name of the two-argument maximum: GREATEST on PostgreSQL, MAX on SQLite."""
    return "GREATEST" if connection.vendor == "postgresql" else "MAX"


def prepared_cursor(connection: Any) -> Any:
    """On PostgreSQL a server-side binding cursor that prepares each statement it runs once
    per connection (for hot statements whose planning costs more than their execution: the
    heartbeat's touch, the span intake's CTE); wrapped like Django's own cursors, so it is
    logged and counted the same. Elsewhere the connection's usual cursor."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    from apps.core.db.postgresql.base import PreparedCursor

    connection.ensure_connection()
    raw = PreparedCursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else (
        connection.make_cursor(raw))


def hot_writer(connection: Any) -> Any:
    """Around a hot write on SQLite outside a transaction (the fast paths' touch): in line
    with every other writer of the process (apps/core/db/sqlite3/base.py), when `serve`
    turned the queue on. PostgreSQL, or a transaction already open: nothing."""
    from apps.core.db.sqlite3.base import in_line, writer_queue_on

    if connection.vendor != "sqlite" or connection.in_atomic_block or not writer_queue_on():
        return nullcontext()
    return in_line()


def lean_sqlite(connection: Any) -> bool:
    """Whether a hot write on SQLite may skip Django's transaction and cursor wrappers
    (`sqlite_transaction`): not inside a transaction already, and not while anything watches
    the queries (a debug cursor, CaptureQueriesContext, an execute wrapper), which then sees
    them through Django's own path."""
    return (connection.vendor == "sqlite" and not connection.in_atomic_block
            and not connection.queries_logged and not connection.execute_wrappers)


_NAMED = re.compile(r"%\((\w+)\)s")
_native: dict[str, str] = {}


def sqlite_native(sql: str) -> str:
    """`%(name)s` placeholders as sqlite3's `:name` (Django converts them on every execute)."""
    native = _native.get(sql)
    if native is None:
        native = _native[sql] = _NAMED.sub(r":\1", sql).replace("%%", "%")
    return native


@contextmanager
def sqlite_transaction(connection: Any) -> Iterator[Any]:
    """A write transaction on the raw sqlite3 connection for a hot path, with what Django's
    `atomic()` would do there and nothing else: in line with the process's other writers
    (apps/core/db/sqlite3/base.py), BEGIN IMMEDIATE, COMMIT or ROLLBACK, and sqlite3's errors
    raised as Django's. `atomic()`, its autocommit switches and the cursor wrapper's
    placeholder conversion were a fifth of an embedded span event's CPU. Only where
    `lean_sqlite(connection)`; the caller runs its own after-commit work."""
    connection.ensure_connection()  # not while in line for the writer's lock
    with hot_writer(connection), connection.wrap_database_errors:
        cursor = connection.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            if connection.connection.in_transaction:  # some errors end it in SQLite already
                cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")


class _Write:
    """One thread's share of a grouped write (`sqlite_grouped`)."""

    __slots__ = ("work", "wake", "finished", "result", "error")

    def __init__(self, work: Callable[[Any], Any]) -> None:
        self.work, self.wake = work, threading.Event()
        self.finished, self.result, self.error = False, None, None


_ALONE = object()  # its group failed: the write runs again in a transaction of its own
_group_lock = threading.Lock()
_group: list[_Write] = []
_group_led = [False]


def sqlite_grouped(connection: Any, work: Callable[[Any], Any]) -> Any:
    """`work(cursor)` in a write transaction shared with the hot writes other threads are
    waiting to make (group commit), returning its result once that transaction committed.

    SQLite has one writer, and a hot write is three short statements between a BEGIN and a
    COMMIT that cost as much as the statements. So the first thread to arrive leads: it takes
    every write queued, runs them in one transaction on its connection and wakes their
    threads; writes that queue meanwhile are led next by the first of them. If the group
    fails, each write runs again alone, so one bad write never fails another. Only where
    `lean_sqlite(connection)`; `work` must only write (its thread does what follows a
    commit) and may run on another thread's connection."""
    write = _Write(work)
    with _group_lock:
        _group.append(write)
        lead = not _group_led[0]
        _group_led[0] = True
    if not lead:
        write.wake.wait()
        lead = not write.finished  # woken to lead the next group
    if lead:
        _lead(connection)
    if write.error is _ALONE:
        with sqlite_transaction(connection) as cursor:
            return work(cursor)
    if write.error is not None:
        raise write.error
    return write.result


def _lead(connection: Any) -> None:
    with _group_lock:
        batch = _group[:]
        _group.clear()
    try:
        with sqlite_transaction(connection) as cursor:
            for write in batch:
                write.result = write.work(cursor)
    except BaseException as exc:  # noqa: BLE001 - handed to the write that caused it
        for write in batch:
            write.error = exc if len(batch) == 1 else _ALONE
    finally:
        for write in batch:
            write.finished = True
            write.wake.set()
        with _group_lock:
            if _group:
                _group[0].wake.set()  # the first write that waited leads the next group
            else:
                _group_led[0] = False
