"""Benches → Runs: the list of every run, its filters, pages and permissions, and the section's
tabs and cross links on the other bench pages."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.benches.models import Run, RunState, Trigger
from tests.benches import seed

pytestmark = pytest.mark.django_db


def _as(client, user):
    client.force_login(user)
    return client


def _rows(body: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="run-row-(\d+)"', body)]


def test_it_lists_runs_newest_first_with_their_figures(client, viewer, project):
    ep = seed.endpoint(project)
    s = seed.suite(ep)
    old = seed.run(s, regressions=[{"metric": "ttft_ms", "concurrency": 8, "baseline": 1,
                                    "value": 2, "change_pct": 100}])
    new = seed.run(s, state=RunState.RUNNING, levels=[1],
                   progress={"level": 1, "levels": 4, "concurrency": 2, "done": 37, "total": 64},
                   polluted=True, started_by=viewer)
    body = _as(client, viewer).get("/benches/runs/").content.decode()
    assert _rows(body) == [new.pk, old.pk]
    assert "c=1,2,4,8" in body and "level 2/4 · 37/64" in body
    assert "Polluted" in body and "1 regression" in body and "Running" in body
    # the highest load's headline figures: TTFT p50 at c=8 is 50 * 2 = 100 ms, 320 tok/s
    assert "100 ms" in body and "320.0" in body and "@c=8" in body
    assert f'href="/benches/runs/{old.pk}/"' in body and "nightly" in body
    assert 'ws-connect="/ws/benches/runs/' in body and "partial=rows" in body


def test_it_filters_by_endpoint_model_suite_state_and_trigger(client, viewer, project):
    a, b = seed.endpoint(project), seed.endpoint(project, name="gpu2")
    sa, sb = seed.suite(a), seed.suite(b, name="other", model="qwen2-7b")
    finished = seed.run(sa)
    failed = seed.run(sa, state=RunState.FAILED, trigger=Trigger.SCHEDULE)
    on_b = seed.run(sb)
    _as(client, viewer)
    assert _rows(client.get(f"/benches/runs/?endpoint={b.pk}").content.decode()) == [on_b.pk]
    assert _rows(client.get("/benches/runs/?model=qwen2-7b").content.decode()) == [on_b.pk]
    assert _rows(client.get(f"/benches/runs/?suite={sa.pk}").content.decode()) == [
        failed.pk, finished.pk]
    assert _rows(client.get("/benches/runs/?state=failed").content.decode()) == [failed.pk]
    assert _rows(client.get("/benches/runs/?trigger=schedule").content.decode()) == [failed.pk]
    body = client.get("/benches/runs/?state=cancelled").content.decode()
    assert _rows(body) == [] and "No runs match" in body
    # nonsense is ignored rather than an error
    assert len(_rows(client.get("/benches/runs/?state=bogus&endpoint=x").content.decode())) == 3


def test_it_pages_and_keeps_the_filters_in_the_links(client, viewer, project):
    s = seed.suite(seed.endpoint(project))
    runs = [seed.run(s, levels=[1]) for _ in range(23)]
    _as(client, viewer)
    first = client.get("/benches/runs/?state=finished").content.decode()
    assert _rows(first) == [r.pk for r in reversed(runs)][:20]
    assert "?state=finished&amp;page=2" in first and "Page 1 of 2" in first
    second = client.get("/benches/runs/?state=finished&page=2").content.decode()
    assert _rows(second) == [r.pk for r in reversed(runs)][20:]
    assert "?state=finished&amp;page=1" in second
    # the socket of page 2 knows it is page 2 (no new rows go on top there)
    assert "page=2" in re.search(r'ws-connect="([^"]+)"', second).group(1)
    assert 'data-live-insert' not in second and 'data-live-insert="#run-rows"' in first


def test_its_query_count_does_not_grow_with_rows(client, viewer, project):
    ep = seed.endpoint(project)
    s = seed.suite(ep)
    seed.run(s)
    _as(client, viewer).get("/benches/runs/")
    with CaptureQueriesContext(connection) as few:
        client.get("/benches/runs/")
    for i in range(6):
        other = seed.suite(seed.endpoint(project, name=f"gpu-{i}"), name=f"s-{i}")
        seed.run(other, started_by=viewer)
        seed.run(other, state=RunState.RUNNING, progress={"level": 0, "levels": 4})
    with CaptureQueriesContext(connection) as many:
        client.get("/benches/runs/")
    assert len(many) == len(few)


def test_the_rows_partial_is_the_polling_fallback(client, viewer, project):
    run = seed.run(seed.suite(seed.endpoint(project)))
    body = _as(client, viewer).get("/benches/runs/?partial=rows").content.decode()
    assert body.lstrip().startswith('<tbody id="run-rows" data-snapshot')
    assert _rows(body) == [run.pk] and "<html" not in body


def test_it_shows_one_project_or_all(client, viewer, project, other_project):
    mine = seed.run(seed.suite(seed.endpoint(project)))
    theirs = seed.run(seed.suite(seed.endpoint(other_project)))
    _as(client, viewer)
    assert _rows(client.get("/benches/runs/?project=apollo").content.decode()) == [mine.pk]
    body = client.get("/benches/runs/?project=all").content.decode()
    assert set(_rows(body)) == {mine.pk, theirs.pk} and "Zephyr" in body


def test_it_has_an_empty_state(client, viewer):
    body = _as(client, viewer).get("/benches/runs/").content.decode()
    assert "No runs yet" in body and _rows(body) == []


def test_outsiders_and_anonymous_users_are_kept_out(client, outsider):
    assert client.get("/benches/runs/").status_code == 302
    assert _as(client, outsider).get("/benches/runs/").status_code == 403


def test_runs_of_archived_projects_are_left_out(client, viewer, project, other_project):
    seed.run(seed.suite(seed.endpoint(project)))
    kept = seed.run(seed.suite(seed.endpoint(other_project)))
    project.archived = True
    project.save()
    _as(client, viewer)
    assert _rows(client.get("/benches/runs/?project=all").content.decode()) == [kept.pk]
    assert client.get("/benches/runs/?project=apollo").status_code == 404


# --- the section: tabs, the header item, cross links --------------------------------------
@pytest.mark.parametrize(("url", "tab"), [
    ("/benches/", "endpoints"), ("/benches/endpoints/new", "endpoints"),
    ("/benches/suites/", "suites"), ("/benches/suites/new/", "suites"),
    ("/benches/runs/", "runs"), ("/benches/runs/{run}/", "runs"),
    ("/benches/compare/?a={run}&b={run}", "runs"),
    ("/benches/history/?endpoint={ep}", "runs"),
])
def test_every_bench_page_has_the_tabs_and_highlights_benches(client, admin_user, project, url,
                                                              tab):
    ep = seed.endpoint(project)
    run = seed.run(seed.suite(ep))
    body = _as(client, admin_user).get(url.format(run=run.pk, ep=ep.pk)).content.decode()
    nav = re.search(r'<nav class="bench-tabs".*?</nav>', body, re.S).group(0)
    assert re.findall(r'data-tab="(\w+)" aria-current="page"', nav) == [tab]
    assert '<a href="/benches/" aria-current="page">Benches</a>' in body


def test_the_confirm_page_has_the_tabs(rf, admin_user, project):
    from django.template.loader import render_to_string
    from django.urls import resolve

    s = seed.suite(seed.endpoint(project))
    request = rf.post(f"/benches/suites/{s.pk}/run/")
    request.user = admin_user
    request.resolver_match = resolve(request.path)
    html = render_to_string("benches/run_confirm.html", {"suite": s, "count": 3},
                            request=request)
    assert 'data-tab="suites" aria-current="page"' in html


def test_cards_link_to_their_suites_runs_and_history(client, viewer, project):
    ep = seed.endpoint(project)
    s = seed.suite(ep)
    _as(client, viewer)
    cards = client.get("/benches/").content.decode()
    assert f"/benches/suites/?endpoint={ep.pk}" in cards
    assert f"/benches/runs/?endpoint={ep.pk}" in cards
    assert f"/benches/history/?endpoint={ep.pk}&amp;model=llama-3-8b" in cards
    suites = client.get("/benches/suites/").content.decode()
    assert f"/benches/runs/?suite={s.pk}" in suites
    assert f"/benches/history/?endpoint={ep.pk}&amp;model=llama-3-8b" in suites
    seed.suite(seed.endpoint(project, name="gpu2"), name="elsewhere")
    only = client.get(f"/benches/suites/?endpoint={ep.pk}").content.decode()
    assert "elsewhere" not in only and "Suites of <strong>gpu1</strong>" in only


def test_the_run_breadcrumb_goes_through_its_suite_or_the_runs_list(client, viewer, project):
    ep = seed.endpoint(project)
    s = seed.suite(ep)
    with_suite = seed.run(s)
    ad_hoc = seed.run(s)
    Run.objects.filter(pk=ad_hoc.pk).update(suite=None)
    _as(client, viewer)
    crumbs = re.search(r'<nav class="crumbs".*?</nav>',
                       client.get(f"/benches/runs/{with_suite.pk}/").content.decode(),
                       re.S).group(0)
    assert re.findall(r">([^<>]+)</(?:a|span)>", crumbs) == [
        "Benches", "›", "Suites", "›", "nightly", "›", f"Run #{with_suite.pk}"]
    crumbs = re.search(r'<nav class="crumbs".*?</nav>',
                       client.get(f"/benches/runs/{ad_hoc.pk}/").content.decode(),
                       re.S).group(0)
    assert re.findall(r">([^<>]+)</(?:a|span)>", crumbs) == [
        "Benches", "›", "Runs", "›", f"Run #{ad_hoc.pk}"]


def test_the_suites_page_serves_its_last_run_cells(client, viewer, project):
    s = seed.suite(seed.endpoint(project))
    run = seed.run(s, state=RunState.RUNNING, progress={"level": 0, "levels": 4, "done": 3,
                                                        "total": 16})
    body = _as(client, viewer).get("/benches/suites/?partial=last-runs").content.decode()
    assert f'id="suite-last-{s.pk}" data-version="{run.pk * 1_000_000 + run.version}"' in body
    assert "level 1/4 · 3/16" in body and "<html" not in body
