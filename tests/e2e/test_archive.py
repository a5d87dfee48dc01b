"""Archiving finished agents in headless Chromium against the live platform: the list's
"Archive finished" asks first, then the finished sessions leave the list."""

from __future__ import annotations

import pytest

from tests.conftest import login_browser, screenshot
from tests.realtime import seed

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_an_admin_archives_the_finished_sessions(live, browser, page, admin_user, project):
    seed.agent(project, "payments-api #3f9a1c", status="working")
    seed.agent(project, "payments-api #77b0e2", status="stopped", reason="session ended (other)")
    seed.agent(project, "web-client #a01d44", status="offline", reason="no heartbeat")
    seed.agent(project, "infra #5c2e90", status="blocked", reason="waiting for permission")
    login_browser(page, live.url, admin_user.username)
    page.goto(f"{live.url}/agents/?project=apollo")
    assert page.get_by_role("button", name="Archive finished (2)").is_visible()
    screenshot(page, "agents-archive-before")
    asked = []
    page.on("dialog", lambda d: (asked.append(d.message), d.accept()))
    page.get_by_role("button", name="Archive finished (2)").click()
    page.wait_for_selector("text=Archived 2 finished agents.")
    assert "Archive 2 stopped or offline agents?" in asked[0]
    rows = page.text_content("#agents-live")
    assert "#3f9a1c" in rows and "#5c2e90" in rows
    assert "#77b0e2" not in rows and "#a01d44" not in rows
    screenshot(page, "agents-archive-after")
    page.get_by_role("link", name="Archived (2)").click()
    page.wait_for_selector("text=Showing archived agents.")
    assert "#77b0e2" in page.text_content("#agents-live")
    page.get_by_role("link", name="payments-api #77b0e2").first.click()
    page.wait_for_selector("button:has-text('Unarchive')")
    screenshot(page, "agents-archived-detail")
