"""Many agents offline together make one grouped alert, notified once; agents coming back
shrink it and the last one back resolves it. Race-safe and idempotent."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.alerts import engine
from apps.alerts.models import Alert, AlertState, Notification
from apps.core.events import record_event


def _offline_together(agents, now):
    """Agents marked offline at once (the stale sweep), their events evaluated afterwards by
    the worker, as the drain does."""
    events = []
    for i, a in enumerate(agents):
        type(a).objects.filter(pk=a.pk).update(status="offline")
        a.status = "offline"
        events.append(record_event("agent.offline", project=a.project, agent=a,
                                   ts=now + timedelta(seconds=i), publish=False))
    for i, e in enumerate(events):
        engine.evaluate_event(e.pk, now=now + timedelta(seconds=i))


def test_a_burst_of_offline_agents_is_one_alert_notified_once(make_rule, make_agent):
    make_rule("agent.offline", severity="critical", respect_quiet_hours=False)
    agents = [make_agent(f"bot-{i:02}") for i in range(12)]
    _offline_together(agents, timezone.now())
    group = Alert.objects.get(state__in=["open", "acknowledged"])
    assert group.grouped and group.agent is None
    assert group.title == "12 agents went offline"
    assert sorted(m["name"] for m in group.members) == [a.name for a in agents]
    assert Notification.objects.filter(state="sent").count() == 1


def test_few_agents_offline_keep_their_own_alerts(make_rule, make_agent, settings):
    settings.ALERTS_GROUP_MIN_AGENTS = 5
    make_rule("agent.offline", severity="critical")
    _offline_together([make_agent(f"bot-{i}") for i in range(4)], timezone.now())
    assert Alert.objects.filter(grouped=False, state="open").count() == 4
    assert not Alert.objects.filter(grouped=True).exists()


def test_agents_offline_far_apart_are_not_grouped(make_rule, make_agent, emit, settings):
    settings.ALERTS_GROUP_WINDOW_SECONDS = 300
    make_rule("agent.offline", severity="critical")
    t0 = timezone.now() - timedelta(hours=2)
    for i in range(6):
        emit("agent.offline", make_agent(f"bot-{i}"), status="offline",
             now=t0 + timedelta(minutes=10 * i))
    assert not Alert.objects.filter(grouped=True).exists()
    assert Alert.objects.filter(state="open").count() == 6


def test_alerts_opened_before_the_group_formed_fold_into_it(make_rule, make_agent, emit):
    make_rule("agent.offline", severity="critical")
    now = timezone.now()
    agents = [make_agent(f"bot-{i}") for i in range(5)]
    for i, a in enumerate(agents):
        emit("agent.offline", a, status="offline", now=now + timedelta(seconds=i))
    group = Alert.objects.get(grouped=True)
    assert group.state == AlertState.OPEN and len(group.members) == 5
    singles = Alert.objects.filter(grouped=False)
    assert singles.count() == 4
    assert all(a.state == "resolved" and a.resolved_reason == f"grouped into alert #{group.pk}"
               for a in singles)


def test_agents_coming_back_shrink_the_group_and_the_last_resolves_it(make_rule, make_agent,
                                                                       emit):
    make_rule("agent.offline", severity="critical")
    agents = [make_agent(f"bot-{i}") for i in range(6)]
    _offline_together(agents, timezone.now())
    group = Alert.objects.get(grouped=True)
    emit("agent.online", agents[0], status="idle")
    group.refresh_from_db()
    assert group.title == "5 agents went offline"
    assert agents[0].pk not in {m["id"] for m in group.members}
    for a in agents[1:]:
        emit("agent.online", a, status="idle")
    group.refresh_from_db()
    assert group.state == AlertState.RESOLVED
    assert group.resolved_reason == "cleared: every agent is back"


def test_the_sweep_drops_members_that_came_back_without_an_event(make_rule, make_agent):
    make_rule("agent.offline", severity="critical")
    agents = [make_agent(f"bot-{i}") for i in range(5)]
    _offline_together(agents, timezone.now())
    type(agents[0]).objects.filter(pk=agents[0].pk).update(status="idle")
    engine.sweep()
    assert len(Alert.objects.get(grouped=True).members) == 4


def test_evaluating_the_same_events_again_changes_nothing(make_rule, make_agent):
    make_rule("agent.offline", severity="critical")
    agents = [make_agent(f"bot-{i}") for i in range(6)]
    now = timezone.now()
    _offline_together(agents, now)
    before = Alert.objects.get(grouped=True)
    from apps.agents.models import AgentEvent

    for e in AgentEvent.objects.filter(kind="agent.offline"):
        engine.evaluate_event(e.pk, now=now)
    after = Alert.objects.get(grouped=True)
    assert after.members == before.members and after.count == 6
    assert Notification.objects.count() == 1


def test_two_workers_forming_the_group_at_once_make_one_alert(make_rule, make_agent,
                                                              monkeypatch):
    """Worker B saw no group; worker A forms it and commits before B's INSERT: B's INSERT hits
    the unique active key and B joins A's group instead of opening a second one."""
    make_rule("agent.offline", severity="critical")
    agents = [make_agent(f"bot-{i}") for i in range(6)]
    now = timezone.now()
    events = []
    for a in agents:
        type(a).objects.filter(pk=a.pk).update(status="offline")
        events.append(record_event("agent.offline", project=a.project, agent=a, ts=now,
                                   publish=False))
    real_open = engine._open_group
    calls: list[int] = []

    def racing_open(*, rule, event, key, now):
        calls.append(event.pk)
        if len(calls) == 1:  # B, between its look-up and its INSERT: A runs to the end
            engine.evaluate_event(events[0].pk, now=now)
        return real_open(rule=rule, event=event, key=key, now=now)

    monkeypatch.setattr(engine, "_open_group", racing_open)
    engine.evaluate_event(events[1].pk, now=now)  # worker B
    assert len(calls) == 2
    groups = Alert.objects.filter(grouped=True)
    assert groups.count() == 1
    assert {m["id"] for m in groups.get().members} == {a.pk for a in agents}
    assert Notification.objects.filter(state="sent").count() == 1


@pytest.mark.django_db(transaction=True)  # each worker commits on its own connection
def test_two_worker_threads_forming_the_group_make_one_alert(make_rule, make_agent,
                                                              monkeypatch):
    from django.db import connection, transaction

    make_rule("agent.offline", severity="critical")
    agents = [make_agent(f"bot-{i}") for i in range(6)]
    now = timezone.now()
    events = []
    for a in agents:
        type(a).objects.filter(pk=a.pk).update(status="offline")
        events.append(record_event("agent.offline", project=a.project, agent=a, ts=now,
                                   publish=False))
    if connection.vendor != "postgresql":
        # SQLite has one writer at a time: the workers cannot interleave; they follow each
        # other, and the second joins the first one's group.
        engine.evaluate_event(events[0].pk, now=now)
        engine.evaluate_event(events[1].pk, now=now)
    else:
        real_open = engine._open_group
        both_looked = threading.Barrier(2, timeout=10)

        def open_after_both_looked(**kwargs):
            both_looked.wait()  # both saw no group: both go on to INSERT it
            return real_open(**kwargs)

        monkeypatch.setattr(engine, "_open_group", open_after_both_looked)
        errors: list[BaseException] = []

        def worker(event_id: int) -> None:
            from django.db import connection as own

            try:
                with transaction.atomic():
                    engine.evaluate_event(event_id, now=now)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                own.close()

        threads = [threading.Thread(target=worker, args=(e.pk,)) for e in events[:2]]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert not errors, errors
    groups = Alert.objects.filter(grouped=True)
    assert groups.count() == 1
    assert {m["id"] for m in groups.get().members} == {a.pk for a in agents}
    assert Notification.objects.filter(state="sent").count() == 1
