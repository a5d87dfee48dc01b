"""What alerts and notifications say: titles from events, and the Message every transport
renders (plain text, HTML, a JSON payload)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse

from apps.alerts.models import Notification, Severity
from apps.core.links import absolute_url


def _short(value: Any, limit: int = 160) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_title(*, kind: str, rule_name: str, agent: Any, project: Any, data: dict,
                task_title: str = "", threshold: int = 1, window_minutes: int = 0) -> str:
    who = agent.name if agent is not None else project.name
    if kind == "agent.blocked":
        reason = _short(data.get("reason"), 120)
        return f"{who} is blocked" + (f": {reason}" if reason else "")
    if kind == "agent.idle":
        return f"{who} is idle: no heartbeat while working"
    if kind == "agent.offline":
        return f"{who} went silent (offline)"
    if kind == "agent.error":
        msg = _short(data.get("message"), 120)
        lead = f"{who}: {threshold} errors in {window_minutes} min" if threshold > 1 else f"{who} errored"
        return lead + (f" — {msg}" if msg else "")
    if kind in ("endpoint.down", "endpoint.degraded"):
        name = _short(data.get("name") or "a model endpoint", 80)
        error = _short(data.get("error"), 120)
        state = "down" if kind == "endpoint.down" else "degraded"
        return f"Endpoint {name} is {state}" + (f": {error}" if error else "")
    if kind == "task.completed":
        return f"{who} completed " + (f"“{_short(task_title, 120)}”" if task_title else "a task")
    if kind == "bench.regression":
        return _regression_title(data)
    if kind == "bench.run.failed":
        return (f"Bench run {data.get('run')} of {data.get('model', '?')} on "
                f"{data.get('endpoint_name', '?')} failed")
    return f"{rule_name}: {kind} on {who}"


def _regression_load(row: dict) -> str:
    return f"{row['rate']:g} req/s" if row.get("rate") is not None else (
        f"concurrency {row.get('concurrency')}")


def _regression_title(data: dict) -> str:
    found = data.get("regressions") or []
    where = f"{data.get('model', '?')} on {data.get('endpoint_name', '?')}"
    if not found:
        return f"{where} got slower"
    worst = max(found, key=lambda r: abs(r.get("change_pct") or 0))
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    return (f"{where} got slower: {worst['metric']} {worst['change_pct']:+.0f} % at "
            f"{_regression_load(worst)}{more}")


def alert_message(*, kind: str, data: dict) -> str:
    if kind == "bench.regression" and data.get("regressions"):
        return "\n".join(
            f"{r['metric']} at {_regression_load(r)}: {r['baseline']:g} → {r['value']:g} "
            f"({r['change_pct']:+.1f} %) against run {data.get('baseline')}"
            for r in data["regressions"][:20])
    for key in ("message", "reason", "result", "error"):
        if data.get(key):
            return _short(data[key], 2000)
    return ""


@dataclass
class Message:
    """One notification, ready for any transport."""

    title: str
    text: str
    html: str
    url: str
    severity: str
    event_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    # A complete Slack incoming-webhook body, for messages that are not about one alert (the
    # scheduled reports); None: the Slack transport builds its usual blocks.
    slack: dict[str, Any] | None = None


# Other apps send their own kinds of message through the same deliveries, retries and
# transports: a Notification whose subject is "<kind>:<id>" is rendered by the builder
# registered for that kind (telemetry registers "report" from its AppConfig.ready()).
BUILDERS: dict[str, Callable[[Notification], Message]] = {}


def register_builder(kind: str, builder: Callable[[Notification], Message]) -> None:
    BUILDERS[kind] = builder


def build_message(notification: Notification) -> Message:
    builder = BUILDERS.get(notification.subject.partition(":")[0])
    if builder is not None:
        return builder(notification)
    alert = notification.alert
    path = reverse("alerts-detail", args=[alert.pk]) if alert else reverse("alerts-inbox")
    url = absolute_url(path)
    held = notification.summary or []
    ctx = {"n": notification, "alert": alert, "url": url, "held": held,
           "severity_label": Severity(notification.severity).label}
    text = render_to_string("alerts/email/notification.txt", ctx).strip()
    html = render_to_string("alerts/email/notification.html", ctx)
    event_type = "alert.test" if notification.is_test else (
        "alert.summary" if alert is None else "alert.notification"
    )
    payload: dict[str, Any] = {
        "notification_id": notification.pk,
        "title": notification.title,
        "body": notification.body,
        "severity": notification.severity,
        "url": url,
        "held_back": held,
        "created_at": notification.created_at.isoformat(),
    }
    if alert is not None:
        payload["alert"] = {
            "id": alert.pk,
            "state": alert.state,
            "rule_id": alert.rule_id,
            "event_kind": alert.event_kind,
            "project_id": alert.project_id,
            "agent_id": alert.agent_id,
            "count": alert.count,
            "opened_at": alert.opened_at.isoformat(),
        }
        from apps.agents.approvals import pending_approval

        waiting = pending_approval(alert.agent_id)
        if waiting is not None:  # a permission prompt Switchboard can answer (remote approval)
            payload["approval"] = {
                "id": waiting.pk, "tool_name": waiting.tool_name, "summary": waiting.summary,
                "expires_at": waiting.expires_at.isoformat(),
                "url": absolute_url(reverse("agent-detail", args=[waiting.agent_id])),
            }
    return Message(
        title=notification.title, text=text, html=html, url=url,
        severity=notification.severity, event_type=event_type, payload=payload,
    )
