"""Scheduled reports, the reading side: which period a report covers, whether the rollups have
reached its end, and the digest's figures, all from the rollups (analytics.totals for the
headline and the top lists, so a report says what the Analytics page says for that range).

A period is a local day or a Monday-to-Sunday week in settings.TIME_ZONE. Anomalies compare the
period with the mean of the BASELINE_PERIODS periods of the same length before it, and are
flagged only when both sides rest on enough data (MIN_* below)."""

from __future__ import annotations

import bisect
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from apps.agents.models import Agent, AgentEvent, AgentStatus
from apps.projects.models import Project
from apps.telemetry import analytics
from apps.telemetry.analytics import ALERT_KINDS, Filters, Window
from apps.telemetry.models import (
    HISTOGRAM,
    Cadence,
    EventRollup,
    SpanRollup,
    StatusRollup,
    TokenUsage,
    UsageRollup,
    Watermark,
)

CONTENT_VERSION = 1
TOP = 5
BASELINE_PERIODS = 4
MIN_BASELINE_PERIODS = 3  # of the 4: one quiet holiday week does not hide a change
THRESHOLD_PCT = 40.0
MIN_TASKS = 5  # per period, for cost per task
MIN_TOOL_CALLS = 50  # per period, for cost per tool call, error rate and p95 latency
MIN_ERROR_RATE_POINTS = 2.0  # error rate must also rise by this many percentage points
TASK_KIND = "task.completed"


# --- periods ---------------------------------------------------------------------------------
def local_tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_tz()).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    cadence: str
    start: datetime  # UTC
    end: datetime

    @property
    def days(self) -> int:
        return 1 if self.cadence == Cadence.DAILY else 7

    @property
    def first_day(self) -> date:
        return self.start.astimezone(local_tz()).date()

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)

    @property
    def window(self) -> Window:
        return Window(self.start, self.end)

    def earlier(self, n: int) -> Period:
        """The period n before this one, by the local calendar (a day with a clock change
        is 23 or 25 hours long)."""
        return period_starting(self.cadence, self.first_day - timedelta(days=self.days * n))

    @property
    def label(self) -> str:
        first, last = self.first_day, self.last_day
        if self.cadence == Cadence.DAILY:
            return f"{first:%a} {first.day} {first:%b %Y}"
        if first.month == last.month:
            return f"{first.day}–{last.day} {last:%b %Y}"
        if first.year == last.year:
            return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
        return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"


def period_starting(cadence: str, day: date) -> Period:
    days = 1 if cadence == Cadence.DAILY else 7
    return Period(cadence, _midnight(day), _midnight(day + timedelta(days=days)))


def latest_period(cadence: str, now: datetime | None = None) -> Period:
    """The latest complete period: yesterday, or last Monday to Sunday."""
    today = (now or timezone.now()).astimezone(local_tz()).date()
    if cadence == Cadence.DAILY:
        return period_starting(cadence, today - timedelta(days=1))
    monday = today - timedelta(days=today.weekday())
    return period_starting(cadence, monday - timedelta(days=7))


def rolled_up_until(now: datetime | None = None) -> datetime:
    """Up to when the rollups have counted everything recorded: the usage watermark, and the
    first event the event rollup has not read yet."""
    now = now or timezone.now()
    usage = Watermark.objects.filter(name="usage").values_list("at", flat=True).first()
    if usage is None:  # never rolled up: ready only if there is nothing to roll up
        usage = now if not TokenUsage.objects.exists() else datetime.min.replace(tzinfo=UTC)
    position = Watermark.objects.filter(name="events").values_list("position", flat=True).first()
    unread = (AgentEvent.objects.filter(id__gt=position or 0).order_by("id")
              .values_list("created_at", flat=True).first())
    return min(usage, unread or now)


def is_ready(period: Period, now: datetime | None = None) -> bool:
    return rolled_up_until(now) >= period.end


def ready_period(cadence: str, now: datetime | None = None) -> Period:
    """The latest complete period the rollups have reached (the one before while they catch
    up with the latest)."""
    period = latest_period(cadence, now)
    return period if is_ready(period, now) else period.earlier(1)


# --- the digest --------------------------------------------------------------------------------
def scope_name(project: Project | None) -> str:
    return project.name if project is not None else "All projects"


def report_title(period: Period, project: Project | None) -> str:
    kind = "Daily" if period.cadence == Cadence.DAILY else "Weekly"
    return f"{kind} report · {scope_name(project)} · {period.label}"


def build_content(*, period: Period, project: Project | None,
                  now: datetime | None = None) -> dict[str, Any]:
    """Everything a report shows, as JSON primitives (costs as decimal strings)."""
    now = now or timezone.now()
    window = period.window
    filters = Filters(projects=(project.pk,) if project is not None else None)
    total = analytics.grand_total(analytics.totals(window=window, filters=filters,
                                                   group_by="project"))
    events = _event_counts(window, filters, (TASK_KIND, *ALERT_KINDS))
    before = _event_counts(window.previous, filters, (TASK_KIND, *ALERT_KINDS))
    cur, prev = total.current, total.previous
    return {
        "version": CONTENT_VERSION,
        "cadence": period.cadence,
        "title": report_title(period, project),
        "scope": {"project_id": project.pk if project else None,
                  "name": scope_name(project), "slug": project.slug if project else ""},
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(),
                   "label": period.label, "tz": settings.TIME_ZONE},
        "previous": {"start": window.previous.since.isoformat(),
                     "end": window.previous.until.isoformat()},
        "headline": {
            "cost_usd": _pair(f"{cur.cost_usd:.8f}", f"{prev.cost_usd:.8f}"),
            "tokens": _pair(cur.total_tokens, prev.total_tokens),
            "model_calls": _pair(cur.calls, prev.calls),
            "unknown_price_calls": _pair(cur.unknown_price_calls, prev.unknown_price_calls),
            "cache_hit_rate": _pair(analytics.rounded(cur.cache_hit_rate),
                                    analytics.rounded(prev.cache_hit_rate)),
            "tool_calls": _pair(cur.tool_calls, prev.tool_calls),
            "error_rate": _pair(analytics.rounded(cur.error_rate),
                                analytics.rounded(prev.error_rate)),
            "p95_ms": _pair(analytics.rounded(cur.p(0.95)), analytics.rounded(prev.p(0.95))),
            "tasks": _pair(events[TASK_KIND], before[TASK_KIND]),
        },
        "top": {group: _top(window, filters, group) for group in ("agent", "model", "issue")},
        "anomalies": anomalies(period=period, filters=filters),
        "alerts": {
            **{kind.split(".", 1)[1]: _pair(events[kind], before[kind]) for kind in ALERT_KINDS},
            "rules": _noisiest_rules(period, project),
        },
        "blocked": _blocked(period, filters, now),
    }


def _pair(current: Any, previous: Any) -> dict[str, Any]:
    return {"current": current, "previous": previous}


def _event_counts(window: Window, filters: Filters, kinds: tuple[str, ...]) -> dict[str, int]:
    qs = filters.apply(analytics.scope(EventRollup.objects.filter(
        grain=window.grain, start__gte=window.first, start__lt=window.until, kind__in=kinds,
    ).order_by(), filters), "events")
    counts = {kind: 0 for kind in kinds}
    for kind, n in qs.values("kind").annotate(n=Sum("count")).values_list("kind", "n"):
        counts[kind] = int(n or 0)
    return counts


def _top(window: Window, filters: Filters, group_by: str) -> list[dict[str, Any]]:
    """The costliest groups, from the same totals the Analytics page shows."""
    rows = analytics.totals(window=window, filters=filters, group_by=group_by)
    out = []
    for row in rows:
        cur, prev = row.current, row.previous
        if not cur.calls or (group_by == "issue" and not cur.key):
            continue
        out.append({
            "key": cur.key, "label": cur.label,
            "cost_usd": f"{cur.cost_usd:.8f}", "previous_cost_usd": f"{prev.cost_usd:.8f}",
            "tokens": cur.total_tokens, "calls": cur.calls,
            "unknown_price_calls": cur.unknown_price_calls,
            "tool_calls": cur.tool_calls, "error_rate": analytics.rounded(cur.error_rate),
        })
        if len(out) == TOP:
            break
    return out


def _noisiest_rules(period: Period, project: Project | None) -> list[dict[str, Any]]:
    """Alerts opened in the period per rule (one query): how many, and how many times they
    fired in all (repeats count on the open alert)."""
    from apps.alerts.models import Alert

    qs = Alert.objects.filter(opened_at__gte=period.start, opened_at__lt=period.end)
    if project is not None:
        qs = qs.filter(project=project)
    rows = (qs.order_by().values("rule_id", "rule__name")
            .annotate(alerts=Count("id"), fired=Sum("count"))
            .order_by("-alerts", "-fired", "rule__name")[:TOP])
    return [{"rule_id": r["rule_id"], "name": r["rule__name"] or "(deleted rule)",
             "alerts": r["alerts"], "fired": int(r["fired"] or 0)} for r in rows]


def _blocked(period: Period, filters: Filters, now: datetime) -> list[dict[str, Any]]:
    """Agents by time spent blocked in the period: the rollups, plus the block still open
    (not rolled up until it ends), which is often the longest of all."""
    window = period.window
    qs = filters.apply(analytics.scope(StatusRollup.objects.filter(
        grain=window.grain, start__gte=window.first, start__lt=window.until,
        status=AgentStatus.BLOCKED).order_by(), filters, by_agent=True), "status")
    seconds: dict[int, float] = defaultdict(float)
    blocks: dict[int, int] = defaultdict(int)
    for agent_id, s, n in (qs.values("agent_id").annotate(s=Sum("seconds"), n=Sum("unblocks"))
                           .values_list("agent_id", "s", "n")):
        seconds[agent_id] += s or 0
        blocks[agent_id] += int(n or 0)
    still = set()
    open_blocks = Agent.objects.filter(status=AgentStatus.BLOCKED, status_since__lt=period.end,
                                       archived_at__isnull=True)
    if filters.projects is not None:
        open_blocks = open_blocks.filter(project_id__in=filters.projects)
    for agent_id, since in open_blocks.values_list("pk", "status_since"):
        part = (min(now, period.end) - max(since, window.first)).total_seconds()
        if part > 0:
            seconds[agent_id] += part
            still.add(agent_id)
    ranked = sorted(seconds, key=lambda k: -seconds[k])[:TOP]
    names = analytics.labels("agent", ranked)
    return [{"agent_id": k, "label": names[k], "seconds": round(seconds[k]),
             "unblocks": blocks[k], "still_blocked": k in still} for k in ranked if seconds[k] > 0]


# --- anomalies ---------------------------------------------------------------------------------
@dataclass
class _Figures:
    cost: Decimal = Decimal(0)
    model_calls: int = 0
    tool_calls: int = 0
    errors: int = 0
    tasks: int = 0
    histogram: list[int] | None = None

    def value(self, metric: str) -> float | None:
        """The metric, or None when the period has too little data for it."""
        if metric == "cost":
            return float(self.cost) if self.model_calls else None
        if metric == "cost_per_task":
            return float(self.cost) / self.tasks if self.tasks >= MIN_TASKS else None
        if metric == "cost_per_tool_call":
            enough = self.tool_calls >= MIN_TOOL_CALLS and self.model_calls
            return float(self.cost) / self.tool_calls if enough else None
        if metric == "error_rate":
            return 100.0 * self.errors / self.tool_calls if self.tool_calls >= MIN_TOOL_CALLS else None
        if metric == "p95_ms":
            hist = self.histogram or []
            return analytics.percentile(hist, 0.95) if sum(hist) >= MIN_TOOL_CALLS else None
        raise ValueError(metric)


METRICS = (
    ("cost", "Cost", "usd"),
    ("cost_per_task", "Cost per completed task", "usd"),
    ("cost_per_tool_call", "Cost per tool call", "usd"),
    ("error_rate", "Tool error rate", "pct"),
    ("p95_ms", "Tool latency p95", "ms"),
)


def _period_figures(periods: list[Period], filters: Filters) -> list[_Figures]:
    """Cost, calls, errors, latency and completed tasks of each period: one query per rollup
    family over the whole span, each bucket counted in the period it starts in."""
    grain = periods[0].window.grain
    firsts = [p.window.first for p in periods]  # ascending
    lo, hi = firsts[0], periods[-1].end
    figures = [_Figures(histogram=[0] * len(HISTOGRAM)) for _ in periods]

    def which(start: datetime) -> _Figures | None:
        i = bisect.bisect_right(firsts, start) - 1
        return figures[i] if i >= 0 and start < periods[i].end else None

    def rows(model: Any, family: str) -> Any:
        qs = model.objects.filter(grain=grain, start__gte=lo, start__lt=hi).order_by()
        return filters.apply(analytics.scope(qs, filters), family).values("start")

    for row in rows(UsageRollup, "usage").annotate(c=Sum("cost_usd"), n=Sum("calls")):
        if (f := which(row["start"])) is not None:
            f.cost += Decimal(row["c"] or 0)
            f.model_calls += int(row["n"] or 0)
    for row in rows(SpanRollup, "spans").annotate(n=Sum("calls"), e=Sum("errors"),
                                                  **{h: Sum(h) for h in HISTOGRAM}):
        if (f := which(row["start"])) is not None:
            f.tool_calls += int(row["n"] or 0)
            f.errors += int(row["e"] or 0)
            f.histogram = [a + int(row[h] or 0)
                           for a, h in zip(f.histogram or [], HISTOGRAM, strict=True)]
    for row in rows(EventRollup, "events").filter(kind=TASK_KIND).annotate(n=Sum("count")):
        if (f := which(row["start"])) is not None:
            f.tasks += int(row["n"] or 0)
    return figures


def anomalies(*, period: Period, filters: Filters) -> dict[str, Any]:
    """Each metric of the period against the mean of the previous BASELINE_PERIODS periods;
    `flagged` when it rose by THRESHOLD_PCT or more with enough data on both sides."""
    periods = [period.earlier(n) for n in range(BASELINE_PERIODS, 0, -1)] + [period]
    *history, current = _period_figures(periods, filters)
    checks = []
    for metric, label, unit in METRICS:
        value = current.value(metric)
        past = [v for v in (f.value(metric) for f in history) if v is not None]
        baseline = sum(past) / len(past) if len(past) >= MIN_BASELINE_PERIODS else None
        change = None
        if value is not None and baseline:
            change = 100.0 * (value - baseline) / baseline
        flagged = value is not None and baseline is not None and (
            (change is not None and change >= THRESHOLD_PCT) or (baseline == 0 and value > 0))
        if flagged and metric == "error_rate":
            flagged = value - baseline >= MIN_ERROR_RATE_POINTS
        checks.append({
            "metric": metric, "label": label, "unit": unit,
            "current": None if value is None else round(value, 6),
            "baseline": None if baseline is None else round(baseline, 6),
            "baseline_periods": len(past),
            "change_pct": None if change is None else round(change, 1),
            "flagged": bool(flagged),
        })
    return {"periods": BASELINE_PERIODS, "threshold_pct": THRESHOLD_PCT,
            "baseline_start": periods[0].start.isoformat(), "checks": checks}


def is_empty(content: dict[str, Any]) -> bool:
    """Nothing happened in the period: no model or tool call, task, alert or block."""
    h = content["headline"]
    return not (h["model_calls"]["current"] or h["tool_calls"]["current"]
                or h["tasks"]["current"] or content["alerts"]["opened"]["current"]
                or content["blocked"])
