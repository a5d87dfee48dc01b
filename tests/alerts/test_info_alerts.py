"""Informational rules record and notify, but nothing stands open in the inbox."""

from __future__ import annotations

from apps.alerts import selectors
from apps.alerts.models import Alert, AlertState, Notification


def test_an_info_alert_opens_resolved_and_is_notified(make_rule, agent, emit):
    make_rule("task.completed", severity="info")
    emit("task.completed", agent, result="done")
    alert = Alert.objects.get()
    assert alert.state == AlertState.RESOLVED
    assert alert.resolved_reason.startswith("informational")
    assert Notification.objects.get(alert=alert).state == "sent"


def test_info_alerts_stay_out_of_the_open_inbox_but_are_listed_under_resolved(
        make_rule, agent, emit, project):
    make_rule("task.completed", severity="info")
    emit("task.completed", agent, result="one")
    emit("task.completed", agent, result="two")
    assert Alert.objects.count() == 2  # each completion is its own record
    active = selectors.inbox_page(project, selectors.InboxFilters(state="active"))
    resolved = selectors.inbox_page(project, selectors.InboxFilters(state="resolved"))
    every = selectors.inbox_page(project, selectors.InboxFilters(state="all"))
    assert list(active.object_list) == []
    assert len(resolved.object_list) == 2 and len(every.object_list) == 2
    assert selectors.inbox_counts(project)["open"] == 0


def test_warning_alerts_still_stand_open(make_rule, agent, emit):
    make_rule("agent.blocked", severity="warning")
    emit("agent.blocked", agent, status="blocked", reason="x")
    assert Alert.objects.get().state == AlertState.OPEN


def test_evaluating_an_info_event_again_changes_nothing(make_rule, agent):
    from apps.alerts import engine
    from apps.core.events import record_event

    make_rule("task.completed", severity="info")
    event = record_event("task.completed", project=agent.project, agent=agent, data={})
    engine.evaluate_event(event.pk)
    engine.evaluate_event(event.pk)
    assert Alert.objects.count() == 1
    assert Notification.objects.count() == 1


def test_two_workers_recording_the_same_info_event_make_one_alert(make_rule, agent,
                                                                  monkeypatch):
    """Worker B found no record of the event; worker A records it before B's INSERT: B's
    INSERT hits the per-rule-and-event constraint and B notifies nothing."""
    from apps.alerts import engine
    from apps.core.events import record_event

    make_rule("task.completed", severity="info")
    event = record_event("task.completed", project=agent.project, agent=agent, data={})
    real_open = engine._open
    calls: list[int] = []

    def racing_open(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            engine.evaluate_event(event.pk)  # worker A, start to end
        return real_open(**kwargs)

    monkeypatch.setattr(engine, "_open", racing_open)
    engine.evaluate_event(event.pk)  # worker B
    assert len(calls) == 2
    assert Alert.objects.count() == 1
    assert Notification.objects.count() == 1
