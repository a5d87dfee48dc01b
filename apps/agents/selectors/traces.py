"""Trace viewer reads: latency classes, per-tool and session totals, and the tokens the spans
themselves carry. The waterfall itself is in waterfall.py. An agent's token and cost totals are
not read here but from TokenUsage (apps.telemetry.selectors), where spans with tokens are
recorded too."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Q, Sum, Value
from django.db.models.functions import Coalesce

from apps.agents.models import Agent, AgentEvent, SpanOutcome, ToolSpan
from apps.telemetry.models import TOKEN_FIELDS
from apps.telemetry.selectors import fmt_tokens


def latency_class(ms: int | None) -> str:
    if ms is None:
        return "lat-pending"
    if ms < 1000:
        return "lat-fast"
    if ms < 5000:
        return "lat-slow"
    return "lat-bad"


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def cache_share(s: Any) -> float | None:
    """Cache reads as a share of all prompt tokens (fresh input + cache read + cache write)."""
    prompt = s["tokens_input"] + s["tokens_cache_read"] + s["tokens_cache_write"]
    return _pct(s["tokens_cache_read"], prompt)


def _zero() -> dict[str, Any]:
    return {"spans": 0, "errors": 0, "latency_ms": 0, **{f: 0 for f in TOKEN_FIELDS}}


def _add(acc: dict[str, Any], span: ToolSpan) -> None:
    acc["spans"] += 1
    acc["errors"] += span.outcome == SpanOutcome.ERROR
    acc["latency_ms"] += span.latency_ms or 0
    for f in TOKEN_FIELDS:
        acc[f] += getattr(span, f)


def fmt_ms(ms: int | None) -> str:
    if ms is None:
        return "running"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms // 60_000}m {ms % 60_000 // 1000}s"


def agent_trace_summary(agent: Agent) -> dict[str, Any]:
    """Per-tool totals and the session totals with its cache hit rate: one aggregate query."""
    sums = {f: Coalesce(Sum(f), Value(0)) for f in TOKEN_FIELDS}
    tools = list(
        ToolSpan.objects.filter(agent=agent)
        .order_by()
        .values("tool_name")
        .annotate(
            spans=Count("id"),
            errors=Count("id", filter=Q(outcome=SpanOutcome.ERROR)),
            latency_ms=Coalesce(Sum("latency_ms"), Value(0)),
            **sums,
        )
        .order_by("-latency_ms", "tool_name")
    )
    session = _zero()
    for row in tools:
        row["avg_label"] = fmt_ms(round(row["latency_ms"] / row["spans"])) if row["spans"] else ""
        row["latency_label"] = fmt_ms(row["latency_ms"])
        row["cache_pct"] = cache_share(row)
        row["prompt_tokens"] = fmt_tokens(
            row["tokens_input"] + row["tokens_cache_read"] + row["tokens_cache_write"]
        )
        row["output_tokens"] = fmt_tokens(row["tokens_output"])
        for k in list(session):
            session[k] += row[k]
    session["cache_pct"] = cache_share(session)
    session["latency_label"] = fmt_ms(session["latency_ms"])
    session["prompt_tokens"] = fmt_tokens(
        session["tokens_input"] + session["tokens_cache_read"] + session["tokens_cache_write"]
    )
    session["output_tokens"] = fmt_tokens(session["tokens_output"])
    return {"tools": tools, "session": session}


def span_turn(agent_id: int, span_id: str) -> int | None:
    return (
        ToolSpan.objects.filter(agent_id=agent_id, span_id=span_id)
        .values_list("turn", flat=True)
        .first()
    )


def latest_agent_event_id(agent: Agent) -> int:
    return AgentEvent.objects.filter(agent=agent).order_by().aggregate(m=Max("id"))["m"] or 0
