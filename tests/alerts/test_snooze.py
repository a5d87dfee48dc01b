"""Snooze: out of the active view, notifications held, back (and summarised) when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.alerts import engine, selectors, services
from apps.alerts.models import Alert, AlertPolicy, Notification
from apps.core.audit import AuditEntry


@pytest.fixture
def blocked(make_rule, agent, emit):
    make_rule("agent.blocked", action_interval_minutes=0)
    emit("agent.blocked", agent, status="blocked", reason="x")
    return Alert.objects.get()


def test_a_snoozed_alert_leaves_the_active_view_for_the_snoozed_one(blocked, admin_user,
                                                                     project):
    until = timezone.now() + timedelta(hours=1)
    assert services.alert_snooze(alert=blocked, until=until, user=admin_user)
    active = selectors.inbox_page(project, selectors.InboxFilters(state="active")).object_list
    snoozed = selectors.inbox_page(project, selectors.InboxFilters(state="snoozed")).object_list
    assert list(active) == [] and list(snoozed) == [blocked]
    counts = selectors.inbox_counts(project)
    assert (counts["open"], counts["snoozed"]) == (0, 1)
    assert AuditEntry.objects.filter(action="alert.snoozed").exists()


def test_notifications_are_held_while_snoozed_and_summarised_after(blocked, admin_user, agent,
                                                                   emit):
    now = timezone.now()
    services.alert_snooze(alert=blocked, until=now + timedelta(hours=1), user=admin_user)
    emit("agent.blocked", agent, reason="again", now=now + timedelta(minutes=1))
    held = Notification.objects.get(state="suppressed")
    assert held.reason == "snoozed"
    assert engine.flush_held(now=now + timedelta(minutes=30)) == []  # still snoozed
    [summary] = engine.flush_held(now=now + timedelta(minutes=61))
    assert summary.summary[0]["title"] == held.title


def test_the_snooze_expires_and_the_alert_is_back(blocked, admin_user, project):
    services.alert_snooze(alert=blocked, until=timezone.now() + timedelta(hours=1),
                          user=admin_user)
    Alert.objects.filter(pk=blocked.pk).update(snoozed_until=timezone.now() - timedelta(seconds=1))
    active = selectors.inbox_page(project, selectors.InboxFilters(state="active")).object_list
    assert list(active) == [blocked]


def test_wake_ends_a_snooze(blocked, admin_user):
    services.alert_snooze(alert=blocked, until=timezone.now() + timedelta(hours=1),
                          user=admin_user)
    assert services.alert_unsnooze(alert=blocked, user=admin_user)
    blocked.refresh_from_db()
    assert blocked.snoozed_until is None


def test_a_resolved_alert_cannot_be_snoozed(blocked, admin_user):
    services.alert_resolve(alert=blocked, user=admin_user)
    assert not services.alert_snooze(alert=blocked, until=timezone.now() + timedelta(hours=1),
                                     user=admin_user)


def test_tomorrow_is_nine_in_the_teams_time_zone(db):
    AlertPolicy.objects.update_or_create(pk=1, defaults={"timezone": "Europe/Paris"})
    now = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    until = services.snooze_until(choice="tomorrow", now=now)
    assert until == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)  # 09:00 CET


def test_one_hour_and_custom(db):
    now = timezone.now()
    assert services.snooze_until(choice="1h", now=now) == now + timedelta(hours=1)
    later = now + timedelta(days=2)
    assert services.snooze_until(choice="custom", custom=later, now=now) == later
    with pytest.raises(ValidationError):
        services.snooze_until(choice="custom", custom=now - timedelta(minutes=1), now=now)
    with pytest.raises(ValidationError):
        services.snooze_until(choice="custom", custom=None, now=now)
    with pytest.raises(ValidationError):
        services.snooze_until(choice="forever", now=now)


def test_a_snoozed_alert_is_not_counted_in_the_header_badge(blocked, admin_user, viewer):
    from apps.alerts.badge import unread_count

    assert unread_count(viewer.pk) == 1
    services.alert_snooze(alert=blocked, until=timezone.now() + timedelta(hours=1),
                          user=admin_user)
    from django.core.cache import cache

    cache.clear()
    assert unread_count(viewer.pk) == 0
