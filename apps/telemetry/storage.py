"""What retention keeps, for the owners' System page: per kind, its window, how many rows it
has, the space they take and the age of the oldest one.

A constant number of queries whatever the data: one for the sizes (two on SQLite) and one for
the oldest rows, each a single statement over every table. PostgreSQL's row counts are the
planner's estimates (`pg_class.reltuples`, refreshed by autovacuum and ANALYZE) and its sizes
`pg_total_relation_size` (table, indexes and TOAST); the rollup tables are split by grain with
the column statistics of `grain`. SQLite counts rows exactly (COUNT(*), a read of the table)
and sizes them with the `dbstat` table where SQLite was built with it. The oldest row is found
through an index: the lowest id (ids follow the time a row was stored), the lowest
`received_at` or `started_at`, or the lowest bucket start of a grain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import DatabaseError, connection
from django.db.models import Model

from apps.agents.models import AgentEvent, ToolSpan
from apps.alerts.models import Delivery, Notification
from apps.benches.models import Run, RunLevel, Sample
from apps.linear.models import SyncRun, WebhookDelivery
from apps.telemetry.models import RETENTION_KINDS, RetentionPolicy, TokenUsage, Watermark
from apps.telemetry.retention import PAYLOAD_MARK, ROLLUP_GRAINS, ROLLUP_MODELS

# The tables each kind lives in (span payloads live in the spans' table).
TABLES: dict[str, tuple[type[Model], ...]] = {
    "events": (AgentEvent,),
    "spans": (ToolSpan,),
    "span_payloads": (),
    "usage": (TokenUsage,),
    "notifications": (Notification, Delivery),
    "webhooks": (WebhookDelivery,),
    "sync_runs": (SyncRun,),
    "bench_samples": (Sample,),
    **{key: ROLLUP_MODELS for key in ROLLUP_GRAINS},
}


@dataclass
class StorageRow:
    key: str
    label: str
    about: str
    days: int  # the window in force; 0: forever
    own: bool  # set by an owner (else the server's setting)
    rows: int | None  # None: not known (PostgreSQL has not estimated it yet)
    estimated: bool
    size_bytes: int | None
    oldest: datetime | None

    @property
    def size_mb(self) -> float | None:
        return None if self.size_bytes is None else self.size_bytes / 1024 / 1024

    @property
    def shared(self) -> bool:
        """Stored in another kind's table (span payloads)."""
        return not TABLES[self.key]


@dataclass
class _Table:
    rows: float | None = None
    size: int | None = None
    by_grain: dict[int, float] | None = None  # rollups: share (PostgreSQL) or count (SQLite)


def _as_datetime(value: datetime | str) -> datetime:
    """SQLite hands timestamps back as text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _t(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _tables() -> list[type[Model]]:
    return list(dict.fromkeys(m for models in TABLES.values() for m in models))


def _postgres_stats() -> dict[str, _Table]:
    names = [m._meta.db_table for m in _tables()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.reltuples, pg_total_relation_size(c.oid), "
            "s.most_common_vals::text, s.most_common_freqs "
            "FROM pg_class c LEFT JOIN pg_stats s ON s.schemaname = current_schema() "
            "AND s.tablename = c.relname AND s.attname = 'grain' "
            "WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)",
            [names],
        )
        rows = cursor.fetchall()
    stats = {}
    for name, tuples, size, grains, shares in rows:
        table = _Table(rows=tuples if tuples >= 0 else None, size=size)
        if grains and shares:
            values = [int(v) for v in grains.strip("{}").split(",")]
            table.by_grain = dict(zip(values, shares, strict=False))
        stats[name] = table
    return stats


def _sqlite_stats() -> dict[str, _Table]:
    parts = []
    for model in _tables():
        if model in ROLLUP_MODELS:
            parts.append(f"SELECT '{model._meta.db_table}', grain, COUNT(*) FROM {_t(model)} "
                         "GROUP BY grain")
        else:
            parts.append(f"SELECT '{model._meta.db_table}', NULL, COUNT(*) FROM {_t(model)}")
    stats: dict[str, _Table] = {m._meta.db_table: _Table(rows=0) for m in _tables()}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts))
        for name, grain, count in cursor.fetchall():
            table = stats[name]
            table.rows = (table.rows or 0) + count
            if grain is not None:
                table.by_grain = {**(table.by_grain or {}), grain: count}
        names = ", ".join(f"'{name}'" for name in stats)
        try:  # every b-tree of the table: its rows and its indexes
            cursor.execute(
                "SELECT m.tbl_name, SUM(d.pgsize) FROM sqlite_master m "
                "JOIN dbstat d ON d.name = m.name AND d.aggregate = 1 "
                f"WHERE m.tbl_name IN ({names}) GROUP BY m.tbl_name"
            )
        except DatabaseError:  # SQLite built without dbstat: no sizes
            return stats
        for name, size in cursor.fetchall():
            stats[name].size = size
    return stats


def _oldest() -> dict[str, datetime | None]:
    def lowest_id(model: type[Model], where: str = "") -> str:
        return f"(SELECT created_at FROM {_t(model)} {where} ORDER BY id LIMIT 1)"

    def earliest(model: type[Model], column: str) -> str:
        return f"(SELECT MIN({column}) FROM {_t(model)})"

    def bucket(grain: int) -> str:
        parts = " UNION ALL ".join(f"SELECT MIN(start) AS s FROM {_t(m)} WHERE grain = {grain}"
                                   for m in ROLLUP_MODELS)
        return f"(SELECT MIN(s) FROM ({parts}) b)"

    payloads = (f"WHERE id > COALESCE((SELECT position FROM {_t(Watermark)} WHERE name = %s), 0)"
                " AND (input <> '' OR output <> '')")
    queries = {
        "events": lowest_id(AgentEvent),
        "spans": lowest_id(ToolSpan),
        "span_payloads": lowest_id(ToolSpan, payloads),
        "usage": lowest_id(TokenUsage),
        "notifications": lowest_id(Notification),
        "webhooks": earliest(WebhookDelivery, "received_at"),
        "sync_runs": earliest(SyncRun, "started_at"),
        "bench_samples": (f"(SELECT MIN(r.finished_at) FROM {_t(Run)} r JOIN {_t(RunLevel)} l "
                          f"ON l.run_id = r.id WHERE EXISTS (SELECT 1 FROM {_t(Sample)} s "
                          "WHERE s.level_id = l.id))"),
        **{key: bucket(grain) for key, grain in ROLLUP_GRAINS.items()},
    }
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f"SELECT '{key}', {sql}" for key, sql in queries.items()),
                       [PAYLOAD_MARK])
        return {key: _as_datetime(value) if value is not None else None
                for key, value in cursor.fetchall()}


def storage_overview(policy: RetentionPolicy | None) -> list[StorageRow]:
    """One row per retention kind, in RETENTION_KINDS order. `policy` is the owner's row
    (None when never saved)."""
    windows = RetentionPolicy.windows_of(policy)
    postgres = connection.vendor == "postgresql"
    stats = _postgres_stats() if postgres else _sqlite_stats()
    oldest = _oldest()
    result = []
    for kind in RETENTION_KINDS:
        rows: float | None = 0.0
        size: float | None = 0.0
        grain = ROLLUP_GRAINS.get(kind.key)
        for model in TABLES[kind.key]:
            table = stats.get(model._meta.db_table, _Table())
            part_rows, part_size = table.rows, table.size
            if grain is not None:  # this grain's part of the rollup table
                if table.by_grain is None:
                    part_rows = part_size = None if table.rows else 0
                elif postgres:
                    share = table.by_grain.get(grain, 0.0)
                    part_rows = None if table.rows is None else table.rows * share
                    part_size = None if table.size is None else table.size * share
                else:
                    part_rows = table.by_grain.get(grain, 0)
                    total = sum(table.by_grain.values())
                    part_size = None if table.size is None else table.size * part_rows / total
            rows = None if rows is None or part_rows is None else rows + part_rows
            size = None if size is None or part_size is None else size + part_size
        shared = not TABLES[kind.key]
        result.append(StorageRow(
            key=kind.key, label=kind.label, about=kind.about, days=windows[kind.key],
            own=policy is not None and getattr(policy, RetentionPolicy.field_name(kind.key))
            is not None,
            rows=None if shared or rows is None else round(rows), estimated=postgres,
            size_bytes=None if shared or size is None else round(size),
            oldest=oldest.get(kind.key),
        ))
    return result

