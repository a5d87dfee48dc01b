"""Token usage and cost from metrics, for sessions that export metrics only.

Usage normally comes from log events and spans, one row per API request, which is what lets it
merge with the hooks' reports. A session whose emitter sends only metrics
(`OTEL_METRICS_EXPORTER=otlp` without the logs exporter) would show no tokens and no cost in
usage and analytics; for those, the growth of its token and cost counters is added into one
usage row per model and hour (`metrics:<model>:<hour>`), so the hour's figures land in the hour's
rollups. As soon as the session reports usage per request (logs or spans), its metric rows are
deleted (their hours' rollups rebuilt at once) and it counts from the requests alone: the two
are never added together. A session a
hook reports never takes usage from metrics (the hook counts it)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from apps.agents.models import Agent
from apps.otlp.models import Counter
from apps.otlp.sql import adapt_dt, rows_source
from apps.telemetry import prices
from apps.telemetry.models import TOKEN_FIELDS, CostSource, TokenUsage

PREFIX = "metrics:"
# metric → (attribute naming the token type, type → usage field)
TOKENS = {
    "claude_code.token.usage": ("type", {"input": "tokens_input", "output": "tokens_output",
                                         "cacheRead": "tokens_cache_read",
                                         "cacheCreation": "tokens_cache_write"}),
    "gemini_cli.token.usage": ("type", {"input": "tokens_input", "output": "tokens_output",
                                        "cache": "tokens_cache_read",
                                        "thought": "tokens_reasoning"}),
    "gen_ai.client.token.usage": ("gen_ai.token.type", {"input": "tokens_input",
                                                        "output": "tokens_output"}),
}
COST = {"claude_code.cost.usage"}
# Emitters whose input count includes the cached part (Switchboard counts fresh input apart).
INPUT_HOLDS_CACHE = {"gemini_cli.token.usage"}
MODEL_ATTRIBUTES = ("model", "gen_ai.response.model", "gen_ai.request.model")
EVENTS_FLAG = "usage_per_request"  # agent.metadata: usage comes from requests now


def counts_usage(agent: Agent) -> bool:
    metadata = agent.metadata or {}
    return not metadata.get("client") and not metadata.get(EVENTS_FLAG)


def _growth(row: dict[str, Any], before: dict[str, Any] | None) -> float:
    """What the point adds, by the same rules as the counter's upsert (apps/otlp/store.py)."""
    if before is None:
        return row["value"]
    if row["time_ns"] <= before["time_ns"]:
        return 0.0
    if not row["cumulative"]:
        return row["value"]
    if row["start_ns"] == before["start_ns"] and row["value"] >= before["last_value"]:
        return row["value"] - before["last_value"]
    return row["value"]


def usage_rows(agents: dict[int, Agent], counters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The usage increments of this request's token and cost points, per agent, model and hour
    (one SELECT of the series' previous state, only when there are such points)."""
    wanted = [r for r in counters if (r["name"] in TOKENS or r["name"] in COST)
              and counts_usage(agents[r["agent_id"]])]
    if not wanted:
        return []
    before = {(c["agent_id"], c["name"], c["series"]): c for c in Counter.objects.filter(
        agent_id__in={r["agent_id"] for r in wanted}, name__in={r["name"] for r in wanted},
    ).values("agent_id", "name", "series", "last_value", "start_ns", "time_ns")}
    rows: dict[tuple[int, str, datetime], dict[str, Any]] = {}
    for r in wanted:
        grew = _growth(r, before.get((r["agent_id"], r["name"], r["series"])))
        if grew <= 0:
            continue
        attrs = r["attributes"]
        model = next((str(attrs[k]) for k in MODEL_ATTRIBUTES if attrs.get(k)), "")[:150]
        hour = datetime.fromtimestamp(r["time_ns"] / 1e9, tz=UTC).replace(
            minute=0, second=0, microsecond=0) if r["time_ns"] else datetime.now(tz=UTC)
        row = rows.setdefault((r["agent_id"], model, hour), {
            "agent_id": r["agent_id"], "model": model, "ts": hour, "client": None,
            **dict.fromkeys(TOKEN_FIELDS, 0)})
        if r["name"] in COST:
            row["client"] = (row["client"] or Decimal(0)) + Decimal(str(round(grew, 8)))
            continue
        attribute, fields = TOKENS[r["name"]]
        field = fields.get(str(attrs.get(attribute, "")))
        if field:
            row[field] += int(round(grew))
            if field == "tokens_cache_read" and r["name"] in INPUT_HOLDS_CACHE:
                row["tokens_input"] -= int(round(grew))
    out = []
    for row in rows.values():
        row["tokens_input"] = max(row["tokens_input"], 0)
        tokens = {f: row[f] for f in TOKEN_FIELDS}
        if row["client"] is not None:
            cost = prices.Cost(row["client"].quantize(prices.CENT_FRACTION), CostSource.CLIENT)
        else:
            cost = prices.usage_cost(model=row["model"], tokens=tokens, ts=row["ts"])
        row.update(key=f"{PREFIX}{row['model'] or 'unknown'}:{row['ts']:%Y-%m-%dT%H}"[:200],
                   cost_usd=cost.usd, cost_source=cost.source)
        out.append(row)
    return out


def usage_add(rows: list[dict[str, Any]], *, project_id: int, now: datetime) -> None:
    """Add the increments to their hour's row (INSERT … ON CONFLICT DO UPDATE SET x = x + …)."""
    if not rows:
        return
    t = TokenUsage._meta.db_table
    cols = [("agent_id", "bigint"), ("key", "text"), ("model", "text"),
            *[(f, "bigint") for f in TOKEN_FIELDS], ("cost_usd", "numeric"),
            ("cost_source", "text"), ("ts", "timestamptz")]
    source, params = rows_source(rows, cols, [
        (project_id, "bigint"), (0, "integer"), (adapt_dt(now), "timestamptz"),
        (adapt_dt(now), "timestamptz")])
    added = ", ".join(f"{f} = {t}.{f} + excluded.{f}" for f in (*TOKEN_FIELDS, "cost_usd"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {t} (project_id, turn, created_at, updated_at, "
            f"{', '.join(c for c, _ in cols)}) {source} "
            f"ON CONFLICT (agent_id, key) DO UPDATE SET {added}, "
            f"cost_source = CASE WHEN {t}.cost_source = 'client' THEN 'client' "
            f"ELSE excluded.cost_source END, updated_at = excluded.updated_at", params)


def switch_to_requests(agents: list[Agent], *, now: datetime) -> None:
    """These sessions report usage per request from now on: their metric rows go (and their
    hours' rollups are rebuilt without them) and they take usage from metrics no more."""
    from apps.telemetry.rollups import floor_to, rebuild_usage_hours

    for agent in agents:
        if (agent.metadata or {}).get(EVENTS_FLAG):
            continue
        rows = TokenUsage.objects.filter(agent=agent, key__startswith=PREFIX)
        hours = {floor_to(ts, 3600) for ts in rows.values_list("ts", flat=True)}
        if hours:
            rows.delete()
            rebuild_usage_hours(project_id=agent.project_id, hours=hours, now=now)
        agent.metadata = {**(agent.metadata or {}), EVENTS_FLAG: True}
        Agent.objects.filter(pk=agent.pk).update(metadata=agent.metadata)
