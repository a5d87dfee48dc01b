"""Events wait for the engine in PendingEvaluation rows, written with the event, and workers
take them in batches (engine.drain), one transaction per batch."""

from __future__ import annotations

import threading

import pytest
from celery.signals import before_task_publish
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.alerts import engine
from apps.alerts.models import Alert, PendingEvaluation
from apps.alerts.reactor import schedule_drain
from apps.core.events import record_event
from tests.support import wait_for

pytestmark = pytest.mark.django_db


def record(kind: str, agent, **data):
    return record_event(kind, project=agent.project, agent=agent, data=data)


def test_an_event_a_rule_may_use_waits_with_its_own_transaction(make_rule, agent):
    make_rule("agent.error", threshold=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        record("agent.error", agent, message="rolled back")
        raise RuntimeError
    assert not PendingEvaluation.objects.exists()
    event = record("agent.error", agent, message="kept")
    record("agent.heartbeat", agent, message="no rule watches this")
    assert list(PendingEvaluation.objects.values_list("event_id", flat=True)) == [event.pk]


def test_a_drain_evaluates_a_batch_with_one_event_query(make_rule, agent):
    make_rule("agent.error", threshold=1)
    events = [record("agent.error", agent, message=f"failure {i}") for i in range(30)]
    with CaptureQueriesContext(connection) as ctx:
        assert engine.drain() == 30
    loads = [q for q in ctx.captured_queries
             if q["sql"].startswith('SELECT "agents_agentevent"."id"')]
    assert len(loads) == 1
    assert not PendingEvaluation.objects.exists()
    alert = Alert.objects.get()
    assert alert.count == 30 and alert.last_event_id == events[-1].pk
    assert engine.drain() == 0  # nothing left, and evaluating again changes nothing
    assert Alert.objects.get().count == 30


def test_a_long_queue_is_taken_in_batches_within_a_time_budget(make_rule, agent):
    make_rule("agent.error", threshold=1)
    for i in range(7):
        record("agent.error", agent, message=f"failure {i}")
    # A budget already spent: one batch, then it says there is more to do.
    assert engine.drain(batch=3, budget_seconds=0) == engine.DRAIN_UNFINISHED
    assert PendingEvaluation.objects.count() == 4
    assert engine.drain(batch=3) == 4
    assert Alert.objects.get().count == 7


def test_an_event_that_fails_is_skipped_and_the_others_are_evaluated(
    make_rule, agent, monkeypatch, caplog
):
    make_rule("agent.error", threshold=1)
    events = [record("agent.error", agent, message=f"failure {i}") for i in range(5)]
    real = engine.evaluate_loaded
    bad = events[2].pk

    def evaluate(event, **kwargs):  # fault injection: this one event cannot be evaluated
        if event.pk == bad:
            raise ValueError("corrupt event")
        return real(event, **kwargs)

    monkeypatch.setattr(engine, "evaluate_loaded", evaluate)
    engine.drain()
    assert not PendingEvaluation.objects.exists()
    assert Alert.objects.get().count == 4
    assert f"[{bad}]" in caplog.text and "skipped" in caplog.text


def test_the_sweep_drains_events_whose_task_was_lost(make_rule, agent):
    make_rule("agent.blocked")
    type(agent).objects.filter(pk=agent.pk).update(status="blocked")
    record("agent.blocked", agent, reason="waiting for review")  # no worker ran its drain
    assert engine.sweep()["drained"] == 1
    assert Alert.objects.get().state == "open"


def test_a_burst_of_events_schedules_one_drain_at_a_time(settings, monkeypatch):
    """With Redis (a cache every process shares) one drain is on its way at a time. With a
    per-process cache each process debounces: one drain at once and one at the window's end,
    which runs after every event of the burst."""
    from apps.alerts import reactor

    reactor._debounce.window_ends = reactor._debounce.trailing = 0.0
    # A window wide enough that a loaded machine still makes the five calls inside it.
    monkeypatch.setattr(reactor, "DEBOUNCE_SECONDS", 5.0)
    published: list[tuple[str, object]] = []

    def count(sender=None, headers=None, **kwargs):
        published.append((sender, (headers or {}).get("eta")))

    before_task_publish.connect(count)
    try:
        for _ in range(5):
            schedule_drain()
    finally:
        before_task_publish.disconnect(count)
    assert reactor.shared_cache() == bool(settings.REDIS_URL)
    assert [name for name, _ in published] == ["alerts.drain"] * (1 if settings.REDIS_URL else 2)
    if not settings.REDIS_URL:
        assert published[0][1] is None and published[1][1] is not None  # the trailing one waits


@pytest.mark.django_db(transaction=True)  # the other worker must see the committed rows
def test_two_workers_take_different_events(make_rule, agent):
    make_rule("agent.error", threshold=1)
    for i in range(6):
        # publish=False: no drain task, or the session's Celery worker would take them first.
        record_event("agent.error", project=agent.project, agent=agent,
                     data={"message": f"failure {i}"}, publish=False)
    if connection.vendor != "postgresql":
        # SQLite has one writer at a time: a claim is simply the oldest rows, removed.
        with transaction.atomic():
            assert len(engine._claim(4)) == 4
        assert PendingEvaluation.objects.count() == 2
        return
    held = threading.Event()
    release = threading.Event()
    first: list[int] = []

    def other_worker() -> None:
        from django.db import connection as own

        try:
            with transaction.atomic():
                first.extend(engine._claim(3))
                held.set()
                release.wait(10)
        finally:
            own.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        with transaction.atomic():
            second = engine._claim(6)  # skips the rows the other worker holds
    finally:
        release.set()
        thread.join(10)
    assert len(first) == 3 and len(second) == 3
    assert not set(first) & set(second)


@pytest.mark.django_db(transaction=True)  # the batch runs in its own connection
def test_a_batch_locks_agents_alerts_in_agent_order(make_rule, make_agent):
    """Two workers' batches with events of the same agents must lock those agents' alerts in
    the same order, or they deadlock (seen under load: PostgreSQL aborted one of them)."""
    from django.db import connections

    make_rule("agent.error", threshold=1)
    first, second = make_agent("first"), make_agent("second")
    for a in (first, second):
        record_event("agent.error", project=a.project, agent=a, data={"message": "open"},
                     publish=False)
    assert engine.drain() == 2
    alerts = {a.agent_id: a.pk for a in Alert.objects.all()}
    # The second agent's event is the older one: in id order its alert would be locked first.
    for a in (second, first):
        record_event("agent.error", project=a.project, agent=a, data={"message": "again"},
                     publish=False)
    if connection.vendor != "postgresql":  # one writer at a time: nothing to deadlock on
        assert engine.drain() == 2
        assert sorted(Alert.objects.values_list("count", flat=True)) == [2, 2]
        return

    holding, release = threading.Event(), threading.Event()

    def hold_first_alert() -> None:  # a second worker, busy with the first agent's alert
        try:
            with transaction.atomic():
                Alert.objects.select_for_update().get(pk=alerts[first.pk])
                holding.set()
                release.wait(20)
        finally:
            connections["default"].close()

    def drain() -> None:
        try:
            engine.drain()
        finally:
            connections["default"].close()

    holder, drainer = threading.Thread(target=hold_first_alert), threading.Thread(target=drain)
    holder.start()
    try:
        assert holding.wait(10)
        drainer.start()

        def waiting_on_a_lock() -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND wait_event_type = 'Lock'")
                return cursor.fetchone()[0] == 1

        wait_for(waiting_on_a_lock, timeout=10, message="the batch to wait for the lock")
        # The batch waits for the first agent's alert holding nothing else: the second
        # agent's alert is free.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT id FROM alerts_alert WHERE id = %s FOR UPDATE NOWAIT",
                               [alerts[second.pk]])
    finally:
        release.set()
        holder.join(10)
        drainer.join(20)
    assert sorted(Alert.objects.values_list("count", flat=True)) == [2, 2]


def test_hook_events_posted_in_a_batch_reach_rules_that_watch_them(make_rule, agent, write_key):
    from rest_framework.test import APIClient

    make_rule("hook.notification", name="Claude asks for input", severity="info")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {write_key}")
    events = [
        {"type": "hook.notification", "agent": agent.pk,
         "data": {"message": "Claude needs your permission to use Bash"}},
        {"type": "hook.post_tool_use", "agent": agent.pk, "data": {"tool_name": "Bash"}},
    ]
    response = client.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code in (200, 201), response.content
    notification_id = response.json()["results"][0]["event_id"]
    # Only the watched kind waits for the engine.
    assert list(PendingEvaluation.objects.values_list("event_id", flat=True)) == [notification_id]
    assert engine.drain() == 1
    alert = Alert.objects.get()
    assert alert.event_kind == "hook.notification"
    assert alert.message == "Claude needs your permission to use Bash"
