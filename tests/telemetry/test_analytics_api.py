"""GET /api/v1/analytics/series and /totals: figures equal to the raw rows, percentiles within
a histogram bucket, scoping by key, strict parameters, constant query count."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.agents.models import AgentEvent
from apps.telemetry.analytics import percentile
from apps.telemetry.models import LATENCY_EDGES, TokenUsage
from apps.telemetry.rollups import roll_up
from apps.telemetry.services import usage_record
from tests.conftest import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(agent, make_sub, other_project, now):
    """Two hours of usage and tool calls in two projects."""
    from apps.agents.services import agent_register

    stranger, _ = agent_register(project=other_project, name="stranger", external_id="x",
                                 model="gpt-5")
    helper = make_sub("helper")
    rng = random.Random(5)
    events = []
    for i, who in enumerate([agent, helper, stranger] * 20):
        ts = now - timedelta(minutes=rng.randrange(1, 120))
        usage_record(agent=who, key=f"m{i}", model=who.model or "claude-sonnet-4-5", ts=ts,
                     tokens={"tokens_input": 1000, "tokens_output": 100,
                             "tokens_cache_read": 3000})
        events.append(AgentEvent(project_id=who.project_id, agent=who, kind="span.finished",
                                 ts=ts, data={"tool_name": rng.choice(["Bash", "Read"]),
                                              "outcome": rng.choice(["ok", "ok", "error"]),
                                              "latency_ms": rng.randrange(1, 5000)}))
    AgentEvent.objects.bulk_create(events)
    roll_up()
    return {"agent": agent, "helper": helper, "stranger": stranger}


@pytest.fixture
def member(viewer):
    client = APIClient()
    client.force_login(viewer)
    return client


def test_totals_by_project_equal_the_raw_rows(member, data, project):
    r = member.get("/api/v1/analytics/totals", {"range": "24h", "group_by": "project"})
    assert r.status_code == 200, r.content
    body = r.json()
    mine = next(g for g in body["groups"] if g["key"] == project.pk)
    raw = TokenUsage.objects.filter(project=project)
    assert mine["label"] == project.name
    assert mine["calls"] == raw.count() == 40
    assert mine["input_tokens"] == 40_000 and mine["cache_read_tokens"] == 120_000
    assert Decimal(mine["cost_usd"]) == sum(u.cost_usd for u in raw)
    assert mine["cache_hit_rate"] == 75.0
    spans = AgentEvent.objects.filter(project=project, kind="span.finished")
    assert mine["tool_calls"] == spans.count()
    assert mine["errors"] == sum(1 for e in spans if e.data["outcome"] == "error")
    assert body["total"]["calls"] == 60
    assert mine["previous"]["calls"] == 0 and mine["cost_delta_pct"] is None


def test_totals_by_tool_and_by_model(member, data):
    by_tool = member.get("/api/v1/analytics/totals", {"group_by": "tool"}).json()["groups"]
    assert {g["key"] for g in by_tool} == {"Bash", "Read"}
    assert sum(g["tool_calls"] for g in by_tool) == 60
    by_model = member.get("/api/v1/analytics/totals", {"group_by": "model"}).json()["groups"]
    assert {g["key"]: g["calls"] for g in by_model if g["calls"]} == {
        "claude-sonnet-4-5": 40, "gpt-5": 20}
    # The sub-agent reports no model: its tool calls are under the unknown model.
    assert {g["label"] for g in by_model} == {"claude-sonnet-4-5", "gpt-5", "(unknown model)"}


def test_percentiles_are_within_one_histogram_bucket_of_exact(data):
    rng = random.Random(3)
    values = sorted(rng.randrange(0, 700_000) for _ in range(1000))
    histogram = [0] * (len(LATENCY_EDGES) + 1)
    for v in values:
        histogram[sum(1 for edge in LATENCY_EDGES if v >= edge)] += 1
    for q in (0.5, 0.9, 0.95, 0.99):
        exact = values[int(q * len(values)) - 1]
        i = sum(1 for edge in LATENCY_EDGES if exact >= edge)
        lo = 0 if i == 0 else LATENCY_EDGES[i - 1]
        hi = LATENCY_EDGES[i] if i < len(LATENCY_EDGES) else lo * 2
        assert lo <= percentile(histogram, q) <= hi, q
    assert percentile([0] * len(histogram), 0.5) is None


def test_series_has_every_chart_on_one_time_axis(member, data):
    body = member.get("/api/v1/analytics/series", {"range": "24h", "group_by": "agent"}).json()
    assert body["grain_seconds"] == 3600
    charts = body["charts"]
    assert set(charts) == {"cost", "tokens", "cache", "latency", "errors", "calls", "status",
                           "unblock", "alerts"}
    assert len(charts["cost"]["x"]) in (24, 25)
    now = timezone.now()
    short = member.get("/api/v1/analytics/series", {
        "since": (now - timedelta(hours=6)).isoformat(), "until": now.isoformat()}).json()
    assert short["grain_seconds"] == 300 and len(short["charts"]["cost"]["x"]) in (72, 73)
    assert {s["label"] for s in charts["cost"]["series"]} == {"builder", "helper", "stranger"}
    assert sum(v or 0 for v in charts["calls"]["series"][0]["values"]) == 60
    for chart in charts.values():
        assert all(len(s["values"]) == len(chart["x"]) for s in chart["series"])


def test_a_key_sees_its_own_project_only(data, project, other_project):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(project, 'read')}")
    groups = client.get("/api/v1/analytics/totals").json()["groups"]
    assert [g["key"] for g in groups] == [project.pk]
    r = client.get("/api/v1/analytics/totals", {"project": other_project.slug})
    assert r.status_code == 400 and "project" in r.json()["details"]


def test_it_requires_a_member_or_a_key(data):
    assert APIClient().get("/api/v1/analytics/totals").status_code in (401, 403)


@pytest.mark.parametrize("params, field", [
    ({"group_by": "colour"}, "group_by"),
    ({"range": "2y"}, "range"),
    ({"since": "yesterday"}, "since"),
    ({"since": "2026-11-02", "until": "2026-11-01"}, "until"),
    ({"since": "2020-01-01", "until": "2026-11-01"}, "since"),
    ({"tz": "Mars/Olympus"}, "tz"),
    ({"agent": "1,x"}, "agent"),
    ({"project": "nope"}, "project"),
])
def test_bad_parameters_are_a_400_naming_them(member, params, field):
    r = member.get("/api/v1/analytics/totals", params)
    assert r.status_code == 400
    assert field in r.json()["details"], r.json()


def test_dates_are_days_in_the_readers_time_zone(member, data, agent):
    day = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 30 Nov in UTC, 1 Dec in Tokyo
    usage_record(agent=agent, key="late-night", model="claude-sonnet-4-5", ts=day,
                 tokens={"tokens_input": 7})
    roll_up()
    utc = member.get("/api/v1/analytics/totals",
                     {"since": "2026-11-30", "until": "2026-11-30", "tz": "UTC"}).json()
    tokyo = member.get("/api/v1/analytics/totals",
                       {"since": "2026-12-01", "until": "2026-12-01", "tz": "Asia/Tokyo"}).json()
    assert utc["total"]["input_tokens"] == 7 and tokyo["total"]["input_tokens"] == 7


def test_the_query_count_does_not_grow_with_the_range(member, data):
    counts = []
    member.get("/api/v1/analytics/series")  # warm-up: the session's first request reads more
    for r in ("24h", "7d", "90d"):
        with CaptureQueriesContext(connection) as ctx:
            assert member.get("/api/v1/analytics/series", {"range": r}).status_code == 200
        counts.append(len(ctx))
    assert counts[0] == counts[1] == counts[2], counts


def test_the_schema_documents_both(member):
    schema = member.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    text = schema.content.decode()
    assert "/api/v1/analytics/series" in text and "/api/v1/analytics/totals" in text
