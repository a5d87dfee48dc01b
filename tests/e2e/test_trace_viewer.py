"""The trace viewer in headless Chromium against the live platform: a session of many turns,
collapsed, paged back, filtered, and a span opened in the drawer."""

from __future__ import annotations

import pytest

from tests.conftest import login_browser, screenshot
from tests.e2e.test_live_pages import wait_js, wait_live
from tests.realtime import seed

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_reading_a_long_session(live, page, viewer, project):
    lead = seed.agent(project, "checkout-fixer", status="working")
    seed.waterfall_session(lead, turns=12)
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/agents/{lead.pk}/")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    turns = page.locator("#trace-turns .turn")
    assert turns.count() == 8 and turns.first.get_attribute("id") == f"turn-{lead.pk}-12"
    assert page.locator(".wf-strip .wf-seg").count() == 12
    # The sub-agent's calls sit under the Task that started it, indented.
    task_row = page.locator(f"#turn-{lead.pk}-12 .wf-row.span", has_text="Task")
    nested = page.locator(f"#turn-{lead.pk}-12 .wf-row.is-nested")
    assert nested.count() == 3
    assert nested.first.bounding_box()["x"] >= task_row.bounding_box()["x"]
    label_x = page.locator(f"#turn-{lead.pk}-12 .is-nested .span-tool").first.bounding_box()["x"]
    assert label_x > task_row.locator(".span-tool").bounding_box()["x"] + 10

    # Collapse a turn: its summary keeps duration, calls, errors, tokens and cost in view.
    fold = page.locator(f"#fold-{lead.pk}-11")
    fold.locator("summary").click()
    assert page.evaluate(f"document.querySelector('#fold-{lead.pk}-11').open") is False
    assert not page.locator(f"#fold-{lead.pk}-11 .wf-rows").is_visible()
    head = fold.locator("summary").text_content()
    assert "Turn 11" in head and "call" in head and "tok" in head and "$" in head

    # Page back: older turns come in place of the link, without a reload.
    page.click(".trace-more a")
    page.wait_for_selector(f"#turn-{lead.pk}-1")
    assert page.locator("#trace-turns .turn").count() == 12
    assert page.locator(".trace-more").count() == 0
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, "trace-paged")

    # Filter by tool: the trace is swapped, the address says what is shown.
    page.select_option("select[name=tool]", "Bash")
    wait_js(page, "location.search.includes('tool=Bash')", 5)
    page.wait_for_selector("#trace-turns-page")
    tools = page.locator("#trace-body .wf-row.span .span-tool").all_text_contents()
    assert tools and set(tools) == {"Bash"}
    assert page.evaluate("window.__notReloaded") is True

    # Open a span: the drawer shows its input and output.
    page.locator("#trace-body .wf-row.span.is-error .wf-label").first.click()
    drawer = page.locator("#span-drawer")
    drawer.locator(".span-detail").wait_for()
    text = drawer.text_content()
    assert "pytest tests/checkout -q" in text and "1 failed, 4 passed" in text
    assert "exit status 1" in text
    assert page.locator(".wf-row.is-selected").count() == 1
    screenshot(page, "trace-drawer")
    drawer.locator("[data-drawer-close]").click()
    assert drawer.is_hidden()


def test_the_drawer_shows_all_of_a_big_payload_on_request(live, page, viewer, project):
    lead = seed.agent(project, "lead", status="working")
    seed.waterfall_session(lead, turns=4)
    login_browser(page, live.url, viewer.username)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}/agents/{lead.pk}/")
    page.locator(".wf-row.span .wf-label", has_text="Task").first.click()
    drawer = page.locator("#span-drawer")
    drawer.locator(".span-detail").wait_for()
    box = drawer.bounding_box()
    assert box["width"] == 390 and box["y"] == 0  # a full-screen sheet on a phone
    shown = len(drawer.locator(".span-payload pre").nth(1).text_content())
    drawer.locator("a", has_text="Show all").click()
    wait_js(page, "!document.querySelector('#span-drawer').textContent.includes('Show all')", 5)
    assert len(drawer.locator(".span-payload pre").nth(1).text_content()) > shown
    # The waterfall fits the phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
