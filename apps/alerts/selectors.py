"""Reads shared by the inbox page, its live consumer and the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, QuerySet

from apps.alerts.models import (
    ACTIVE_STATES,
    Alert,
    AlertRule,
    AlertState,
    Delivery,
    Notification,
    Severity,
)

PAGE_SIZE = 50
STATE_FILTERS = ("active", "open", "acknowledged", "resolved", "all")


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


def filtered(qs: QuerySet[Alert], f: InboxFilters) -> QuerySet[Alert]:
    if f.state == "active":
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


def inbox_page(project: Any, f: InboxFilters, page: Any = 1) -> Page:
    qs = filtered(alerts_in([project.pk] if project else None), f).order_by("-last_fired_at", "-id")
    return Paginator(qs, PAGE_SIZE).get_page(page)


def inbox_counts(project: Any) -> dict[str, int]:
    from django.db.models import Count

    qs = Alert.objects.all()
    if project:
        qs = qs.filter(project=project)
    rows = qs.values("state").annotate(n=Count("id"))
    counts = {s: 0 for s in AlertState.values}
    for row in rows:
        counts[row["state"]] = row["n"]
    counts["active"] = counts["open"] + counts["acknowledged"]
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
