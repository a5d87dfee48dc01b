"""Writes people make: acknowledge and resolve alerts, edit rules and quiet hours, team and
personal channels, push subscriptions, "send test". The engine's own writes live in
engine.py and dispatch.py."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from apps.alerts import badge, dispatch, engine, rules, throttle
from apps.alerts.models import (
    Alert,
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
