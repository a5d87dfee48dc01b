"""Why a notification would be held back right now, if it would: the agent's sleep window,
the team's quiet hours, or the per-agent hourly budget of that severity across all rules."""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from apps.alerts.models import AlertPolicy, Notification, NotificationState

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Hold:
    state: str  # NotificationState.THROTTLED or SUPPRESSED
    reason: str


def in_time_range(t: time, start: time, end: time) -> bool:
    """start..end on a clock; an end at or before the start runs past midnight."""
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


_policy: tuple[float, AlertPolicy | None] = (0.0, None)
POLICY_TTL_SECONDS = 1.0


def current_policy() -> AlertPolicy | None:
    """The team policy, re-read at most every second by a busy worker."""
    global _policy
    if _time.monotonic() - _policy[0] >= POLICY_TTL_SECONDS:
        _policy = (_time.monotonic(), AlertPolicy.objects.filter(pk=1).first())
    return _policy[1]


def forget_policy() -> None:
    global _policy
    _policy = (0.0, None)


def in_quiet_hours(at: datetime, policy: AlertPolicy | None = None) -> bool:
    policy = policy or current_policy()
    if policy is None or not policy.quiet_hours_enabled:
        return False
    if policy.quiet_start is None or policy.quiet_end is None:
        return False
    try:
        tz = ZoneInfo(policy.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return in_time_range(at.astimezone(tz).time(), policy.quiet_start, policy.quiet_end)


def in_sleep_window(agent: Any, at: datetime) -> bool:
    """The agents app decides sleep windows; an agent that is asleep right now counts too."""
    if agent is None:
        return False
    if getattr(agent, "status", "") == "sleeping":
        return True
    try:
        from apps.agents.lifecycle import in_sleep_window as agents_in_sleep_window
    except ImportError:  # the agents lifecycle module is optional for this app
        return False
    try:
        return bool(agents_in_sleep_window(agent, at))
    except Exception:
        logger.exception("sleep window check failed for agent %s", agent.pk)
        return False


def max_per_hour(severity: str = "warning") -> int:
    """The hourly budget of one severity per subject; 0 means unthrottled. Info and warning
    fall back to the general ALERTS_MAX_PER_AGENT_PER_HOUR, critical to unthrottled."""
    general = int(getattr(settings, "ALERTS_MAX_PER_AGENT_PER_HOUR", 3))
    name = f"ALERTS_MAX_{severity.upper()}_PER_AGENT_PER_HOUR"
    value = int(getattr(settings, name, 0 if severity == "critical" else -1))
    return general if value < 0 else value


def sent_in_last_hour(subject: str, now: datetime, severity: str | None = None) -> int:
    qs = Notification.objects.filter(
        subject=subject, state=NotificationState.SENT, is_test=False, created_at__gt=now - HOUR
    )
    if severity is not None:
        qs = qs.filter(severity=severity)
    return qs.count()


def hold_reason(
    *,
    subject: str,
    agent: Any,
    now: datetime,
    respect_sleep_windows: bool,
    respect_quiet_hours: bool,
    policy: AlertPolicy | None = None,
    severity: str = "warning",
) -> Hold | None:
    if respect_sleep_windows and in_sleep_window(agent, now):
        return Hold(NotificationState.SUPPRESSED, "the agent's sleep window")
    if respect_quiet_hours and in_quiet_hours(now, policy):
        return Hold(NotificationState.SUPPRESSED, "quiet hours")
    # Each severity spends its own budget: a stream of info messages cannot hold back a critical.
    limit = max_per_hour(severity)
    if limit and sent_in_last_hour(subject, now, severity) >= limit:
        return Hold(NotificationState.THROTTLED,
                    f"limit of {limit} {severity} notifications per hour")
    return None
