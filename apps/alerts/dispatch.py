"""From a sent Notification to Deliveries, and one attempt at a Delivery.

fan_out() writes one Delivery per target inside the engine's transaction and enqueues the
attempts on commit. delivery_attempt() tries once, records the attempt on the row, and says
when to try again; the Celery task only schedules that. A channel that is down therefore
never loses a message: the row stays `retrying` (a sweep re-enqueues it if the retry was lost)
and finally `failed`, visible on the alert."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.alerts.models import (
    SEVERITY_RANK,
    Channel,
    Delivery,
    DeliveryState,
    Notification,
    PersonalSettings,
    PushSubscription,
    TeamChannel,
    default_severities,
)
from apps.alerts.transports import TransportError, registry

logger = logging.getLogger(__name__)


def retry_delays() -> list[float]:
    return [float(d) for d in settings.ALERTS_RETRY_DELAYS]


def _people(severity: str) -> list[tuple[Any, PersonalSettings | None]]:
    """Team members who want this severity, with their settings row (or None: defaults)."""
    from apps.accounts.models import User

    users = User.objects.filter(is_active=True).exclude(role="").select_related("alert_settings")
    wanted = []
    for user in users:
        prefs = getattr(user, "alert_settings", None)
        severities = prefs.severities if prefs is not None else default_severities()
        if severity in severities:
            wanted.append((user, prefs))
    return wanted


def targets(notification: Notification) -> list[Delivery]:
    channels = set(notification.channels or [])
    sev = notification.severity
    out = [Delivery(channel="inapp", target="Alerts inbox")]
    people = _people(sev) if channels & {Channel.EMAIL, Channel.WEBPUSH} else []
    if Channel.EMAIL in channels:
        for user, prefs in people:
            if prefs is not None and not prefs.email_enabled:
                continue
            address = (prefs.email if prefs is not None else "") or user.email
            if address:
                out.append(Delivery(channel="email", target=address, user=user))
    if Channel.WEBPUSH in channels:
        push_users = [u.pk for u, p in people if p is None or p.push_enabled]
        for sub in PushSubscription.objects.filter(user_id__in=push_users).select_related("user"):
            out.append(Delivery(channel="webpush", target=f"{sub.user} · {sub.user_agent[:60]}",
                                user=sub.user, subscription=sub))
    kinds = [k for k in (Channel.SLACK, Channel.WEBHOOK) if k in channels]
    for ch in TeamChannel.objects.filter(enabled=True, kind__in=kinds):
        if SEVERITY_RANK.get(sev, 0) >= SEVERITY_RANK.get(ch.min_severity, 0):
            out.append(Delivery(channel=ch.kind, target=ch.name, team_channel=ch))
    return out


def fan_out(*, notification: Notification, deliveries: list[Delivery] | None = None) -> list[Delivery]:
    rows = deliveries if deliveries is not None else targets(notification)
    for d in rows:
        d.notification = notification
    created = Delivery.objects.bulk_create(rows)
    # bulk_create returns pks on PostgreSQL and SQLite 3.35+; fetch them if not.
    if created and created[0].pk is None:
        created = list(Delivery.objects.filter(notification=notification))
    ids = [d.pk for d in created]
    transaction.on_commit(lambda: enqueue(ids))
    return created


def enqueue(delivery_ids: list[int]) -> None:
    from apps.alerts.tasks import deliver
    from apps.core.queueing import enqueue as enqueue_task

    for pk in delivery_ids:  # a delivery left pending is re-enqueued by the sweep
        enqueue_task(deliver, pk, recovered_by="the alerts sweep (requeue_stuck)")


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> float | None:
    """Try once. Returns the delay before the next attempt, or None when done."""
    now = now or timezone.now()
    # Claim: only one worker attempts a row at a time (a duplicate task finds it claimed).
    claimed = Delivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(seconds=2)),
        pk=delivery_id, state__in=[DeliveryState.PENDING, DeliveryState.RETRYING],
    ).update(next_attempt_at=now + timedelta(seconds=settings.ALERTS_DELIVERY_LEASE_SECONDS))
    if not claimed:
        return None
    d = Delivery.objects.select_related(
        "notification__alert__agent", "notification__alert__project", "team_channel",
        "subscription", "user",
    ).get(pk=delivery_id)
    from apps.alerts.messages import build_message

    transport = registry().get(d.channel)
    ok, note, retryable = False, "", True
    try:
        if transport is None:
            raise TransportError(f"no transport for {d.channel!r}", retryable=False)
        # In-app needs no rendering; the others get text, HTML and a JSON payload.
        message = build_message(d.notification) if d.channel != "inapp" else None
        note = transport(d, message)
        ok = True
    except TransportError as exc:
        note, retryable = str(exc), exc.retryable
    except Exception as exc:  # a bug in a transport must not lose the message
        logger.exception("delivery %s raised", d.pk)
        note = f"{exc.__class__.__name__}: {exc}"
    attempts = d.attempts + 1
    log = [*d.attempt_log, {"at": now.isoformat(), "ok": ok, "note": note[:300]}][-20:]
    delays = retry_delays()
    update: dict[str, Any] = {"attempts": attempts, "attempt_log": log}
    delay: float | None = None
    if ok:
        update |= {"state": DeliveryState.SENT, "sent_at": timezone.now(), "next_attempt_at": None}
    elif retryable and attempts <= len(delays):
        delay = delays[attempts - 1]
        update |= {"state": DeliveryState.RETRYING, "last_error": note[:1000],
                   "next_attempt_at": now + timedelta(seconds=delay)}
    else:
        update |= {"state": DeliveryState.FAILED, "last_error": note[:1000], "next_attempt_at": None}
    Delivery.objects.filter(pk=d.pk).update(**update)
    return delay


def requeue_stuck(*, now: datetime) -> int:
    """Deliveries whose attempt is overdue (lost task, restarted worker) are enqueued again."""
    grace = timedelta(seconds=settings.ALERTS_DELIVERY_LEASE_SECONDS)
    stuck = list(
        Delivery.objects.filter(state__in=[DeliveryState.PENDING, DeliveryState.RETRYING])
        .filter(created_at__lt=now - grace)
        .exclude(next_attempt_at__gt=now - grace)
        .values_list("pk", flat=True)[:500]
    )
    if stuck:
        transaction.on_commit(lambda: enqueue(stuck))
    return len(stuck)


@transaction.atomic
def send_test(*, channel: str, title: str, target_deliveries: list[Delivery]) -> Notification:
    """A "send test" button: one test notification to exactly the given targets."""
    note = Notification.objects.create(
        subject="test", state="sent", is_test=True, severity="info", channels=[channel],
        title=title, body="If you can read this, Switchboard can reach you here.",
    )
    fan_out(notification=note, deliveries=target_deliveries)
    return note
