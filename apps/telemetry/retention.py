"""Retention: rows older than their kind's window are deleted (span input and output emptied),
a few thousand at a time, so the database stays the size of the recent past while the
rollups keep the history.

How it stays out of ingestion's way:

- **Small chunks, short transactions.** Each chunk is one transaction over at most CHUNK rows
  picked by primary key: the next CHUNK ids above where the last chunk ended, cut before the
  first row still inside the window (ids follow the time a row was stored, so the rows to
  delete are the lowest ids). A chunk never scans the rows it keeps, and the last one of a
  run stops at the first young row instead of reading the table to its end (a row stored out
  of order, younger than one above it, holds the older ones back until it ages). Rollups are
  deleted by their (grain, start) index, `id IN (SELECT id … LIMIT CHUNK)`.
- **Pauses and a budget.** The beat task sleeps between chunks (SQLite has one writer: every
  heartbeat waits for a chunk in progress) and stops after a time budget, leaving the rest to
  the next run.
- **Two runs at once** (beat and `manage.py telemetry retention`) take turns chunk by chunk:
  on PostgreSQL each chunk holds a transaction-level advisory lock, on SQLite the write lock.

What it never deletes:

- an event the event rollup has not counted yet (`id > Watermark("events").position`);
- a token usage row changed since the usage rollup last read (`updated_at >
  Watermark("usage").at`); the usage rollup in turn never rebuilds an hour whose raw rows
  retention may have deleted (`rollups.usage_rebuild_floor`);
- anything younger than its window: every statement checks the row's own time again.

Ages: raw rows by the time they were stored (`created_at`, which the primary key follows;
for a span that is when its start was reported, for token usage also its call time `ts`),
Linear webhooks by `received_at`, sync runs by `started_at`, rollups by their bucket start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from apps.agents.models import AgentEvent, ToolSpan
from apps.alerts.models import Delivery, DeliveryState, Notification
from apps.benches.models import Run, RunLevel, Sample
from apps.linear.models import DeliveryStatus, SyncRun, SyncStatus, WebhookDelivery
from apps.telemetry.models import (
    RETENTION_KEYS,
    EventRollup,
    Grain,
    RetentionPolicy,
    SpanRollup,
    StatusRollup,
    TokenUsage,
    UsageRollup,
    Watermark,
)

CHUNK = 5_000  # rows per transaction
# Seconds between chunks, for the beat task and the command alike. A chunk of 5,000 events
# takes ~7 ms on PostgreSQL; back to back, heartbeat p99 rose 1.7-2x on 2 cores, with these
# pauses 0.85-1.7x, at ~70,000 rows/s (benchmarks/retention.py). On SQLite every writer waits
# for a chunk in progress, so the pauses matter more there.
PAUSE = 0.05
ROLLUP_MODELS: tuple[type[Model], ...] = (EventRollup, SpanRollup, UsageRollup, StatusRollup)
ROLLUP_GRAINS = {"rollups_5m": Grain.FIVE_MINUTES, "rollups_1h": Grain.HOUR,
                 "rollups_1d": Grain.DAY}
PAYLOAD_MARK = "retention.span_payloads"  # the highest span id whose input/output is emptied
_LOCK = 0x5B_7E7E  # advisory lock key: one retention chunk at a time


@dataclass
class Outcome:
    """Rows deleted per kind (`span_payloads`: spans emptied; `deliveries`: the notifications'
    deliveries, deleted with them), whether the budget ran out first, and the windows used."""

    changed: dict[str, int] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=dict)
    behind: bool = False
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.changed.values())


class _OutOfTime(Exception):
    pass


class _Run:
    def __init__(self, now: datetime, budget: float | None, pause: float) -> None:
        self.now, self.budget, self.pause = now, budget, pause
        self.began = time.monotonic()
        self.outcome = Outcome(changed={key: 0 for key in (*RETENTION_KEYS, "deliveries")})
        self.key = ""  # the kind being worked on
        self.wrote = False  # the last chunk changed rows

    def count(self, rows: int, key: str = "") -> None:
        """After a chunk committed: so a run stopped by its budget still reports it."""
        self.outcome.changed[key or self.key] += rows
        self.wrote = self.wrote or rows > 0

    def chunk(self) -> None:
        """Call before each chunk. After one that wrote: stop if the budget is spent (a run
        always gets one chunk of work done), else sleep `pause` to let other writers in."""
        if self.wrote:
            if self.budget is not None and time.monotonic() - self.began > self.budget:
                raise _OutOfTime
            if self.pause:
                time.sleep(self.pause)
        self.wrote = False


def _t(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _dt(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


def _lock() -> None:
    """Inside a chunk's transaction: wait for another run's chunk to commit first."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s::bigint)", [_LOCK])


def _execute(sql: str, params: list[object]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _next_range(model: type[Model], age: str, lo: int, cutoff: datetime,
                upper: int | None = None) -> tuple[int, bool] | None:
    """The next chunk above id `lo` of rows older than `cutoff` (ids at most `upper`):
    `(hi, last)`, to change the rows with ids in (lo, hi]; `last` when what follows is young
    or nothing. None when the first row above `lo` is already young."""
    bound, params = ("AND id <= %s", [upper]) if upper is not None else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MAX(id), COUNT(*), MIN(CASE WHEN {age} >= %s THEN id END) FROM ("
            f"SELECT id, {age} FROM {_t(model)} WHERE id > %s {bound} ORDER BY id LIMIT %s) c",
            [_dt(cutoff), lo, *params, CHUNK],
        )
        top, count, first_young = cursor.fetchone()
    if not count:
        return None
    if first_young is not None:
        return (first_young - 1, True) if first_young - 1 > lo else None
    return top, count < CHUNK


def _walk(run: _Run, model: type[Model], age: str, cutoff: datetime,
          change: Callable[[int, int], int], *, upper: int | None = None,
          position: Callable[[], int] | None = None,
          moved: Callable[[int], None] | None = None) -> None:
    """Change (delete, empty) the old rows chunk by chunk in id order: `change(lo, hi)` runs
    inside the chunk's transaction and returns the rows it changed. With `position`, start
    where it says (read under the lock, so two runs take turns) and `moved(hi)` after each
    chunk, in the same transaction."""
    lo = 0
    while True:
        run.chunk()
        with transaction.atomic():
            _lock()
            if position is not None:
                lo = position()
            found = _next_range(model, age, lo, cutoff, upper)
            if found is None:
                return
            hi, last = found
            rows = change(lo, hi)
            if moved is not None:
                moved(hi)
        run.count(rows)
        lo = hi
        if last:
            return


# --- one function per kind --------------------------------------------------------------
def _events(run: _Run, cutoff: datetime) -> None:
    counted = Watermark.objects.filter(name="events").values_list("position", flat=True).first()
    if not counted:
        return
    sql = f"DELETE FROM {_t(AgentEvent)} WHERE id > %s AND id <= %s AND created_at < %s"
    _walk(run, AgentEvent, "created_at", cutoff,
          lambda lo, hi: _execute(sql, [lo, hi, _dt(cutoff)]), upper=counted)


def _spans(run: _Run, cutoff: datetime) -> None:
    sql = f"DELETE FROM {_t(ToolSpan)} WHERE id > %s AND id <= %s AND created_at < %s"
    _walk(run, ToolSpan, "created_at", cutoff, lambda lo, hi: _execute(sql, [lo, hi, _dt(cutoff)]))


def _payload_position() -> int:
    marks = Watermark.objects.filter(name=PAYLOAD_MARK)
    return marks.values_list("position", flat=True).first() or 0


def _span_payloads(run: _Run, cutoff: datetime) -> None:
    """Empty `input` and `output` (their sizes stay) of spans older than the cutoff, from where
    the last run stopped (a watermark), so old, already emptied spans are never read again."""
    Watermark.objects.get_or_create(name=PAYLOAD_MARK)
    sql = (f"UPDATE {_t(ToolSpan)} SET input = '', output = '' WHERE id > %s AND id <= %s "
           "AND created_at < %s AND (input <> '' OR output <> '')")

    def moved(hi: int) -> None:
        Watermark.objects.filter(name=PAYLOAD_MARK).update(position=hi, updated_at=run.now)

    _walk(run, ToolSpan, "created_at", cutoff, lambda lo, hi: _execute(sql, [lo, hi, _dt(cutoff)]),
          position=_payload_position, moved=moved)


def _usage(run: _Run, cutoff: datetime) -> None:
    read_until = Watermark.objects.filter(name="usage").values_list("at", flat=True).first()
    if read_until is None:
        return
    sql = (f"DELETE FROM {_t(TokenUsage)} WHERE id > %s AND id <= %s AND created_at < %s "
           "AND ts < %s AND updated_at <= %s")
    _walk(run, TokenUsage, "created_at", cutoff, lambda lo, hi: _execute(
        sql, [lo, hi, _dt(cutoff), _dt(cutoff), _dt(read_until)]))


def _notifications(run: _Run, cutoff: datetime) -> None:
    """Notifications with their deliveries; one still being delivered stays."""
    n, d = _t(Notification), _t(Delivery)
    busy = ", ".join(f"'{s}'" for s in (DeliveryState.PENDING, DeliveryState.RETRYING))
    chosen = (f"SELECT n.id FROM {n} n WHERE n.id > %s AND n.id <= %s AND n.created_at < %s "
              f"AND NOT EXISTS (SELECT 1 FROM {d} d WHERE d.notification_id = n.id "
              f"AND d.state IN ({busy}))")

    def change(lo: int, hi: int) -> int:
        params = [lo, hi, _dt(cutoff)]
        # Held-back messages point at the message that summarised them (SET_NULL).
        _execute(f"UPDATE {n} SET summarised_in_id = NULL WHERE summarised_in_id IN ({chosen})",
                 params)
        # Counted before the commit: only an error stops a run inside a chunk, and then the
        # run reports nothing at all.
        run.count(_execute(f"DELETE FROM {d} WHERE notification_id IN ({chosen})", params),
                  "deliveries")
        return _execute(f"DELETE FROM {n} WHERE id IN ({chosen})", params)

    _walk(run, Notification, "created_at", cutoff, change)


def _webhooks(run: _Run, cutoff: datetime) -> None:
    sql = (f"DELETE FROM {_t(WebhookDelivery)} WHERE id > %s AND id <= %s "
           f"AND received_at < %s AND status <> '{DeliveryStatus.RECEIVED}'")
    _walk(run, WebhookDelivery, "received_at", cutoff,
          lambda lo, hi: _execute(sql, [lo, hi, _dt(cutoff)]))


def _sync_runs(run: _Run, cutoff: datetime) -> None:
    """Finished runs; the newest of each kind stays (the Linear page shows the last sync)."""
    s = _t(SyncRun)
    done = ", ".join(f"'{x}'" for x in (SyncStatus.OK, SyncStatus.FAILED))
    sql = (f"DELETE FROM {s} WHERE id > %s AND id <= %s AND started_at < %s "
           f"AND status IN ({done}) AND id NOT IN (SELECT MAX(id) FROM {s} GROUP BY kind)")
    _walk(run, SyncRun, "started_at", cutoff, lambda lo, hi: _execute(sql, [lo, hi, _dt(cutoff)]))


def _bench_samples(run: _Run, cutoff: datetime) -> None:
    """Raw samples of bench runs that ended before the cutoff; the levels' figures stay, so
    the run page, history and regressions keep working."""
    sample, level, bench = _t(Sample), _t(RunLevel), _t(Run)
    sql = (f"DELETE FROM {sample} WHERE id IN (SELECT s.id FROM {sample} s "
           f"JOIN {level} l ON l.id = s.level_id JOIN {bench} r ON r.id = l.run_id "
           "WHERE r.finished_at < %s LIMIT %s)")
    while True:
        run.chunk()
        with transaction.atomic():
            _lock()
            rows = _execute(sql, [_dt(cutoff), CHUNK])
        run.count(rows)
        if rows < CHUNK:
            break


def _rollups(run: _Run, cutoff: datetime, grain: int) -> None:
    for model in ROLLUP_MODELS:
        t = _t(model)
        sql = (f"DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE grain = %s "
               "AND start < %s LIMIT %s)")
        while True:
            run.chunk()
            with transaction.atomic():
                _lock()
                rows = _execute(sql, [grain, _dt(cutoff), CHUNK])
            run.count(rows)
            if rows < CHUNK:
                break


# --- all of it ------------------------------------------------------------------------------
STEPS: dict[str, Callable[..., None]] = {
    "spans": _spans,  # before emptying payloads: no work on spans about to go
    "span_payloads": _span_payloads,
    "events": _events,
    "usage": _usage,
    "notifications": _notifications,
    "webhooks": _webhooks,
    "sync_runs": _sync_runs,
    "bench_samples": _bench_samples,
    **{key: (lambda run, cutoff, grain=grain: _rollups(run, cutoff, grain))
       for key, grain in ROLLUP_GRAINS.items()},
}


def apply_retention(*, now: datetime | None = None, budget: float | None = None,
                    pause: float = 0.0) -> Outcome:
    """Delete (or empty) what is older than each kind's window, once. With a `budget` in
    seconds, stop after it and say so (`behind`); the next run goes on where this one stopped.
    `pause` seconds are slept between chunks."""
    run = _Run(now or timezone.now(), budget, pause)
    run.outcome.windows = RetentionPolicy.windows()
    try:
        for key, step in STEPS.items():
            days = run.outcome.windows[key]
            if days:
                run.key = key
                step(run, run.now - timedelta(days=days))
    except _OutOfTime:
        run.outcome.behind = True
    run.outcome.seconds = time.monotonic() - run.began
    return run.outcome
