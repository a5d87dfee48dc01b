"""Rules as plain, cached values, so evaluating an event costs no rule query.

The worker keeps the enabled rules in memory keyed by a cheap fingerprint of the table
(count, max id, max updated_at): one aggregate query at most every second notices any change
made anywhere (views, API, admin, shell); changes made in this process apply at once. The ingestion-side filter (`is_interesting`) must be
free, so it uses a short in-process TTL instead and errs on the side of enqueueing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Max

# Events that may clear a status-based alert (the agent moved on).
CLEARING_KINDS = frozenset(
    {"agent.unblocked", "agent.online", "agent.status_changed", "agent.woke", "task.started"}
)
# Watched kinds whose alert stays open only while the agent is still in that state.
STATUS_KINDS = {
    "agent.blocked": frozenset({"blocked"}),
    "agent.idle": frozenset({"blocked"}),
    "agent.offline": frozenset({"offline"}),
    "agent.error": frozenset({"error", "blocked", "sleeping", "stopped", "offline"}),
}
# On opening, these must still hold: a late "blocked" after "unblocked" opens nothing.
MUST_HOLD_ON_OPEN = {"agent.blocked", "agent.idle", "agent.offline"}
# Kinds that many agents hit together for one shared cause: past ALERTS_GROUP_MIN_AGENTS
# within ALERTS_GROUP_WINDOW_SECONDS they make one grouped alert (engine.group_offline).
GROUPED_KINDS = frozenset({"agent.offline"})
# Agentless events about one thing other than an agent (a model endpoint): kind → the data key
# naming the thing. Their alerts are per thing (two endpoints down are two alerts), and
# SUBJECT_CLEARS says which later kinds resolve them (the endpoint is back).
SUBJECT_KINDS = {"endpoint.down": "endpoint_id", "endpoint.degraded": "endpoint_id",
                 "bench.regression": "endpoint", "bench.run.failed": "endpoint"}
SUBJECT_CLEARS = {
    "endpoint.up": frozenset({"endpoint.down", "endpoint.degraded"}),
    "endpoint.degraded": frozenset({"endpoint.down"}),  # answering again, if slowly
}
BUILTIN_KINDS = frozenset(STATUS_KINDS) | {"task.completed"} | frozenset(SUBJECT_CLEARS)
KINDS_TTL_SECONDS = 5.0
# How long a worker trusts its rule cache before checking the table's fingerprint again.
FINGERPRINT_TTL_SECONDS = 1.0


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str
    project_id: int | None
    event_kind: str
    agent_kind: str
    threshold: int
    window: timedelta
    severity: str
    channels: tuple[str, ...]
    action_interval: timedelta
    respect_sleep_windows: bool
    respect_quiet_hours: bool


_lock = threading.Lock()
_by_kind: dict[str, list[RuleSpec]] = {}
_fingerprint: tuple | None = None
_checked_at = 0.0
_kinds: frozenset[str] = BUILTIN_KINDS | CLEARING_KINDS
_kinds_at = 0.0


def subject_suffix(kind: str, data: dict | None) -> str:
    """The dedupe-key tail naming the thing an agentless event is about ("" for none)."""
    key = SUBJECT_KINDS.get(kind)
    value = (data or {}).get(key) if key else None
    return f":{key}={value}" if value is not None else ""


def invalidate() -> None:
    """Called when rules change in this process; other processes notice by fingerprint/TTL."""
    global _fingerprint, _kinds_at
    with _lock:
        _fingerprint = None
        _kinds_at = 0.0


def _table_fingerprint() -> tuple:
    from apps.alerts.models import AlertRule

    agg = AlertRule.objects.aggregate(n=Count("id"), top=Max("id"), at=Max("updated_at"))
    return (agg["n"], agg["top"], agg["at"])


def _load() -> dict[str, list[RuleSpec]]:
    from apps.alerts.models import AlertRule

    by_kind: dict[str, list[RuleSpec]] = {}
    for r in AlertRule.objects.filter(enabled=True).order_by("id"):
        spec = RuleSpec(
            id=r.pk,
            name=r.name,
            project_id=r.project_id,
            event_kind=r.event_kind,
            agent_kind=r.agent_kind,
            threshold=max(1, r.threshold),
            window=timedelta(minutes=r.window_minutes),
            severity=r.severity,
            channels=tuple(r.channels or ()),
            action_interval=r.action_interval,
            respect_sleep_windows=r.respect_sleep_windows,
            respect_quiet_hours=r.respect_quiet_hours,
        )
        by_kind.setdefault(spec.event_kind, []).append(spec)
    return by_kind


def rules_by_kind() -> dict[str, list[RuleSpec]]:
    global _by_kind, _fingerprint, _checked_at
    if _fingerprint is not None and time.monotonic() - _checked_at < FINGERPRINT_TTL_SECONDS:
        return _by_kind
    fp = _table_fingerprint()
    if fp != _fingerprint:
        loaded = _load()
        with _lock:
            _by_kind, _fingerprint = loaded, fp
    _checked_at = time.monotonic()
    return _by_kind


def rules_for(kind: str, project_id: int) -> list[RuleSpec]:
    return [r for r in rules_by_kind().get(kind, ()) if r.project_id in (None, project_id)]


def is_interesting(kind: str) -> bool:
    """Free in the ingestion request: may say yes too often, never no to a watched kind
    for longer than KINDS_TTL_SECONDS after a rule change elsewhere."""
    global _kinds, _kinds_at
    if kind.startswith("alert."):
        return False  # our own events never feed the engine back
    if kind in _kinds and time.monotonic() - _kinds_at < KINDS_TTL_SECONDS:
        return True
    if time.monotonic() - _kinds_at >= KINDS_TTL_SECONDS:
        from apps.alerts.models import AlertRule

        try:
            custom = set(AlertRule.objects.filter(enabled=True).values_list("event_kind", flat=True))
        except Exception:  # no table yet (migrations running): the built-ins still count
            custom = set()
        with _lock:
            _kinds = frozenset(custom) | BUILTIN_KINDS | CLEARING_KINDS
            _kinds_at = time.monotonic()
    return kind in _kinds
