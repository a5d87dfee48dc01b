"""The comparison of two runs and the history of an endpoint and model."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.benches.models import RunState
from tests.benches import seed

pytestmark = pytest.mark.django_db


def _as(client, user):
    client.force_login(user)
    return client


def test_it_compares_two_runs_level_by_level(client, viewer, project):
    s = seed.suite(seed.endpoint(project))
    a = seed.run(s)
    b = seed.run(s, slow=1.5, levels=[1, 2, 4, 16])
    page = _as(client, viewer).get(f"/benches/compare/?a={a.pk}&b={b.pk}")
    body = page.content.decode()
    levels = page.context["levels"]
    assert [lv["label"] for lv in levels] == [
        "Concurrency 1", "Concurrency 2", "Concurrency 4", "Concurrency 8", "Concurrency 16"]
    ttft = levels[0]["metrics"][0]
    assert ttft["label"] == "TTFT p50" and ttft["pct"] == 50.0 and ttft["tone"] == "worse"
    tokens = next(m for m in levels[0]["metrics"] if m["label"] == "Output tok/s")
    assert tokens["tone"] == "worse" and tokens["pct"] == pytest.approx(-33.3, abs=0.1)
    assert "only in A" in body and "only in B" in body
    m = re.search(r'<script id="chart-compare-ttft" type="application/json">(.*?)</script>', body)
    chart = json.loads(m.group(1))
    assert chart["x"] == [1, 2, 4, 8, 16]
    assert [s["label"] for s in chart["series"]] == [f"Run #{a.pk}", f"Run #{b.pk}"]
    assert chart["series"][0]["values"][-1] is None


def test_a_faster_run_is_better(client, viewer, project):
    s = seed.suite(seed.endpoint(project))
    a, b = seed.run(s, slow=2), seed.run(s)
    levels = _as(client, viewer).get(f"/benches/compare/?a={a.pk}&b={b.pk}").context["levels"]
    assert {m["tone"] for m in levels[0]["metrics"]} == {"better"}


@pytest.mark.parametrize("query", ["", "?a=1", "?a=x&b=2", "?a=1&b=999"])
def test_bad_comparisons_are_not_found(client, viewer, project, query):
    seed.run(seed.suite(seed.endpoint(project)))
    assert _as(client, viewer).get(f"/benches/compare/{query}").status_code == 404


def test_the_history_charts_runs_and_marks_the_baseline(client, viewer, project):
    ep = seed.endpoint(project)
    s = seed.suite(ep)
    runs = [seed.run(s, slow=1 + i / 10) for i in range(3)]
    seed.run(s, state=RunState.FAILED, levels=[])
    s.baseline = runs[0]
    s.save()
    page = _as(client, viewer).get(f"/benches/history/?endpoint={ep.pk}&model=llama-3-8b")
    body = page.content.decode()
    m = re.search(r'<script id="history-ttft" type="application/json">(.*?)</script>', body)
    chart = json.loads(m.group(1))
    assert len(chart["x"]) == 3 and [s["label"] for s in chart["series"]] == [
        "c=1", "c=2", "c=4", "c=8"]
    assert body.count('class="is-baseline"') == 1 and "4 runs" in body
    assert "Failed" in body


def test_the_history_query_count_does_not_grow_with_runs_or_levels(client, viewer, project):
    ep = seed.endpoint(project)
    s = seed.suite(ep)
    seed.run(s, levels=[1])
    url = f"/benches/history/?endpoint={ep.pk}&model=llama-3-8b"
    _as(client, viewer).get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(5):
        seed.run(s, levels=[1, 2, 4, 8, 16])
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)


def test_the_history_is_paginated(client, viewer, project):
    ep = seed.endpoint(project)
    s = seed.suite(ep)
    for _ in range(23):
        seed.run(s, levels=[1])
    url = f"/benches/history/?endpoint={ep.pk}&model=llama-3-8b"
    body = _as(client, viewer).get(url).content.decode()
    assert _history_rows(body) == 20 and "Page 1 of 2" in body
    assert _history_rows(client.get(url + "&page=2").content.decode()) == 3


def _history_rows(body: str) -> int:
    """Rows of the history table only (the page has other tables, e.g. the shortcuts help)."""
    table = body[body.index("<tbody>"):]
    return table[:table.index("</tbody>")].count("<tr")


def test_history_of_unknown_or_archived_endpoints_is_not_found(client, viewer, project):
    ep = seed.endpoint(project)
    _as(client, viewer)
    assert client.get("/benches/history/?endpoint=abc").status_code == 404
    assert client.get("/benches/history/?endpoint=999").status_code == 404
    project.archived = True
    project.save()
    assert client.get(f"/benches/history/?endpoint={ep.pk}").status_code == 404
