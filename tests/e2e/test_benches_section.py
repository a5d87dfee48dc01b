"""The Benches section in headless Chromium: the tabs lead from the endpoints to the suites and
the runs list, and a running run's row moves on the list without a reload. Screenshots of the
endpoints page and the runs list go to var/screenshots/bench-section-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.benches.models import Run, RunState, Trigger
from tests.benches import seed
from tests.benches.fake_stream import Behaviour, serving
from tests.conftest import login_browser
from tests.e2e.test_benches_runs import shots, wait_js
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.live]

ROW_PROGRESS = "document.querySelector('#run-row-{pk} .run-progress-text')?.textContent || ''"


def _history(project, ep, suite, other_ep):
    """A few weeks of runs, so the list looks like a team's."""
    now = timezone.now()
    base = seed.run(suite, slow=0.9)
    seed.run(suite, slow=1.2, regressions=[{"metric": "ttft_ms", "concurrency": 8,
                                            "baseline": 90, "value": 120, "change_pct": 33.3}],
             trigger=Trigger.SCHEDULE)
    seed.run(suite, polluted=True, concurrent_foreign_requests=3)
    failed = seed.run(suite, state=RunState.FAILED, levels=[1], error="connection refused")
    rate = seed.suite(other_ep, name="rate-ramp", mode="rate", request_rates=[0.5, 1, 2],
                      concurrency_levels=[])
    seed.run(rate, levels=[])
    ad_hoc = seed.run(seed.suite(other_ep, name="scratch"), trigger=Trigger.COMMAND)
    Run.objects.filter(pk=ad_hoc.pk).update(suite=None)
    for i, run in enumerate(Run.objects.order_by("pk")):
        at = now - timedelta(days=6 - i, hours=3)
        Run.objects.filter(pk=run.pk).update(created_at=at, started_at=at,
                                             finished_at=at + timedelta(seconds=40 + 9 * i))
    suite.baseline = base
    suite.save()
    return failed


def test_the_tabs_lead_to_a_runs_list_that_moves_live(live, page, admin_user, project):
    with serving(Behaviour(ttft_ms=50, itl_ms=20, tokens=20, slots=8)) as server:
        ep = seed.endpoint(project, name="gpu-a100", url=server.url,
                           default_model="llama-3.1-8b-instruct")
        other = seed.endpoint(project, name="h100-sglang", url=server.url,
                              default_model="qwen2.5-coder-32b")
        suite = seed.suite(ep, name="latency-sweep", concurrency_levels=[1, 2, 4, 8],
                           requests_per_level=16, warmup_requests=0, max_tokens=20,
                           schedule="nightly", schedule_hour=3)
        _history(project, ep, suite, other)
        login_browser(page, live.url, admin_user.username)
        page.set_viewport_size({"width": 1440, "height": 900})

        page.goto(f"{live.url}/benches/")
        assert page.get_attribute(".mainnav a:has-text('Benches')", "aria-current") == "page"
        assert page.get_attribute(".bench-tabs [data-tab=endpoints]", "aria-current") == "page"
        wait_js(page, "document.documentElement.getAttribute('data-live-state') === 'live'", 10)
        shots(page, "bench-section-endpoints")

        page.click(".bench-tabs [data-tab=suites]")
        page.wait_for_url("**/benches/suites/")
        assert page.get_attribute(".bench-tabs [data-tab=suites]", "aria-current") == "page"
        assert page.get_attribute(".mainnav a:has-text('Benches')", "aria-current") == "page"
        page.click(f"#suite-{suite.pk} button:has-text('Run now')")
        page.wait_for_url("**/benches/runs/*/")
        run = Run.objects.filter(suite=suite).order_by("-pk").first()

        page.click(".bench-tabs [data-tab=runs]")
        page.wait_for_url("**/benches/runs/")
        assert page.get_attribute(".bench-tabs [data-tab=runs]", "aria-current") == "page"
        wait_js(page, "document.documentElement.getAttribute('data-live-state') === 'live'", 10)
        page.evaluate("window.__notReloaded = true")
        assert page.evaluate("document.querySelector('#run-rows tr').id") == f"run-row-{run.pk}"
        seen: set[str] = set()

        def progressed() -> bool:
            text = page.evaluate(ROW_PROGRESS.format(pk=run.pk))
            if text.startswith("level"):
                seen.add(text)
            return len(seen) >= 3

        wait_for(progressed, timeout=25, interval=0.1, message="the row's progress to move")
        wait_js(page, f"/level [2-4]\\/4/.test({ROW_PROGRESS.format(pk=run.pk)})", 25)
        shots(page, "bench-section-runs-live")
        wait_js(page, f"document.querySelector('#run-row-{run.pk} .chip-ok') !== null", 60)
        assert page.evaluate("window.__notReloaded") is True
        # the finished row carries the highest level's figures, pushed with its last change
        wait_js(page, f"/@c=8/.test(document.querySelector('#run-row-{run.pk}').textContent)", 5)
        page.wait_for_timeout(300)
        shots(page, "bench-section-runs")
        page.goto(f"{live.url}/benches/runs/?endpoint={other.pk}&state=finished")
        assert page.locator("#run-rows tr").count() == 2
        assert page.input_value("select[name=state]") == "finished"
