"""The engine: matching, thresholds, one open alert per rule and agent, auto-resolve."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.alerts import engine
from apps.alerts.models import Alert, AlertState, Notification
from apps.core.events import record_event


def test_it_opens_one_alert_per_rule_and_agent_and_counts_repeats(make_rule, agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="blocked", reason="needs approval")
    emit("agent.blocked", agent, status="blocked", reason="still needs approval")
    alert = Alert.objects.get()
    assert alert.state == AlertState.OPEN
    assert alert.count == 2
    assert alert.title == "ada is blocked: needs approval"
    assert Notification.objects.filter(alert=alert, state="sent").count() == 1


def test_it_records_alert_opened_events(make_rule, agent, emit):
    from apps.agents.models import AgentEvent

    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="blocked", reason="x")
    opened = AgentEvent.objects.get(kind="alert.opened")
    assert opened.data["alert_id"] == Alert.objects.get().pk
    assert opened.agent_id == agent.pk


def test_a_repeat_of_the_same_event_is_counted_once(make_rule, agent):
    make_rule("agent.blocked")
    agent.status = "blocked"
    agent.save()
    event = record_event("agent.blocked", project=agent.project, agent=agent, data={"reason": "x"})
    engine.evaluate_event(event.pk)
    engine.evaluate_event(event.pk)
    assert Alert.objects.get().count == 1


def test_it_needs_the_threshold_within_the_window(make_rule, agent, emit):
    make_rule("agent.error", threshold=3, window_minutes=10)
    t0 = timezone.now() - timedelta(minutes=30)
    emit("agent.error", agent, now=t0, message="boom 1")
    emit("agent.error", agent, now=t0 + timedelta(minutes=15), message="boom 2")
    emit("agent.error", agent, now=t0 + timedelta(minutes=16), message="boom 3")
    assert not Alert.objects.exists()  # only two inside any 10 minutes
    emit("agent.error", agent, now=t0 + timedelta(minutes=17), message="boom 4")
    alert = Alert.objects.get()
    assert "3 errors in 10 min" in alert.title
    assert alert.message == "boom 4"


def test_it_respects_scope_and_agent_kind(make_rule, make_agent, other_project, emit):
    make_rule("agent.blocked", project=other_project)
    make_rule("task.completed", agent_kind="codex")
    here = make_agent("here", status="blocked", kind="claude-code")
    emit("agent.blocked", here, reason="x")
    emit("task.completed", here)
    assert not Alert.objects.exists()
    there = make_agent("there", status="blocked", kind="codex", proj=other_project)
    emit("agent.blocked", there, reason="x")
    emit("task.completed", there)
    assert Alert.objects.filter(agent=there).count() == 2


def test_it_watches_any_event_kind(make_rule, agent, emit):
    make_rule("hook.notification", name="Claude asks for input", severity="info")
    emit("hook.notification", agent, message="Claude needs your permission to use Bash")
    alert = Alert.objects.get()
    assert alert.title == "Claude asks for input: hook.notification on ada"
    assert alert.message == "Claude needs your permission to use Bash"


def test_it_resolves_when_the_agent_is_unblocked(make_rule, agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="blocked", reason="x")
    emit("agent.unblocked", agent, status="working")
    alert = Alert.objects.get()
    assert alert.state == AlertState.RESOLVED
    assert "working" in alert.resolved_reason


def test_it_resolves_offline_alerts_when_the_agent_is_back(make_rule, agent, emit):
    make_rule("agent.offline")
    emit("agent.offline", agent, status="offline")
    emit("agent.online", agent, status="idle")
    assert Alert.objects.get().state == AlertState.RESOLVED


def test_a_late_blocked_event_opens_nothing(make_rule, agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="working", reason="already over")
    assert not Alert.objects.exists()


def test_after_resolving_a_new_alert_opens(make_rule, agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="blocked", reason="x")
    emit("agent.unblocked", agent, status="working")
    emit("agent.blocked", agent, status="blocked", reason="again")
    assert Alert.objects.filter(state=AlertState.OPEN).count() == 1
    assert Alert.objects.count() == 2


def test_an_acknowledged_alert_counts_but_does_not_notify(make_rule, agent, emit, admin_user):
    from apps.alerts.services import alert_acknowledge

    make_rule("agent.blocked", action_interval_minutes=0)
    emit("agent.blocked", agent, status="blocked", reason="x")
    alert = Alert.objects.get()
    assert alert_acknowledge(alert=alert, user=admin_user)
    emit("agent.blocked", agent, reason="y")
    alert.refresh_from_db()
    assert (alert.state, alert.count) == (AlertState.ACKNOWLEDGED, 2)
    assert Notification.objects.count() == 1


def test_the_sweep_resolves_what_a_lost_event_left_open(make_rule, agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="blocked", reason="x")
    type(agent).objects.filter(pk=agent.pk).update(status="working")  # the unblock event was lost
    assert engine.sweep()["cleared"] == 1
    assert Alert.objects.get().state == AlertState.RESOLVED


def test_the_reactor_ignores_events_no_rule_can_use(make_rule, agent):
    from apps.alerts.rules import is_interesting

    make_rule("hook.notification")
    assert is_interesting("agent.blocked")
    assert is_interesting("hook.notification")
    assert not is_interesting("agent.heartbeat")
    assert not is_interesting("alert.opened")


def test_the_data_migration_creates_the_default_rules(db):
    from importlib import import_module

    from django.apps import apps as django_apps

    from apps.alerts.models import AlertRule

    AlertRule.objects.all().delete()
    import_module("apps.alerts.migrations.0002_default_rules").create_defaults(django_apps, None)
    kinds = set(AlertRule.objects.values_list("event_kind", flat=True))
    assert kinds == {"agent.blocked", "agent.error", "task.completed", "agent.idle", "agent.offline"}
    assert AlertRule.objects.get(event_kind="agent.error").threshold == 3
