"""The run page, its live partial, cancel, baseline pin and the Markdown export."""

from __future__ import annotations

import json
import re

import pytest

from apps.benches.models import Run, RunState, Suite
from apps.benches.services import run_start
from tests.benches import seed

pytestmark = pytest.mark.django_db


def _as(client, user):
    client.force_login(user)
    return client


def _chart(body: str, chart_id: str) -> dict:
    m = re.search(rf'<script id="{chart_id}" type="application/json">(.*?)</script>', body, re.S)
    assert m, f"no payload {chart_id}"
    return json.loads(m.group(1))


def test_it_shows_a_finished_run_with_levels_charts_and_regressions(client, viewer, project):
    s = seed.suite(seed.endpoint(project))
    base = seed.run(s)
    run = seed.run(s, slow=1.3, baseline=base, regressions=[
        {"metric": "ttft_ms", "concurrency": 4, "baseline": 75.0, "value": 97.5,
         "change_pct": 30.0}])
    body = _as(client, viewer).get(f"/benches/runs/{run.pk}/").content.decode()
    assert f"Run #{run.pk}" in body and "Finished" in body and "llama-3-8b" in body
    assert f'ws-connect="/ws/benches/runs/{run.pk}/"' in body
    assert body.count('<tr id="level-') == 4
    assert "Regressions against baseline" in body and "75.0 ms → 97.5 ms" in body
    assert body.count("is-regressed") == 1
    ttft = _chart(body, "chart-ttft")
    assert ttft["x"] == [1, 2, 4, 8] and [s["stat"] for s in ttft["series"]] == ["p50", "p90", "p99"]
    assert _chart(body, "chart-tokens")["series"][0]["values"][0] == pytest.approx(40 / 1.3, 0.01)
    itl = _chart(body, "chart-itl")
    assert len(itl["series"]) == 4 and len(itl["edges"]) == len(itl["series"][0]["values"]) + 1
    # viewers cannot pin or cancel; the compare select offers the other run
    assert "Pin as baseline" not in body and "Cancel run" not in body
    assert f'<option value="{base.pk}" selected>' in body


def test_a_running_run_shows_its_progress(client, admin_user, project):
    s = seed.suite(seed.endpoint(project))
    run = seed.run(s, state=RunState.RUNNING, levels=[1], progress={
        "level": 1, "levels": 4, "concurrency": 2, "done": 6, "total": 16, "errors": 1,
        "ttft_p50_ms": 61.25, "itl_p50_ms": 20.5})
    body = _as(client, admin_user).get(f"/benches/runs/{run.pk}/?partial=live").content.decode()
    assert "Level 2 of 4" in body and "concurrency 2" in body
    assert 'aria-valuenow="6"' in body and "width: 37.5%" in body
    assert "61.2 ms" in body and "20.5 ms" in body and "Cancel run" in body
    assert 'data-snapshot' in body and "<html" not in body
    assert body.count('<tr id="level-') == 1  # the finished level shows already


def test_a_failed_or_polluted_run_says_so(client, viewer, project):
    s = seed.suite(seed.endpoint(project))
    run = seed.run(s, state=RunState.FAILED, levels=[], error="ConnectError: refused",
                   polluted=True, concurrent_foreign_requests=5)
    body = _as(client, viewer).get(f"/benches/runs/{run.pk}/").content.decode()
    assert "The run failed." in body and "ConnectError: refused" in body
    assert "Polluted result." in body and "5 requests from elsewhere" in body
    assert "No level finished." in body


def test_admins_cancel_a_queued_run(client, admin_user, project):
    s = seed.suite(seed.endpoint(project))
    run = run_start(suite=s, actor=admin_user)
    response = _as(client, admin_user).post(f"/benches/runs/{run.pk}/cancel/")
    assert response["Location"] == f"/benches/runs/{run.pk}/"
    run.refresh_from_db()
    assert run.state == RunState.CANCELLED and run.cancel_requested


def test_cancelling_a_running_run_asks_the_runner(client, admin_user, project):
    run = seed.run(seed.suite(seed.endpoint(project)), state=RunState.RUNNING, levels=[1])
    _as(client, admin_user).post(f"/benches/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    assert run.state == RunState.RUNNING and run.cancel_requested


def test_admins_pin_and_unpin_the_baseline(client, admin_user, project):
    s = seed.suite(seed.endpoint(project))
    run = seed.run(s)
    body = _as(client, admin_user).get(f"/benches/runs/{run.pk}/").content.decode()
    assert "Pin as baseline" in body
    client.post(f"/benches/runs/{run.pk}/pin/")
    assert Suite.objects.get().baseline == run
    body = client.get(f"/benches/runs/{run.pk}/").content.decode()
    assert "Unpin baseline" in body and "badge-baseline" in body
    client.post(f"/benches/runs/{run.pk}/pin/", {"unpin": "1"})
    assert Suite.objects.get().baseline is None


def test_an_unfinished_run_cannot_be_pinned(client, admin_user, project):
    s = seed.suite(seed.endpoint(project))
    run = seed.run(s, state=RunState.CANCELLED)
    body = _as(client, admin_user).post(f"/benches/runs/{run.pk}/pin/", follow=True).content.decode()
    assert "Only a finished run can be a baseline." in body
    assert Suite.objects.get().baseline is None


@pytest.mark.parametrize("path", ["cancel", "pin"])
def test_viewers_cannot_cancel_or_pin(client, viewer, project, path):
    s = seed.suite(seed.endpoint(project))
    run = seed.run(s, state=RunState.RUNNING) if path == "cancel" else seed.run(s)
    assert _as(client, viewer).post(f"/benches/runs/{run.pk}/{path}/").status_code == 403
    run.refresh_from_db()
    assert not run.cancel_requested and Suite.objects.get().baseline is None


def test_writes_need_post(client, admin_user, project):
    run = seed.run(seed.suite(seed.endpoint(project)), state=RunState.RUNNING)
    assert _as(client, admin_user).get(f"/benches/runs/{run.pk}/cancel/").status_code == 405


def test_runs_of_archived_projects_and_unknown_runs_are_not_found(client, viewer, project):
    run = seed.run(seed.suite(seed.endpoint(project)))
    project.archived = True
    project.save()
    _as(client, viewer)
    for path in (f"/benches/runs/{run.pk}/", f"/benches/runs/{run.pk}.md", "/benches/runs/999/"):
        assert client.get(path).status_code == 404


def test_the_markdown_export(client, viewer, project):
    s = seed.suite(seed.endpoint(project))
    base = seed.run(s)
    run = seed.run(s, slow=1.3, baseline=base, regressions=[
        {"metric": "output_tokens_per_s", "concurrency": 8, "baseline": 320.0, "value": 246.2,
         "change_pct": -23.06}], polluted=True, concurrent_foreign_requests=2)
    response = _as(client, viewer).get(f"/benches/runs/{run.pk}.md")
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="bench-run-{run.pk}.md"'
    text = response.content.decode()
    assert text.startswith(f"# Bench run #{run.pk}: llama-3-8b on gpu1\n")
    assert "| Concurrency levels | 1, 2, 4, 8 |" in text
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \| 15 \| 1 \|", line)]
    assert len(rows) == 4 and rows[0].count("|") == 23
    assert "- concurrency 8: Output tok/s 320.0 → 246.2 (-23.06 %)" in text
    assert "**Polluted:** the endpoint served 2 request(s)" in text
    assert f"http://testserver/benches/runs/{run.pk}/" in text


def test_the_markdown_export_of_a_run_without_levels(client, viewer, project):
    run = seed.run(seed.suite(seed.endpoint(project)), state=RunState.CANCELLED, levels=[])
    text = _as(client, viewer).get(f"/benches/runs/{run.pk}.md").content.decode()
    assert "No level finished." in text and "No baseline to compare with." in text
    assert Run.objects.count() == 1
