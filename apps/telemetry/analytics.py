"""Analytics reads: series and totals over any range, from the rollups alone, so their cost
does not grow with the range (a query per measure family, whatever the range or grouping).

The range picks its grain: up to 8 hours in 5-minute buckets, up to 10 days hourly, longer
daily (UTC days). Percentiles come from the summed latency histograms, within one histogram
bucket of the exact value. Time an agent is in its current status has no rollup yet (the
interval is still open): it is added from the agents' rows at read time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.agents.models import Agent
from apps.projects.models import Project
from apps.telemetry.models import (
    HISTOGRAM,
    LATENCY_EDGES,
    TOKEN_FIELDS,
    EventRollup,
    Grain,
    SpanRollup,
    StatusRollup,
    UsageRollup,
)
from apps.telemetry.rollups import COUNTED_STATUSES, EPOCH, floor_to, split
from apps.telemetry.rollups import EVERY_AGENT as _EVERY
from apps.telemetry.selectors import fmt_tokens, fmt_usd

GROUPS = ("project", "agent", "model", "tool", "issue", "person")
EVERY_AGENT = int(_EVERY)
# Which rollup column each grouping reads, per family; a family without it is not split.
COLUMNS = {
    "usage": {"project": "project_id", "agent": "agent_id", "model": "model", "issue": "issue",
              "person": "person"},
    "spans": {"project": "project_id", "agent": "agent_id", "model": "model", "tool": "tool"},
    "status": {"project": "project_id", "agent": "agent_id"},
    "events": {"project": "project_id", "agent": "agent_id"},
}
PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
           "90d": timedelta(days=90)}
MAX_RANGE = timedelta(days=3 * 366)
TOP = 8  # series per chart; the rest are summed as "Other"
OTHER = "Other"
ALERT_KINDS = ("alert.opened", "alert.acknowledged", "alert.resolved")


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @property
    def grain(self) -> int:
        length = self.until - self.since
        if length <= timedelta(hours=8):
            return Grain.FIVE_MINUTES
        if length <= timedelta(days=10):
            return Grain.HOUR
        return Grain.DAY

    @property
    def first(self) -> datetime:
        return floor_to(self.since, self.grain)

    @property
    def previous(self) -> Window:
        """The same length just before, ending where this window's first bucket starts (so
        no bucket is counted in both)."""
        return Window(self.first - (self.until - self.since), self.first)

    def buckets(self) -> list[datetime]:
        step = timedelta(seconds=self.grain)
        out, start = [], self.first
        while start < self.until:
            out.append(start)
            start += step
        return out


@dataclass(frozen=True)
class Filters:
    projects: tuple[int, ...] | None = None  # None: every project the reader may see
    agents: tuple[int, ...] | None = None
    models: tuple[str, ...] | None = None

    def apply(self, qs: Any, family: str) -> Any:
        if self.projects is not None:
            qs = qs.filter(project_id__in=self.projects)
        if self.agents is not None:
            qs = qs.filter(agent_id__in=self.agents)
        if self.models is not None and "model" in COLUMNS[family]:
            qs = qs.filter(model__in=self.models)
        return qs


def _rows(model: Any, family: str, window: Window, filters: Filters, *,
          by_agent: bool = False) -> Any:
    """Rollup rows of the window: per agent when the reader splits or filters by agent, else
    the rows summed over every agent of a project (a few per bucket, whatever the fleet)."""
    qs = model.objects.filter(grain=window.grain, start__gte=window.first,
                              start__lt=window.until).order_by()
    return filters.apply(scope(qs, filters, by_agent=by_agent), family)


def scope(qs: Any, filters: Filters, *, by_agent: bool = False) -> Any:
    """Rollup rows per agent (when split or filtered by agent), or the rows summed over every
    agent of a project: never both, which would count everything twice."""
    if by_agent or filters.agents is not None:
        return qs.filter(agent_id__gte=0)
    return qs.filter(agent_id=EVERY_AGENT)


# --- percentiles -----------------------------------------------------------------------------
def percentile(histogram: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) of latencies counted in LATENCY_EDGES buckets, interpolated inside
    its bucket: always within that bucket's bounds."""
    total = sum(histogram)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(histogram):
        if count and seen + count >= rank:
            lo = 0 if i == 0 else LATENCY_EDGES[i - 1]
            hi = LATENCY_EDGES[i] if i < len(LATENCY_EDGES) else lo * 2
            return lo + (hi - lo) * max(rank - seen, 0) / count
        seen += count
    return float(LATENCY_EDGES[-1])


# --- labels ------------------------------------------------------------------------------------
def labels(group_by: str, keys: Iterable[Any]) -> dict[Any, str]:
    """What the pages print for each group key (one query for the whole set)."""
    keys = set(keys)
    if group_by == "project":
        names = dict(Project.objects.filter(pk__in=keys).values_list("pk", "name"))
        return {k: names.get(k, f"project #{k}") for k in keys}
    if group_by == "agent":
        names = dict(Agent.objects.filter(pk__in=keys).values_list("pk", "name"))
        return {k: names.get(k) or ("no agent" if not k else f"agent #{k} (deleted)")
                for k in keys}
    if group_by == "issue":
        from apps.linear.models import LinearIssue

        found = {i.linear_id: f"{i.identifier} {i.title}"[:80]
                 for i in LinearIssue.objects.filter(linear_id__in=keys).only(
                     "linear_id", "identifier", "title")}
        return {k: found.get(k, k) if k else "(no Linear issue)" for k in keys}
    empty = {"model": "(unknown model)", "tool": "(unnamed tool)", "person": "(nobody)"}
    return {k: k or empty[group_by] for k in keys}


# --- series ----------------------------------------------------------------------------------
def _payload(window: Window, title: str, unit: str, kind: str, stacked: bool,
             series: dict[str, dict[datetime, float]], order: list[str]) -> dict[str, Any]:
    buckets = window.buckets()
    return {
        "title": title, "unit": unit, "kind": kind, "stacked": stacked,
        "x": [int((b - EPOCH).total_seconds()) for b in buckets],
        # Stacked areas and bars are sums: an empty bucket is 0. Lines (rates, latencies)
        # leave a gap where there was nothing to measure.
        "series": [{"label": name,
                    "values": [_num(series[name].get(b, None if kind == "line" else 0))
                               for b in buckets]}
                   for name in order if name in series],
    }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    return round(float(value), 6)


def _top_with_other(per_group: dict[Any, dict[datetime, Any]], names: dict[Any, str],
                    overall: dict[datetime, dict[str, Any]], measure: str,
                    kind: type) -> tuple[dict[str, dict[datetime, Any]], list[str]]:
    """The TOP largest groups by total, and "Other": the overall minus them, per bucket."""
    totals = {k: sum(v.values()) for k, v in per_group.items()}
    ranked = sorted(per_group, key=lambda k: (-totals[k], names.get(k, str(k))))[:TOP]
    if not per_group:  # not split: one series, the overall
        whole = {b: kind(r[measure] or 0) for b, r in overall.items()}
        return ({"All": whole}, ["All"]) if whole else ({}, [])
    out = {names.get(k, str(k)): per_group[k] for k in ranked}
    other = {}
    for b, r in overall.items():
        rest = kind(r[measure] or 0) - sum(per_group[k].get(b, 0) for k in ranked)
        if rest > 0:
            other[b] = rest
    if other:
        out[OTHER] = other
    return out, list(out)


@dataclass
class Series:
    window: Window
    group_by: str
    charts: dict[str, dict[str, Any]] = field(default_factory=dict)


def series(*, window: Window, filters: Filters, group_by: str,
           now: datetime | None = None, rows: Sequence[Row] | None = None) -> Series:
    """Every chart of the window. `rows`: this window's totals() when the caller has them
    already, so the groups are not ranked a second time."""
    now = now or timezone.now()
    result = Series(window=window, group_by=group_by)
    usage_col = COLUMNS["usage"].get(group_by)
    tokens_sum = sum((F(f) for f in TOKEN_FIELDS[1:]), start=F(TOKEN_FIELDS[0]))

    # Cost and tokens, stacked by the grouping (the TOP groups, the rest as "Other"); cache
    # hit rate overall. Three queries whatever the number of groups: rank the groups, read the
    # top ones per bucket, read the overall per bucket.
    sums = {"cost": Sum("cost_usd"), "tokens": Sum(tokens_sum), "read": Sum("tokens_cache_read"),
            "prompt": Sum(F("tokens_input") + F("tokens_cache_read") + F("tokens_cache_write"))}
    by_agent = group_by == "agent"
    overall: dict[datetime, dict[str, Any]] = {
        row["start"]: row
        for row in _rows(UsageRollup, "usage", window, filters).values("start").annotate(**sums)}
    cost: dict[Any, dict[datetime, Any]] = defaultdict(dict)
    tokens: dict[Any, dict[datetime, Any]] = defaultdict(dict)
    if usage_col:
        if rows is not None:
            ranked = [{usage_col: r.current.key, "cost": r.current.cost_usd,
                       "tokens": r.current.total_tokens} for r in rows]
        else:
            ranked = list(_rows(UsageRollup, "usage", window, filters, by_agent=by_agent)
                          .values(usage_col)
                          .annotate(cost=Sum("cost_usd"), tokens=Sum(tokens_sum)))
        top_keys = ({r[usage_col] for r in sorted(ranked, key=lambda r: -(r["cost"] or 0))[:TOP]}
                    | {r[usage_col] for r in sorted(ranked, key=lambda r: -(r["tokens"] or 0))[:TOP]})
        for row in (_rows(UsageRollup, "usage", window, filters, by_agent=by_agent)
                    .filter(**{f"{usage_col}__in": top_keys}).values("start", usage_col)
                    .annotate(cost=Sum("cost_usd"), tokens=Sum(tokens_sum))):
            cost[row[usage_col]][row["start"]] = Decimal(row["cost"] or 0)
            tokens[row[usage_col]][row["start"]] = int(row["tokens"] or 0)
        names = labels(group_by, top_keys)
    else:
        names = {"All": "All"}
    cost_top, cost_order = _top_with_other(cost, names, overall, "cost", Decimal)
    tokens_top, tokens_order = _top_with_other(tokens, names, overall, "tokens", int)
    result.charts["cost"] = _payload(window, "Cost", "usd", "area", True, cost_top, cost_order)
    result.charts["tokens"] = _payload(window, "Tokens", "tokens", "area", True, tokens_top,
                                       tokens_order)
    result.charts["cache"] = _payload(
        window, "Cache hit rate", "pct", "line", False,
        {"Cache reads / prompt": {b: 100.0 * (r["read"] or 0) / r["prompt"]
                                  for b, r in overall.items() if r["prompt"]}},
        ["Cache reads / prompt"])

    # Tool calls: latency percentiles and error rate, overall.
    hist_sums = {h: Sum(h) for h in HISTOGRAM}
    p50, p95, rate, calls = {}, {}, {}, {}
    for row in (_rows(SpanRollup, "spans", window, filters).values("start")
                .annotate(calls=Sum("calls"), errors=Sum("errors"), **hist_sums)):
        histogram = [int(row[h] or 0) for h in HISTOGRAM]
        p50[row["start"]] = percentile(histogram, 0.5)
        p95[row["start"]] = percentile(histogram, 0.95)
        calls[row["start"]] = int(row["calls"] or 0)
        if row["calls"]:
            rate[row["start"]] = 100.0 * (row["errors"] or 0) / row["calls"]
    result.charts["latency"] = _payload(window, "Tool latency", "ms", "line", False,
                                        {"p50": p50, "p95": p95}, ["p50", "p95"])
    result.charts["errors"] = _payload(window, "Tool error rate", "pct", "line", False,
                                       {"Errors / calls": rate}, ["Errors / calls"])
    result.charts["calls"] = _payload(window, "Tool calls", "count", "bars", False,
                                      {"Tool calls": calls}, ["Tool calls"])

    # Agent-hours by status, and time to unblock.
    hours: dict[str, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
    unblock: dict[datetime, list[float]] = defaultdict(lambda: [0, 0.0])
    for row in (_rows(StatusRollup, "status", window, filters).values("start", "status")
                .annotate(seconds=Sum("seconds"), n=Sum("unblocks"),
                          waited=Sum("unblock_seconds"))):
        hours[row["status"]][row["start"]] += (row["seconds"] or 0) / 3600
        if row["n"]:
            unblock[row["start"]][0] += row["n"]
            unblock[row["start"]][1] += row["waited"] or 0
    for status, per_bucket in open_status_hours(window=window, filters=filters, now=now).items():
        for b, h in per_bucket.items():
            hours[status][b] += h
    order = [s for s in COUNTED_STATUSES if s in hours]
    result.charts["status"] = _payload(window, "Agent-hours by status", "hours", "area", True,
                                       {s: dict(hours[s]) for s in order}, order)
    result.charts["unblock"] = _payload(
        window, "Time to unblock", "ms", "line", False,
        {"Mean wait": {b: 1000.0 * w / n for b, (n, w) in unblock.items() if n}}, ["Mean wait"])

    # Alerts opened, acknowledged, resolved.
    alerts: dict[str, dict[datetime, int]] = defaultdict(dict)
    for row in (_rows(EventRollup, "events", window, filters).filter(kind__in=ALERT_KINDS)
                .values("start", "kind").annotate(n=Sum("count"))):
        alerts[row["kind"].split(".", 1)[1]][row["start"]] = int(row["n"] or 0)
    order = [k.split(".", 1)[1] for k in ALERT_KINDS]
    result.charts["alerts"] = _payload(window, "Alerts", "count", "bars", False,
                                       dict(alerts), order)
    return result


def open_status_hours(*, window: Window, filters: Filters,
                      now: datetime) -> dict[str, dict[datetime, float]]:
    """Hours per bucket of the status each agent is in now (not rolled up until it ends)."""
    qs = Agent.objects.filter(status__in=COUNTED_STATUSES, status_since__lt=window.until,
                              archived_at__isnull=True)
    if filters.projects is not None:
        qs = qs.filter(project_id__in=filters.projects)
    if filters.agents is not None:
        qs = qs.filter(pk__in=filters.agents)
    out: dict[str, dict[datetime, float]] = {}
    end = min(now, window.until)
    for status, since in qs.values_list("status", "status_since"):
        begin = max(since, window.first)
        if begin >= end:
            continue
        per = out.setdefault(status, defaultdict(float))
        for start, seconds in split(begin, end, window.grain):
            per[start] += seconds / 3600
    return out


# --- totals ----------------------------------------------------------------------------------
@dataclass
class Totals:
    key: Any
    label: str = ""
    calls: int = 0
    unknown_price_calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: {f: 0 for f in TOKEN_FIELDS})
    cost_usd: Decimal = Decimal(0)
    tool_calls: int = 0
    errors: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(HISTOGRAM))

    @property
    def error_rate(self) -> float | None:
        return 100.0 * self.errors / self.tool_calls if self.tool_calls else None

    @property
    def cache_hit_rate(self) -> float | None:
        prompt = (self.tokens["tokens_input"] + self.tokens["tokens_cache_read"]
                  + self.tokens["tokens_cache_write"])
        return 100.0 * self.tokens["tokens_cache_read"] / prompt if prompt else None

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens.values())

    def p(self, q: float) -> float | None:
        return percentile(self.histogram, q)

    # What the page prints.
    @property
    def cost_text(self) -> str:
        if not self.calls:
            return "—"
        if self.unknown_price_calls == self.calls:
            return "unknown price"
        return fmt_usd(self.cost_usd)

    @property
    def tokens_text(self) -> str:
        return fmt_tokens(self.total_tokens) if self.calls else "—"

    @property
    def cache_text(self) -> str:
        return "—" if self.cache_hit_rate is None else f"{self.cache_hit_rate:.0f} %"

    @property
    def error_rate_text(self) -> str:
        return "—" if self.error_rate is None else f"{self.error_rate:.1f} %"

    @property
    def p50_text(self) -> str:
        return fmt_ms(self.p(0.5))

    @property
    def p95_text(self) -> str:
        return fmt_ms(self.p(0.95))

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.tokens["tokens_input"],
            "output_tokens": self.tokens["tokens_output"],
            "cache_read_tokens": self.tokens["tokens_cache_read"],
            "cache_write_tokens": self.tokens["tokens_cache_write"],
            "reasoning_tokens": self.tokens["tokens_reasoning"],
            "cost_usd": f"{self.cost_usd:.8f}",
            "calls_unknown_price": self.unknown_price_calls,
            "cache_hit_rate": rounded(self.cache_hit_rate),
            "tool_calls": self.tool_calls,
            "errors": self.errors,
            "error_rate": rounded(self.error_rate),
            "latency_p50_ms": rounded(self.p(0.5)),
            "latency_p95_ms": rounded(self.p(0.95)),
        }


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _totals(window: Window, filters: Filters, group_by: str, *,
            usage_of: Collection[Any] | None = None,
            spans_of: Collection[Any] | None = None) -> dict[Any, Totals]:
    """Per group: usage and tool-call figures; of the groups in `usage_of` / `spans_of` only,
    when given (an empty collection: none, without a query)."""
    out: dict[Any, Totals] = {}
    col = COLUMNS["usage"].get(group_by)
    if col and (usage_of is None or usage_of):
        sums = {f: Sum(f) for f in TOKEN_FIELDS}
        qs = _rows(UsageRollup, "usage", window, filters, by_agent=group_by == "agent")
        if usage_of is not None:
            qs = qs.filter(**{f"{col}__in": list(usage_of)})
        for row in (qs.values(col)
                    .annotate(cost=Sum("cost_usd"), n=Sum("calls"), unknown=Sum("unknown"),
                              **sums)):
            t = out.setdefault(row[col], Totals(key=row[col]))
            t.calls, t.unknown_price_calls = int(row["n"] or 0), int(row["unknown"] or 0)
            t.cost_usd = Decimal(row["cost"] or 0).quantize(Decimal("0.00000001"))
            t.tokens = {f: int(row[f] or 0) for f in TOKEN_FIELDS}
    col = COLUMNS["spans"].get(group_by)
    if col and (spans_of is None or spans_of):
        qs = _rows(SpanRollup, "spans", window, filters, by_agent=group_by == "agent")
        if spans_of is not None:
            qs = qs.filter(**{f"{col}__in": list(spans_of)})
        for row in (qs.values(col)
                    .annotate(n=Sum("calls"), e=Sum("errors"),
                              **{h: Sum(h) for h in HISTOGRAM})):
            t = out.setdefault(row[col], Totals(key=row[col]))
            t.tool_calls, t.errors = int(row["n"] or 0), int(row["e"] or 0)
            t.histogram = [int(row[h] or 0) for h in HISTOGRAM]
    return out


@dataclass
class Row:
    current: Totals
    previous: Totals

    @property
    def cost_delta_pct(self) -> float | None:
        before = self.previous.cost_usd
        return float(100 * (self.current.cost_usd - before) / before) if before else None

    @property
    def delta_text(self) -> str:
        delta = self.cost_delta_pct
        if delta is None:
            return "new" if self.current.cost_usd else "—"
        if delta > 999:
            return "> +999 %"
        return f"{'+' if delta >= 0 else '−'}{abs(delta):.0f} %"

    @property
    def delta_class(self) -> str:
        delta = self.cost_delta_pct
        if delta is None or abs(delta) < 1:
            return "flat"
        return "up" if delta > 0 else "down"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    return f"{value / 60_000:.1f} min"


def totals(*, window: Window, filters: Filters, group_by: str,
           page_later: bool = False) -> list[Row]:
    """Totals per group for the window and the same length just before it, costliest first.

    With `page_later`, groups that have usage are ranked by this window's usage alone, and
    their tool-call figures and the previous period are left for add_page_totals() to fill in
    for the groups a page shows (summing every agent's latency histograms over months is the
    costliest read there is); groups with no usage in the window are then not listed."""
    later = page_later and group_by in COLUMNS["usage"]
    now_rows = _totals(window, filters, group_by, spans_of=() if later else None)
    before = ({} if later else _totals(window.previous, filters, group_by))
    names = labels(group_by, set(now_rows) | set(before))
    rows = []
    for key in set(now_rows) | set(before):
        current = now_rows.get(key) or Totals(key=key)
        previous = before.get(key) or Totals(key=key)
        current.label = previous.label = names.get(key, str(key))
        rows.append(Row(current, previous))
    rows.sort(key=lambda r: (-r.current.cost_usd, -r.current.tool_calls, r.current.label))
    return rows


def add_page_totals(rows: Sequence[Row], *, window: Window, filters: Filters,
                    group_by: str) -> None:
    """The figures totals(page_later=True) left out, for these rows only: this window's tool
    calls and the previous window's everything."""
    if group_by not in COLUMNS["usage"]:
        return  # nothing was left out
    keys = [row.current.key for row in rows]
    current = _totals(window, filters, group_by, usage_of=(), spans_of=keys)
    previous = _totals(window.previous, filters, group_by, usage_of=keys, spans_of=keys)
    for row in rows:
        got = current.get(row.current.key)
        if got is not None:
            row.current.tool_calls, row.current.errors = got.tool_calls, got.errors
            row.current.histogram = got.histogram
        before = previous.get(row.current.key)
        if before is not None:
            before.label = row.current.label
            row.previous = before


def overall(*, window: Window, filters: Filters) -> Row:
    """The grand total of the window and the previous one, from the rows summed over every
    agent (a few per bucket), whatever the grouping of the page."""
    group = "agent" if filters.agents is not None else "project"
    return grand_total(totals(window=window, filters=filters, group_by=group))


def grand_total(rows: Iterable[Row]) -> Row:
    """Everything summed: the table's footer and the page's headline figures."""
    total = Row(Totals(key=None, label="Total"), Totals(key=None, label="Total"))
    for row in rows:
        for mine, theirs in ((total.current, row.current), (total.previous, row.previous)):
            mine.calls += theirs.calls
            mine.unknown_price_calls += theirs.unknown_price_calls
            mine.cost_usd += theirs.cost_usd
            mine.tool_calls += theirs.tool_calls
            mine.errors += theirs.errors
            mine.tokens = {f: mine.tokens[f] + theirs.tokens[f] for f in TOKEN_FIELDS}
            mine.histogram = [a + b for a, b in zip(mine.histogram, theirs.histogram, strict=True)]
    return total


# --- sparklines -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spark:
    """One sparkline: hourly values of the last 24 hours, as static/js/charts.js draws them."""

    label: str
    unit: str
    values: tuple[float, ...]

    @property
    def json(self) -> str:
        import json

        return json.dumps([round(v, 6) for v in self.values])

    @property
    def total_text(self) -> str:
        total = sum(self.values)
        if self.unit == "usd":
            return fmt_usd(Decimal(str(round(total, 8))))
        if self.unit == "tokens":
            return fmt_tokens(int(total))
        return f"{int(total):,}"


SPARKS = (("cost", "24 h cost", "usd"), ("tokens", "24 h tokens", "tokens"),
          ("errors", "24 h tool errors", "count"))


def sparks(**kwargs: Any) -> dict[Any, list[Spark]]:
    """sparklines() as Spark objects per id, for templates."""
    return {k: [Spark(label, unit, tuple(v[name])) for name, label, unit in SPARKS]
            for k, v in sparklines(**kwargs).items()}


def sparklines(*, projects: Sequence[int] | None = None, agents: Sequence[int] | None = None,
               by: str, now: datetime | None = None) -> dict[Any, dict[str, list[float]]]:
    """Hourly cost, tokens and tool errors of the last 24 hours per project or agent (`by`),
    from the hourly rollups: one query per measure for the whole page."""
    now = now or timezone.now()
    window = Window(now - timedelta(hours=24), now)
    buckets = [floor_to(window.since, Grain.HOUR) + timedelta(hours=i) for i in range(25)]
    index = {b: i for i, b in enumerate(buckets)}
    col = "project_id" if by == "project" else "agent_id"
    ids = list(projects if by == "project" else agents or [])
    out: dict[Any, dict[str, list[float]]] = {
        k: {"cost": [0.0] * len(buckets), "tokens": [0.0] * len(buckets),
            "errors": [0.0] * len(buckets)} for k in ids}
    base = Q(grain=Grain.HOUR, start__gte=buckets[0], start__lte=buckets[-1],
             **{f"{col}__in": ids})
    if by == "project":
        base &= Q(agent_id=EVERY_AGENT)
    tokens_sum = sum((F(f) for f in TOKEN_FIELDS[1:]), start=F(TOKEN_FIELDS[0]))
    for row in (UsageRollup.objects.filter(base).order_by().values(col, "start")
                .annotate(c=Sum("cost_usd"), t=Sum(tokens_sum))):
        cell = out[row[col]]
        cell["cost"][index[row["start"]]] = float(row["c"] or 0)
        cell["tokens"][index[row["start"]]] = float(row["t"] or 0)
    for row in (SpanRollup.objects.filter(base).order_by().values(col, "start")
                .annotate(e=Sum("errors"))):
        out[row[col]]["errors"][index[row["start"]]] = float(row["e"] or 0)
    return out


# --- reading a request -----------------------------------------------------------------------
class QueryError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Query:
    window: Window
    filters: Filters
    group_by: str
    preset: str  # "24h", "7d", ... or "custom"
    tz: Any


def _moment(raw: str, tz: Any, *, end: bool) -> datetime:
    """An ISO date-time, or a date meaning the start of that day (or, for `until`, its end) in
    the reader's time zone."""
    from datetime import date as date_type

    from django.utils.dateparse import parse_date

    day = parse_date(raw) if len(raw) == 10 else None
    if day is None:
        value = parse_datetime(raw)
        if value is None:
            raise ValueError(raw)
        return value if timezone.is_aware(value) else timezone.make_aware(value, tz)
    if not isinstance(day, date_type):
        raise ValueError(raw)
    moment = datetime.combine(day + timedelta(days=1) if end else day, datetime.min.time())
    return timezone.make_aware(moment, tz)


def parse_query(params: Any, *, project: Project | None = None,
                now: datetime | None = None) -> Query:
    """`range` (24h, 7d, 30d, 90d) or `since` + `until`; `group_by`; `tz`; filters `project`
    (slugs or ids), `agent` (ids), `model` (names), each comma-separated. A key's `project`
    limits everything to it. Anything not understood is a QueryError naming the parameter."""
    import zoneinfo

    from django.conf import settings

    now = now or timezone.now()
    errors: dict[str, str] = {}

    def one(name: str, choices: Iterable[str] = ()) -> str:
        values = params.getlist(name) if hasattr(params, "getlist") else [params.get(name)]
        given = [v for v in values if v is not None]
        if len(given) > 1:
            errors[name] = "Give it once (use commas for several values)."
        value = (given[0] if given else "").strip()
        if choices and given and value not in choices:
            errors[name] = f"One of {', '.join(choices)}."
        return value

    tz_name = one("tz") or settings.TIME_ZONE
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["tz"] = f"Unknown time zone {tz_name!r}."
        tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)

    group_by = one("group_by", GROUPS)
    group_by = group_by if group_by in GROUPS else "project"

    preset = one("range", PRESETS)
    since_raw, until_raw = one("since"), one("until")
    since = until = None
    if since_raw or until_raw:
        try:
            since = _moment(since_raw, tz, end=False) if since_raw else None
        except ValueError:
            errors["since"] = "A date (2026-11-30) or an ISO date-time."
        try:
            until = _moment(until_raw, tz, end=True) if until_raw else now
        except ValueError:
            errors["until"] = "A date (2026-11-30) or an ISO date-time."
        if since is None and "since" not in errors:
            errors["since"] = "Required with until."
        preset = "custom"
    else:
        preset = preset if preset in PRESETS else "24h"
        since, until = now - PRESETS.get(preset, PRESETS["24h"]), now
    if since and until and "since" not in errors and "until" not in errors:
        if since >= until:
            errors["until"] = "Must be after since."
        elif until - since > MAX_RANGE:
            errors["since"] = "A range of at most three years."

    filters = _filters(one, errors, project)
    if errors:
        raise QueryError(errors)
    assert since is not None and until is not None
    return Query(Window(since, until), filters, group_by, preset, tz)


def _filters(one: Any, errors: dict[str, str], project: Project | None) -> Filters:
    projects: tuple[int, ...] | None = None
    raw = one("project")
    if raw:
        wanted = [p.strip() for p in raw.split(",") if p.strip()]
        ids = [int(p) for p in wanted if p.isdigit()]
        slugs = [p for p in wanted if not p.isdigit()]
        found = list(Project.objects.filter(Q(pk__in=ids) | Q(slug__in=slugs))
                     .values_list("pk", "slug"))
        known = {str(pk) for pk, _ in found} | {slug for _, slug in found}
        missing = [p for p in wanted if p not in known]
        if missing:
            errors["project"] = f"Unknown project: {', '.join(missing)}."
        projects = tuple(pk for pk, _ in found)
    if project is not None:  # an API key sees its own project only
        if projects is not None and project.pk not in projects:
            errors["project"] = "This API key belongs to another project."
        projects = (project.pk,)
    agents: tuple[int, ...] | None = None
    raw = one("agent")
    if raw:
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if not all(p.isdigit() and int(p) < 2**63 for p in parts):
            errors["agent"] = "Agent ids (whole numbers), comma-separated."
        else:
            agents = tuple(int(p) for p in parts)
    raw = one("model")
    models = tuple(m.strip() for m in raw.split(",") if m.strip()) if raw else None
    return Filters(projects=projects, agents=agents, models=models)
