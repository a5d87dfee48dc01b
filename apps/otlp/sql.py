"""Rows handed to a set-based INSERT, as the OTLP writers build them (apps/otlp/store.py,
apps/otlp/metric_usage.py)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection


def rows_source(rows: list[dict[str, Any]], columns: list[tuple[str, str]],
                constants: list[tuple[Any, str]]) -> tuple[str, list[Any]]:
    """The rows to insert: `constants` then `columns` (name, PostgreSQL type) of each row.

    PostgreSQL: `SELECT … FROM jsonb_to_recordset(%s)` — one parameter whatever the batch
    size (a VALUES list of thousands of placeholders costs more to send and to parse than the
    insert itself). SQLite: a multi-row VALUES (INSERT … VALUES takes the target columns'
    types)."""
    if connection.vendor == "postgresql":
        head = [f"%s::{kind}" for _, kind in constants] + [f"x.{c}" for c, _ in columns]
        unique = dict(columns)
        shape = ", ".join(f"{c} {kind}" for c, kind in unique.items())
        data = json.dumps([{c: as_json(row[c]) for c in unique} for row in rows], default=str)
        return (f"SELECT {', '.join(head)} FROM jsonb_to_recordset(%s::jsonb) AS x({shape})",
                [*(v for v, _ in constants), data])
    params: list[Any] = []
    for row in rows:
        params.extend(v for v, _ in constants)
        params.extend(for_sqlite(row[c]) for c, _ in columns)
    one = "(" + ", ".join(["%s"] * (len(constants) + len(columns))) + ")"
    return "VALUES " + ", ".join([one] * len(rows)), params


def as_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def for_sqlite(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    if isinstance(value, datetime):
        return adapt_dt(value)
    if isinstance(value, Decimal):
        return adapt_dec(value)
    return value


def adapt_dt(value: datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(value) if value is not None else None


def adapt_dec(value: Decimal | None) -> Any:
    return connection.ops.adapt_decimalfield_value(value, 14, 8) if value is not None else None
