"""The trace viewer's waterfall: a page of turns (keyset by turn number) whose spans sit on one
time axis, sub-agents' spans nested under the Task/Agent span that spawned them, a strip of the
session's turns on one axis, and one span's detail for the drawer.

Query count is fixed per page: the turn keys, the page's spans, the strip's per-turn aggregate,
the turns' cost, and two queries per nesting level (bounded by NEST_DEPTH), whatever the number
of spans shown.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Substr

from apps.agents.models import Agent, SpanOutcome, ToolSpan
from apps.agents.selectors.traces import fmt_ms, latency_class
from apps.telemetry.models import TOKEN_FIELDS, TokenUsage
from apps.telemetry.selectors import Usage, fmt_tokens

TURN_PAGE = 8  # turns per page; a page shows every span of its turns
STRIP_TURNS = 120  # newest turns in the session strip
NEST_DEPTH = 3  # sub-agent levels nested into a turn
SPAWN_TOOLS = ("Task", "Agent")  # Claude Code's tools that start a sub-agent
PAYLOAD_PREVIEW = 4000  # characters of input/output the drawer shows before "show all"
OUTCOMES = [(v, label) for v, label in SpanOutcome.choices]
SCALES = ("session", "turn")


@dataclass(frozen=True)
class TraceFilters:
    """The trace's query string; unknown or malformed values are dropped, never an error."""

    tool: str = ""
    outcome: str = ""
    before: int | None = None
    scale: str = "session"

    @classmethod
    def from_query(cls, query: Any) -> TraceFilters:
        tool = str(query.get("tool", "") or "").strip()
        outcome = str(query.get("outcome", "") or "")
        scale = str(query.get("scale", "") or "")
        try:
            before: int | None = int(str(query.get("before", "")))
        except ValueError:
            before = None
        return cls(
            tool=tool if len(tool) <= 200 else "",
            outcome=outcome if outcome in SpanOutcome.values else "",
            before=before if before is not None and 0 < before < 2**31 else None,
            scale=scale if scale in SCALES else "session",
        )

    @property
    def filtered(self) -> bool:
        return bool(self.tool or self.outcome)

    @property
    def live(self) -> bool:
        """Only the newest, unfiltered page follows pushed turns (they are unfiltered)."""
        return not self.filtered and self.before is None

    def q(self) -> Q:
        q = Q()
        if self.tool:
            q &= Q(tool_name=self.tool)
        if self.outcome:
            q &= Q(outcome=self.outcome)
        return q

    def as_query(self, **override: Any) -> dict[str, Any]:
        values: dict[str, Any] = {"tool": self.tool, "outcome": self.outcome,
                                  "scale": "" if self.scale == "session" else self.scale}
        values.update(override)
        return {k: v for k, v in values.items() if v not in ("", None)}


# --- time axis ------------------------------------------------------------------------------
_STEPS = [m * 10**e for e in range(0, 8) for m in (1, 2, 5)]


def fmt_tick(ms: int) -> str:
    if ms == 0:
        return "0"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:g} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:g} min"
    return f"{ms / 3_600_000:g} h"


def ruler(axis_ms: int, *, max_ticks: int = 5) -> list[dict[str, Any]]:
    """Round ticks (1, 2, 5 × 10^n ms; whole seconds and minutes above that) across the axis."""
    axis_ms = max(axis_ms, 1)
    step = next((s for s in _STEPS if axis_ms / s <= max_ticks), _STEPS[-1])
    if step >= 60_000:  # minutes: 1, 2, 5, 10, 15, 30, 60
        step = next((m * 60_000 for m in (1, 2, 5, 10, 15, 30, 60, 120, 240)
                     if axis_ms / (m * 60_000) <= max_ticks), step)
    elif step >= 1000:
        step = next((s * 1000 for s in (1, 2, 5, 10, 15, 30, 60)
                     if axis_ms / (s * 1000) <= max_ticks), step)
    ticks = []
    at = 0
    while at <= axis_ms:
        ticks.append({"ms": at, "pct": round(100 * at / axis_ms, 2), "label": fmt_tick(at)})
        at += step
    return ticks


def _ms(a: datetime | None, b: datetime | None) -> int:
    if a is None or b is None:
        return 0
    return max(int((b - a).total_seconds() * 1000), 0)


def _bounds(s: ToolSpan) -> tuple[datetime, datetime]:
    start = s.started_at or s.created_at
    end = s.finished_at or start
    return start, max(end, start)


# --- the session strip ----------------------------------------------------------------------
def session_turns(agent: Agent, *, limit: int = STRIP_TURNS) -> list[dict[str, Any]]:
    """The newest `limit` turns with their wall-clock extent, oldest first: one aggregate."""
    rows = list(
        ToolSpan.objects.filter(agent=agent)
        .order_by()
        .values("turn")
        .annotate(
            calls=Count("id"),
            errors=Count("id", filter=Q(outcome=SpanOutcome.ERROR)),
            first=Min(Coalesce("started_at", "created_at")),
            last=Max(Coalesce("finished_at", "started_at", "created_at")),
        )
        .order_by("-turn")[:limit]
    )
    rows.reverse()
    for r in rows:
        r["ms"] = _ms(r["first"], r["last"])
        r["label"] = fmt_ms(r["ms"])
    return rows


def session_strip(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Turns side by side, each as wide as it lasted (the idle time between turns left out)."""
    total = sum(t["ms"] for t in turns)
    for t in turns:
        t["pct"] = round(100 * t["ms"] / total, 3) if total else round(100 / len(turns), 3)
    longest = max(turns, key=lambda t: t["ms"], default=None)
    return {"turns": turns, "total_label": fmt_ms(total), "longest": longest}


# --- a page of turns ------------------------------------------------------------------------
_LABEL_KEYS = ("file_path", "command", "pattern", "description", "url", "path", "query",
               "subagent_type", "prompt")
_LABEL_RE = re.compile(r'"(' + "|".join(_LABEL_KEYS) + r')"\s*:\s*"((?:[^"\\]|\\.){1,160})')


def span_label(head: str) -> str:
    """What a call was about, from the start of its input: the file, command or pattern."""
    found = dict(_LABEL_RE.findall(head or ""))
    for key in _LABEL_KEYS:
        if key in found:
            try:
                return str(json.loads(f'"{found[key]}"'))[:120]
            except ValueError:
                return found[key][:120]
    return ""


def _spans(qs: QuerySet[ToolSpan]) -> QuerySet[ToolSpan]:
    """Rows for the waterfall: no payloads (the drawer reads them), the input's head only."""
    return qs.defer("input", "output").annotate(input_head=Substr("input", 1, 400))


def _decorate(s: ToolSpan) -> None:
    s.lat_class = latency_class(s.latency_ms)
    s.latency_label = fmt_ms(s.latency_ms)
    s.is_error = s.outcome == SpanOutcome.ERROR or bool(s.error)
    # List rows carry the input's head only (annotated); the drawer's span has all of it.
    s.label = span_label(s.input_head if hasattr(s, "input_head") else s.input)
    prompt = s.tokens_input + s.tokens_cache_read + s.tokens_cache_write
    s.prompt_tokens = fmt_tokens(prompt)
    s.output_tokens = fmt_tokens(s.tokens_output)
    s.has_tokens = bool(prompt or s.tokens_output)


@dataclass
class Row:
    """One line of the waterfall: a span, or the header of a sub-agent nested under one."""

    kind: str  # "span" | "agent"
    depth: int
    start: datetime
    end: datetime
    span: ToolSpan | None = None
    agent: Agent | None = None
    left: float = 0.0
    width: float = 0.0


def _children(parents: list[ToolSpan], parent_ids: set[int]) -> dict[int, list[Agent]]:
    """Sub-agents of `parent_ids` spawned by one of `parents`: by the tool_use_id the hook
    records on the sub-agent, else (clients that do not send it) by being created while a
    Task/Agent span of its parent ran. Keyed by the spawning span's pk."""
    spawners = [s for s in parents if s.tool_name in SPAWN_TOOLS]
    if not spawners:
        return {}
    by_span_id = {(s.agent_id, s.span_id): s for s in spawners}
    lo = min(_bounds(s)[0] for s in spawners)
    hi = max(_bounds(s)[1] for s in spawners)
    kids = Agent.objects.filter(parent_id__in=parent_ids).filter(
        Q(metadata__tool_use_id__in=[s.span_id for s in spawners]) | Q(created_at__range=(lo, hi))
    ).only("id", "name", "status", "parent_id", "metadata", "created_at").order_by("created_at",
                                                                                     "id")
    out: dict[int, list[Agent]] = defaultdict(list)
    for kid in kids:
        meta = kid.metadata if isinstance(kid.metadata, dict) else {}
        spawner = by_span_id.get((kid.parent_id, str(meta.get("tool_use_id") or "")))
        if spawner is None and not meta.get("tool_use_id"):
            spawner = next((s for s in spawners if s.agent_id == kid.parent_id
                            and _bounds(s)[0] <= kid.created_at <= _bounds(s)[1]), None)
        if spawner is not None:
            # The hook names sub-agents "<parent> › <label>"; under the parent, the label says it.
            kid.short_name = kid.name.rsplit(" › ", 1)[-1]
            out[spawner.pk].append(kid)
    return out


def _nest(spans: list[ToolSpan], filters: TraceFilters) -> tuple[dict[int, list[Agent]],
                                                                   dict[int, list[ToolSpan]]]:
    """Sub-agents under their spawning spans and their own spans, level by level."""
    kids_of: dict[int, list[Agent]] = {}
    spans_of: dict[int, list[ToolSpan]] = {}
    level = spans
    seen: set[int] = set()
    for _ in range(NEST_DEPTH):
        found = _children(level, {s.agent_id for s in level})
        kid_ids = [k.pk for kids in found.values() for k in kids if k.pk not in seen]
        if not kid_ids:
            break
        seen.update(kid_ids)
        kids_of.update(found)
        level = list(_spans(ToolSpan.objects.filter(agent_id__in=kid_ids).filter(filters.q()))
                     .order_by("started_at", "id"))
        for s in level:
            _decorate(s)
            spans_of.setdefault(s.agent_id, []).append(s)
    return kids_of, spans_of


def _rows(spans: list[ToolSpan], kids_of: dict[int, list[Agent]],
          spans_of: dict[int, list[ToolSpan]], depth: int = 0) -> list[Row]:
    rows: list[Row] = []
    for s in spans:
        start, end = _bounds(s)
        rows.append(Row("span", depth, start, end, span=s))
        for kid in kids_of.get(s.pk, []):
            kid_spans = spans_of.get(kid.pk, [])
            k_start = min([_bounds(x)[0] for x in kid_spans] or [kid.created_at])
            k_end = max([_bounds(x)[1] for x in kid_spans] or [kid.created_at])
            rows.append(Row("agent", depth + 1, k_start, k_end, agent=kid))
            rows.extend(_rows(kid_spans, kids_of, spans_of, depth + 1))
    return rows


def build_turn(turn: int, spans: list[ToolSpan], kids_of: dict[int, list[Agent]],
               spans_of: dict[int, list[ToolSpan]], *, axis_ms: int | None,
               usage: Usage | None = None) -> dict[str, Any]:
    """A turn's rows placed on the axis: `axis_ms` shared by the page (a 2 s turn is short next
    to a 2 min one), or None for the turn's own length."""
    rows = _rows(spans, kids_of, spans_of)
    t0 = min(r.start for r in rows)
    t_end = max(r.end for r in rows)
    own_ms = _ms(t0, max(_bounds(s)[1] for s in spans))
    length = max(_ms(t0, t_end), 1)
    axis = max(axis_ms or length, 1)
    for r in rows:
        r.left = min(round(100 * _ms(t0, r.start) / axis, 3), 99.5)
        r.width = min(max(round(100 * _ms(r.start, r.end) / axis, 3), 0.4), 100 - r.left)
    ticks = ruler(axis)
    tokens = {f: sum(getattr(s, f) for s in spans) for f in TOKEN_FIELDS}
    prompt = tokens["tokens_input"] + tokens["tokens_cache_read"] + tokens["tokens_cache_write"]
    version = max(int(x.updated_at.timestamp() * 1000) for x in
                  [*spans, *(r.span for r in rows if r.span is not None)])
    errors = sum(1 for r in rows if r.span is not None and r.span.is_error)
    return {
        "turn": turn,
        "rows": rows,
        "spans": spans,
        "calls": len(spans),
        "nested": sum(1 for r in rows if r.kind == "span" and r.depth),
        "errors": errors,
        "duration_ms": own_ms,
        "duration_label": fmt_ms(own_ms),
        "lat_class": latency_class(own_ms),
        "prompt_tokens": fmt_tokens(prompt),
        "output_tokens": fmt_tokens(tokens["tokens_output"]),
        "cost_label": usage.cost_label if usage is not None and usage.calls else "",
        "ruler": ticks,
        "tick_pct": ticks[1]["pct"] if len(ticks) > 1 else 100,
        "extent_pct": min(round(100 * length / axis, 2), 100),
        "started_at": t0,
        "version": version,
    }


def _turn_costs(agent: Agent, turns: list[int]) -> dict[int, Usage]:
    rows = (
        TokenUsage.objects.filter(agent=agent, turn__in=turns)
        .order_by()
        .values("turn")
        .annotate(**{f: Sum(f) for f in TOKEN_FIELDS}, cost_usd=Sum("cost_usd"),
                  calls=Count("id"), unknown=Count("id", filter=Q(cost_source="unknown")))
    )
    return {r["turn"]: Usage.from_row(r) for r in rows}


def trace_page(agent: Agent, filters: TraceFilters, *, page_size: int = TURN_PAGE,
               strip: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The newest `page_size` turns (with a matching span) before `filters.before`, newest
    first, and the key of the next older page."""
    base = ToolSpan.objects.filter(agent=agent).filter(filters.q())
    keys = base.order_by().values_list("turn", flat=True).distinct()
    if filters.before is not None:
        keys = keys.filter(turn__lt=filters.before)
    turns = list(keys.order_by("-turn")[: page_size + 1])
    older = turns[page_size - 1] if len(turns) > page_size else None
    turns = turns[:page_size]
    spans = list(_spans(base.filter(turn__in=turns)).order_by("turn", "started_at", "id"))
    for s in spans:
        _decorate(s)
    kids_of, spans_of = _nest(spans, filters)
    if strip is None:
        strip = session_turns(agent)
    axis = None
    if filters.scale == "session":
        axis = max([t["ms"] for t in strip] or [0]) or None
    by_turn: dict[int, list[ToolSpan]] = defaultdict(list)
    for s in spans:
        by_turn[s.turn].append(s)
    costs = _turn_costs(agent, turns) if turns else {}
    built = []
    for n in turns:
        if not by_turn[n]:
            continue
        t = build_turn(n, by_turn[n], kids_of, spans_of, axis_ms=axis, usage=costs.get(n))
        if axis is not None:
            axis = max(axis, _ms(t["started_at"], max(r.end for r in t["rows"])))
        built.append(t)
    return {"turns": built, "older": older, "axis_ms": axis, "filters": filters}


def live_turn(agent: Agent, turn: int) -> dict[str, Any] | None:
    """One turn of the unfiltered waterfall, for a pushed span (its sub-agents' included)."""
    spans = list(_spans(ToolSpan.objects.filter(agent=agent, turn=turn))
                 .order_by("started_at", "id"))
    if not spans:
        return None
    for s in spans:
        _decorate(s)
    filters = TraceFilters()
    kids_of, spans_of = _nest(spans, filters)
    strip = session_turns(agent)
    axis = max([t["ms"] for t in strip] or [0]) or None
    return build_turn(turn, spans, kids_of, spans_of, axis_ms=axis,
                      usage=_turn_costs(agent, [turn]).get(turn))


def spawning_turn(sub_agent_id: int) -> int | None:
    """The parent's turn whose span spawned this sub-agent (a pushed span of the sub-agent
    re-renders that turn of the parent's page)."""
    row = Agent.objects.filter(pk=sub_agent_id).values("parent_id", "metadata",
                                                      "created_at").first()
    if row is None or row["parent_id"] is None:
        return None
    meta = row["metadata"] if isinstance(row["metadata"], dict) else {}
    spans = ToolSpan.objects.filter(agent_id=row["parent_id"])
    if meta.get("tool_use_id"):
        spans = spans.filter(span_id=str(meta["tool_use_id"]))
    else:
        spans = spans.filter(tool_name__in=SPAWN_TOOLS, started_at__lte=row["created_at"])
    return spans.order_by("-started_at").values_list("turn", flat=True).first()


# --- one span, for the drawer ---------------------------------------------------------------
def _pretty(text: str) -> str:
    """JSON payloads indented; anything else as it came."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return text


def _payload(text: str, size: int, full: bool) -> dict[str, Any]:
    pretty = _pretty(text or "")
    cut = not full and len(pretty) > PAYLOAD_PREVIEW
    return {
        "text": pretty[:PAYLOAD_PREVIEW] if cut else pretty,
        "cut": cut,
        "shown": len(pretty),
        "size": size,
        "removed": not text and size > 0,  # emptied by retention
        "clipped": size > len(text or ""),  # stored in part (MAX_PAYLOAD)
    }


def span_detail(agent: Agent, span_pk: int, *, full: str = "") -> dict[str, Any] | None:
    """One span of `agent` with its payloads (pretty, cut at PAYLOAD_PREVIEW unless `full`
    names them), timings, tokens and the cost recorded for it."""
    span = ToolSpan.objects.filter(agent=agent, pk=span_pk).select_related("task").first()
    if span is None:
        return None
    _decorate(span)
    usage = TokenUsage.objects.filter(agent=agent, key=f"span:{span.span_id}").order_by().values(
        *TOKEN_FIELDS, "cost_usd", "cost_source").first()
    cost = None
    if usage is not None:
        cost = Usage.from_row({**usage, "calls": 1,
                               "unknown": int(usage["cost_source"] == "unknown")}).cost_label
    return {
        "span": span,
        "payloads": [
            ("input", _payload(span.input, span.input_size, full in ("input", "all"))),
            ("output", _payload(span.output, span.output_size, full in ("output", "all"))),
        ],
        "cost_label": cost,
        "spawned": list(Agent.objects.filter(parent=agent, metadata__tool_use_id=span.span_id)
                        .only("id", "name", "status")[:10])
        if span.tool_name in SPAWN_TOOLS else [],
    }
