"""The Analytics page in Chromium against the real platform: charts drawn from the rollups,
the range and grouping controls, the table, and a live refresh of the current bucket."""

from __future__ import annotations

import pytest

from tests.conftest import login_browser, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_team_lead_reads_a_week_of_cost_and_tool_calls(live, page, owner, project, settings):
    from apps.telemetry.rollups import roll_up
    from tests.telemetry.seed import seed

    settings.TELEMETRY_ROLLUP_LAG_SECONDS = 0
    crew = seed(project, agents=6, days=7, per_hour=6)
    roll_up()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login_browser(page, live.url, owner.username)

    page.goto(f"{live.url}/analytics/?range=7d&group_by=model")
    page.wait_for_selector("[data-chart=chart-cost] canvas")
    assert page.locator(".chart canvas").count() >= 9
    legend = page.locator("[data-chart=chart-cost] .chart-legend").inner_text()
    for model in ("claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro"):
        assert model in legend
    assert page.locator(".kpis").inner_text().count("$") >= 1
    rows = page.locator(".analytics-table tbody tr")
    assert rows.count() == 4
    screenshot(page, "analytics-1-week-by-model")

    # Group by tool: the table lists tools; usage columns stay empty for them.
    page.select_option("select[name=group_by]", "tool")
    page.wait_for_url("**group_by=tool**")
    assert "WebFetch" in page.locator(".analytics-table").inner_text()
    screenshot(page, "analytics-2-by-tool")

    # The last 24 hours refresh from the API while the page is open.
    page.goto(f"{live.url}/analytics/?range=24h&group_by=agent")
    page.wait_for_selector("[data-chart=chart-cost] canvas")
    page.evaluate("document.querySelector('[data-analytics-charts]').dataset.live = '10'")
    assert page.locator(".live-dot").is_visible()
    screenshot(page, "analytics-3-day-by-agent")

    # Sparklines of the last day on the projects list and the agent page.
    page.goto(f"{live.url}/projects/")
    page.wait_for_selector(".project-sparks .sparkline canvas")
    assert page.locator(".project-sparks .sparkline canvas").count() == 3
    screenshot(page, "analytics-4-project-sparklines")
    page.goto(f"{live.url}/agents/{crew[0].pk}/")
    page.wait_for_selector(".agent-sparks .sparkline canvas")
    screenshot(page, "analytics-5-agent-sparklines")

    # Owners see and set the retention windows, with what each table holds, on the System page.
    page.goto(f"{live.url}/settings/system/")
    retention = page.locator("section.retention")
    assert "Data retention" in retention.inner_text()
    assert "Raw events" in retention.inner_text() or "events" in retention.inner_text().lower()
    retention.scroll_into_view_if_needed()
    screenshot(page, "analytics-6-system-retention")
    assert not errors, errors
