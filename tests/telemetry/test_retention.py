"""Retention: what is older than its window goes, in chunks; nothing inside its window, nothing
the rollups have not counted, and no rollup changes. The command, the beat task in a real
worker, and the owners' form on the System page. On whichever database the suite runs."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.agents.models import AgentEvent, ToolSpan
from apps.alerts.models import Delivery, DeliveryState, Notification
from apps.core.models import AuditEntry
from apps.linear.models import SyncRun, WebhookDelivery
from apps.telemetry import retention
from apps.telemetry.models import (
    EventRollup,
    Grain,
    RetentionPolicy,
    SpanRollup,
    StatusRollup,
    TokenUsage,
    UsageRollup,
    Watermark,
)
from apps.telemetry.retention import apply_retention
from apps.telemetry.rollups import floor_to, roll_up, usage_rebuild_floor
from apps.telemetry.services import usage_record
from tests.support import in_threads

pytestmark = pytest.mark.django_db
URL = "/settings/system/"
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


@pytest.fixture
def agent(agent):
    """The agent, without its registration event: each test lays out the event log it needs."""
    AgentEvent.objects.all().delete()
    return agent


def _events(agent, *stored_at, kind="note"):
    """One event per time, stored (created_at) and happened (ts) then, ids in this order."""
    rows = AgentEvent.objects.bulk_create(
        [AgentEvent(project_id=agent.project_id, agent=agent, kind=kind, ts=at) for at in stored_at]
    )
    for row, at in zip(rows, stored_at, strict=True):
        AgentEvent.objects.filter(pk=row.pk).update(created_at=at)
    return [row.pk for row in rows]


def _all_counted():
    last = AgentEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    Watermark.objects.update_or_create(name="events", defaults={"position": last})
    Watermark.objects.update_or_create(name="usage", defaults={"at": timezone.now()})


def _span(agent, n, at, payload="x" * 100):
    span = ToolSpan.objects.create(project_id=agent.project_id, agent=agent, span_id=f"s{n}",
                                   tool_name="Bash", input=payload, input_size=len(payload),
                                   output=payload, output_size=len(payload), started_at=at)
    ToolSpan.objects.filter(pk=span.pk).update(created_at=at)
    return span.pk


def _usage(agent, key, at, **tokens):
    usage_record(agent=agent, key=key, model="claude-sonnet-4-5", ts=at,
                 tokens={"tokens_input": 100, "tokens_output": 10, **tokens})
    TokenUsage.objects.filter(key=key).update(created_at=at, updated_at=at)


def _notification(at, *states):
    n = Notification.objects.create(subject="project:1", state="sent", title="t", created_at=at)
    for state in states:
        Delivery.objects.create(notification=n, channel="email", target="a@b.c", state=state,
                                created_at=at)
    return n


def _rollup(grain, start, agent):
    return EventRollup.objects.create(grain=grain, start=start, project_id=agent.project_id,
                                      agent_id=agent.pk, kind="note", count=1)


def _snapshot():
    return {
        model.__name__: sorted(
            tuple(v for k, v in row.items() if k != "id") for row in model.objects.values()
        )
        for model in (EventRollup, SpanRollup, UsageRollup, StatusRollup)
    }


# --- windows ------------------------------------------------------------------------------
def test_nothing_inside_its_window_goes_and_everything_older_does(agent, now):
    edge = {days: now - timedelta(days=days) for days in (3, 14, 30, 90)}
    outside, inside = _events(agent, edge[30] - TICK), _events(agent, edge[30], edge[30] + TICK)
    old_span, kept_span = _span(agent, 1, edge[14] - TICK), _span(agent, 2, edge[14])
    emptied_span, full_span = _span(agent, 3, edge[3] - TICK), _span(agent, 4, edge[3])
    _usage(agent, "old", edge[90] - TICK)
    _usage(agent, "kept", edge[90])
    old_note = _notification(edge[30] - TICK, DeliveryState.SENT, DeliveryState.FAILED)
    kept_note = _notification(edge[30], DeliveryState.SENT)
    unapplied = WebhookDelivery.objects.create(delivery_id="waiting", received_at=edge[30] - DAY)
    for name, at in (("old", edge[30] - TICK), ("kept", edge[30])):
        WebhookDelivery.objects.create(delivery_id=name, status="processed", received_at=at)
    only_full = SyncRun.objects.create(kind="full", status="ok", started_at=edge[30] - DAY,
                                       finished_at=edge[30] - DAY)  # the newest of its kind
    runs = [SyncRun.objects.create(kind="incremental", status="ok", started_at=at,
                                   finished_at=at) for at in (edge[30] - DAY, edge[30], now)]
    rollups = {(grain, days): (_rollup(grain, edge[days] - TICK, agent).pk,
                               _rollup(grain, edge[days], agent).pk)
               for grain, days in ((Grain.FIVE_MINUTES, 14), (Grain.HOUR, 90))}
    ancient_day = _rollup(Grain.DAY, now - timedelta(days=3650), agent).pk
    _all_counted()

    outcome = apply_retention(now=now)

    assert list(AgentEvent.objects.values_list("id", flat=True).order_by("id")) == inside
    assert outside
    assert set(ToolSpan.objects.values_list("id", flat=True)) == {kept_span, full_span,
                                                                   emptied_span}
    assert not ToolSpan.objects.filter(pk=old_span).exists()
    emptied = ToolSpan.objects.get(pk=emptied_span)
    assert (emptied.input, emptied.output, emptied.input_size, emptied.output_size) == ("", "",
                                                                                        100, 100)
    assert ToolSpan.objects.get(pk=full_span).input == "x" * 100
    assert ToolSpan.objects.get(pk=kept_span).input == ""  # 14 days old: emptied, kept
    assert list(TokenUsage.objects.values_list("key", flat=True)) == ["kept"]
    assert list(Notification.objects.all()) == [kept_note]
    assert not Delivery.objects.filter(notification_id=old_note.pk).exists()
    assert set(WebhookDelivery.objects.values_list("delivery_id", flat=True)) == {
        "kept", unapplied.delivery_id}
    assert list(SyncRun.objects.order_by("id")) == [only_full, *runs[1:]]
    for (grain, _days), (old, kept) in rollups.items():
        assert not EventRollup.objects.filter(pk=old).exists(), grain
        assert EventRollup.objects.filter(pk=kept).exists(), grain
    assert EventRollup.objects.filter(pk=ancient_day).exists()  # daily rollups: forever
    assert outcome.changed == {
        "events": 1, "spans": 1, "span_payloads": 2, "usage": 1, "notifications": 1,
        "deliveries": 2, "webhooks": 1, "sync_runs": 1, "bench_samples": 0, "rollups_5m": 1,
        "rollups_1h": 1, "rollups_1d": 0,
    }
    assert not outcome.behind
    assert apply_retention(now=now).total == 0  # again: nothing more


def test_a_young_row_stops_the_walk_and_older_rows_above_it_wait(agent, now):
    """Ids follow the time rows are stored; a row stored out of order is never deleted early,
    and the rows above it wait for the next runs."""
    old = now - timedelta(days=40)
    first, young, later = _events(agent, old, now - DAY, old)
    _all_counted()
    apply_retention(now=now)
    assert set(AgentEvent.objects.values_list("id", flat=True)) == {young, later}
    AgentEvent.objects.filter(pk=young).update(created_at=old)  # time passes
    apply_retention(now=now)
    assert not AgentEvent.objects.exists() and first


def test_events_the_rollups_have_not_counted_are_kept(agent, now):
    ids = _events(agent, *[now - timedelta(days=40, minutes=i) for i in range(5)])
    Watermark.objects.create(name="events", position=ids[2])
    apply_retention(now=now)
    assert list(AgentEvent.objects.order_by("id").values_list("id", flat=True)) == ids[3:]
    Watermark.objects.filter(name="events").delete()  # no rollup run yet: nothing goes
    assert apply_retention(now=now).changed["events"] == 0


def test_usage_changed_since_the_rollup_last_read_is_kept(agent, now):
    old = now - timedelta(days=100)
    _usage(agent, "read", old)
    _usage(agent, "changed", old)
    Watermark.objects.create(name="usage", at=old + timedelta(minutes=1))
    TokenUsage.objects.filter(key="changed").update(updated_at=old + timedelta(minutes=2))
    apply_retention(now=now)
    assert list(TokenUsage.objects.values_list("key", flat=True)) == ["changed"]


def test_a_notification_still_being_delivered_is_kept(agent, now):
    old = now - timedelta(days=40)
    busy = _notification(old, DeliveryState.SENT, DeliveryState.RETRYING)
    summary = _notification(old - DAY)
    held = _notification(old - 2 * DAY)
    Notification.objects.filter(pk=held.pk).update(summarised_in=summary)
    held_recent = _notification(old)
    kept_summary = _notification(now)
    Notification.objects.filter(pk=held_recent.pk).update(summarised_in=kept_summary)
    apply_retention(now=now)
    assert set(Notification.objects.all()) == {busy, kept_summary}
    assert Delivery.objects.filter(notification=busy).count() == 2


def test_zero_keeps_rows_forever_and_an_owners_value_wins(agent, now, settings):
    settings.RETENTION_EVENTS_DAYS = 0
    _events(agent, now - timedelta(days=3000))
    _all_counted()
    assert apply_retention(now=now).changed["events"] == 0
    RetentionPolicy.objects.create(pk=1, events_days=10)
    assert apply_retention(now=now).changed["events"] == 1
    RetentionPolicy.objects.filter(pk=1).update(events_days=0)
    _events(agent, now - timedelta(days=3000))
    _all_counted()
    assert apply_retention(now=now).changed["events"] == 0


def test_the_trace_viewer_says_an_emptied_payload_was_removed(client, viewer, agent, now):
    from django.urls import reverse

    _span(agent, 1, now - timedelta(days=4), payload="y" * 2048)
    apply_retention(now=now)
    client.force_login(viewer)
    from apps.agents.models import ToolSpan

    span = ToolSpan.objects.get(agent=agent)
    body = client.get(reverse("agent-span", args=[agent.pk, span.pk])).content.decode()
    assert body.count("(2.0\xa0KB, removed by retention)") == 2  # input and output


# --- rollups outlive raw rows -----------------------------------------------------------------
def test_the_rollups_are_the_same_after_retention_deleted_what_they_count(agent, now,
                                                                          settings):
    settings.RETENTION_ROLLUPS_5M_DAYS = 0  # compare every grain
    then = floor_to(now - timedelta(days=40), Grain.DAY) + timedelta(hours=10)
    _events(agent, *[then + timedelta(minutes=7 * i) for i in range(30)])
    _events(agent, *[then + timedelta(minutes=11 * i) for i in range(10)], kind="span.finished")
    for i in range(12):
        _usage(agent, f"m{i}", then + timedelta(minutes=23 * i), tokens_input=10 * i)
    roll_up(now=now)
    before = _snapshot()
    assert before["UsageRollup"] and before["EventRollup"] and before["SpanRollup"]

    settings.RETENTION_USAGE_DAYS = 30
    outcome = apply_retention(now=now)
    assert (outcome.changed["events"], outcome.changed["usage"]) == (40, 12)
    assert not AgentEvent.objects.exists() and not TokenUsage.objects.exists()
    roll_up(now=now)
    # A late report of a call in that deleted day: its hour is not rebuilt from what is left.
    _usage(agent, "late", then + timedelta(minutes=5))
    TokenUsage.objects.filter(key="late").update(updated_at=now + timedelta(milliseconds=500))
    roll_up(now=now + timedelta(seconds=1))
    assert _snapshot() == before


def test_the_usage_rollup_never_rebuilds_an_hour_retention_may_have_cut(agent, now, settings):
    """Rows of one UTC day on both sides of the cutoff: retention deletes the older hour, and a
    change in the younger hour must not rebuild the day from what is left."""
    settings.RETENTION_USAGE_DAYS = 60
    cutoff = now - timedelta(days=60)
    day = floor_to(cutoff, Grain.DAY)
    before_cut, after_cut = day + (cutoff - day) / 2, cutoff + (day + DAY - cutoff) / 2
    _usage(agent, "gone", before_cut)
    _usage(agent, "left", after_cut)
    settings.RETENTION_USAGE_DAYS = 90
    roll_up(now=now)  # counted while both were young enough
    day_row = UsageRollup.objects.get(grain=Grain.DAY, start=day, agent_id=-1)
    assert day_row.calls == 2

    settings.RETENTION_USAGE_DAYS = 60
    assert usage_rebuild_floor(now) > after_cut
    TokenUsage.objects.filter(key="left").update(updated_at=now)  # changed since last read
    apply_retention(now=now)
    assert list(TokenUsage.objects.values_list("key", flat=True)) == ["left"]
    usage_record(agent=agent, key="left", model="claude-sonnet-4-5", ts=after_cut,
                 tokens={"tokens_input": 5000, "tokens_output": 10})  # re-reported, bigger
    roll_up(now=timezone.now())
    # Not shrunk to 1 (the row summed over every agent of the project).
    assert UsageRollup.objects.get(grain=Grain.DAY, start=day, agent_id=-1).calls == 2
    # A younger day is rebuilt as before.
    _usage(agent, "young", now - DAY)
    TokenUsage.objects.filter(key="young").update(updated_at=timezone.now())
    roll_up(now=timezone.now() + timedelta(seconds=1))
    assert UsageRollup.objects.get(grain=Grain.DAY, agent_id=-1,
                                   start=floor_to(now - DAY, Grain.DAY)).calls


# --- chunks, budget, two runs --------------------------------------------------------------------
def test_it_deletes_in_chunks_of_short_transactions(agent, now, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK", 7)
    old = now - timedelta(days=40)
    _events(agent, *[old + timedelta(seconds=i) for i in range(50)])
    kept = _events(agent, now)
    _all_counted()
    with CaptureQueriesContext(connection) as queries:
        outcome = apply_retention(now=now)
    deletes = [q["sql"] for q in queries.captured_queries
               if q["sql"].startswith("DELETE") and "agentevent" in q["sql"]]
    assert len(deletes) == math.ceil(50 / 7)
    savepoints = [q for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) >= len(deletes)  # one transaction (here: a savepoint) per chunk
    assert outcome.changed["events"] == 50
    assert list(AgentEvent.objects.values_list("id", flat=True)) == kept


def test_a_time_budget_stops_early_and_the_next_run_goes_on(agent, now, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK", 5)
    _events(agent, *[now - timedelta(days=40, seconds=i) for i in range(23)])
    _all_counted()
    outcome = apply_retention(now=now, budget=0)
    assert outcome.behind and outcome.changed["events"] == 5
    runs = 1
    while apply_retention(now=now, budget=0).behind:
        runs += 1
    assert not AgentEvent.objects.exists() and runs >= 4


def test_it_pauses_between_chunks(agent, now, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK", 5)
    _events(agent, *[now - timedelta(days=40, seconds=i) for i in range(10)])
    _all_counted()
    slept = []
    monkeypatch.setattr(retention.time, "sleep", slept.append)
    apply_retention(now=now, pause=0.25)
    assert slept and set(slept) == {0.25}


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_delete_everything_once(agent, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK", 9)
    now = timezone.now()
    old = now - timedelta(days=40)
    _events(agent, *[old + timedelta(seconds=i) for i in range(120)])
    for i in range(60):
        _span(agent, i, old + timedelta(seconds=i))
    for i in range(60):
        _span(agent, 100 + i, now - timedelta(days=5, seconds=i))
    _all_counted()
    outcomes = in_threads(lambda: apply_retention(now=now), 2)
    assert not AgentEvent.objects.exists()
    assert ToolSpan.objects.count() == 60 and not ToolSpan.objects.exclude(input="").exists()
    assert sum(o.changed["events"] for o in outcomes) == 120
    assert sum(o.changed["spans"] for o in outcomes) == 60
    assert sum(o.changed["span_payloads"] for o in outcomes) == 60


# --- the command and the beat task ------------------------------------------------------------
def test_the_command_prints_what_it_deleted_per_kind(agent, now):
    _events(agent, now - timedelta(days=31), now - timedelta(days=32))
    _span(agent, 1, now - timedelta(days=5))
    _all_counted()
    out = StringIO()
    call_command("telemetry", "retention", stdout=out)
    text = out.getvalue()
    assert "Raw events (older than 30 d): deleted 2" in text
    assert "Span input and output (older than 3 d): emptied 1" in text
    assert "Tool spans (older than 14 d): deleted 0" in text
    assert "Notifications (older than 30 d): deleted 0 with 0 deliveries" in text
    assert "Daily rollups: kept forever" in text
    assert "3 rows in" in text and "stopped" not in text


def test_the_beat_task_deletes_in_a_real_worker(celery_worker, agent):
    from apps.telemetry.tasks import retention as retention_task

    now = timezone.now()
    _events(agent, *[now - timedelta(days=40, seconds=i) for i in range(20)])
    kept = _events(agent, now)
    _all_counted()
    retention_task.delay()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and AgentEvent.objects.count() > 1:
        time.sleep(0.2)
    assert list(AgentEvent.objects.values_list("id", flat=True)) == kept


def test_beat_runs_it_every_ten_minutes():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["telemetry-retention"]
    assert entry == {"task": "telemetry.retention", "schedule": 600.0}


# --- the System page ----------------------------------------------------------------------------
def form(**overrides):
    data = {"action": "retention", **{key: "" for key in retention.STEPS}}
    data.update(overrides)
    return data


def test_owners_see_windows_rows_sizes_and_the_oldest_row(client, owner, agent, now):
    _events(agent, *[now - timedelta(days=3, seconds=i) for i in range(3)])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE agents_agentevent")
    client.force_login(owner)
    response = client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Data retention" in body and 'placeholder="30 (default)"' in body
    assert 'placeholder="forever (default)"' in body  # daily rollups
    row = body[body.index("Raw events"):body.index("Tool spans")]
    assert "now: 30 days (server default)" in row
    assert "3\xa0days</time> old" in row and " MB" in row
    assert ("≈ 3" if connection.vendor == "postgresql" else ">3<") in row


def test_the_page_takes_the_same_queries_whatever_the_data(client, owner, agent, now):
    client.force_login(owner)
    client.get(URL)
    with CaptureQueriesContext(connection) as empty:
        assert client.get(URL).status_code == 200
    _events(agent, *[now - timedelta(days=i) for i in range(40)])
    _span(agent, 1, now)
    _notification(now, DeliveryState.SENT)
    _rollup(Grain.HOUR, now, agent)
    RetentionPolicy.objects.create(pk=1, spans_days=7)
    with CaptureQueriesContext(connection) as full:
        assert client.get(URL).status_code == 200
    assert len(full.captured_queries) == len(empty.captured_queries) <= 10


def test_owners_change_the_windows_and_it_is_audited(client, owner, now):
    client.force_login(owner)
    response = client.post(URL, form(events="7", rollups_1d="3650", spans=""))
    assert response.status_code == 302
    policy = RetentionPolicy.objects.get(pk=1)
    assert (policy.events_days, policy.rollups_1d_days, policy.spans_days) == (7, 3650, None)
    assert RetentionPolicy.windows()["events"] == 7 and RetentionPolicy.windows()["spans"] == 14
    entry = AuditEntry.objects.get(action="retention.policy_saved")
    assert entry.actor == owner and entry.data["changed"] == {"events": [None, 7],
                                                            "rollups_1d": [None, 3650]}
    body = client.get(URL).content.decode()
    assert 'name="events" value="7"' in body and "now: 7 days<" in body
    client.post(URL, form(events=""))  # back to the server's setting
    assert RetentionPolicy.windows()["events"] == 30


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"events": "soon"}, "events", "Enter a whole number"),
        ({"spans": "-1"}, "spans", "greater than or equal to 0"),
        ({"usage": "99999999"}, "usage", "less than or equal to 36500"),
        ({"rollups_1h": "7"}, "rollups_1h", "at least as long as 5-minute rollups (14 days)"),
        ({"rollups_1d": "30"}, "rollups_1d", "at least as long as hourly rollups (90 days)"),
        ({"rollups_5m": "0", "rollups_1h": "400"}, "rollups_1h", "(forever)"),
    ],
)
def test_bad_input_is_a_form_error_and_saves_nothing(client, owner, overrides, field, message):
    client.force_login(owner)
    response = client.post(URL, form(**overrides))
    assert response.status_code == 400
    body = response.content.decode()
    assert f'id="id_{field}-errors"' in body and message in body
    assert not RetentionPolicy.objects.exists()
    assert not AuditEntry.objects.filter(action="retention.policy_saved").exists()


@pytest.mark.parametrize("who", ["admin", "viewer", "outsider"])
def test_only_owners_see_or_change_it(client, team, who):
    client.force_login(team[who])
    assert client.get(URL).status_code == 403
    assert client.post(URL, form(events="1")).status_code == 403
    assert not RetentionPolicy.objects.exists()


def test_the_ping_button_still_pings(client, owner, django_capture_on_commit_callbacks):
    client.force_login(owner)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(URL, {"action": "ping"})
    assert response.status_code == 302 and len(callbacks) == 1
    assert not RetentionPolicy.objects.exists()


def test_bench_samples_of_old_runs_go_and_their_figures_stay(agent, now):
    from apps.benches.models import Endpoint, Run, RunLevel, Sample

    endpoint = Endpoint.objects.create(project=agent.project, name="gpu", base_url="http://x")
    levels = []
    for days in (91, 89):
        run = Run.objects.create(project=agent.project, endpoint=endpoint, model="m",
                                 state="finished", finished_at=now - timedelta(days=days))
        level = RunLevel.objects.create(run=run, index=0, concurrency=1, requests=2,
                                        figures={"ttft_ms": {"p50": 1.0}})
        Sample.objects.bulk_create(Sample(level=level, seq=i) for i in range(2))
        levels.append(level)
    running = Run.objects.create(project=agent.project, endpoint=endpoint, model="m",
                                 state="running")
    live = RunLevel.objects.create(run=running, index=0, concurrency=1, requests=1)
    Sample.objects.create(level=live, seq=0)

    outcome = apply_retention(now=now)

    assert outcome.changed["bench_samples"] == 2
    assert set(Sample.objects.values_list("level_id", flat=True)) == {levels[1].pk, live.pk}
    assert RunLevel.objects.count() == 3  # the figures stay
