"""Rollups: raw events and token usage summed into 5-minute, hourly and daily buckets.

Two sources, two ways, both exactly once:

- **Events** (`AgentEvent`, insert-only) are read by id behind a watermark, in chunks of
  CHUNK ids. Each chunk adds its counts to the buckets with one set-based
  `INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE SET n = n + excluded.n` per grain and
  measure, and moves the watermark in the same transaction: a crash or a second worker never
  counts a row twice. A late event (old `ts`, new id) is simply added to its old bucket.
  From events come: counts by kind (alerts opened/acknowledged/resolved included), finished
  tool calls with errors and the latency histogram (`span.finished`), and agent-seconds per
  status with time to unblock (status-change events carry when the old status began).
- **Token usage** (`TokenUsage`, merged in place when a call is reported again) is recomputed:
  each project-hour with a row changed since the last run is rebuilt from the raw rows (delete
  and insert in one transaction per project-hour), then its day. Rebuilding is idempotent, so
  two workers or a re-run give identical rows.

Only rows at least TELEMETRY_ROLLUP_LAG_SECONDS old are read, so a row whose transaction
commits after a higher id (or a later `updated_at`) is still counted. Day buckets are UTC days.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.agents.models import AgentEvent, AgentStatus, AgentTask
from apps.telemetry.models import (
    HISTOGRAM,
    LATENCY_EDGES,
    EventRollup,
    Grain,
    RetentionPolicy,
    SpanRollup,
    StatusRollup,
    TokenUsage,
    UsageRollup,
    Watermark,
)

CHUNK = 50_000  # event ids per transaction on PostgreSQL
SQLITE_CHUNK = 5_000  # SQLite has one writer: hold its lock for tens of milliseconds at most
# Each bucket is written twice: per agent, and summed over every agent of the project under
# agent_id EVERY_AGENT, so that pages not split by agent read a few rows per bucket instead of
# one per agent (apps.telemetry.analytics picks which).
EVERY_AGENT = "-1"
GRAINS = tuple(int(g) for g in Grain.values)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Kinds written by lifecycle.set_status: each closes an interval of the old status.
STATUS_KINDS = ("agent.status_changed", "agent.idle", "agent.blocked", "agent.sleeping",
                "agent.offline", "agent.online", "agent.woke", "agent.unblocked")
# Time in these is counted; offline and stopped agents are not agent-hours anyone pays for.
COUNTED_STATUSES = (AgentStatus.IDLE, AgentStatus.WORKING, AgentStatus.BLOCKED,
                    AgentStatus.SLEEPING, AgentStatus.ERROR)
ERROR_OUTCOMES = ("error",)
SPAN_MEASURES = ("calls", "errors", "latency_count", "latency_sum_ms", *HISTOGRAM)


@dataclass
class Progress:
    events: int = 0  # event ids read
    usage_hours: int = 0  # project-hours of usage rebuilt
    behind: bool = False  # stopped before catching up (time budget)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# --- SQL per database --------------------------------------------------------------------
def _pg() -> bool:
    return connection.vendor == "postgresql"


def bucket_sql(column: str, grain: int) -> str:
    """The start of `column`'s bucket of `grain` seconds, in UTC. For a query with parameters
    (Django turns `%s` into SQLite's `?`, so strftime's own `%s` is written `%%s`)."""
    if _pg():
        return f"date_bin('{grain} seconds', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
    return f"datetime(CAST(strftime('%%s', {column}) AS INTEGER) / {grain} * {grain}, 'unixepoch')"


def _json_text(column: str, key: str) -> str:
    if _pg():
        return f"({column} ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def _json_int(column: str, key: str) -> str:
    if _pg():
        return (f"(CASE WHEN jsonb_typeof({column} -> '{key}') = 'number' "
                f"THEN ({column} ->> '{key}')::numeric::bigint END)")
    return (f"(CASE WHEN json_type({column}, '$.{key}') IN ('integer', 'real') "
            f"THEN CAST(json_extract({column}, '$.{key}') AS INTEGER) END)")


def _t(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _dt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def floor_to(ts: datetime, grain: int) -> datetime:
    seconds = int((ts - EPOCH).total_seconds()) // grain * grain
    return EPOCH + timedelta(seconds=seconds)


# --- events: counts by kind, tool calls, status time ---------------------------------------
# The single-statement aggregations of a range of events, straight from the raw rows: what the
# engine's result must equal (tests/telemetry/test_rollups.py) and what benchmarks/rollups.py
# compares its speed with. The engine itself reads the raw rows once per chunk (_delta_sql).
def _events_sql(grain: int, every: bool = False) -> str:
    e, r = _t(AgentEvent), _t(EventRollup)
    agent = EVERY_AGENT if every else "COALESCE(agent_id, 0)"
    return f"""
        INSERT INTO {r} (grain, start, project_id, agent_id, kind, count)
        SELECT {grain}, {bucket_sql('ts', grain)}, project_id, {agent}, kind,
               COUNT(*)
        FROM {e} WHERE id > %s AND id <= %s
        GROUP BY 2, 3, 4, 5
        ON CONFLICT (grain, start, project_id, agent_id, kind)
        DO UPDATE SET count = {r}.count + excluded.count"""


def _bucket_index_sql(column: str) -> str:
    """Which LATENCY_EDGES bucket `column` falls in (0 … len(LATENCY_EDGES)), or NULL."""
    whens = " ".join(f"WHEN {column} < {edge} THEN {i}" for i, edge in enumerate(LATENCY_EDGES))
    return f"CASE WHEN {column} IS NULL THEN NULL {whens} ELSE {len(LATENCY_EDGES)} END"


def _fence() -> str:
    """Keeps the planner from inlining a subquery's expressions into every use of them (the
    JSON is read once per row, not once per histogram column)."""
    return "OFFSET 0" if _pg() else "LIMIT -1 OFFSET 0"


def _span_measures_sql() -> str:
    """SPAN_MEASURES of the rows of _finished_spans_sql(), in that order."""
    errors = ", ".join(f"'{o}'" for o in ERROR_OUTCOMES)
    histogram = ", ".join(f"COUNT(*) FILTER (WHERE s.b = {i}) AS {h}"
                          for i, h in enumerate(HISTOGRAM))
    return (f"COUNT(*) AS calls, COUNT(*) FILTER (WHERE s.outcome IN ({errors})) AS errors, "
            f"COUNT(s.latency) AS latency_count, COALESCE(SUM(s.latency), 0) AS latency_sum_ms, "
            f"{histogram}")


def _finished_spans_sql() -> str:
    """FROM the `span.finished` events with ids in (%s, %s], one row `s` each (ts, project_id,
    agent_id, tool, outcome, latency, b = its histogram bucket), joined to its agent `a`."""
    e, a = _t(AgentEvent), connection.ops.quote_name("agents_agent")
    return f"""
        FROM (
            SELECT ts, project_id, agent_id, tool, outcome, latency,
                   {_bucket_index_sql('latency')} AS b
            FROM (
                SELECT ts, project_id, COALESCE(agent_id, 0) AS agent_id,
                       COALESCE(SUBSTR({_json_text('data', 'tool_name')}, 1, 200), '') AS tool,
                       {_json_text('data', 'outcome')} AS outcome,
                       {_json_int('data', 'latency_ms')} AS latency
                FROM {e} WHERE id > %s AND id <= %s AND kind = 'span.finished' {_fence()}
            ) raw {_fence()}
        ) s LEFT JOIN {a} a ON a.id = s.agent_id"""


def _spans_sql(grain: int, every: bool = False) -> str:
    r = _t(SpanRollup)
    return f"""
        INSERT INTO {r} (grain, start, project_id, agent_id, model, tool,
                         {", ".join(SPAN_MEASURES)})
        SELECT {grain}, {bucket_sql('s.ts', grain)}, s.project_id,
               {EVERY_AGENT if every else "s.agent_id"}, COALESCE(a.model, ''), s.tool,
               {_span_measures_sql()}
        {_finished_spans_sql()}
        WHERE 1 = 1
        GROUP BY 2, 3, 4, 5, 6
        ON CONFLICT (grain, start, project_id, agent_id, model, tool)
        DO UPDATE SET {", ".join(f"{m} = {r}.{m} + excluded.{m}" for m in SPAN_MEASURES)}"""


def split(since: datetime, until: datetime, grain: int) -> Iterable[tuple[datetime, float]]:
    """(bucket start, seconds of [since, until) inside it)."""
    start = floor_to(since, grain)
    while start < until:
        end = start + timedelta(seconds=grain)
        yield start, (min(end, until) - max(start, since)).total_seconds()
        start = end


def _status_rows(lo: int, hi: int) -> list[tuple[Any, ...]]:
    """Agent-seconds per status and unblocks from the status changes among events (lo, hi]."""
    seconds: dict[tuple[int, datetime, int, int, str], float] = defaultdict(float)
    unblocks: dict[tuple[int, datetime, int, int, str], list[float]] = defaultdict(lambda: [0, 0.0])
    changes = AgentEvent.objects.filter(id__gt=lo, id__lte=hi, kind__in=STATUS_KINDS).order_by()
    for project_id, agent_id, ts, data in changes.values_list("project_id", "agent_id", "ts",
                                                              "data").iterator():
        old = data.get("from") if isinstance(data, dict) else None
        since = parse_datetime(data.get("since") or "") if old else None
        if since is None or since >= ts or not agent_id:
            continue
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        for who in (agent_id, int(EVERY_AGENT)):
            if old in COUNTED_STATUSES:
                for grain in GRAINS:
                    for start, part in split(since, ts, grain):
                        seconds[(grain, start, project_id, who, old)] += part
            if old == AgentStatus.BLOCKED and data.get("to") != AgentStatus.BLOCKED:
                for grain in GRAINS:
                    cell = unblocks[(grain, floor_to(ts, grain), project_id, who, old)]
                    cell[0] += 1
                    cell[1] += (ts - since).total_seconds()
    keys = set(seconds) | set(unblocks)
    return [(*k[:1], _dt(k[1]), *k[2:], seconds.get(k, 0.0), *unblocks.get(k, (0, 0.0)))
            for k in keys]


def _status_sql() -> str:
    r = _t(StatusRollup)
    return f"""
        INSERT INTO {r} (grain, start, project_id, agent_id, status, seconds, unblocks,
                         unblock_seconds)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (grain, start, project_id, agent_id, status)
        DO UPDATE SET seconds = {r}.seconds + excluded.seconds,
                      unblocks = {r}.unblocks + excluded.unblocks,
                      unblock_seconds = {r}.unblock_seconds + excluded.unblock_seconds"""


def _delta_sql() -> list[tuple[str, str]]:
    """Read the chunk's raw events once, into 5-minute groups per agent in two temporary
    tables; every grain and the sums over every agent are then derived from these few rows
    (parsing the events' JSON is the costly part, so it is done once, not six times)."""
    five = Grain.FIVE_MINUTES
    return [
        ("sb_delta_events", f"""
            SELECT {bucket_sql('ts', five)} AS start, project_id,
                   COALESCE(agent_id, 0) AS agent_id, kind, COUNT(*) AS n
            FROM {_t(AgentEvent)} WHERE id > %s AND id <= %s
            GROUP BY 1, 2, 3, 4"""),
        ("sb_delta_spans", f"""
            SELECT {bucket_sql('s.ts', five)} AS start, s.project_id, s.agent_id,
                   COALESCE(a.model, '') AS model, s.tool, {_span_measures_sql()}
            {_finished_spans_sql()}
            GROUP BY 1, 2, 3, 4, 5"""),
    ]


def _from_delta_sql(grain: int, every: bool) -> list[str]:
    """Add the chunk's 5-minute groups to the rollups of `grain`, per agent or summed."""
    er, sr = _t(EventRollup), _t(SpanRollup)
    agent = EVERY_AGENT if every else "agent_id"
    start = "start" if grain == Grain.FIVE_MINUTES else bucket_sql("start", grain)
    sums = ", ".join(f"SUM({m})" for m in SPAN_MEASURES)
    return [
        f"""INSERT INTO {er} (grain, start, project_id, agent_id, kind, count)
            SELECT {grain}, {start}, project_id, {agent}, kind, SUM(n)
            FROM sb_delta_events WHERE 1 = 1 GROUP BY 2, 3, 4, 5
            ON CONFLICT (grain, start, project_id, agent_id, kind)
            DO UPDATE SET count = {er}.count + excluded.count""",
        f"""INSERT INTO {sr} (grain, start, project_id, agent_id, model, tool,
                              {", ".join(SPAN_MEASURES)})
            SELECT {grain}, {start}, project_id, {agent}, model, tool, {sums}
            FROM sb_delta_spans WHERE 1 = 1 GROUP BY 2, 3, 4, 5, 6
            ON CONFLICT (grain, start, project_id, agent_id, model, tool)
            DO UPDATE SET {", ".join(f"{m} = {sr}.{m} + excluded.{m}" for m in SPAN_MEASURES)}""",
    ]


def _empty(table: str) -> str:
    """TRUNCATE on PostgreSQL: a DELETE leaves dead rows no autovacuum ever visits in a
    temporary table, and each chunk was slower than the one before. SQLite's DELETE without
    WHERE truncates."""
    return f"TRUNCATE {table}" if _pg() else f"DELETE FROM {table}"


def roll_event_range(lo: int, hi: int) -> None:
    """Add events (lo, hi] to every rollup. Call inside the transaction that moves the
    watermark from lo to hi."""
    with connection.cursor() as cursor:
        if _pg():  # a chunk's groups fit in memory instead of spilling to disk
            cursor.execute("SET LOCAL work_mem = '64MB'")
        # The temporary tables live as long as the connection and are emptied after each
        # chunk: creating and dropping them per chunk takes catalog locks that add up when
        # many chunks run in one transaction (PostgreSQL: "out of shared memory").
        for table, select in _delta_sql():
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table} AS {select} LIMIT 0",
                           [0, 0])
            cursor.execute(_empty(table), [])
            cursor.execute(f"INSERT INTO {table} {select}", [lo, hi])
        for grain in GRAINS:
            for every in (False, True):
                for statement in _from_delta_sql(grain, every):
                    cursor.execute(statement, [])
        for table, _ in _delta_sql():
            cursor.execute(_empty(table), [])
        rows = _status_rows(lo, hi)
        if rows:
            cursor.executemany(_status_sql(), rows)


def _lag() -> timedelta:
    return timedelta(seconds=settings.TELEMETRY_ROLLUP_LAG_SECONDS)


def _claim(name: str) -> Watermark:
    """The watermark, locked for this transaction. The UPDATE comes first so that SQLite takes
    its write lock before the position is read: two workers cannot read the same position."""
    Watermark.objects.get_or_create(name=name)
    Watermark.objects.filter(name=name).update(updated_at=timezone.now())
    return Watermark.objects.select_for_update().get(name=name)


def readable_event_id(now: datetime) -> int:
    """The highest event id the rollup may read: of the newest event older than the lag."""
    newest = (AgentEvent.objects.filter(created_at__lte=now - _lag()).order_by("-id")
              .values_list("id", flat=True).first())
    return newest or 0


def roll_events(*, now: datetime | None = None, budget: float | None = None) -> tuple[int, bool]:
    """Bring the event rollups up to `now` minus the lag, chunk by chunk. Returns (ids read,
    whether it stopped early because `budget` seconds ran out)."""
    now = now or timezone.now()
    upper = readable_event_id(now)
    began = time.monotonic()
    read = 0
    while True:
        if read and budget is not None and time.monotonic() - began > budget:
            return read, True  # at least one chunk per run, so a run always moves on
        with transaction.atomic():
            mark = _claim("events")
            lo = mark.position
            if lo >= upper:
                return read, False
            # Start at the next event there is: ids that were never used (a sequence that
            # jumped, a restored or imported database) would each cost a chunk of nothing.
            first = (AgentEvent.objects.filter(id__gt=lo, id__lte=upper).order_by("id")
                     .values_list("id", flat=True).first())
            if first is None:
                hi = upper
            else:
                hi = min(first - 1 + (CHUNK if _pg() else min(CHUNK, SQLITE_CHUNK)), upper)
                roll_event_range(first - 1, hi)
            mark.position = hi
            mark.save(update_fields=["position", "updated_at"])
        read += hi - lo


# --- token usage: rebuilt per project-hour --------------------------------------------------
USAGE_MEASURES = ("calls", "unknown", "tokens_input", "tokens_output", "tokens_cache_read",
                  "tokens_cache_write", "tokens_reasoning", "cost_usd")


def _usage_sql(grain: int, every: bool = False) -> str:
    u, r, t = _t(TokenUsage), _t(UsageRollup), _t(AgentTask)
    return f"""
        INSERT INTO {r} (grain, start, project_id, agent_id, model, issue, person,
                         {", ".join(USAGE_MEASURES)})
        SELECT {grain}, {bucket_sql('u.ts', grain)}, u.project_id,
               {EVERY_AGENT if every else "u.agent_id"}, u.model,
               COALESCE(t.linear_issue_id, ''), COALESCE(t.assigned_by, ''),
               COUNT(*), SUM(CASE WHEN u.cost_source = 'unknown' THEN 1 ELSE 0 END),
               SUM(u.tokens_input), SUM(u.tokens_output), SUM(u.tokens_cache_read),
               SUM(u.tokens_cache_write), SUM(u.tokens_reasoning), SUM(u.cost_usd)
        FROM {u} u LEFT JOIN {t} t ON t.id = u.task_id
        WHERE u.project_id = %s AND u.ts >= %s AND u.ts < %s
        GROUP BY 2, 3, 4, 5, 6, 7
        ON CONFLICT (grain, start, project_id, agent_id, model, issue, person)
        DO UPDATE SET {", ".join(f"{m} = excluded.{m}" for m in USAGE_MEASURES)}"""


def rebuild_usage(*, project_id: int, start: datetime, grain: int) -> None:
    """Replace one project's usage bucket of `grain` at `start` (an hour or a day) with what
    the raw rows sum to. Call inside a transaction."""
    end = start + timedelta(seconds=grain)
    UsageRollup.objects.filter(grain=grain, project_id=project_id, start__gte=start,
                               start__lt=end).delete()
    with connection.cursor() as cursor:
        for every in (False, True):
            cursor.execute(_usage_sql(grain, every), [project_id, _dt(start), _dt(end)])


def rebuild_usage_hour(*, project_id: int, hour: datetime) -> None:
    """One project-hour: its 5-minute and hourly usage rows, in one transaction."""
    end = hour + timedelta(hours=1)
    with transaction.atomic():
        UsageRollup.objects.filter(grain=Grain.FIVE_MINUTES, project_id=project_id,
                                   start__gte=hour, start__lt=end).delete()
        with connection.cursor() as cursor:
            for every in (False, True):
                cursor.execute(_usage_sql(Grain.FIVE_MINUTES, every),
                               [project_id, _dt(hour), _dt(end)])
        rebuild_usage(project_id=project_id, start=hour, grain=Grain.HOUR)


def _changed_usage_hours(since: datetime | None, until: datetime) -> list[tuple[int, datetime]]:
    u = _t(TokenUsage)
    where, params = "updated_at <= %s", [_dt(until)]
    if since is not None:
        where, params = "updated_at > %s AND " + where, [_dt(since), *params]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT project_id, {bucket_sql('ts', 3600)} FROM {u} "
                       f"WHERE {where}", params)
        rows = cursor.fetchall()
    return sorted((pid, _as_datetime(hour)) for pid, hour in rows)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def usage_rebuild_floor(now: datetime) -> datetime | None:
    """The oldest hour the usage rollup may rebuild: the first UTC midnight at least an hour
    after the token-usage retention cutoff. Retention deletes raw rows older than the cutoff,
    and rebuilding an hour, or its day (also summed from raw rows), with some of them gone
    would shrink its totals. The hour covers a retention run starting up to an hour after this
    rollup run read the cutoff. None when usage is kept forever."""
    days = RetentionPolicy.windows()["usage"]
    if not days:
        return None
    edge = now - timedelta(days=days) + timedelta(hours=1)
    day = floor_to(edge, Grain.DAY)
    return day if day == edge else day + timedelta(days=1)


def roll_usage(*, now: datetime | None = None, budget: float | None = None) -> tuple[int, bool]:
    """Rebuild every project-hour (and its day) whose usage changed since the last run; a
    change in an hour older than `usage_rebuild_floor` stays out of the rollups (its raw rows
    may be going). Returns (project-hours rebuilt, whether the budget ran out first)."""
    now = now or timezone.now()
    until = now - _lag()
    mark, _ = Watermark.objects.get_or_create(name="usage")
    floor = usage_rebuild_floor(now)
    hours = [(project_id, hour) for project_id, hour in _changed_usage_hours(mark.at, until)
             if floor is None or hour >= floor]
    began = time.monotonic()
    days: set[tuple[int, datetime]] = set()
    for done, (project_id, hour) in enumerate(hours):
        if done and budget is not None and time.monotonic() - began > budget:
            # Not all rebuilt: the watermark stays, so the next run does them (again: idempotent).
            _rebuild_days(days)
            return done, True
        rebuild_usage_hour(project_id=project_id, hour=hour)
        days.add((project_id, floor_to(hour, Grain.DAY)))
    _rebuild_days(days)
    Watermark.objects.filter(pk=mark.pk).update(at=until, updated_at=now)
    return len(hours), False


def rebuild_usage_hours(*, project_id: int, hours: set[datetime],
                        now: datetime | None = None) -> None:
    """Rebuild these project-hours and their days now: for a writer that deleted raw usage rows,
    which the changed-rows scan of roll_usage cannot see. Hours older than the rebuild floor
    are left alone, as roll_usage leaves them."""
    floor = usage_rebuild_floor(now or timezone.now())
    kept = sorted(h for h in hours if floor is None or h >= floor)
    for hour in kept:
        rebuild_usage_hour(project_id=project_id, hour=hour)
    _rebuild_days({(project_id, floor_to(h, Grain.DAY)) for h in kept})


def _rebuild_days(days: set[tuple[int, datetime]]) -> None:
    for project_id, day in sorted(days):
        with transaction.atomic():
            rebuild_usage(project_id=project_id, start=day, grain=Grain.DAY)


# --- both ---------------------------------------------------------------------------------
def roll_up(*, now: datetime | None = None, budget: float | None = None) -> Progress:
    """Bring every rollup up to now (minus the lag). With a `budget` in seconds, stop after it
    and say so; the next run goes on from the watermarks."""
    began = time.monotonic()
    events, behind_events = roll_events(now=now, budget=budget)
    left = None if budget is None else max(budget - (time.monotonic() - began), 1.0)
    hours, behind_usage = roll_usage(now=now, budget=left)
    return Progress(events=events, usage_hours=hours, behind=behind_events or behind_usage,
                    seconds=time.monotonic() - began)


def lag_seconds(now: datetime | None = None) -> float:
    """How far the event rollup is behind: the age of the oldest event it has not read yet
    (0 when it has read everything)."""
    now = now or timezone.now()
    mark = Watermark.objects.filter(name="events").values_list("position", flat=True).first() or 0
    oldest = (AgentEvent.objects.filter(id__gt=mark).order_by("id")
              .values_list("created_at", flat=True).first())
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
