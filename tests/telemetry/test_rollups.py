"""Rollups: equal to a direct aggregation of the raw rows, exactly once (re-runs, late events,
catch-up after a gap, two workers), on whichever database the suite runs."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from apps.agents import lifecycle
from apps.agents.models import AgentEvent, AgentStatus
from apps.telemetry import rollups
from apps.telemetry.models import (
    HISTOGRAM,
    LATENCY_EDGES,
    EventRollup,
    Grain,
    SpanRollup,
    StatusRollup,
    UsageRollup,
    Watermark,
)
from apps.telemetry.rollups import floor_to, roll_up
from apps.telemetry.services import usage_record
from tests.support import in_threads

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TOOLS = ("Bash", "Read", "Edit", "")


@pytest.fixture(autouse=True)
def _no_lag(settings):
    settings.TELEMETRY_ROLLUP_LAG_SECONDS = 0
    # T0 is a fixed date: keep its usage rebuildable however long ago it is when this runs
    # (the usage rollup skips hours older than the token-usage retention window).
    settings.RETENTION_USAGE_DAYS = 0


def _event(agent, kind, ts, **data):
    return AgentEvent(project_id=agent.project_id, agent=agent, kind=kind, ts=ts, data=data)


def _histogram_index(ms):
    return sum(1 for edge in LATENCY_EDGES if ms >= edge)


def _fine_or_every(qs, every):
    return qs.filter(agent_id=-1) if every else qs.filter(agent_id__gte=0)


def _rows(model, grain, *fields, every=False):
    rows = _fine_or_every(model.objects.filter(grain=grain), every)
    return {
        tuple(r[f] for f in ("start", "project_id", "agent_id", *fields[:-1])): r[fields[-1]]
        for r in rows.values("start", "project_id", "agent_id", *fields)
    }


def _random_events(agents, n, rng):
    events = []
    for _ in range(n):
        agent = rng.choice(agents)
        ts = T0 + timedelta(seconds=rng.randrange(0, 3 * 86400))
        if rng.random() < 0.5:
            events.append(_event(agent, "span.finished", ts, tool_name=rng.choice(TOOLS),
                                 outcome=rng.choice(("ok", "ok", "error", "denied")),
                                 latency_ms=rng.choice((None, rng.randrange(0, 900_000)))))
        else:
            events.append(_event(agent, rng.choice(("task.progress", "agent.error", "note")), ts))
    AgentEvent.objects.bulk_create(events)


def _expected(grain, every=False):
    kinds, calls, errors, hist, lat = Counter(), Counter(), Counter(), Counter(), Counter()
    for e in AgentEvent.objects.all():
        start = floor_to(e.ts, grain)
        agent = -1 if every else (e.agent_id or 0)
        kinds[(start, e.project_id, agent, e.kind)] += 1
        if e.kind != "span.finished":
            continue
        key = (start, e.project_id, agent, e.data.get("tool_name") or "")
        calls[key] += 1
        errors[key] += e.data.get("outcome") == "error"
        if e.data.get("latency_ms") is not None:
            lat[key] += e.data["latency_ms"]
            hist[(*key, _histogram_index(e.data["latency_ms"]))] += 1
    return kinds, calls, errors, hist, lat


def _assert_equal_to_raw():
    """Per agent, and summed over every agent of a project (agent_id -1)."""
    for grain in Grain.values:
        for every in (False, True):
            _assert_grain_equal_to_raw(grain, every)


def _assert_grain_equal_to_raw(grain, every):
    kinds, calls, errors, hist, lat = _expected(grain, every)
    assert _rows(EventRollup, grain, "kind", "count", every=every) == dict(kinds)
    got = _fine_or_every(SpanRollup.objects.filter(grain=grain), every)
    sums = {name: Counter() for name in ("calls", "errors", "latency_sum_ms")}
    got_hist = Counter()
    for r in got:  # summed over models: the rows summed over every agent split by model
        key = (r.start, r.project_id, r.agent_id, r.tool)
        for name, counter in sums.items():
            counter[key] += getattr(r, name)
        for i, h in enumerate(HISTOGRAM):
            got_hist[(*key, i)] += getattr(r, h)
    assert dict(sums["calls"]) == dict(calls)
    assert +sums["errors"] == +errors
    assert +sums["latency_sum_ms"] == +lat
    assert +got_hist == +hist


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_a_direct_aggregation_of_random_raw_rows(seed, agent, make_sub,
                                                               other_project):
    from apps.agents.services import agent_register

    rng = random.Random(seed)
    stranger, _ = agent_register(project=other_project, name="stranger", external_id="x")
    agents = [agent, make_sub("a"), make_sub("b"), stranger]
    _random_events(agents, 400, rng)
    roll_up()
    _assert_equal_to_raw()


def test_running_again_changes_nothing_and_new_events_add_once(agent):
    _random_events([agent], 200, random.Random(7))
    roll_up()
    before = sorted(EventRollup.objects.values_list("grain", "start", "kind", "count"))
    assert roll_up().events == 0
    assert sorted(EventRollup.objects.values_list("grain", "start", "kind", "count")) == before
    _random_events([agent], 50, random.Random(8))
    roll_up()
    _assert_equal_to_raw()


def test_a_late_event_reopens_its_old_bucket(agent):
    AgentEvent.objects.bulk_create([_event(agent, "note", timezone.now())])
    roll_up()
    old = T0 - timedelta(days=2, minutes=7)
    AgentEvent.objects.bulk_create([_event(agent, "note", old)])  # arrives late (new id)
    roll_up()
    for grain in Grain.values:
        assert EventRollup.objects.get(grain=grain, start=floor_to(old, grain),
                                       agent_id=agent.pk).count == 1
    _assert_equal_to_raw()


def test_after_a_gap_one_run_catches_up_in_chunks(agent, monkeypatch):
    monkeypatch.setattr(rollups, "CHUNK", 37)
    _random_events([agent], 300, random.Random(9))
    progress = roll_up()
    assert progress.events >= 300 and not progress.behind
    _assert_equal_to_raw()
    assert Watermark.objects.get(name="events").position == AgentEvent.objects.latest("id").id


def test_a_time_budget_stops_early_and_the_next_run_goes_on(agent, monkeypatch):
    monkeypatch.setattr(rollups, "CHUNK", 10)
    _random_events([agent], 100, random.Random(10))
    progress = roll_up(budget=0)
    assert progress.behind
    assert 0 < Watermark.objects.get(name="events").position < AgentEvent.objects.latest("id").id
    while roll_up(budget=0).behind:
        pass
    _assert_equal_to_raw()


def test_ids_never_used_are_skipped_not_walked_chunk_by_chunk(agent, monkeypatch):
    monkeypatch.setattr(rollups, "CHUNK", 10)
    AgentEvent.objects.bulk_create([_event(agent, "note", T0) for _ in range(3)])
    far = _event(agent, "note", T0)
    far.id = AgentEvent.objects.latest("id").id + 1_000_000  # a sequence that jumped
    AgentEvent.objects.bulk_create([far])
    runs = 1
    while roll_up(budget=0).behind:
        runs += 1
        assert runs < 5, "the rollup walks the empty id range ten at a time"
    _assert_equal_to_raw()
    assert Watermark.objects.get(name="events").position == far.id


def test_events_younger_than_the_lag_wait_for_the_next_run(agent, settings):
    settings.TELEMETRY_ROLLUP_LAG_SECONDS = 60
    AgentEvent.objects.bulk_create([_event(agent, "note", timezone.now())])
    roll_up()
    assert not EventRollup.objects.filter(kind="note").exists()
    roll_up(now=timezone.now() + timedelta(seconds=61))
    assert EventRollup.objects.filter(grain=Grain.FIVE_MINUTES, kind="note",
                                      agent_id__gte=0).get().count == 1


def test_latency_lands_in_the_right_histogram_bucket(agent):
    times = [0, 1, 2, 999, 1000, 1001, 599_999, 600_000, 5_000_000]
    AgentEvent.objects.bulk_create(
        [_event(agent, "span.finished", T0, tool_name="Bash", outcome="ok", latency_ms=ms)
         for ms in times]
        + [_event(agent, "span.finished", T0, tool_name="Bash", latency_ms="fast"),
           _event(agent, "span.finished", T0, tool_name="Bash", latency_ms=12.7)]
    )
    roll_up()
    row = SpanRollup.objects.get(grain=Grain.FIVE_MINUTES, agent_id=agent.pk)
    assert SpanRollup.objects.get(grain=Grain.FIVE_MINUTES, agent_id=-1).calls == row.calls
    assert row.calls == len(times) + 2
    assert row.latency_count == len(times) + 1  # a text latency is no latency
    counts = Counter(_histogram_index(ms) for ms in [*times, 12])
    assert {i: getattr(row, h) for i, h in enumerate(HISTOGRAM) if getattr(row, h)} == counts
    assert row.model == agent.model


def test_status_time_and_time_to_unblock(agent):
    from apps.agents.models import Agent

    agent = Agent.objects.get(pk=agent.pk)
    agent.status, agent.status_since = AgentStatus.WORKING, T0
    agent.save()
    lifecycle.set_status(agent, AgentStatus.BLOCKED, now=T0 + timedelta(minutes=12),
                         reason="waiting for permission")
    lifecycle.set_status(agent, AgentStatus.WORKING, now=T0 + timedelta(minutes=20))
    lifecycle.set_status(agent, AgentStatus.OFFLINE, now=T0 + timedelta(hours=2))
    lifecycle.set_status(agent, AgentStatus.WORKING, now=T0 + timedelta(hours=5))
    roll_up()

    def seconds(grain, status, agent_id=agent.pk):
        rows = StatusRollup.objects.filter(grain=grain, status=status, agent_id=agent_id)
        return sum(r.seconds for r in rows)

    for grain in Grain.values:
        assert seconds(grain, "working") == 12 * 60 + 100 * 60
        assert seconds(grain, "working", -1) == seconds(grain, "working")
        assert seconds(grain, "blocked") == 8 * 60
        assert seconds(grain, "offline") == 0  # not counted
        blocked = StatusRollup.objects.get(grain=grain, status="blocked", unblocks=1,
                                           agent_id=agent.pk)
        assert blocked.unblock_seconds == 8 * 60
    first = StatusRollup.objects.get(grain=Grain.FIVE_MINUTES, status="working", start=T0,
                                     agent_id=agent.pk)
    assert first.seconds == 300
    assert StatusRollup.objects.filter(grain=Grain.FIVE_MINUTES, status="working",
                                       agent_id=agent.pk).count() == 3 + 20


def _usage(agent, key, ts, **tokens):
    return usage_record(agent=agent, key=key, model="claude-sonnet-4-5", ts=ts,
                        tokens={"tokens_input": 100, "tokens_output": 10, **tokens})


def test_usage_is_rebuilt_per_project_hour_and_a_re_report_replaces_not_adds(agent):
    from apps.agents.services import task_assign

    task = task_assign(agent=agent, title="Fix login", linear_issue_id="lin-1",
                       actor_label="ana")
    agent.refresh_from_db()
    assert agent.current_task_id == task.pk
    _usage(agent, "m1", T0 + timedelta(minutes=1))
    _usage(agent, "m2", T0 + timedelta(minutes=2), tokens_cache_read=1000)
    _usage(agent, "m3", T0 + timedelta(hours=26))
    roll_up()
    hour = UsageRollup.objects.get(grain=Grain.HOUR, start=T0, agent_id=agent.pk)
    assert (hour.calls, hour.tokens_input, hour.tokens_cache_read) == (2, 200, 1000)
    assert hour.issue == "lin-1" and hour.person == "ana" and hour.cost_usd > 0
    assert UsageRollup.objects.get(grain=Grain.FIVE_MINUTES, start=T0, agent_id=-1).calls == 2
    day = UsageRollup.objects.get(grain=Grain.DAY, start=floor_to(T0, Grain.DAY),
                                  agent_id=agent.pk)
    assert day.calls == 2 and day.cost_usd == hour.cost_usd

    # The same call reported again with bigger figures: merged in place, counted once.
    _usage(agent, "m1", T0 + timedelta(minutes=1), tokens_input=500)
    roll_up()
    hour = UsageRollup.objects.get(grain=Grain.HOUR, start=T0, agent_id=agent.pk)
    assert (hour.calls, hour.tokens_input) == (2, 600)
    assert UsageRollup.objects.filter(grain=Grain.DAY).count() == 2 * 2  # per agent and all

    before = sorted(UsageRollup.objects.values_list("grain", "start", "calls", "tokens_input",
                                                    "cost_usd"))
    rollups.rebuild_usage_hour(project_id=agent.project_id, hour=T0)  # re-running a window
    after = sorted(UsageRollup.objects.values_list("grain", "start", "calls", "tokens_input",
                                                   "cost_usd"))
    assert after == before


def test_usage_totals_match_the_raw_rows(agent, make_sub):
    from apps.telemetry.models import TokenUsage

    rng = random.Random(11)
    agents = [agent, make_sub("a")]
    for i in range(120):
        _usage(rng.choice(agents), f"k{i}", T0 + timedelta(seconds=rng.randrange(0, 4 * 86400)),
               tokens_input=rng.randrange(0, 5000), tokens_cache_write=rng.randrange(0, 50))
    roll_up()
    raw = defaultdict(Decimal)
    for u in TokenUsage.objects.all():
        raw[(floor_to(u.ts, Grain.HOUR), u.agent_id)] += u.cost_usd
    for grain in Grain.values:
        rows = UsageRollup.objects.filter(grain=grain, agent_id__gte=0)
        assert sum(r.calls for r in UsageRollup.objects.filter(grain=grain, agent_id=-1)) == 120
        assert sum(r.calls for r in rows) == 120
        assert sum(r.tokens_input for r in rows) == sum(
            TokenUsage.objects.values_list("tokens_input", flat=True))
        assert abs(sum(r.cost_usd for r in rows) - sum(raw.values())) < Decimal("0.000001")


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_count_everything_exactly_once(agent, monkeypatch):
    monkeypatch.setattr(rollups, "CHUNK", 25)
    _random_events([agent], 400, random.Random(12))
    in_threads(roll_up, 3)
    _assert_equal_to_raw()


def test_the_command_brings_every_rollup_up_to_now(agent):
    from io import StringIO

    from django.core.management import call_command

    _random_events([agent], 30, random.Random(13))
    out = StringIO()
    call_command("telemetry", "rollup", stdout=out)
    assert "Rolled up" in out.getvalue() and "behind by 0 s" in out.getvalue()
    _assert_equal_to_raw()


def test_the_beat_task_rolls_up_in_a_real_worker(celery_worker, agent):
    import time

    from apps.telemetry.tasks import rollup

    _random_events([agent], 30, random.Random(14))
    rollup.delay()
    deadline = time.monotonic() + 30
    last = AgentEvent.objects.latest("id").id
    while time.monotonic() < deadline:
        if Watermark.objects.filter(name="events", position=last).exists():
            break
        time.sleep(0.2)
    _assert_equal_to_raw()


def test_the_engine_equals_the_single_statement_aggregation(agent, make_sub):
    """What beat writes (the chunk read once, every grain derived) equals one GROUP BY over
    the raw rows, the reference benchmarks/rollups.py measures the engine against."""
    _random_events([agent, make_sub("a")], 300, random.Random(21))
    roll_up()
    last = AgentEvent.objects.latest("id").id
    with connection.cursor() as cursor:
        for sql, model, fields in (
            (rollups._events_sql(3600), EventRollup, ("kind", "count")),
            (rollups._spans_sql(3600), SpanRollup, ("model", "tool", "calls", "errors",
                                                    "latency_count", "latency_sum_ms",
                                                    *HISTOGRAM)),
        ):
            select = sql.split("ON CONFLICT")[0]
            cursor.execute(select[select.index("SELECT"):], [0, last])
            expected = sorted(tuple(row[3:]) for row in cursor.fetchall())
            got = sorted(model.objects.filter(grain=3600, agent_id__gte=0)
                         .values_list("agent_id", *fields))
            assert got == expected
