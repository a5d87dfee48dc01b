"""Facts from OTLP → Switchboard's rows, in set-based statements.

Per request, in the steady state (every session already known):
  1. one SELECT of the sessions' agents and their sub-agents;
  2. on PostgreSQL one statement for everything else — data-modifying CTEs: the tool spans
     upserted by (agent, span_id) with a `span.finished` event for each span this request
     finished (a session a hook reports keeps the hook's spans: its calls count once), token
     usage upserted by (agent, key) taking the larger of each figure, the counters, and the
     agents' last_heartbeat_at; on SQLite the same statements one by one.
A sub-agent's API request (Claude Code's hook reports it on the sub-agent, its telemetry on the
session) is merged into the row the hook made: one more SELECT, only for sessions that have
sub-agents.
Usage the emitter reported without a request id (Codex's: keyed by the record's digest) cannot
meet the hooks' report of the same call; on a session the hooks count usage for
(HOOKS_COUNT_USAGE) it is left to them.
Registering a new session, an error, or a status change go through apps.agents.services
(first sight, rare)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.agents import services
from apps.agents.models import Agent, AgentEvent, AgentStatus, ToolSpan
from apps.core.db import greatest
from apps.core.events import publish_bulk
from apps.otlp import metric_usage
from apps.otlp.facts import Facts, Point, Session, ToolCall, Usage
from apps.otlp.mappers import digest
from apps.otlp.sql import adapt_dt, rows_source
from apps.projects.models import Project
from apps.telemetry import prices
from apps.telemetry.models import TOKEN_FIELDS, CostSource, TokenUsage
from apps.telemetry.services import list_cost

# A session going from one of these to "working" on its own activity (a new prompt after a
# pause, a restart). Blocked, sleeping, error and stopped are the hooks', the engine's or the
# control room's to lift.
WAKES_ON_ACTIVITY = (AgentStatus.IDLE, AgentStatus.OFFLINE)


# Kinds whose hooks report every model call's usage from the agent's own transcript. Codex's hook
# keys a call by the rollout's running total and its OTLP sse_event carries no response id, so
# the two reports of one call cannot meet on a key: on a session these hooks report, the OTLP
# copy is dropped (the rollout is complete and can be read again; the OTLP batch may be lost).
HOOKS_COUNT_USAGE = {"claude-code", "codex"}


def _hooked(agent: Agent) -> bool:
    """Reported by one of our hooks too: they own its status and errors."""
    return bool((agent.metadata or {}).get("client"))


class Writer:
    def __init__(self, project: Project, label: str) -> None:
        self.project = project
        self.label = label
        self.now = timezone.now()
        self.agents: dict[str, Agent] = {}  # by external id: the sessions
        self.family: dict[int, list[int]] = {}  # session agent id → its sub-agents' ids

    # --- agents -------------------------------------------------------------------------
    def load(self, sessions: dict[str, Session]) -> None:
        rows = list(Agent.objects.filter(project=self.project).filter(
            Q(external_id__in=list(sessions)) | Q(parent__external_id__in=list(sessions)))
            .order_by().only("id", "external_id", "parent_id", "kind", "status", "status_reason",
                             "metadata", "model", "current_task_id", "archived_at",
                             "pending_commands", "project_id", "last_message"))
        for agent in rows:
            if agent.external_id in sessions:
                self.agents[agent.external_id] = agent
                self.family.setdefault(agent.pk, [])
        for agent in rows:
            if agent.parent_id in self.family and agent.external_id not in sessions:
                self.family[agent.parent_id].append(agent.pk)
        for sid, session in sessions.items():
            agent = self.agents.get(sid)
            if agent is None:
                agent, _ = services.agent_register(
                    project=self.project, name=session.name, kind=session.kind,
                    model=session.model, external_id=sid, metadata=session.metadata,
                    actor_label=self.label, now=self.now)
                self.agents[sid] = agent
                self.family[agent.pk] = []
            else:
                self._annotate(agent, session)

    def _annotate(self, agent: Agent, session: Session) -> None:
        """What OTLP says of the session (resource attributes, labels, model) joins the
        agent's metadata; written only when it adds something."""
        metadata = dict(agent.metadata or {})
        changed = False
        for key in ("otel", "labels"):
            value = session.metadata.get(key)
            if value and {**metadata.get(key, {}), **value} != metadata.get(key):
                metadata[key] = {**metadata.get(key, {}), **value}
                changed = True
        update: dict[str, Any] = {}
        if changed:
            update["metadata"] = metadata
        if session.model and not agent.model:
            update["model"] = session.model
        if update:
            Agent.objects.filter(pk=agent.pk).update(**update)
            for k, v in update.items():
                setattr(agent, k, v)

    # --- routing to sub-agents ------------------------------------------------------------
    def usage_owners(self, usage: list[Usage]) -> dict[tuple[int, str], int]:
        """(session agent, usage key) → the sub-agent whose row already holds the call, for
        sessions with sub-agents (one more SELECT, only then)."""
        owners: dict[tuple[int, str], int] = {}
        families = {pk: kids for pk, kids in self.family.items() if kids}
        member_of = {kid: pk for pk, kids in families.items() for kid in kids}
        keys = {u.key for u in usage if self.agents[u.session.external_id].pk in families}
        if keys:
            for agent_id, key in TokenUsage.objects.filter(
                    agent_id__in=list(member_of), key__in=list(keys)) \
                    .values_list("agent_id", "key"):
                owners[(member_of[agent_id], key)] = agent_id
        return owners

    # --- rows ---------------------------------------------------------------------------------
    def span_rows(self, calls: list[ToolCall]) -> list[dict[str, Any]]:
        """Tool calls of sessions only OTLP reports. A hooked session's spans are the hook's
        (with input and output, opened and closed by it): OTLP's report of the same call is
        left out rather than merged, so no order of arrival can finish a span twice."""
        merged: dict[tuple[int, str], dict[str, Any]] = {}
        for call in calls:
            agent = self.agents[call.session.external_id]
            if _hooked(agent):
                continue
            agent_id = agent.pk
            latency = call.latency_ms
            started = call.started_at
            if started is None and latency is not None:
                started = call.finished_at - timedelta(milliseconds=latency)
            row = {"agent_id": agent_id, "span_id": call.span_id[:200],
                   "tool_name": call.tool_name, "started_at": started or call.finished_at,
                   "finished_at": call.finished_at, "latency_ms": latency,
                   "outcome": call.outcome, "error": call.error[:10_000],
                   "task_id": agent.current_task_id}
            merged[(agent_id, row["span_id"])] = row  # the last report of a call wins
        return list(merged.values())

    def usage_rows(self, usage: list[Usage], owners: dict[tuple[int, str], int]
                   ) -> list[dict[str, Any]]:
        merged: dict[tuple[int, str], dict[str, Any]] = {}
        for u in usage:
            agent = self.agents[u.session.external_id]
            if u.keyed_by_record and agent.kind in HOOKS_COUNT_USAGE and _hooked(agent):
                continue  # the hooks count this call under a key of their own
            agent_id = owners.get((agent.pk, u.key), agent.pk)
            key = (agent_id, u.key[:200])
            row = merged.get(key)
            if row is None:
                row = merged[key] = {"agent_id": agent_id, "key": u.key[:200], "model": "",
                                     "ts": u.ts, "client": None,
                                     "task_id": agent.current_task_id, **dict.fromkeys(
                                         TOKEN_FIELDS, 0)}
            for name in TOKEN_FIELDS:
                row[name] = max(row[name], u.tokens.get(name, 0))
            row["model"] = u.model or row["model"]
            if u.cost_usd is not None:
                row["client"] = max(row["client"] or Decimal(0), u.cost_usd)
        for row in merged.values():
            tokens = {f: row[f] for f in TOKEN_FIELDS}
            if row["client"] is not None:
                cost = prices.Cost(row["client"].quantize(prices.CENT_FRACTION), CostSource.CLIENT)
            else:
                cost = prices.usage_cost(model=row["model"], tokens=tokens, ts=row["ts"])
            row["cost_usd"], row["cost_source"] = cost.usd, cost.source
            row["cost_list_usd"] = list_cost(model=row["model"], tokens=tokens, cost=cost,
                                             ts=row["ts"])
        return list(merged.values())

    def counter_rows(self, points: list[Point]) -> list[dict[str, Any]]:
        merged: dict[tuple[int, str, str], dict[str, Any]] = {}
        for p in sorted(points, key=lambda p: p.time_ns):
            agent = self.agents[p.session.external_id]
            attrs = {k: v for k, v in sorted(p.attributes.items())}
            series = digest(json.dumps(attrs, sort_keys=True, default=str))
            key = (agent.pk, p.name, series)
            row = merged.get(key)
            if row is not None and not p.cumulative and row["start_ns"] <= p.start_ns:
                row["value"] += p.value  # two delta points of one series in one request
                row["count"] += p.count or 0
                row["time_ns"] = p.time_ns
                continue
            merged[key] = {"agent_id": agent.pk, "name": p.name, "series": series,
                           "attributes": attrs, "unit": p.unit,
                           "value": p.value, "count": p.count or 0,
                           "cumulative": p.cumulative, "start_ns": p.start_ns,
                           "time_ns": p.time_ns}
        return list(merged.values())


# --- SQL --------------------------------------------------------------------------------------
def _span_sql(rows: list[dict[str, Any]], project_id: int, now: Any) -> tuple[str, list[Any]]:
    t = ToolSpan._meta.db_table
    cols = [("agent_id", "bigint"), ("span_id", "text"), ("tool_name", "text"),
            ("started_at", "timestamptz"), ("finished_at", "timestamptz"),
            ("latency_ms", "integer"), ("outcome", "text"), ("error", "text"),
            ("task_id", "bigint")]
    source, params = rows_source(rows, cols, [
        (project_id, "bigint"), (now, "timestamptz"), (now, "timestamptz"), (0, "integer"),
        ("", "text"), (0, "integer"), ("", "text"), *[(0, "integer")] * 6])
    sql = f"""
        INSERT INTO {t} (project_id, created_at, updated_at, turn, input, input_size, output,
            output_size, tokens_input, tokens_output, tokens_cache_read, tokens_cache_write,
            tokens_reasoning, {", ".join(c for c, _ in cols)})
        {source}
        ON CONFLICT (agent_id, span_id) DO UPDATE SET
            finished_at = excluded.finished_at,
            latency_ms = COALESCE({t}.latency_ms, excluded.latency_ms),
            started_at = COALESCE({t}.started_at, excluded.started_at),
            outcome = excluded.outcome,
            error = CASE WHEN {t}.error = '' THEN excluded.error ELSE {t}.error END,
            tool_name = CASE WHEN {t}.tool_name = '' THEN excluded.tool_name
                        ELSE {t}.tool_name END,
            updated_at = excluded.updated_at
        WHERE {t}.outcome = 'pending'
        RETURNING id, agent_id, span_id, tool_name, latency_ms, outcome, finished_at"""
    return sql, params


def _usage_sql(rows: list[dict[str, Any]], project_id: int, now: Any) -> tuple[str, list[Any]]:
    t = TokenUsage._meta.db_table
    g = greatest(connection)
    cols = [("agent_id", "bigint"), ("key", "text"), ("model", "text"),
            *[(f, "bigint") for f in TOKEN_FIELDS], ("cost_usd", "numeric"),
            ("cost_source", "text"), ("cost_list_usd", "numeric"), ("ts", "timestamptz"),
            ("task_id", "bigint")]
    source, params = rows_source(rows, cols, [(project_id, "bigint"), (now, "timestamptz"),
                                        (now, "timestamptz"), (0, "integer")])
    larger = ", ".join(f"{f} = {g}({t}.{f}, excluded.{f})" for f in TOKEN_FIELDS)
    sql = f"""
        INSERT INTO {t} (project_id, created_at, updated_at, turn,
            {", ".join(c for c, _ in cols)})
        {source}
        ON CONFLICT (agent_id, key) DO UPDATE SET {larger},
            model = CASE WHEN excluded.model <> '' THEN excluded.model ELSE {t}.model END,
            cost_usd = CASE
                WHEN excluded.cost_source = 'client' AND {t}.cost_source = 'client'
                    THEN {g}({t}.cost_usd, excluded.cost_usd)
                WHEN excluded.cost_source = 'client' THEN excluded.cost_usd
                WHEN {t}.cost_source = 'client' THEN {t}.cost_usd
                ELSE {g}({t}.cost_usd, excluded.cost_usd) END,
            cost_list_usd = CASE
                WHEN excluded.cost_source = 'client' AND {t}.cost_source <> 'client'
                    THEN COALESCE(excluded.cost_list_usd, {t}.cost_usd)
                ELSE COALESCE(excluded.cost_list_usd, {t}.cost_list_usd) END,
            cost_source = CASE WHEN {t}.cost_source = 'client' OR excluded.cost_source = 'client'
                THEN 'client' WHEN excluded.cost_source = 'price_table' THEN 'price_table'
                ELSE {t}.cost_source END,
            task_id = COALESCE({t}.task_id, excluded.task_id),
            updated_at = excluded.updated_at"""
    return sql, params


def _counter_sql(rows: list[dict[str, Any]], project_id: int, now: Any) -> tuple[str, list[Any]]:
    from apps.otlp.models import Counter

    t = Counter._meta.db_table
    cols = [("agent_id", "bigint"), ("name", "text"), ("series", "text"),
            ("attributes", "jsonb"), ("unit", "text"), ("value", "double precision"),
            ("count", "bigint"), ("value", "double precision"), ("count", "bigint"),
            ("cumulative", "boolean"), ("start_ns", "bigint"), ("time_ns", "bigint")]
    source, params = rows_source(rows, cols, [(project_id, "bigint"), (now, "timestamptz")])
    # Growth of a cumulative series since its last point, or the whole value after a restart.
    grew = (f"CASE WHEN excluded.start_ns = {t}.start_ns AND excluded.last_value >= "
            f"{t}.last_value THEN excluded.last_value - {t}.last_value "
            f"ELSE excluded.last_value END")
    grew_n = (f"CASE WHEN excluded.start_ns = {t}.start_ns AND excluded.last_count >= "
              f"{t}.last_count THEN excluded.last_count - {t}.last_count "
              f"ELSE excluded.last_count END")
    newer = f"excluded.time_ns > {t}.time_ns"
    sql = f"""
        INSERT INTO {t} (project_id, updated_at, agent_id, name, series, attributes, unit,
            total, observations, last_value, last_count, cumulative, start_ns, time_ns)
        {source}
        ON CONFLICT (agent_id, name, series) DO UPDATE SET
            total = CASE WHEN NOT ({newer}) THEN {t}.total
                         WHEN excluded.cumulative THEN {t}.total + {grew}
                         ELSE {t}.total + excluded.last_value END,
            observations = CASE WHEN NOT ({newer}) THEN {t}.observations
                         WHEN excluded.cumulative THEN {t}.observations + {grew_n}
                         ELSE {t}.observations + excluded.last_count END,
            last_value = CASE WHEN {newer} THEN excluded.last_value ELSE {t}.last_value END,
            last_count = CASE WHEN {newer} THEN excluded.last_count ELSE {t}.last_count END,
            start_ns = CASE WHEN {newer} THEN excluded.start_ns ELSE {t}.start_ns END,
            cumulative = excluded.cumulative,
            time_ns = CASE WHEN {newer} THEN excluded.time_ns ELSE {t}.time_ns END,
            updated_at = excluded.updated_at"""
    return sql, params


def _touch_sql(agent_ids: list[int], now: Any) -> tuple[str, list[Any]]:
    t = Agent._meta.db_table
    marks = ", ".join(["%s"] * len(agent_ids))
    return (f"UPDATE {t} SET last_heartbeat_at = %s WHERE id IN ({marks}) "
            f"AND (last_heartbeat_at IS NULL OR last_heartbeat_at < %s)", [now, *agent_ids, now])


def _event_values(spans: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{"agent_id": agent_id, "data": json.dumps(
        {"span_id": span_id, "tool_name": tool, "latency_ms": latency, "outcome": outcome,
         "source": "otlp"}), "ts": finished} for _, agent_id, span_id, tool, latency, outcome,
        finished in spans]


# --- the whole write --------------------------------------------------------------------------
def _write_postgres(w: Writer, spans: list[dict[str, Any]], usage: list[dict[str, Any]],
                    counters: list[dict[str, Any]], touched: list[int], now: Any
                    ) -> list[tuple[int, int]]:
    """One statement; returns (event id, agent id) of the span.finished events made."""
    e = AgentEvent._meta.db_table
    parts: list[str] = []
    params: list[Any] = []
    pid = w.project.pk
    if spans:
        sql, p = _span_sql(spans, pid, now)
        parts.append(f"s AS ({sql})")
        params += p
        parts.append(f"""e AS (INSERT INTO {e} (project_id, agent_id, task_id, kind, data,
            actor_id, actor_label, idempotency_key, ts, created_at)
            SELECT %s, s.agent_id, NULL, 'span.finished', jsonb_build_object('span_id',
            s.span_id, 'tool_name', s.tool_name, 'latency_ms', s.latency_ms, 'outcome',
            s.outcome, 'source', 'otlp'), NULL, %s, NULL, s.finished_at, %s FROM s
            ORDER BY s.id RETURNING id, agent_id)""")
        params += [pid, w.label, now]
    if usage:
        sql, p = _usage_sql(usage, pid, now)
        parts.append(f"u AS ({sql} RETURNING 1)")
        params += p
    if counters:
        sql, p = _counter_sql(counters, pid, now)
        parts.append(f"c AS ({sql} RETURNING 1)")
        params += p
    if touched:
        sql, p = _touch_sql(touched, now)
        parts.append(f"a AS ({sql} RETURNING 1)")
        params += p
    if not parts:
        return []
    tail = "SELECT id, agent_id FROM e" if spans else "SELECT NULL, NULL WHERE false"
    with connection.cursor() as cursor:
        cursor.execute("WITH " + ",\n".join(parts) + "\n" + tail, params)
        return list(cursor.fetchall())


def _write_sqlite(w: Writer, spans: list[dict[str, Any]], usage: list[dict[str, Any]],
                  counters: list[dict[str, Any]], touched: list[int], now: Any
                  ) -> list[tuple[int, int]]:
    made: list[tuple[int, int]] = []
    pid = w.project.pk
    with connection.cursor() as cursor:
        if spans:
            cursor.execute(*_span_sql(spans, pid, now))
            finished = sorted(cursor.fetchall())
            if finished:
                source, params = rows_source(_event_values(finished), [
                    ("agent_id", "bigint"), ("data", "text"), ("ts", "timestamptz")], [
                    (pid, "bigint"), ("span.finished", "text"), (w.label, "text"),
                    (now, "timestamptz")])
                cursor.execute(
                    f"INSERT INTO {AgentEvent._meta.db_table} (project_id, kind, actor_label,"
                    f" created_at, agent_id, data, ts) {source} RETURNING id, agent_id", params)
                made = sorted(cursor.fetchall())
        if usage:
            cursor.execute(*_usage_sql(usage, pid, now))
        if counters:
            cursor.execute(*_counter_sql(counters, pid, now))
        if touched:
            cursor.execute(*_touch_sql(touched, now))
    return made


def _statuses(w: Writer, facts: Facts) -> None:
    """Errors and activity of sessions only OTLP reports (the hooks own the others')."""
    active = {a.session.external_id for a in facts.activity}
    active |= {c.session.external_id for c in facts.tool_calls}
    for sid in active:
        agent = w.agents[sid]
        if agent.status in WAKES_ON_ACTIVITY and not _hooked(agent):
            services.agent_set_status(agent=agent, status=AgentStatus.WORKING,
                                      reason="active (OpenTelemetry)",
                                      actor_label=w.label, now=w.now)
    for error in facts.errors:
        agent = w.agents[error.session.external_id]
        if _hooked(agent):
            continue
        try:
            with transaction.atomic():
                services.agent_error(agent=agent, message=error.message,
                                     data={"source": "otlp"}, actor_label=w.label, now=w.now,
                                     ts=error.ts, idempotency_key=f"otlp:{error.key}"[:200])
        except IntegrityError:
            pass  # the same error delivered again (an exporter's retry)


@transaction.atomic
def facts_store(*, project: Project, facts: Facts, label: str) -> dict[str, int]:
    """Store what one OTLP request said; returns counts for the answer and the logs."""
    sessions = facts.sessions()
    if not sessions:
        return {"agents": 0, "spans": 0, "usage": 0, "points": 0}
    w = Writer(project, label)
    w.load(sessions)
    spans = w.span_rows(facts.tool_calls)
    usage = w.usage_rows(facts.usage, w.usage_owners(facts.usage))
    counters = w.counter_rows(facts.points)
    # Sessions reporting usage per request in this request stop counting it from metrics.
    per_request = {row["agent_id"] for row in usage}
    metric_usage.switch_to_requests(
        [a for a in w.agents.values() if a.pk in per_request and metric_usage.counts_usage(a)],
        now=w.now)
    by_id = {a.pk: a for a in w.agents.values()}
    from_metrics = metric_usage.usage_rows(by_id, [r for r in counters
                                                   if r["agent_id"] not in per_request])
    # A sign of life for every session: one UPDATE for the plain ones; an offline, archived or
    # idle-blocked one (or one with commands waiting) takes the heartbeat service's path.
    plain = [a for a in w.agents.values() if services.heartbeat_is_plain(a)]
    touched = sorted(a.pk for a in plain)
    now = adapt_dt(w.now)
    write = _write_postgres if connection.vendor == "postgresql" else _write_sqlite
    made = write(w, spans, usage, counters, touched, now)
    metric_usage.usage_add(from_metrics, project_id=project.pk, now=w.now)
    publish_bulk(project.pk, [(event_id, "span.finished", agent_id)
                              for event_id, agent_id in made])
    for agent in w.agents.values():
        if agent.pk not in touched:
            services.agent_heartbeat(agent=agent, now=w.now, deliver=False, actor_label=label)
    _statuses(w, facts)
    return {"agents": len(sessions), "spans": len(made), "usage": len(usage),
            "points": len(counters)}


