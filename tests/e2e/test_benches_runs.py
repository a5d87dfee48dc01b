"""Bench runs in headless Chromium against the real platform (web, socket, worker) and a fake
model server: a run started from the suites page advances live, ends in charts, and can be
cancelled midway. Screenshots of the run, suites and comparison pages go to var/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest

from apps.benches.models import Run, RunState
from tests.benches import seed
from tests.benches.fake_stream import Behaviour, serving
from tests.conftest import login_browser, screenshot
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.live]


def wait_js(page: Any, expression: str, timeout: float = 5.0) -> Any:
    return wait_for(lambda: page.evaluate(expression), timeout=timeout, interval=0.05,
                    message=expression)


def shots(page: Any, name: str) -> None:
    """1440 x 900 light and dark, and a 390 x 844 phone."""
    page.set_viewport_size({"width": 1440, "height": 900})
    page.emulate_media(color_scheme="light")
    page.wait_for_timeout(300)
    screenshot(page, f"{name}-light")
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(300)
    screenshot(page, f"{name}-dark")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(400)
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1440, "height": 900})


CANVASES = """() => Array.from(document.querySelectorAll('.bench-chart canvas'))
  .map(c => [c.width, c.height])"""


def test_a_run_started_from_the_page_advances_live_and_ends_in_charts(live, page, admin_user,
                                                                     project):
    with serving(Behaviour(ttft_ms=50, itl_ms=20, tokens=20, slots=8)) as server:
        ep = seed.endpoint(project, name="gpu-a100", url=server.url,
                           default_model="llama-3.1-8b-instruct")
        suite = seed.suite(ep, name="latency-sweep", concurrency_levels=[1, 2, 4, 8],
                           requests_per_level=16, warmup_requests=1, prompt_tokens=256,
                           max_tokens=20, slo_ttft_ms=120, schedule="nightly", schedule_hour=3)
        baseline = seed.run(suite, slow=0.85)
        suite.baseline = baseline
        suite.save()
        seed.suite(ep, name="rate-ramp", mode="rate", request_rates=[0.5, 1, 2],
                   concurrency_levels=[], arrival="poisson")
        login_browser(page, live.url, admin_user.username)
        page.set_viewport_size({"width": 1440, "height": 900})
        page.goto(f"{live.url}/benches/suites/")
        page.click(f"#suite-{suite.pk} button:has-text('Run now')")
        page.wait_for_url("**/benches/runs/*/")
        run = Run.objects.exclude(pk=baseline.pk).get(suite=suite)
        assert page.url.endswith(f"/benches/runs/{run.pk}/")
        wait_js(page, "document.documentElement.getAttribute('data-live-state') === 'live'", 10)
        page.evaluate("window.__notReloaded = true")
        # The progress moves without a reload: the requests counter and then the level.
        seen: set[str] = set()

        def progressed() -> bool:
            done = page.evaluate(
                "document.querySelector('#run-progress .run-bar')?.getAttribute('aria-valuenow')")
            if done:
                seen.add(done)
            return len(seen) >= 3

        wait_for(progressed, timeout=20, interval=0.1, message="the progress bar to move")
        wait_js(page, "/Level [2-4] of 4/.test(document.querySelector('#run-progress h2')"
                      "?.textContent || '')", 25)
        shots(page, "bench-run-progress")
        wait_js(page, "document.querySelector('#run-head .chip-ok') !== null", 40)
        assert page.evaluate("window.__notReloaded") is True
        assert page.locator("#run-results tbody tr").count() == 4
        wait_js(page, "document.querySelectorAll('.bench-chart canvas').length >= 3", 5)
        sizes = page.evaluate(CANVASES)
        assert len(sizes) >= 3 and all(w > 0 and h > 0 for w, h in sizes), sizes
        assert page.is_hidden("#run-progress")
        page.wait_for_timeout(300)
        shots(page, "bench-run")

        page.goto(f"{live.url}/benches/suites/")
        shots(page, "bench-suites")

        page.goto(f"{live.url}/benches/runs/{run.pk}/")
        page.click(".run-compare button")
        page.wait_for_url("**/benches/compare/**")
        assert f"b={run.pk}" in page.url and f"a={baseline.pk}" in page.url
        wait_js(page, "document.querySelectorAll('.bench-chart canvas').length >= 2", 5)
        assert page.locator(".compare-level").count() == 4
        shots(page, "bench-compare")

        page.goto(f"{live.url}/benches/history/?endpoint={ep.pk}&model=llama-3.1-8b-instruct")
        wait_js(page, "document.querySelectorAll('.chart canvas').length >= 2", 5)
        page.set_viewport_size({"width": 1440, "height": 900})
        screenshot(page, "bench-history-light")


def test_a_run_cancelled_midway_keeps_its_finished_levels(live, page, admin_user, project):
    with serving(Behaviour(ttft_ms=50, itl_ms=20, tokens=20, slots=8)) as server:
        ep = seed.endpoint(project, url=server.url)
        suite = seed.suite(ep, concurrency_levels=[1, 2, 4], requests_per_level=10,
                           warmup_requests=0)
        login_browser(page, live.url, admin_user.username)
        page.goto(f"{live.url}/benches/suites/")
        page.click(f"#suite-{suite.pk} button:has-text('Run now')")
        page.wait_for_url("**/benches/runs/*/")
        run = Run.objects.get(suite=suite)
        # the first level ends and shows while the second runs
        wait_js(page, "document.querySelector('#level-0') !== null", 20)
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("#run-progress button:has-text('Cancel run')")
        wait_js(page, "document.querySelector('#run-head .chip-stopped') !== null", 15)
        run.refresh_from_db()
        assert run.state == RunState.CANCELLED
        kept = list(run.levels.order_by("index"))
        assert kept[0].completed == 10 and not kept[0].cancelled
        assert len(kept) <= 2 and (len(kept) == 1 or kept[1].cancelled)
        assert page.locator("#run-results tbody tr").count() == len(kept)
        assert page.text_content("#run-head .chip") == "Cancelled"
