"""Reads shared by the inbox page, its live consumer and the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Case, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from apps.alerts.models import (
    ACTIVE_STATES,
    SEVERITY_RANK,
    Alert,
    AlertMute,
    AlertRule,
    AlertState,
    Delivery,
    Notification,
    Severity,
)

PAGE_SIZE = 50
STATE_FILTERS = ("active", "open", "acknowledged", "snoozed", "resolved", "all")
# Snoozed alerts leave the views of what needs someone now until the snooze ends.
AWAKE_FILTERS = ("active", "open", "acknowledged")


@dataclass(frozen=True)
class InboxFilters:
    state: str = "active"
    severity: str = ""
    agent: int | None = None
    rule: int | None = None

    @classmethod
    def from_query(cls, query: Any) -> InboxFilters:
        def as_int(v: Any) -> int | None:
            try:
                return int(v) if v not in (None, "") else None
            except (TypeError, ValueError):
                return None

        state = query.get("state", "active")
        severity = query.get("severity", "")
        return cls(
            state=state if state in STATE_FILTERS else "active",
            severity=severity if severity in Severity.values else "",
            agent=as_int(query.get("agent")),
            rule=as_int(query.get("rule")),
        )

    def as_query(self) -> dict[str, Any]:
        q: dict[str, Any] = {"state": self.state}
        if self.severity:
            q["severity"] = self.severity
        if self.agent:
            q["agent"] = self.agent
        if self.rule:
            q["rule"] = self.rule
        return q

    def matches(self, alert: Alert) -> bool:
        snoozed = alert.is_active and alert.is_snoozed()
        if self.state == "snoozed" and not snoozed:
            return False
        if self.state in AWAKE_FILTERS and snoozed:
            return False
        if self.state == "active" and alert.state not in ACTIVE_STATES:
            return False
        if self.state in AlertState.values and alert.state != self.state:
            return False
        if self.severity and alert.severity != self.severity:
            return False
        if self.agent and alert.agent_id != self.agent:
            return False
        return not (self.rule and alert.rule_id != self.rule)


def alerts_in(project_ids: Any = None) -> QuerySet[Alert]:
    qs = Alert.objects.select_related("agent", "project", "rule", "acknowledged_by")
    if project_ids is not None:
        qs = qs.filter(project_id__in=project_ids)
    return qs


def _snoozed_q() -> Q:
    return Q(snoozed_until__gt=timezone.now())


def filtered(qs: QuerySet[Alert], f: InboxFilters) -> QuerySet[Alert]:
    if f.state in AWAKE_FILTERS:
        qs = qs.exclude(_snoozed_q())
    if f.state == "snoozed":
        qs = qs.filter(_snoozed_q(), state__in=ACTIVE_STATES)
    elif f.state == "active":
        qs = qs.filter(state__in=ACTIVE_STATES)
    elif f.state in AlertState.values:
        qs = qs.filter(state=f.state)
    if f.severity:
        qs = qs.filter(severity=f.severity)
    if f.agent:
        qs = qs.filter(agent_id=f.agent)
    if f.rule:
        qs = qs.filter(rule_id=f.rule)
    return qs


SEVERITY_ORDER = Case(*[When(severity=s, then=Value(r)) for s, r in SEVERITY_RANK.items()],
                      default=Value(0), output_field=IntegerField())


def inbox_order(qs: QuerySet[Alert], f: InboxFilters) -> QuerySet[Alert]:
    """What needs someone first: critical, then warning, then info; within a severity the
    oldest first, so a burst of new alerts cannot push a long-waiting one off the page (the
    inbox is a queue to empty). History views (resolved, all) read newest first."""
    if f.state in ("resolved", "all"):
        return qs.order_by("-last_fired_at", "-id")
    return qs.alias(sev_rank=SEVERITY_ORDER).order_by("-sev_rank", "opened_at", "id")


def inbox_page(project: Any, f: InboxFilters, page: Any = 1) -> Page:
    qs = inbox_order(filtered(alerts_in([project.pk] if project else None), f), f)
    return Paginator(qs, PAGE_SIZE).get_page(page)


def active_mutes(now: Any = None) -> list[AlertMute]:
    return list(AlertMute.objects.filter(AlertMute.active_q(now or timezone.now()))
                .select_related("agent", "rule", "created_by").order_by("-created_at", "-id")[:200])


def inbox_counts(project: Any) -> dict[str, int]:
    from django.db.models import Count

    qs = Alert.objects.all()
    if project:
        qs = qs.filter(project=project)
    rows = qs.values("state").annotate(n=Count("id"), z=Count("id", filter=_snoozed_q()))
    counts = {s: 0 for s in AlertState.values}
    snoozed = 0
    for row in rows:
        # open and acknowledged count what is awake; snoozed ones are counted apart
        counts[row["state"]] = row["n"] - (row["z"] if row["state"] in ACTIVE_STATES else 0)
        snoozed += row["z"] if row["state"] in ACTIVE_STATES else 0
    counts["active"] = counts["open"] + counts["acknowledged"]
    counts["snoozed"] = snoozed
    return counts


def alert_row(alert_id: int) -> Alert | None:
    return alerts_in().filter(pk=alert_id).first()


def alert_detail(alert_id: int) -> Alert | None:
    deliveries = Prefetch("deliveries", queryset=Delivery.objects.order_by("id"))
    notes = Prefetch(
        "notifications",
        queryset=Notification.objects.prefetch_related(deliveries).order_by("-created_at", "-id"),
    )
    return alerts_in().prefetch_related(notes).filter(pk=alert_id).first()


def rule_list() -> list[AlertRule]:
    return list(AlertRule.objects.select_related("project").order_by("-enabled", "name", "id"))


def recent_tests(*, channel_ids: list[int] | None = None, user: Any = None) -> dict[Any, Delivery]:
    """The latest test delivery per team channel (or per channel kind for a person)."""
    qs = Delivery.objects.filter(notification__is_test=True).order_by("-id")
    out: dict[Any, Delivery] = {}
    if channel_ids is not None:
        for d in qs.filter(team_channel_id__in=channel_ids)[:200]:
            out.setdefault(d.team_channel_id, d)
    if user is not None:
        for d in qs.filter(user=user)[:50]:
            out.setdefault(d.channel, d)
    return out
