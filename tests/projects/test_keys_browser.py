"""In Chromium: creating an API key shows it once, and reloading that page neither shows it
again nor creates a second key (post/redirect/get)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.projects.models import ApiKey
from tests.conftest import login_browser

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_reloading_after_creating_a_key_creates_no_second_one(live_server, page, admin_user, project):
    login_browser(page, live_server.url, "adam")
    page.goto(f"{live_server.url}/projects/apollo/keys/")
    page.fill("input[name=name]", "CI runner")
    page.check("input[name=scope][value=write]")
    page.click("button:has-text('Create key')")
    raw = page.locator("#new-key").inner_text().strip()
    assert raw.startswith("sbk_")
    assert page.url == f"{live_server.url}/projects/apollo/keys/"

    page.reload()
    expect(page.locator("#key-" + str(ApiKey.objects.get().pk))).to_be_visible()
    assert page.locator("#new-key").count() == 0
    assert raw not in page.content()
    assert ApiKey.objects.count() == 1
