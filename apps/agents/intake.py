"""The lean intake of one span event: what a Claude Code PreToolUse or PostToolUse hook sends.

`POST /api/v1/events` with `{"events": [one span.start or span.finish]}` is the request every
tool call makes. Through DRF, the batch code and span_record() it took 10 queries and several
milliseconds of CPU; here the common case is ONE statement on PostgreSQL (a data-modifying
CTE: touch the agent, insert the event under its idempotency key, upsert the span) and three
on SQLite, inside one transaction:

    a  = UPDATE the agent's last_heartbeat_at … RETURNING what decides "plain" (the agent
         exists in the key's project, no commands waiting, not offline, archived or
         idle-blocked: exactly services.heartbeat_is_plain);
    e  = INSERT the span.started / span.finished event … ON CONFLICT (idempotency key) DO
         NOTHING, only for a plain agent;
    s  = INSERT the span … ON CONFLICT (agent, span_id) DO UPDATE, only when e inserted: a
         replayed key changes nothing.

`plan()` accepts only the shape the hooks send and that this code reproduces exactly (the same
stored rows and the same answer as the regular path, which tests/agents/test_intake.py checks
field by field); anything else returns None and the request takes the regular path untouched:
other types, several events, a `task`, token counts, a finish without latency_ms, bad text,
times outside the window, an agent that is not plain, an alert rule watching span kinds, ….
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from apps.agents.lifecycle import IDLE_REASON
from apps.agents.models import AgentEvent, AgentStatus, SpanOutcome, ToolSpan
from apps.agents.serializers import REPORTED_OUTCOMES
from apps.agents.services import heartbeat_is_plain
from apps.agents.spans import payload
from apps.core.db import lean_sqlite, prepared_cursor, sqlite_grouped, sqlite_native
from apps.core.events import after_commit, recorders_want
from apps.core.text import bad_text
from apps.core.times import in_window

INT_MAX = 2**31 - 1
# Fields a span event may carry on this path; any other (task, tokens_*) takes the regular one.
KNOWN = {"span_id", "phase", "turn", "tool_name", "input", "input_size", "output", "output_size",
         "error", "outcome", "started_at", "finished_at", "latency_ms"}
EVENT_KEYS = {"type", "agent", "agent_external_id", "ts", "data", "idempotency_key"}


@dataclass
class SpanPlan:
    phase: str  # start | finish
    agent_id: int | None
    external_id: str | None
    key: str | None
    span_id: str
    turn: int
    tool_name: str
    has_input: bool = False
    input: str = ""
    input_size: int = 0
    has_output: bool = False
    output: str = ""
    output_size: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    latency_ms: int | None = None
    outcome: str = SpanOutcome.PENDING
    error: str = ""
    span_pk: int | None = None  # set by record(): the stored span's id
    span: ToolSpan | None = None  # set by record(whole_span=True) on PostgreSQL: the span

    @property
    def kind(self) -> str:
        return "span.started" if self.phase == "start" else "span.finished"

    def event_data(self) -> dict[str, Any]:
        """What span_record() writes into the event."""
        if self.phase == "start":
            return {"span_id": self.span_id, "tool_name": self.tool_name, "turn": self.turn}
        return {"span_id": self.span_id, "tool_name": self.tool_name,
                "latency_ms": self.latency_ms, "outcome": self.outcome}


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT_MAX:
        return value
    return None


def _text(value: Any, limit: int) -> str | None:
    """A string the serializer would keep as it is (CharField trims whitespace)."""
    if isinstance(value, str) and len(value) <= limit and value == value.strip():
        return value
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return parsed if in_window(parsed) else None


def plan(body: Any) -> SpanPlan | None:
    """The one span event of a request body, if this path can take it."""
    if not isinstance(body, dict) or not set(body) <= {"events", "commands"}:
        return None
    if not isinstance(body.get("commands", True), bool):
        return None
    events = body.get("events")
    if not isinstance(events, list) or len(events) != 1:
        return None
    raw = events[0]
    if not isinstance(raw, dict) or not set(raw) <= EVENT_KEYS:
        return None
    kind, data = raw.get("type"), raw.get("data")
    if kind not in ("span.start", "span.finish") or not isinstance(data, dict):
        return None
    if not set(data) <= KNOWN or data.get("phase", kind[5:]) != kind[5:]:
        return None
    if raw.get("ts") is not None:  # checked as the batch checks it, then unused (as there)
        if not isinstance(raw["ts"], str) or _time(raw["ts"]) is None:
            return None
    agent_id = raw.get("agent")
    external_id = raw.get("agent_external_id")
    if agent_id is not None:
        if _int(agent_id) is None or agent_id == 0:
            return None
        external_id = None
    elif not isinstance(external_id, str) or not external_id or len(external_id) > 200:
        return None
    key = raw.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not key or len(key) > 200):
        return None
    span_id = _text(data.get("span_id"), 200)
    turn = _int(data.get("turn"))
    tool_name = _text(data.get("tool_name"), 200)
    if not span_id or turn is None or not tool_name or bad_text(raw):
        return None
    result = SpanPlan(phase=kind[5:], agent_id=agent_id, external_id=external_id, key=key,
                      span_id=span_id, turn=turn, tool_name=tool_name)
    for name in ("input_size", "output_size", "latency_ms"):
        if name in data and _int(data[name]) is None:
            return None
    if not _checked_rest(data):
        return None
    if result.phase == "start":
        return _plan_start(result, data)
    return _plan_finish(result, data)


def plan_span_api(body: Any) -> SpanPlan | None:
    """`POST /api/v1/spans` ({agent, span_id, phase, …}, SpanInSerializer's shape): the same
    span written the same way as the span event it equals, when this path can take it."""
    if not isinstance(body, dict) or "idempotency_key" in body:
        return None
    fields = dict(body)
    agent, phase = fields.pop("agent", None), fields.get("phase")
    if phase not in ("start", "finish") or not isinstance(agent, int) or isinstance(agent, bool):
        return None
    return plan({"events": [{"type": f"span.{phase}", "agent": agent, "data": fields}]})


def _plan_start(result: SpanPlan, data: dict[str, Any]) -> SpanPlan | None:
    if "latency_ms" in data or data.get("finished_at") is not None:
        return None
    if data.get("started_at") is not None:
        result.started_at = _time(data["started_at"])
        if result.started_at is None:
            return None
    result.has_input, result.input, result.input_size = payload(data, "input")
    return result


def _plan_finish(result: SpanPlan, data: dict[str, Any]) -> SpanPlan | None:
    latency = data.get("latency_ms")
    if latency is None or data.get("started_at") is not None:
        return None
    result.latency_ms = latency
    if data.get("finished_at") is not None:
        result.finished_at = _time(data["finished_at"])
        if result.finished_at is None:
            return None
    result.has_output, result.output, result.output_size = payload(data, "output")
    error = data.get("error")
    if error is not None:
        error = _text(error, 10_000)
        if error is None:
            return None
    result.error = error or ""
    result.outcome = data.get("outcome") or (SpanOutcome.ERROR if result.error else SpanOutcome.OK)
    return result


def _checked_rest(data: dict[str, Any]) -> bool:
    """`error` and `outcome`, in either phase, are what the serializer accepts (a finish also
    keeps its error within 10,000 characters, as span_record stores it)."""
    if "error" in data and data["error"] is not None and _text(data["error"], 10**9) is None:
        return False
    outcome = data.get("outcome")
    return outcome is None or outcome in REPORTED_OUTCOMES


class _AgentState(NamedTuple):
    """What heartbeat_is_plain reads of an agent, from the touch's RETURNING row: building an
    Agent instance for it was 6 % of an embedded span event's time."""

    status: str
    status_reason: str
    pending_commands: int
    archived_at: Any
    last_message: str = ""


# --- SQL --------------------------------------------------------------------------------------
_AGENT = """UPDATE agents_agent SET last_heartbeat_at = %(now)s
  WHERE project_id = %(project)s AND {match}
  RETURNING id, parent_id, current_task_id, status, status_reason, pending_commands,
    archived_at{plain}"""
# services.heartbeat_is_plain in SQL, for the CTE (SQLite 3.40 answers `archived_at IS NULL`
# wrongly inside RETURNING, so there the returned columns are checked in Python).
_PLAIN = """,
    (pending_commands = 0 AND status <> %(offline)s AND archived_at IS NULL
     AND NOT (status = %(blocked)s AND status_reason = %(idle)s)) AS plain"""
_EVENT = """INSERT INTO agents_agentevent
    (project_id, agent_id, task_id, kind, data, actor_id, actor_label, idempotency_key, ts,
     created_at)
  SELECT %(project)s, a.id, NULL, %(kind)s, {data}, NULL, %(label)s, %(key)s, %(now)s, %(now)s
  FROM {agent} a WHERE {plain}
  ON CONFLICT (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id"""
_SPAN = """INSERT INTO agents_toolspan AS t
    (project_id, agent_id, task_id, span_id, turn, tool_name, input, input_size, output,
     output_size, started_at, finished_at, latency_ms, outcome, error, tokens_input,
     tokens_output, tokens_cache_read, tokens_cache_write, tokens_reasoning, created_at,
     updated_at)
  SELECT %(project)s, a.id, a.current_task_id, %(span_id)s, %(turn)s, %(tool)s, %(input)s,
    %(input_size)s, %(output)s, %(output_size)s, %(started_at)s, %(finished_at)s, %(latency)s,
    %(outcome)s, %(error)s, 0, 0, 0, 0, 0, %(now)s, %(now)s
  FROM {agent} a{event} WHERE TRUE
  ON CONFLICT (agent_id, span_id) DO UPDATE SET
    task_id = COALESCE(t.task_id, excluded.task_id), turn = excluded.turn,
    tool_name = excluded.tool_name, updated_at = excluded.updated_at, {phase}
  RETURNING id"""
_START = """started_at = excluded.started_at,
    input = CASE WHEN %(has_input)s THEN excluded.input ELSE t.input END,
    input_size = CASE WHEN %(has_input)s THEN excluded.input_size ELSE t.input_size END,
    latency_ms = CASE WHEN t.finished_at IS NULL THEN t.latency_ms ELSE {latency} END"""
_FINISH = """finished_at = excluded.finished_at,
    output = CASE WHEN %(has_output)s THEN excluded.output ELSE t.output END,
    output_size = CASE WHEN %(has_output)s THEN excluded.output_size ELSE t.output_size END,
    error = excluded.error, outcome = excluded.outcome, latency_ms = excluded.latency_ms,
    started_at = COALESCE(t.started_at, excluded.started_at)"""
# span_record: max(int((finished - started).total_seconds() * 1000), 0)
_LATENCY = {
    "postgresql": "GREATEST(FLOOR(EXTRACT(EPOCH FROM (t.finished_at - excluded.started_at))"
                  " * 1000), 0)::integer",
    # Whole seconds and the microseconds of Django's "YYYY-MM-DD HH:MM:SS[.ffffff]" text, so
    # exact (julianday() rounds to milliseconds); integer division truncates as int() does.
    "sqlite": "MAX(((strftime('%%s', t.finished_at) - strftime('%%s', excluded.started_at))"
              " * 1000000 + CAST(substr(t.finished_at, 21, 6) AS INTEGER)"
              " - CAST(substr(excluded.started_at, 21, 6) AS INTEGER)) / 1000, 0)",
}
_PG_CASTS = {"now": "timestamptz", "started_at": "timestamptz", "finished_at": "timestamptz",
             "latency": "integer", "turn": "integer", "input_size": "integer",
             "output_size": "integer", "project": "bigint", "key": "text"}
_SPAN_COLUMNS = [f.attname for f in ToolSpan._meta.concrete_fields]
_sql_cache: dict[tuple[str, str, bool, bool], str | tuple[str, str, str]] = {}


def _match(by_id: bool) -> str:
    return "id = %(agent)s" if by_id else "external_id = %(agent)s"


def _sql(vendor: str, phase: str, by_id: bool, whole_span: bool = False) -> Any:
    """One CTE on PostgreSQL; three statements (agent, event, span) elsewhere. `whole_span`
    (PostgreSQL, for the span API's answer): the CTE also returns the span's columns."""
    cached = _sql_cache.get((vendor, phase, by_id, whole_span))
    if cached is not None:
        return cached
    phase_sql = _START.format(latency=_LATENCY[vendor]) if phase == "start" else _FINISH
    if vendor == "postgresql":
        agent = _AGENT.format(match=_match(by_id), plain=_PLAIN)
        casts = {**_PG_CASTS, "agent": "bigint" if by_id else "text"}
        span = _SPAN.format(agent="a", event=", e", phase=phase_sql)
        final = "SELECT a.id, a.parent_id, a.plain, (SELECT id FROM e), (SELECT id FROM s) FROM a"
        if whole_span:
            span = span.replace("RETURNING id", "RETURNING " + ", ".join(_SPAN_COLUMNS))
            final = ("SELECT a.id, a.parent_id, a.plain, (SELECT id FROM e), s.* "
                     "FROM a LEFT JOIN s ON TRUE")
        sql: Any = (
            f"WITH a AS ({agent}),\n"
            "e AS (" + _EVENT.format(data="%(data)s::jsonb", agent="a", plain="a.plain") + "),\n"
            "s AS (" + span + ")\n" + final
        )
        # Prepared (server-side binding): a NULL or a number must say its type.
        for name, cast in casts.items():
            sql = sql.replace(f"%({name})s", f"%({name})s::{cast}")
    else:
        one = "(SELECT %(agent_id)s AS id, %(task_id)s AS current_task_id)"
        sql = (_AGENT.format(match=_match(by_id), plain=""), _EVENT.format(data="%(data)s", agent=one, plain="1"),
               _SPAN.format(agent=one, event="", phase=phase_sql))
    _sql_cache[(vendor, phase, by_id, whole_span)] = sql
    return sql


def _params(p: SpanPlan, *, project_id: int, label: str, now: datetime) -> dict[str, Any]:
    adapt = connection.ops.adapt_datetimefield_value
    if p.phase == "start":
        started, finished = p.started_at or now, None
    else:
        finished = p.finished_at or now
        started = finished - timedelta(milliseconds=p.latency_ms or 0)
    return {
        "now": adapt(now), "project": project_id, "offline": AgentStatus.OFFLINE,
        "blocked": AgentStatus.BLOCKED, "idle": IDLE_REASON,
        "agent": p.agent_id if p.agent_id is not None else p.external_id,
        "kind": p.kind, "data": json.dumps(p.event_data()), "label": label, "key": p.key,
        "span_id": p.span_id, "turn": p.turn, "tool": p.tool_name, "input": p.input,
        "input_size": p.input_size, "output": p.output, "output_size": p.output_size,
        "started_at": adapt(started), "finished_at": adapt(finished) if finished else None,
        "latency": p.latency_ms, "outcome": p.outcome if p.phase == "finish" else
        SpanOutcome.PENDING, "error": p.error, "has_input": p.has_input,
        "has_output": p.has_output,
    }


def record(p: SpanPlan, *, project_id: int, label: str, now: datetime,
           whole_span: bool = False) -> dict[str, Any] | None:
    """Store the span event; the batch answer, or None when the regular path must take it (the
    agent is unknown or not plain). Only the agent's last_heartbeat_at may have been written
    then, which the regular path writes as well."""
    if recorders_want(p.kind):  # e.g. an alert rule on span kinds: its bookkeeping is there
        return None
    params = _params(p, project_id=project_id, label=label, now=now)
    postgresql = connection.vendor == "postgresql"
    lean = not postgresql and lean_sqlite(connection)
    sql = _sql(connection.vendor, p.phase, p.agent_id is not None, whole_span and postgresql)
    if postgresql:
        with prepared_cursor(connection) as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None or not row[2]:
            return None
        agent_id, parent_id, _, event_id, p.span_pk = row[:5]
        if whole_span and event_id is not None:
            p.span = ToolSpan.from_db(connection.alias, _SPAN_COLUMNS, row[4:])
    elif lean:  # in one transaction with the span events other threads are writing
        native = [sqlite_native(s) for s in sql]
        written = sqlite_grouped(connection,
                                 lambda cursor: _sqlite_statements(cursor, native, params, p))
        if written is None:
            return None
        agent_id, parent_id, event_id = written
        if event_id is not None:
            after_commit(event_id, p.kind, project_id, agent_id, parent_id)
    else:
        connection.ensure_connection()  # not while in line for the writer's lock
        with transaction.atomic(), connection.cursor() as cursor:
            written = _sqlite_statements(cursor, sql, params, p)
        if written is None:
            return None
        agent_id, parent_id, event_id = written
    if event_id is None:  # the key was delivered before: nothing changed
        first = AgentEvent.objects.filter(project_id=project_id, idempotency_key=p.key) \
            .values_list("id", flat=True).first()
        return {"accepted": 0, "duplicates": 1, "commands": [],
                "results": [{"index": 0, "status": "duplicate", "event_id": first}]}
    if postgresql or not lean:
        transaction.on_commit(
            lambda: after_commit(event_id, p.kind, project_id, agent_id, parent_id))
    return {"accepted": 1, "duplicates": 0, "commands": [],
            "results": [{"index": 0, "status": "created", "event_id": event_id}]}


def _sqlite_statements(cursor: Any, sql: Any, params: dict[str, Any], p: SpanPlan
                       ) -> tuple[int, int | None, int | None] | None:
    """SQLite's three statements in the caller's transaction: (agent, parent, event id or None
    for a key seen before), or None when the agent is not plain (only its heartbeat stamp was
    written, as the regular path writes it too)."""
    cursor.execute(sql[0], params)
    row = cursor.fetchone()
    if row is None or not heartbeat_is_plain(_AgentState(*row[3:7])):  # type: ignore[arg-type]
        return None
    agent_id, parent_id, params["task_id"] = row[0], row[1], row[2]
    params["agent_id"] = agent_id
    cursor.execute(sql[1], params)
    inserted = cursor.fetchone()
    event_id = inserted[0] if inserted else None
    if event_id is not None:
        cursor.execute(sql[2], params)
        p.span_pk = cursor.fetchone()[0]
    return agent_id, parent_id, event_id


_SPAN_READ = (f"SELECT {', '.join(_SPAN_COLUMNS)} FROM agents_toolspan WHERE id = %s")


def span_read(pk: int) -> ToolSpan:
    """The stored span, for the span API's answer where the statement did not return it
    (SQLite): one prepared SELECT (the ORM's query compilation cost more than the read)."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(_SPAN_READ if connection.vendor != "postgresql"
                       else _SPAN_READ.replace("%s", "%s::bigint"), [pk])
        row = cursor.fetchone()
    return ToolSpan.from_db(connection.alias, _SPAN_COLUMNS, row)
