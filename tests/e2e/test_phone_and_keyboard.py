"""A phone (390x844) and a keyboard in headless Chromium against the live platform: the menu
sheet, no page wider than the screen, Allow on a permission prompt, shortcuts, global search."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import login_browser, screenshot
from tests.core import search_seed
from tests.realtime import seed

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _width(page: Any) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")


def test_the_menu_opens_as_a_sheet_and_closes_on_a_phone(live, phone, viewer, project):
    seed.agent(project, "payments-api #3f9a1c", status="working")
    login_browser(phone, live.url, viewer.username)
    phone.goto(f"{live.url}/")
    toggle = phone.locator(".navmenu-toggle")
    nav_link = phone.locator(".mainnav a", has_text="Agents")
    assert toggle.is_visible() and not nav_link.is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"
    box = toggle.bounding_box()
    assert box["width"] >= 40 and box["height"] >= 40  # a real button, not a 19.5 px strip
    toggle.click()
    expect(nav_link).to_be_visible()
    # <details> fires "toggle" asynchronously, so aria-expanded follows a moment later
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert phone.locator(".mainnav").bounding_box()["width"] > 300
    screenshot(phone, "phone-menu-open")
    phone.keyboard.press("Escape")
    expect(nav_link).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    nav_link.click()
    phone.wait_for_url(re.compile(r".*/agents/$"))
    expect(phone.locator(".mainnav a", has_text="Agents")).to_be_hidden()


def test_the_menu_is_inline_on_a_wide_screen(live, page, viewer, project):
    login_browser(page, live.url, viewer.username)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live.url}/")
    assert not page.locator(".navmenu-toggle").is_visible()
    assert page.locator(".mainnav a", has_text="Agents").is_visible()
    assert page.locator("#topsearch-q").is_visible()


def test_no_main_page_is_wider_than_a_phone(live, phone, admin_user, project):
    agent = seed.agent(project, "infra-migrations-with-a-long-session-name #5c2e90",
                       status="blocked",
                       reason="waiting for permission to use Bash: terraform apply -auto-approve "
                              "-var-file=environments/production/terraform.tfvars")
    for i in range(3):
        seed.agent(project, f"nightly-refactor #{i:02x}a9", status="offline",
                   reason="no heartbeat for 15 min")
    seed.agent(project, "payments-api #77b0e2", status="error",
               reason="npm test exited 1 (3 failing suites in packages/checkout)")
    login_browser(phone, live.url, admin_user.username)
    paths = [
        "/", "/agents/", f"/agents/{agent.pk}/", "/activity/", "/board/", "/analytics/",
        "/reports/", "/benches/", "/benches/suites/", "/benches/runs/", "/alerts/",
        "/projects/", "/projects/apollo/", "/projects/apollo/keys/",
        "/projects/apollo/lifecycle/", f"/agents/{agent.pk}/schedule/", "/settings/alerts/",
        "/settings/notifications/", "/search/?q=pay",
    ]
    wide = {}
    for path in paths:
        r = phone.goto(f"{live.url}{path}")
        assert r.status < 400, path
        if _width(phone) > PHONE["width"]:
            wide[path] = _width(phone)
    assert wide == {}


def test_a_permission_prompt_is_allowed_from_a_phone(live, phone, admin_user, project):
    from apps.agents.approvals import approval_request
    from apps.agents.models import ApprovalRequest

    agent = seed.agent(project, "infra #5c2e90", status="blocked",
                       reason="waiting for permission to use Bash")
    approval, _ = approval_request(agent=agent, key="p-1", tool_name="Bash",
                                   summary="terraform apply -auto-approve", input="{}",
                                   wait_seconds=600)
    login_browser(phone, live.url, admin_user.username)
    phone.goto(f"{live.url}/agents/{agent.pk}/")
    allow = phone.locator(f"#approval-{approval.pk} button[value=allow]")
    box = allow.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 120  # thumb-sized
    # Right under the agent's name, above the facts and the other actions.
    assert box["y"] < phone.locator(".head-facts").bounding_box()["y"]
    assert _width(phone) <= PHONE["width"]
    screenshot(phone, "phone-approval")
    allow.tap()
    phone.wait_for_load_state("networkidle")
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest._meta.get_field("status").choices[1][0]  # allowed
    assert phone.locator(f"#approval-{approval.pk}").count() == 0


def test_keyboard_shortcuts(live, page, viewer, project):
    for name in ("alpha-agent", "beta-agent", "gamma-agent"):
        seed.agent(project, name, status="working")
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/")
    page.keyboard.press("g")
    page.keyboard.press("a")
    page.wait_for_url(re.compile(r".*/agents/$"))

    rows = page.locator("[data-list-item]")
    assert rows.count() >= 3
    page.keyboard.press("j")
    assert page.locator("[data-list-item].is-kbd-selected").count() == 1
    first = rows.nth(0)
    assert "is-kbd-selected" in first.get_attribute("class")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert "is-kbd-selected" in rows.nth(1).get_attribute("class")
    name = rows.nth(1).locator("a").first.inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/agents/\d+/$"))
    assert page.locator("h1").inner_text() == name

    page.keyboard.press("?")
    dialog = page.locator("#shortcuts-help")
    assert dialog.is_visible()
    assert "Linear board" in dialog.inner_text()
    screenshot(page, "shortcuts-help")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()

    # Keys typed into a field are text, not shortcuts.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "topsearch-q"
    page.keyboard.type("ga")
    page.wait_for_timeout(300)
    assert re.match(r".*/agents/\d+/$", page.url)


def test_global_search_finds_an_agent_and_an_issue(live, page, viewer, project):
    agent = seed.agent(project, "payments-fixer", status="working")
    search_seed.linear_issue(project, "PAY-142", "Payments webhook double-charges")
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/")
    page.keyboard.press("/")
    page.keyboard.type("payments")
    results = page.locator("#topsearch-results")
    results.locator("a.search-hit").first.wait_for()
    text = results.inner_text()
    assert "payments-fixer" in text and "PAY-142 Payments webhook double-charges" in text
    screenshot(page, "search-live")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.classList.contains('search-hit')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live.url}/agents/{agent.pk}/")

    # Without the live list: the form submits to /search/.
    page.goto(f"{live.url}/search/?q=PAY-142")
    assert "PAY-142" in page.locator("#search-page-results").inner_text()


def test_the_offline_group_stays_open_across_a_live_update(live, page, viewer, project):
    from tests.e2e.test_live_pages import api_client, wait_js, wait_live

    fixer = seed.agent(project, "fixer", status="working")
    for i in range(3):
        seed.agent(project, f"gone-{i}", status="offline", reason="no heartbeat")
    login_browser(page, live.url, viewer.username)
    page.goto(f"{live.url}/?project=apollo")
    wait_live(page)
    page.locator("#ov-attention-offline > summary").click()
    assert page.locator("#ov-attention-offline a", has_text="gone-0").is_visible()
    with api_client(live, project) as api:
        r = api.post(f"/agents/{fixer.pk}/heartbeat",
                     json={"status": "blocked", "message": "waiting for permission to use Bash"})
        assert r.status_code == 200, r.text
    wait_js(page, "document.querySelector('#ov-attention .attention-list a')"
                  " && document.querySelector('#ov-attention .attention-list a')"
                  ".textContent === 'fixer'", 10)
    assert page.locator("#ov-attention-offline").get_attribute("open") is not None
    assert page.locator("#ov-attention-offline a", has_text="gone-0").is_visible()
