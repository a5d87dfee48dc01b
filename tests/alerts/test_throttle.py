"""Without spam: the hourly budget per agent, the action interval, quiet hours and sleep
windows hold notifications back, record them, and summarise them later."""

from __future__ import annotations

from datetime import time, timedelta

from django.utils import timezone

from apps.alerts import engine
from apps.alerts.models import Alert, AlertPolicy, Notification


def _sent():
    return Notification.objects.filter(state="sent").order_by("created_at", "id")


def test_the_fourth_notification_in_an_hour_is_held_back_and_recorded(make_rule, agent, emit):
    for kind in ("agent.blocked", "hook.a", "hook.b", "hook.c"):
        make_rule(kind)
    now = timezone.now()
    emit("agent.blocked", agent, status="blocked", reason="x", now=now)
    emit("hook.a", agent, now=now + timedelta(minutes=1))
    emit("hook.b", agent, now=now + timedelta(minutes=2))
    emit("hook.c", agent, now=now + timedelta(minutes=3))
    assert Alert.objects.count() == 4  # every alert is in the inbox
    assert _sent().count() == 3
    held = Notification.objects.get(state="throttled")
    assert held.alert.event_kind == "hook.c"
    assert "3 warning notifications per hour" in held.reason


def test_the_next_message_summarises_what_was_held_back(make_rule, agent, emit):
    for kind in ("hook.a", "hook.b", "hook.c", "hook.d", "hook.e"):
        make_rule(kind)
    now = timezone.now()
    for i, kind in enumerate(("hook.a", "hook.b", "hook.c", "hook.d")):
        emit(kind, agent, now=now + timedelta(minutes=i))
    held = Notification.objects.get(state="throttled")
    emit("hook.e", agent, now=now + timedelta(minutes=61))
    latest = _sent().last()
    assert [h["title"] for h in latest.summary] == [held.title]
    held.refresh_from_db()
    assert held.summarised_in == latest


def test_the_limit_is_configurable(make_rule, agent, emit, settings):
    settings.ALERTS_MAX_PER_AGENT_PER_HOUR = 1
    make_rule("hook.a")
    make_rule("hook.b")
    emit("hook.a", agent)
    emit("hook.b", agent)
    assert Notification.objects.filter(state="throttled").count() == 1


def test_the_budget_is_per_agent(make_rule, make_agent, emit):
    for kind in ("hook.a", "hook.b", "hook.c", "hook.d"):
        make_rule(kind)
    ada, bob = make_agent("ada"), make_agent("bob")
    for kind in ("hook.a", "hook.b", "hook.c"):
        emit(kind, ada)
    emit("hook.d", bob)
    assert _sent().filter(agent=bob).count() == 1


def test_the_action_interval_is_respected(make_rule, agent, emit):
    make_rule("agent.blocked", action_interval_minutes=60)
    now = timezone.now()
    emit("agent.blocked", agent, status="blocked", reason="x", now=now)
    emit("agent.blocked", agent, reason="x", now=now + timedelta(minutes=5))
    emit("agent.blocked", agent, reason="x", now=now + timedelta(minutes=59))
    assert _sent().count() == 1
    emit("agent.blocked", agent, reason="x", now=now + timedelta(minutes=61))
    assert _sent().count() == 2
    assert _sent().last().title.startswith("Still happening (4×)")
    assert not Notification.objects.exclude(state="sent").exists()  # repeats are counted, not held


def test_quiet_hours_suppress_and_a_summary_follows_when_they_end(make_rule, agent, emit):
    AlertPolicy.objects.update_or_create(pk=1, defaults=dict(
        quiet_hours_enabled=True, quiet_start=time(22, 0), quiet_end=time(7, 0), timezone="UTC"))
    make_rule("agent.blocked")
    night = timezone.now().replace(hour=23, minute=30, second=0, microsecond=0)
    emit("agent.blocked", agent, status="blocked", reason="x", now=night)
    held = Notification.objects.get()
    assert (held.state, held.reason) == ("suppressed", "quiet hours")
    assert engine.flush_held(now=night + timedelta(hours=2)) == []  # 01:30, still quiet
    summary = engine.flush_held(now=night + timedelta(hours=8))[0]  # 07:30
    assert summary.state == "sent"
    assert summary.title == "1 alert held back for ada"
    assert summary.summary[0]["reason"] == "quiet hours"
    assert engine.flush_held(now=night + timedelta(hours=9)) == []  # only once


def test_a_rule_may_ignore_quiet_hours(make_rule, agent, emit):
    AlertPolicy.objects.update_or_create(pk=1, defaults=dict(
        quiet_hours_enabled=True, quiet_start=time(0, 0), quiet_end=time(23, 59), timezone="UTC"))
    make_rule("agent.offline", severity="critical", respect_quiet_hours=False)
    emit("agent.offline", agent, status="offline",
         now=timezone.now().replace(hour=12, minute=0))
    assert Notification.objects.get().state == "sent"


def test_a_sleeping_agent_is_suppressed_then_summarised_when_it_wakes(make_rule, agent, emit):
    make_rule("task.completed", severity="info")
    emit("task.completed", agent, status="sleeping", result="done")
    held = Notification.objects.get()
    assert (held.state, held.reason) == ("suppressed", "the agent's sleep window")
    assert engine.flush_held() == []
    type(agent).objects.filter(pk=agent.pk).update(status="idle")
    summary = engine.flush_held()[0]
    assert summary.summary[0]["title"] == held.title


def test_a_sleep_window_suppresses(make_rule, agent, emit):
    from apps.agents.models import SleepSchedule, SleepWindow

    now = timezone.now()
    schedule = SleepSchedule.objects.create(project=agent.project, agent=agent, timezone="UTC")
    start = (now - timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    SleepWindow.objects.create(schedule=schedule, weekday=(now - timedelta(minutes=30)).weekday(),
                               start=start, end=end)
    make_rule("task.completed", severity="info")
    emit("task.completed", agent, now=now)
    assert Notification.objects.get().reason == "the agent's sleep window"
    assert engine.flush_held(now=now + timedelta(minutes=5)) == []
    assert len(engine.flush_held(now=now + timedelta(hours=2))) == 1
