"""The alert engine: runs in Celery, never in the ingestion request.

evaluate_event(): resolve alerts whose condition has cleared, then for each rule that
matches the event, open the alert (or count a repeat) and decide whether to notify.
Everything it decides is a durable row, so re-running it for the same event changes nothing
and a periodic sweep repairs whatever a lost task or an out-of-order delivery left behind.

drain(): how workers take events. Each event a rule may care about leaves a PendingEvaluation
row in its own transaction; a drain claims up to DRAIN_BATCH of them (SKIP LOCKED, so workers
share the queue), evaluates them oldest first and deletes the rows, all in one transaction:
one task, one commit and one event query for the whole batch instead of per event.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.alerts import badge, rules, throttle
from apps.alerts.messages import alert_message, alert_title
from apps.alerts.models import (
    ACTIVE_STATES,
    SEVERITY_RANK,
    Alert,
    AlertMute,
    AlertPolicy,
    AlertState,
    Notification,
    NotificationState,
    Severity,
)
from apps.alerts.rules import RuleSpec
from apps.core.events import record_event

logger = logging.getLogger(__name__)

HELD_STATES = (NotificationState.THROTTLED, NotificationState.SUPPRESSED)
SNOOZED_REASON = "snoozed"
DRAIN_BATCH = 200
DRAIN_BUDGET_SECONDS = 10.0
DRAIN_UNFINISHED = -1


def subject_of(*, agent_id: int | None, project_id: int) -> str:
    return f"agent:{agent_id}" if agent_id else f"project:{project_id}"


# --- evaluation ---------------------------------------------------------------------------
def evaluate_event(
    event_id: int,
    *,
    kind: str | None = None,
    project_id: int | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    """Returns the alerts the locked path touched (opened, or repeated after a race); plain
    repeats take the two-UPDATE fast path and are not returned."""
    from apps.agents.models import AgentEvent

    if kind is not None and project_id is not None:
        # Cheap path: most events match no rule and clear nothing; skip loading them.
        if (kind not in rules.CLEARING_KINDS and kind not in rules.SUBJECT_CLEARS
                and not rules.rules_for(kind, project_id)):
            return []
    # The agent comes along (status and kind decide); project and task load only on opening.
    event = AgentEvent.objects.select_related("agent").filter(pk=event_id).first()
    if event is None:
        return []
    return evaluate_loaded(event, now=now)


def evaluate_loaded(event: Any, *, now: datetime | None = None) -> list[Alert]:
    """evaluate_event() for an event already loaded (with its agent)."""
    if event.kind.startswith("alert."):
        return []
    now = now or timezone.now()
    if event.agent_id and event.kind in rules.CLEARING_KINDS:
        clear_conditions(agent=event.agent, now=now)
    if not event.agent_id and event.kind in rules.SUBJECT_CLEARS:
        clear_subject(event=event, now=now)
    touched = []
    for rule in rules.rules_for(event.kind, event.project_id):
        if rule.agent_kind and (event.agent is None or event.agent.kind != rule.agent_kind):
            continue
        alert = fire(rule=rule, event=event, now=now)
        if alert is not None:
            touched.append(alert)
    return touched


def _threshold_met(rule: RuleSpec, event: Any, now: datetime) -> bool:
    if rule.threshold <= 1:
        return True
    from apps.agents.models import AgentEvent

    qs = AgentEvent.objects.filter(kind=event.kind, id__lte=event.pk, ts__gte=event.ts - rule.window)
    qs = qs.filter(agent_id=event.agent_id) if event.agent_id else qs.filter(
        project_id=event.project_id, agent__isnull=True
    )
    subject = rules.SUBJECT_KINDS.get(event.kind)
    if not event.agent_id and subject and (event.data or {}).get(subject) is not None:
        qs = qs.filter(**{f"data__{subject}": event.data[subject]})
    return qs.count() >= rule.threshold


def fire(*, rule: RuleSpec, event: Any, now: datetime) -> Alert | None:
    if not _threshold_met(rule, event, now):
        return None
    agent = event.agent
    # The agent row came with the event a moment ago: a blocked event that arrives after the
    # unblock (out of order, or late) opens nothing.
    if event.kind in rules.MUST_HOLD_ON_OPEN and agent is not None:
        if agent.status not in rules.STATUS_KINDS[event.kind]:
            return None
    if event.kind in rules.GROUPED_KINDS and agent is not None:
        grouped = group_offline(rule=rule, event=event, now=now)
        if grouped is not None:
            return grouped
    key = f"{rule.id}:" + (
        f"a{event.agent_id}" if event.agent_id
        else f"p{event.project_id}" + rules.subject_suffix(event.kind, event.data)
    )
    if rule.severity == Severity.INFO:
        # Opened resolved, so no active alert dedupes a re-run of the same event: its own
        # record does (evaluation stays idempotent).
        done = Alert.objects.filter(first_event_id=event.pk, rule_id=rule.id).first()
        if done is not None:
            return done
    elif _repeat_fast(rule=rule, event=event, key=key, now=now):
        return None
    with transaction.atomic(savepoint=False):  # inside a drain's batch: no savepoint needed
        alert = (
            Alert.objects.select_for_update()
            .filter(dedupe_key=key, state__in=ACTIVE_STATES)
            .first()
        )
        opened = False
        if alert is None:
            alert, opened = _open(rule=rule, event=event, key=key, now=now)
        if not opened and alert.last_event_id is not None and event.pk <= alert.last_event_id:
            return alert  # this event (or a later one) was already counted
        # An informational alert opens resolved: notified once, never standing open.
        due = opened or (alert.state == AlertState.OPEN and (
            alert.last_action_at is None or now - alert.last_action_at >= rule.action_interval
        ))
        if not opened or due:
            # One UPDATE for the repeat and the action stamp; the row is locked, so the
            # in-memory copy can follow without a re-read.
            changes: dict[str, Any] = {}
            if not opened:
                changes = {"count": F("count") + 1, "last_event_id": event.pk,
                           "last_fired_at": now, "version": F("version") + 1}
            if due:
                changes["last_action_at"] = now
            Alert.objects.filter(pk=alert.pk).update(**changes)
            if not opened:
                alert.count += 1
                alert.version += 1
                alert.last_event_id, alert.last_fired_at = event.pk, now
            if due:
                alert.last_action_at = now
        if due:
            notify(alert=alert, rule=rule, now=now, repeat=not opened)
        if opened:
            badge.changed()
    return alert


@transaction.atomic(savepoint=False)  # one commit for both UPDATEs; none of its own in a batch
def _repeat_fast(*, rule: RuleSpec, event: Any, key: str, now: datetime) -> bool:
    """The common case, a repeat of an active alert, in two conditional UPDATEs and no read:
    count it (only if this event is newer than the last one counted), then claim the
    notification if the action interval has passed. False: no active alert to count (or
    already counted); the locked slow path decides."""
    counted = Alert.objects.filter(
        dedupe_key=key, state__in=ACTIVE_STATES, last_event_id__lt=event.pk
    ).update(count=F("count") + 1, last_event_id=event.pk, last_fired_at=now,
             version=F("version") + 1)
    if not counted:
        return False
    claimed = Alert.objects.filter(
        Q(last_action_at__isnull=True) | Q(last_action_at__lte=now - rule.action_interval),
        dedupe_key=key, state=AlertState.OPEN,
    ).update(last_action_at=now)
    if claimed:
        alert = Alert.objects.select_related("agent", "project").get(
            dedupe_key=key, state__in=ACTIVE_STATES)
        notify(alert=alert, rule=rule, now=now, repeat=True)
    return True


def _open(*, rule: RuleSpec, event: Any, key: str, now: datetime) -> tuple[Alert, bool]:
    agent = event.agent
    title = alert_title(
        kind=event.kind, rule_name=rule.name, agent=agent, project=event.project,
        data=event.data or {}, task_title=event.task.title if event.task_id else "",
        threshold=rule.threshold, window_minutes=int(rule.window.total_seconds() // 60),
    )
    info = rule.severity == Severity.INFO
    # Informational rules record and notify but leave nothing standing open in the inbox.
    closed = dict(state=AlertState.RESOLVED, resolved_at=now,
                  resolved_reason="informational: recorded, nothing to do") if info else {}
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule_id=rule.id, project_id=event.project_id, agent=agent, dedupe_key=key,
                severity=rule.severity, event_kind=event.kind, title=title[:300],
                message=alert_message(kind=event.kind, data=event.data or {}),
                first_event_id=event.pk, last_event_id=event.pk, opened_at=now,
                last_fired_at=now, muted=is_muted(rule_id=rule.id, agent_id=event.agent_id, now=now),
                **closed,
            )
    except IntegrityError:
        if info:  # another worker recorded this very event a moment ago
            return Alert.objects.get(rule_id=rule.id, first_event_id=event.pk), False
        # Another worker opened it a moment ago: this event is a repeat of that alert.
        return Alert.objects.select_for_update().get(dedupe_key=key, state__in=ACTIVE_STATES), False
    record_event(
        "alert.opened", project=event.project, agent=agent, changed=alert,
        actor_label="alerts",
        data={"alert_id": alert.pk, "rule_id": rule.id, "severity": rule.severity,
              "title": alert.title, "state": alert.state},
    )
    return alert, True


# --- many agents offline together: one grouped alert ----------------------------------------
def _group_title(n: int) -> str:
    return f"{n} agent{'s' if n != 1 else ''} went offline"


def group_offline(*, rule: RuleSpec, event: Any, now: datetime) -> Alert | None:
    """When ALERTS_GROUP_MIN_AGENTS or more agents of a project went offline within
    ALERTS_GROUP_WINDOW_SECONDS, they share one alert (notified once) instead of one each.
    None: too few, the caller opens a per-agent alert as usual. Race-safe: the group's dedupe
    key is unique among active alerts, so two workers forming it at once make one row (the
    loser's INSERT fails and it joins the winner's row), and members change only under the
    row's lock. Idempotent: an agent already listed is not added twice."""
    from apps.agents.models import Agent, AgentEvent

    key = f"{rule.id}:g{event.project_id}"
    with transaction.atomic(savepoint=False):
        group = Alert.objects.select_for_update().filter(
            dedupe_key=key, state__in=ACTIVE_STATES).first()
        created = False
        if group is None:
            since = event.ts - timedelta(seconds=settings.ALERTS_GROUP_WINDOW_SECONDS)
            together = set(
                AgentEvent.objects.filter(
                    kind=event.kind, project_id=event.project_id, ts__gte=since,
                    agent__status__in=rules.STATUS_KINDS[event.kind],
                ).values_list("agent_id", flat=True).distinct()
            ) | {event.agent_id}
            if len(together) < settings.ALERTS_GROUP_MIN_AGENTS:
                return None
            group, created = _open_group(rule=rule, event=event, key=key, now=now)
            if created:
                # Fold the per-agent alerts opened before the group formed into it.
                for alert in Alert.objects.filter(
                    rule_id=rule.id, project_id=event.project_id, event_kind=event.kind,
                    state__in=ACTIVE_STATES, grouped=False, agent__isnull=False,
                ):
                    together.add(alert.agent_id)
                    resolve(alert=alert, now=now, reason=f"grouped into alert #{group.pk}")
            ids = together
        else:
            ids = {event.agent_id}
        listed = {m["id"] for m in group.members}
        new = [{"id": a["id"], "name": a["name"]} for a in
               Agent.objects.filter(pk__in=ids - listed).order_by("name", "id").values("id", "name")]
        if new or created:
            group.members = [*group.members, *new]
            group.count = len(group.members)
            group.title = _group_title(group.count)[:300]
            group.last_event_id = max(group.last_event_id or 0, event.pk)
            group.last_fired_at = now
            changes = ["members", "count", "title", "last_event_id", "last_fired_at"]
            if created:
                group.last_action_at = now
                changes.append("last_action_at")
            group.version = F("version") + 1
            group.save(update_fields=[*changes, "version"])
            group.refresh_from_db(fields=["version"])
        if created:
            notify(alert=group, rule=rule, now=now, repeat=False)
            badge.changed()
    return group


def _open_group(*, rule: RuleSpec, event: Any, key: str, now: datetime) -> tuple[Alert, bool]:
    try:
        with transaction.atomic():
            group = Alert.objects.create(
                rule_id=rule.id, project_id=event.project_id, agent=None, dedupe_key=key,
                severity=rule.severity, event_kind=event.kind, title=_group_title(0),
                message="Several agents went quiet at once: a shared cause (network, host, "
                        "provider) is more likely than each agent failing on its own.",
                grouped=True, members=[], count=0, first_event_id=event.pk,
                last_event_id=event.pk, opened_at=now, last_fired_at=now,
                muted=is_muted(rule_id=rule.id, agent_id=None, now=now),
            )
    except IntegrityError:  # another worker formed the group a moment ago: join it
        return Alert.objects.select_for_update().get(dedupe_key=key, state__in=ACTIVE_STATES), False
    record_event(
        "alert.opened", project=event.project, agent=None, changed=group, actor_label="alerts",
        data={"alert_id": group.pk, "rule_id": rule.id, "severity": rule.severity,
              "title": group.title, "state": group.state, "grouped": True},
    )
    return group, True


def ungroup(*, agent_ids: set[int], project_id: int, now: datetime) -> list[Alert]:
    """Agents back online leave the grouped alerts listing them; an empty group resolves."""
    changed = []
    for group in Alert.objects.filter(project_id=project_id, grouped=True,
                                      state__in=ACTIVE_STATES).only("pk", "members"):
        if not agent_ids & {m["id"] for m in group.members}:
            continue
        with transaction.atomic(savepoint=False):
            locked = Alert.objects.select_for_update().filter(
                pk=group.pk, state__in=ACTIVE_STATES).first()
            if locked is None:
                continue
            left = [m for m in locked.members if m["id"] not in agent_ids]
            if len(left) == len(locked.members):
                continue
            if not left:
                resolve(alert=locked, now=now, reason="cleared: every agent is back")
            else:
                Alert.objects.filter(pk=locked.pk).update(
                    members=left, count=len(left), title=_group_title(len(left)),
                    version=F("version") + 1)
            changed.append(locked)
    return changed


def is_muted(*, rule_id: int | None, agent_id: int | None, now: datetime) -> bool:
    q = Q(rule_id=rule_id) if rule_id else Q(pk__in=[])
    if agent_id:
        q |= Q(agent_id=agent_id)
    return AlertMute.objects.filter(q).filter(AlertMute.active_q(now)).exists()


# --- notifying ------------------------------------------------------------------------------
def notify(*, alert: Alert, rule: RuleSpec, now: datetime, repeat: bool) -> Notification:
    subject = subject_of(agent_id=alert.agent_id, project_id=alert.project_id)
    title = alert.title if not repeat else f"Still happening ({alert.count}×): {alert.title}"
    fields = dict(
        alert=alert, project_id=alert.project_id, agent_id=alert.agent_id, subject=subject,
        severity=alert.severity, channels=list(rule.channels), title=title[:300],
        body=alert.message, created_at=now,
    )
    if alert.muted or is_muted(rule_id=rule.id, agent_id=alert.agent_id, now=now):
        # Recorded on the alert, never sent and never summarised later.
        if not alert.muted:
            Alert.objects.filter(pk=alert.pk).update(muted=True)
            alert.muted = True
        return Notification.objects.create(state=NotificationState.MUTED, reason="muted", **fields)
    if alert.is_snoozed(now):
        # Held like quiet hours; flush_held sends the summary once the snooze is over.
        return Notification.objects.create(
            state=NotificationState.SUPPRESSED, reason=SNOOZED_REASON, **fields)
    hold = throttle.hold_reason(
        subject=subject, agent=alert.agent, now=now,
        respect_sleep_windows=rule.respect_sleep_windows,
        respect_quiet_hours=rule.respect_quiet_hours, severity=alert.severity,
    )
    if hold is not None:
        return Notification.objects.create(state=hold.state, reason=hold.reason, **fields)
    return _send_with_summary(subject=subject, now=now, fields=fields)


def _send_with_summary(*, subject: str, now: datetime, fields: dict[str, Any]) -> Notification:
    from apps.alerts import dispatch

    held = list(
        Notification.objects.filter(subject=subject, state__in=HELD_STATES, summarised_in=None)
        .order_by("created_at", "id")
    )
    summary = [
        {"title": h.title, "state": h.state, "reason": h.reason, "severity": h.severity,
         "at": h.created_at.isoformat(), "alert_id": h.alert_id}
        for h in held
    ]
    note = Notification.objects.create(state=NotificationState.SENT, summary=summary, **fields)
    if held:
        Notification.objects.filter(pk__in=[h.pk for h in held], summarised_in=None).update(
            summarised_in=note
        )
    dispatch.fan_out(notification=note)
    return note


def flush_held(*, now: datetime | None = None) -> list[Notification]:
    """Send one summary per subject whose held-back messages may go out now (quiet hours or
    sleep window over, hourly budget free again). Idempotent: each held row is summarised once."""
    now = now or timezone.now()
    policy = AlertPolicy.objects.filter(pk=1).first()
    subjects = (
        Notification.objects.filter(state__in=HELD_STATES, summarised_in=None)
        .values_list("subject", flat=True).distinct()
    )
    sent = []
    for subject in list(subjects)[:500]:
        held = [
            h for h in Notification.objects.select_related("agent", "project", "alert")
            .filter(subject=subject, state__in=HELD_STATES, summarised_in=None)
            .order_by("created_at", "id")
            # still snoozed (and not yet resolved): held until the snooze ends
            if not (h.alert is not None and h.alert.is_active and h.alert.is_snoozed(now))
        ]
        if not held:
            continue
        first = held[0]
        severity = max((h.severity for h in held), key=lambda s: SEVERITY_RANK.get(s, 0))
        hold = throttle.hold_reason(
            subject=subject, agent=first.agent, now=now, policy=policy,
            respect_sleep_windows=any("sleep" in h.reason for h in held),
            respect_quiet_hours=any("quiet" in h.reason for h in held), severity=severity,
        )
        if hold is not None:
            continue
        who = first.agent.name if first.agent else (first.project.name if first.project else "")
        channels = sorted({c for h in held for c in (h.channels or [])})
        n = len(held)
        with transaction.atomic():
            note = _send_with_summary(
                subject=subject, now=now,
                fields=dict(
                    alert=None, project_id=first.project_id, agent_id=first.agent_id,
                    subject=subject, severity=severity, channels=channels,
                    title=f"{n} alert{'s' if n != 1 else ''} held back for {who}",
                    body="Held back while notifications were paused; the list follows.",
                    created_at=now,
                ),
            )
        sent.append(note)
    return sent


# --- clearing --------------------------------------------------------------------------------
def clear_conditions(*, agent: Any, now: datetime | None = None) -> list[Alert]:
    """Resolve this agent's status-based alerts whose status no longer holds."""
    now = now or timezone.now()
    agent.refresh_from_db(fields=["status"])
    resolved = []
    for alert in Alert.objects.filter(
        agent=agent, state__in=ACTIVE_STATES, event_kind__in=list(rules.STATUS_KINDS)
    ):
        if agent.status in rules.STATUS_KINDS[alert.event_kind]:
            continue
        if resolve(alert=alert, now=now, reason=f"cleared: the agent is {agent.status} now"):
            resolved.append(alert)
    if agent.status not in rules.STATUS_KINDS["agent.offline"]:
        ungroup(agent_ids={agent.pk}, project_id=agent.project_id, now=now)
    return resolved


def clear_subject(*, event: Any, now: datetime | None = None) -> list[Alert]:
    """An agentless event saying a thing recovered (endpoint.up) resolves the alerts its
    earlier trouble opened (endpoint.down), found by the subject in their dedupe key."""
    now = now or timezone.now()
    cleared_kinds = rules.SUBJECT_CLEARS[event.kind]
    resolved = []
    for kind in cleared_kinds:
        suffix = rules.subject_suffix(kind, event.data)
        if not suffix:
            continue
        for alert in Alert.objects.filter(
            project_id=event.project_id, agent=None, state__in=ACTIVE_STATES, event_kind=kind,
            dedupe_key__endswith=suffix,
        ):
            if resolve(alert=alert, now=now, reason=f"cleared by {event.kind}"):
                resolved.append(alert)
    return resolved


def resolve(*, alert: Alert, now: datetime, reason: str, user: Any = None) -> bool:
    """Conditional update: only one caller resolves an alert, and only that one records it."""
    with transaction.atomic(savepoint=False):
        changed = Alert.objects.filter(pk=alert.pk, state__in=ACTIVE_STATES).update(
            state=AlertState.RESOLVED, resolved_at=now, resolved_reason=reason[:200],
            resolved_by=user if user is not None and user.is_authenticated else None,
        )
        if not changed:
            return False
        alert.refresh_from_db()
        record_event(
            "alert.resolved", project=alert.project, agent=alert.agent, changed=alert,
            actor=user, actor_label="" if user else "alerts",
            data={"alert_id": alert.pk, "rule_id": alert.rule_id, "reason": reason[:200],
                  "title": alert.title},
        )
        badge.changed()
    return True


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Periodic repair: clear alerts a lost or out-of-order event left open, send summaries
    that are due, and re-enqueue deliveries whose retry never ran."""
    from apps.agents.models import Agent
    from apps.alerts import dispatch

    now = now or timezone.now()
    agent_ids = (
        Alert.objects.filter(state__in=ACTIVE_STATES, event_kind__in=list(rules.STATUS_KINDS))
        .exclude(agent=None).values_list("agent_id", flat=True).distinct()
    )
    cleared = 0
    for agent in Agent.objects.filter(pk__in=list(agent_ids)[:1000]):
        cleared += len(clear_conditions(agent=agent, now=now))
    for group in Alert.objects.filter(grouped=True, state__in=ACTIVE_STATES).only(
            "pk", "project_id", "members")[:200]:
        ids = {m["id"] for m in group.members}
        back = ids - set(Agent.objects.filter(
            pk__in=ids, status__in=rules.STATUS_KINDS["agent.offline"]).values_list("pk", flat=True))
        if back:
            cleared += len(ungroup(agent_ids=back, project_id=group.project_id, now=now))
    summaries = flush_held(now=now)
    requeued = dispatch.requeue_stuck(now=now)
    drained = drain()  # events whose drain task was lost
    return {"cleared": cleared, "summaries": len(summaries), "requeued": requeued,
            "drained": drained}


# --- draining the queue of events -------------------------------------------------------------
def drain(*, batch: int = DRAIN_BATCH, budget_seconds: float = DRAIN_BUDGET_SECONDS) -> int:
    """Evaluate waiting events in batches until none are left: how many were evaluated, or
    DRAIN_UNFINISHED when the time budget ran out first (the caller schedules another drain,
    so one busy queue cannot hold a worker for ever)."""
    started = time.monotonic()
    done = 0
    while True:
        claimed = _drain_batch(batch)
        done += claimed
        if claimed < batch:
            return done
        if time.monotonic() - started > budget_seconds:
            return DRAIN_UNFINISHED


def _claim(limit: int) -> list[int]:
    from apps.alerts.models import PendingEvaluation

    ids = list(
        PendingEvaluation.objects.select_for_update(skip_locked=True)
        .order_by("event_id").values_list("event_id", flat=True)[:limit]
    )
    if ids:
        PendingEvaluation.objects.filter(event_id__in=ids).delete()
    return ids


def _evaluate_claimed(ids: list[int]) -> None:
    from apps.agents.models import AgentEvent

    # By agent, then in order: an agent's alerts are then locked in the same order by every
    # batch. In plain id order two workers' batches, each holding events of several agents,
    # locked those agents' alerts in opposite orders and deadlocked (PostgreSQL aborted one,
    # whose events were then evaluated again one by one).
    for event in (AgentEvent.objects.select_related("agent").filter(pk__in=ids)
                  .order_by("agent_id", "id")):
        evaluate_loaded(event)


def _drain_batch(limit: int) -> int:
    try:
        with transaction.atomic():
            ids = _claim(limit)
            _evaluate_claimed(ids)
        return len(ids)
    except Exception:
        # Roll the batch back and take the same events one transaction each, so one bad event
        # cannot hold the others back.
        logger.exception("alert batch failed; evaluating its events one by one")
    from apps.alerts.models import PendingEvaluation

    done = 0
    for _ in range(limit):
        claimed: list[int] = []
        try:
            with transaction.atomic():
                claimed = _claim(1)
                if not claimed:
                    break
                _evaluate_claimed(claimed)
            done += 1
        except Exception:
            logger.exception("alert evaluation of event %s failed; it is skipped", claimed)
            PendingEvaluation.objects.filter(event_id__in=claimed).delete()
    return done
