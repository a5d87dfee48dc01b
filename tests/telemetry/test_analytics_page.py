"""The Analytics page: who may open it, what it shows, CSV export, bad parameters, and a query
count that grows neither with the range nor with the rows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.telemetry.rollups import roll_up
from tests.telemetry.seed import seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def week(project):
    crew = seed(project, agents=3, days=7, per_hour=2)
    roll_up()
    return crew


def test_it_requires_sign_in(client):
    r = client.get("/analytics/")
    assert r.status_code == 302 and "/login/" in r["Location"]
    assert client.get("/analytics/export.csv").status_code == 302


@pytest.mark.parametrize("who", ["owner", "admin_user", "viewer"])
def test_every_member_may_read_it(client, request, who, week):
    client.force_login(request.getfixturevalue(who))
    r = client.get("/analytics/?range=7d&group_by=agent")
    assert r.status_code == 200
    body = r.content.decode()
    for agent in week:
        assert agent.name in body
    assert 'data-chart="chart-cost"' in body and "Export CSV" in body


def test_an_outsider_may_not(client, outsider):
    client.force_login(outsider)
    assert client.get("/analytics/").status_code == 403


def test_an_empty_range_says_so(client, viewer):
    client.force_login(viewer)
    body = client.get("/analytics/").content.decode()
    assert "Nothing in this range yet" in body


def test_bad_parameters_show_the_default_range_and_say_why(client, viewer, week):
    client.force_login(viewer)
    r = client.get("/analytics/?range=forever&group_by=colour")
    assert r.status_code == 200
    body = r.content.decode()
    assert "were not understood" in body and "group_by" in body and "range" in body


def test_the_csv_has_every_group_and_its_totals(client, viewer, week):
    client.force_login(viewer)
    r = client.get("/analytics/export.csv?range=7d&group_by=agent")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert {row["group"] for row in rows} == {a.name for a in week}
    page = client.get("/api/v1/analytics/totals?range=7d&group_by=agent").json()
    assert sum(int(row["tool_calls"]) for row in rows) == page["total"]["tool_calls"]
    assert client.get("/analytics/export.csv?group_by=x").status_code == 400


def test_csv_cells_that_look_like_formulas_are_defused(client, viewer, project):
    from apps.agents.models import Agent

    client.force_login(viewer)
    Agent.objects.create(project=project, name="=HYPERLINK(1)", external_id="f")
    seed(project, agents=1, days=0.1, per_hour=3)
    Agent.objects.filter(name="agent-1").update(name="=HYPERLINK(1)x")
    roll_up()
    text = client.get("/analytics/export.csv?group_by=agent").content.decode()
    assert "'=HYPERLINK(1)x" in text


def test_the_query_count_grows_neither_with_range_nor_rows(client, viewer, project, week):
    client.force_login(viewer)
    client.get("/analytics/")
    counts = []
    for params in ("range=24h", "range=90d", "range=7d&group_by=agent", "range=7d&group_by=tool"):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/analytics/?{params}").status_code == 200
        counts.append(len(ctx))
    seed(project, agents=5, days=1, per_hour=2, seed=2)
    roll_up()
    with CaptureQueriesContext(connection) as ctx:
        client.get("/analytics/?range=7d&group_by=agent")
    assert len(ctx) == counts[2]
    assert counts[0] == counts[1] == counts[2], counts
    assert counts[3] < counts[2]  # by tool: no usage totals (usage has no tool) and no labels


def test_the_previous_period_does_not_share_a_bucket(client, viewer, project):
    from apps.telemetry import analytics

    now = timezone.now()
    window = analytics.Window(now - timedelta(hours=24), now)
    assert window.previous.until == window.first
    assert window.previous.buckets()[-1] < window.first


def test_agent_and_project_pages_show_the_last_24_hours_as_sparklines(client, viewer, project):
    import json
    import re

    from apps.projects.models import Project

    client.force_login(viewer)
    crew = seed(project, agents=2, days=1, per_hour=3)
    roll_up()
    body = client.get(f"/agents/{crew[0].pk}/").content.decode()
    assert "24 h cost" in body and 'class="sparkline"' in body
    values = [json.loads(v.replace("&quot;", '"'))
              for v in re.findall(r'data-values="([^"]*)"', body)]
    assert len(values) == 3 and all(len(v) == 25 for v in values)
    assert sum(values[0]) > 0  # cost of the last 24 hours

    with CaptureQueriesContext(connection) as one:
        assert client.get("/projects/").status_code == 200
    for i in range(5):
        Project.objects.create(name=f"More {i}", slug=f"more-{i}")
    with CaptureQueriesContext(connection) as six:
        body = client.get("/projects/").content.decode()
    assert len(six) == len(one)
    assert body.count('class="sparks"') == 6


def test_the_table_has_the_previous_period_of_the_groups_it_shows(client, viewer, project):
    import re

    client.force_login(viewer)
    crew = seed(project, agents=2, days=2, per_hour=3)
    roll_up()
    api = client.get("/api/v1/analytics/totals?range=24h&group_by=agent").json()["groups"]
    body = client.get("/analytics/?range=24h&group_by=agent").content.decode()
    for group in api:
        assert group["previous"]["calls"] > 0 and group["previous"]["tool_calls"] > 0
        row = re.search(rf'title="{group["label"]}".*?</tr>', body, re.S).group(0)
        cells = re.sub(r"\s+", " ", row)
        current, previous = group["tool_calls"], group["previous"]["tool_calls"]
        assert f'{current}<div class="faint small">{previous}</div>' in cells
    assert {g["label"] for g in api} == {a.name for a in crew}


def test_the_page_draws_the_same_series_as_the_api(client, viewer, week):
    import json
    import re

    client.force_login(viewer)
    body = client.get("/analytics/?range=7d&group_by=agent").content.decode()
    api = client.get("/api/v1/analytics/series?range=7d&group_by=agent").json()["charts"]
    for name in ("cost", "tokens", "calls"):
        found = re.search(rf'<script id="chart-{name}" type="application/json">(.*?)</script>',
                          body, re.S)
        assert json.loads(found.group(1))["series"] == api[name]["series"]
