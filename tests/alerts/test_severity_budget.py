"""The hourly notification budget is per agent and per severity: info cannot starve critical."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.alerts import throttle
from apps.alerts.models import Notification


def test_info_notifications_do_not_use_up_the_critical_budget(make_rule, agent, emit):
    make_rule("task.completed", severity="info")
    make_rule("agent.error", severity="critical", respect_quiet_hours=False)
    now = timezone.now()
    for i in range(5):
        emit("task.completed", agent, now=now + timedelta(seconds=i), result=f"r{i}")
    emit("agent.error", agent, now=now + timedelta(seconds=10), message="boom")
    info = Notification.objects.filter(severity="info")
    assert info.filter(state="sent").count() == 3 and info.filter(state="throttled").count() == 2
    assert Notification.objects.get(severity="critical").state == "sent"


def test_critical_is_unthrottled_by_default(make_rule, make_agent, emit):
    make_rule("agent.error", severity="critical", action_interval_minutes=0)
    ada = make_agent("ada")
    now = timezone.now()
    for i in range(8):
        emit("agent.error", ada, now=now + timedelta(seconds=i), message=f"e{i}")
    assert Notification.objects.filter(state="sent").count() == 8
    assert throttle.max_per_hour("critical") == 0


def test_each_severity_has_its_own_setting_and_zero_means_unthrottled(settings):
    settings.ALERTS_MAX_PER_AGENT_PER_HOUR = 3
    settings.ALERTS_MAX_INFO_PER_AGENT_PER_HOUR = 0
    settings.ALERTS_MAX_WARNING_PER_AGENT_PER_HOUR = -1
    settings.ALERTS_MAX_CRITICAL_PER_AGENT_PER_HOUR = 10
    assert throttle.max_per_hour("info") == 0
    assert throttle.max_per_hour("warning") == 3  # -1: the general budget
    assert throttle.max_per_hour("critical") == 10


def test_a_critical_budget_when_set_holds_back_critical_only(make_rule, agent, emit, settings):
    settings.ALERTS_MAX_CRITICAL_PER_AGENT_PER_HOUR = 1
    make_rule("agent.error", severity="critical", action_interval_minutes=0)
    now = timezone.now()
    emit("agent.error", agent, now=now, message="a")
    emit("agent.error", agent, now=now + timedelta(seconds=1), message="b")
    held = Notification.objects.get(state="throttled")
    assert held.reason == "limit of 1 critical notifications per hour"
