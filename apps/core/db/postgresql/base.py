"""Django's PostgreSQL backend with a health check that costs no round trip.

CONN_HEALTH_CHECKS makes Django call `is_usable()` before the first query of every request on
a persistent connection; the stock check is `SELECT 1`, one extra round trip per request (a
sixth of a heartbeat's server time). A connection that PostgreSQL closed (restart,
`pg_terminate_backend`, idle timeout) has a readable socket while we think it is idle: the
server's FATAL message or the EOF. So: a connection that psycopg knows is fine and whose socket
has nothing to read is usable; anything else falls back to the stock `SELECT 1`.

It also lets a cursor ask for a prepared statement (`execute(..., prepare=True)`, used by the
heartbeat's UPDATE): Django sets psycopg's prepare_threshold to None, which refuses even an
explicit request; here it is a threshold never reached, so nothing is prepared unless asked.
Set OPTIONS["prepare_threshold"] yourself to change that.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq

ONLY_WHEN_ASKED = 2**31 - 1


class PreparedCursor(psycopg.Cursor):
    """A server-side binding cursor that prepares every statement it runs (once per
    connection). For hot statements only: wrap it with the connection's make_cursor()."""

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = True,
                binary: bool | None = None) -> Any:
        return super().execute(query, params, prepare=prepare, binary=binary)


class DatabaseOperations(base.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):  # type: ignore[no-untyped-def]
        # A prepared statement leaves no query text on the cursor; log the SQL as written.
        return super().last_executed_query(cursor, sql, params) or sql


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_connection_params(self) -> dict:
        params = super().get_connection_params()
        if params.get("prepare_threshold") is None and "prepare_threshold" not in (
            self.settings_dict.get("OPTIONS") or {}
        ):
            params["prepare_threshold"] = ONLY_WHEN_ASKED
        return params

    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        try:
            idle = conn.pgconn.transaction_status == pq.TransactionStatus.IDLE
            readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
        except (OSError, ValueError, base.Database.Error):
            return False
        if idle and not readable:
            return True
        return super().is_usable()
