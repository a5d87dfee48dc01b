"""Writes people make: acknowledge and resolve alerts, edit rules and quiet hours, team and
personal channels, push subscriptions, "send test". The engine's own writes live in
engine.py and dispatch.py."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from apps.alerts import badge, dispatch, engine, rules, throttle
from apps.alerts.models import (
    ACTIVE_STATES,
    Alert,
    AlertMute,
    AlertPolicy,
    AlertRule,
    AlertState,
    Delivery,
    Notification,
    PersonalSettings,
    PushSubscription,
    Severity,
    TeamChannel,
)
from apps.core.audit import audit_record
from apps.core.events import record_event


# --- alerts ---------------------------------------------------------------------------------
@transaction.atomic
def alert_acknowledge(*, alert: Alert, user: Any) -> bool:
    """Someone is on it: no more notifications for this alert, repeats still count."""
    changed = Alert.objects.filter(pk=alert.pk, state=AlertState.OPEN).update(
        state=AlertState.ACKNOWLEDGED, acknowledged_at=timezone.now(),
        acknowledged_by=user if getattr(user, "is_authenticated", False) else None,
    )
    if not changed:
        return False
    alert.refresh_from_db()
    record_event(
        "alert.acknowledged", project=alert.project, agent=alert.agent, changed=alert,
        actor=user, actor_label="" if getattr(user, "is_authenticated", False) else "api",
        data={"alert_id": alert.pk, "rule_id": alert.rule_id, "title": alert.title},
    )
    badge.changed()
    return True


def alert_resolve(*, alert: Alert, user: Any) -> bool:
    who = user if getattr(user, "is_authenticated", False) else None
    label = who.get_username() if who else "an API key"
    return engine.resolve(alert=alert, now=timezone.now(), reason=f"resolved by {label}", user=who)


# --- snooze, bulk actions and mutes -------------------------------------------------------------
SNOOZE_CHOICES = ("1h", "tomorrow", "custom")
BULK_ACTIONS = ("ack", "resolve", "snooze")


def team_timezone() -> ZoneInfo:
    """The team's time zone (the alert policy's), else the server's."""
    policy = AlertPolicy.objects.filter(pk=1).only("timezone").first()
    try:
        return ZoneInfo(policy.timezone if policy and policy.timezone else str(timezone.get_default_timezone()))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def snooze_until(*, choice: str, custom: datetime | None = None,
                 now: datetime | None = None) -> datetime:
    """1 h from now, tomorrow 09:00 in the team's time zone, or a custom moment (a naive one is
    read in the team's time zone). ValidationError for anything else or a moment past."""
    now = now or timezone.now()
    tz = team_timezone()
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "tomorrow":
        day = now.astimezone(tz).date() + timedelta(days=1)
        return datetime.combine(day, time(9, 0), tzinfo=tz)
    if choice == "custom":
        if custom is None:
            raise ValidationError("Pick the date and time to snooze until.")
        if timezone.is_naive(custom):
            custom = custom.replace(tzinfo=tz)
        if custom <= now:
            raise ValidationError("Snooze until a moment in the future.")
        if custom > now + timedelta(days=90):
            raise ValidationError("Snooze for at most 90 days.")
        return custom
    raise ValidationError(f"Snooze for one of: {', '.join(SNOOZE_CHOICES)}.")


@transaction.atomic
def alert_snooze(*, alert: Alert, until: datetime, user: Any,
                 request: HttpRequest | None = None) -> bool:
    """Out of the active view and its notifications held until then (engine.notify)."""
    who = user if getattr(user, "is_authenticated", False) else None
    changed = Alert.objects.filter(pk=alert.pk, state__in=ACTIVE_STATES).update(
        snoozed_until=until, snoozed_by=who)
    if not changed:
        return False
    alert.refresh_from_db()
    record_event(
        "alert.snoozed", project=alert.project, agent=alert.agent, changed=alert, actor=who,
        actor_label="" if who else "api",
        data={"alert_id": alert.pk, "until": until.isoformat(), "title": alert.title},
    )
    audit_record("alert.snoozed", actor=who, request=request, target=alert,
                 data={"until": until.isoformat()})
    badge.changed()
    return True


@transaction.atomic
def alert_unsnooze(*, alert: Alert, user: Any, request: HttpRequest | None = None) -> bool:
    who = user if getattr(user, "is_authenticated", False) else None
    changed = Alert.objects.filter(pk=alert.pk, snoozed_until__isnull=False).update(
        snoozed_until=None, snoozed_by=None)
    if not changed:
        return False
    alert.refresh_from_db()
    record_event("alert.snoozed", project=alert.project, agent=alert.agent, changed=alert,
                 actor=who, actor_label="" if who else "api",
                 data={"alert_id": alert.pk, "until": None, "title": alert.title})
    audit_record("alert.unsnoozed", actor=who, request=request, target=alert)
    badge.changed()
    return True


def alerts_bulk(*, alerts: list[Alert], action: str, user: Any, until: datetime | None = None,
                request: HttpRequest | None = None) -> int:
    """Acknowledge, resolve or snooze many alerts: how many changed (the others were already
    in that state). Each alert goes through its own service, so events and audit match."""
    if action not in BULK_ACTIONS:
        raise ValidationError(f"Action one of: {', '.join(BULK_ACTIONS)}.")
    if action == "snooze" and until is None:
        raise ValidationError("Snoozing needs a time to snooze until.")
    done = 0
    for alert in alerts:
        if action == "ack":
            done += alert_acknowledge(alert=alert, user=user)
        elif action == "resolve":
            done += alert_resolve(alert=alert, user=user)
        else:
            done += alert_snooze(alert=alert, until=until, user=user, request=request)  # type: ignore[arg-type]
    audit_record("alert.bulk", actor=user, request=request,
                 data={"action": action, "alerts": [a.pk for a in alerts], "changed": done})
    return done


MUTE_DURATIONS = [("1h", "1 hour"), ("4h", "4 hours"), ("24h", "24 hours"), ("7d", "7 days"),
                  ("", "Until unmuted")]
_MUTE_SPANS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(days=1),
               "7d": timedelta(days=7)}


def mute_until(choice: str, *, now: datetime | None = None) -> datetime | None:
    """A mute's end from its duration choice; "" mutes until lifted."""
    if not choice:
        return None
    if choice not in _MUTE_SPANS:
        raise ValidationError("Mute for 1h, 4h, 24h, 7d or until unmuted.")
    return (now or timezone.now()) + _MUTE_SPANS[choice]


@transaction.atomic
def mute_create(*, user: Any, agent: Any = None, rule: AlertRule | None = None,
                until: datetime | None = None, reason: str = "",
                request: HttpRequest | None = None) -> AlertMute:
    """New alerts for this agent (or rule) are recorded but not notified until `until`
    (None: until lifted)."""
    if (agent is None) == (rule is None):
        raise ValidationError("Mute either an agent or a rule.")
    if until is not None and until <= timezone.now():
        raise ValidationError("Mute until a moment in the future.")
    mute = AlertMute(agent=agent, rule=rule, until=until, reason=reason[:200],
                     created_by=user if getattr(user, "is_authenticated", False) else None)
    mute.full_clean()
    mute.save()
    audit_record("alert_mute.created", actor=user, request=request, target=mute,
                 data={"agent": getattr(agent, "pk", None), "rule": getattr(rule, "pk", None),
                       "until": until.isoformat() if until else None})
    return mute


@transaction.atomic
def mute_lift(*, mute: AlertMute, user: Any, request: HttpRequest | None = None) -> bool:
    changed = AlertMute.objects.filter(pk=mute.pk, lifted_at__isnull=True).update(
        lifted_at=timezone.now(),
        lifted_by=user if getattr(user, "is_authenticated", False) else None)
    if changed:
        mute.refresh_from_db()
        audit_record("alert_mute.lifted", actor=user, request=request, target=mute)
    return bool(changed)


def inbox_mark_seen(*, user: Any) -> None:
    PersonalSettings.objects.update_or_create(user=user, defaults={"inbox_seen_at": timezone.now()})
    badge.forget(user.pk)


# --- rules and the team policy -----------------------------------------------------------------
@transaction.atomic
def rule_save(*, rule: AlertRule, actor: Any, request: HttpRequest | None = None) -> AlertRule:
    creating = rule.pk is None
    rule.full_clean()
    if not creating:
        rule.version = F("version") + 1
    rule.save()
    rule.refresh_from_db()
    rules.invalidate()
    audit_record("alert_rule.created" if creating else "alert_rule.updated", actor=actor,
                 request=request, target=rule,
                 data={"event_kind": rule.event_kind, "severity": rule.severity,
                       "enabled": rule.enabled})
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule, actor: Any, request: HttpRequest | None = None) -> None:
    audit_record("alert_rule.deleted", actor=actor, request=request, target=rule)
    rule.delete()
    rules.invalidate()


@transaction.atomic
def policy_update(*, actor: Any, request: HttpRequest | None = None, **fields: Any) -> AlertPolicy:
    policy = AlertPolicy.current()
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    throttle.forget_policy()
    audit_record("alert_policy.updated", actor=actor, request=request, target=policy,
                 data={k: str(v) for k, v in fields.items()})
    return policy


# --- team channels ---------------------------------------------------------------------------
@transaction.atomic
def team_channel_create(
    *, kind: str, name: str, url: str, min_severity: str = Severity.INFO, actor: Any,
    request: HttpRequest | None = None,
) -> TeamChannel:
    channel = TeamChannel(
        kind=kind, name=name, url=url, min_severity=min_severity,
        secret=TeamChannel.new_secret() if kind == "webhook" else "",
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    channel.full_clean()
    channel.save()
    audit_record("alert_channel.created", actor=actor, request=request, target=channel,
                 data={"kind": kind})
    return channel


@transaction.atomic
def team_channel_update(*, channel: TeamChannel, actor: Any, request: HttpRequest | None = None,
                        **fields: Any) -> TeamChannel:
    for name, value in fields.items():
        setattr(channel, name, value)
    channel.full_clean()
    channel.save()
    audit_record("alert_channel.updated", actor=actor, request=request, target=channel,
                 data={k: str(v) for k, v in fields.items()})
    return channel


@transaction.atomic
def team_channel_delete(*, channel: TeamChannel, actor: Any, request: HttpRequest | None = None) -> None:
    audit_record("alert_channel.deleted", actor=actor, request=request, target=channel)
    channel.delete()


def team_channel_test(*, channel: TeamChannel) -> Notification:
    return dispatch.send_test(
        channel=channel.kind, title=f"Test notification for {channel.name}",
        target_deliveries=[Delivery(channel=channel.kind, target=channel.name, team_channel=channel)],
    )


# --- personal channels -------------------------------------------------------------------------
@transaction.atomic
def personal_settings_update(
    *, user: Any, email_enabled: bool, email: str, push_enabled: bool, severities: list[str]
) -> PersonalSettings:
    valid = [s for s in Severity.values if s in severities]
    prefs, _ = PersonalSettings.objects.get_or_create(user=user)
    prefs.email_enabled = email_enabled
    prefs.email = email
    prefs.push_enabled = push_enabled
    prefs.severities = valid
    prefs.full_clean()
    prefs.save()
    return prefs


def personal_test(*, user: Any, channel: str) -> Notification:
    """Send a test to this person's email or every browser they subscribed."""
    prefs = PersonalSettings.objects.filter(user=user).first()
    if channel == "email":
        address = (prefs.email if prefs else "") or user.email
        if not address:
            raise ValidationError("Add an email address first.")
        targets = [Delivery(channel="email", target=address, user=user)]
    elif channel == "webpush":
        subs = list(PushSubscription.objects.filter(user=user))
        if not subs:
            raise ValidationError("Turn on push in this browser first.")
        targets = [Delivery(channel="webpush", target=f"{user} · {s.user_agent[:60]}", user=user,
                            subscription=s) for s in subs]
    else:
        raise ValidationError(f"Unknown channel {channel!r}.")
    return dispatch.send_test(channel=channel, title="Test notification from Switchboard",
                              target_deliveries=targets)


@transaction.atomic
def push_subscribe(
    *, user: Any, browser_id: str, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> PushSubscription:
    """One subscription per browser: a new endpoint from the same browser replaces the old."""
    if not (browser_id and endpoint and p256dh and auth):
        raise ValidationError("A push subscription needs an endpoint and its keys.")
    from apps.alerts.targets import check_target

    check_target(endpoint, https_only=True, what="push endpoint")
    PushSubscription.objects.filter(endpoint=endpoint).exclude(user=user, browser_id=browser_id).delete()
    sub, _ = PushSubscription.objects.update_or_create(
        user=user, browser_id=browser_id[:64],
        defaults={"endpoint": endpoint, "p256dh": p256dh, "auth": auth,
                  "user_agent": user_agent[:300]},
    )
    sub.full_clean()
    return sub


@transaction.atomic
def push_unsubscribe(*, user: Any, browser_id: str = "", subscription_id: int | None = None) -> int:
    qs = PushSubscription.objects.filter(user=user)
    if subscription_id is not None:
        qs = qs.filter(pk=subscription_id)
    else:
        qs = qs.filter(browser_id=browser_id)
    deleted, _ = qs.delete()
    return deleted
