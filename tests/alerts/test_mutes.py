"""Mutes per agent or rule: new alerts recorded and marked muted, never notified."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.alerts import engine, services
from apps.alerts.models import Alert, AlertMute, Notification
from apps.core.audit import AuditEntry


def test_a_muted_agents_alerts_are_recorded_not_notified(make_rule, make_agent, emit,
                                                          admin_user):
    make_rule("agent.blocked")
    ada, bob = make_agent("ada"), make_agent("bob")
    services.mute_create(user=admin_user, agent=ada)
    emit("agent.blocked", ada, status="blocked", reason="x")
    emit("agent.blocked", bob, status="blocked", reason="y")
    muted = Alert.objects.get(agent=ada)
    assert muted.muted and muted.state == "open"
    assert Notification.objects.get(alert=muted).state == "muted"
    assert Notification.objects.get(agent=bob).state == "sent"
    assert engine.flush_held() == []  # muted messages are never summarised later
    assert AuditEntry.objects.filter(action="alert_mute.created").exists()


def test_a_muted_rule_is_silent_for_every_agent(make_rule, make_agent, emit, admin_user):
    rule = make_rule("agent.blocked")
    services.mute_create(user=admin_user, rule=rule)
    emit("agent.blocked", make_agent("ada"), status="blocked", reason="x")
    assert Notification.objects.get().state == "muted"


def test_a_mute_ends_at_its_time_or_when_lifted(make_rule, make_agent, emit, admin_user):
    make_rule("agent.blocked")
    ada, bob = make_agent("ada"), make_agent("bob")
    timed = services.mute_create(user=admin_user, agent=ada,
                                 until=timezone.now() + timedelta(hours=1))
    AlertMute.objects.filter(pk=timed.pk).update(until=timezone.now() - timedelta(seconds=1))
    emit("agent.blocked", ada, status="blocked", reason="x")
    assert Notification.objects.get(agent=ada).state == "sent"
    lifted = services.mute_create(user=admin_user, agent=bob)
    assert services.mute_lift(mute=lifted, user=admin_user)
    assert not services.mute_lift(mute=lifted, user=admin_user)  # once
    emit("agent.blocked", bob, status="blocked", reason="y")
    assert Notification.objects.get(agent=bob).state == "sent"
    assert AuditEntry.objects.filter(action="alert_mute.lifted").count() == 1


def test_a_mute_names_an_agent_or_a_rule(make_rule, agent, admin_user):
    rule = make_rule("agent.blocked")
    with pytest.raises(ValidationError):
        services.mute_create(user=admin_user)
    with pytest.raises(ValidationError):
        services.mute_create(user=admin_user, agent=agent, rule=rule)
    with pytest.raises(ValidationError):
        services.mute_until("forever")
