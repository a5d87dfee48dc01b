"""Headless Chromium against the real platform process: an admin creates a project, trips the
slug check, creates a key, sees it once, uses it, and revokes it. Screenshots in var/screenshots/."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from apps.projects.models import ApiKey, Project
from tests.conftest import login_browser, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_an_admin_manages_projects_and_keys(live, page, admin_user):
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith((live.url, "data:")) else None,
    )
    login_browser(page, live.url, "adam")

    page.goto(f"{live.url}/projects/")
    assert page.locator("text=No projects yet").is_visible()
    screenshot(page, "projects-empty")

    page.click("text=Create your first project")
    page.fill("input[name=name]", "Apollo")
    page.fill("textarea[name=description]", "Moon landing agents")
    page.click("button:has-text('Create project')")
    page.wait_for_url(f"{live.url}/projects/apollo/keys/")
    assert Project.objects.filter(slug="apollo").exists()

    page.goto(f"{live.url}/projects/new/")
    page.fill("input[name=name]", "Apollo again")
    page.fill("input[name=slug]", "apollo")
    page.click("button:has-text('Create project')")
    assert page.locator("text=Another project already uses this slug").is_visible()
    screenshot(page, "projects-create-error")

    page.goto(f"{live.url}/projects/apollo/keys/")
    page.fill("input[name=name]", "CI runner")
    page.check("input[name=scope][value=write]")
    page.click("button:has-text('Create key')")
    raw = page.locator("#new-key").inner_text().strip()
    assert raw.startswith("sbk_")
    page.click("button[data-copy='#new-key']")
    # The button says so for 1.5 s once the clipboard write settles (asynchronously).
    expect(page.locator("button[data-copy='#new-key']")).to_have_text("Copied")
    screenshot(page, "projects-key-created")

    whoami = requests.get(
        f"{live.url}/api/v1/whoami", headers={"Authorization": f"Bearer {raw}"}, timeout=10
    )
    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["project"]["slug"] == "apollo"

    page.goto(f"{live.url}/projects/apollo/keys/")
    page.fill("input[name=name]", "Dashboard")
    page.check("input[name=scope][value=read]")
    page.click("button:has-text('Create key')")
    page.goto(f"{live.url}/projects/apollo/keys/")
    assert raw not in page.content()
    prefix = ApiKey.objects.get(name="CI runner").prefix
    assert page.locator(f"text={prefix}…").is_visible()
    screenshot(page, "projects-keys-list")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="CI runner").locator("button:has-text('Revoke')").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("text=is revoked").is_visible()
    assert ApiKey.objects.get(name="CI runner").revoked_at is not None
    assert (
        requests.get(
            f"{live.url}/api/v1/whoami", headers={"Authorization": f"Bearer {raw}"}, timeout=10
        ).status_code
        == 401
    )

    Project.objects.create(name="Zephyr", slug="zephyr", description="Weather-routing agents")
    page.goto(f"{live.url}/projects/")
    screenshot(page, "projects-list")
    page.goto(f"{live.url}/projects/apollo/")
    screenshot(page, "projects-settings")
    page.goto(f"{live.url}/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=15_000)
    screenshot(page, "api-docs")
    assert outside == [], f"loaded from outside the server: {outside}"


def test_the_pages_follow_a_dark_system_theme(live, browser, admin_user):
    project = Project.objects.create(name="Apollo", slug="apollo", description="Moon landing")
    ApiKey.objects.create(
        project=project,
        name="CI runner",
        prefix="sbk_AbC123",
        key_hash="0" * 64,
        scope="write",
        created_by=admin_user,
    )
    context = browser.new_context(viewport={"width": 1100, "height": 700}, color_scheme="dark")
    try:
        page = context.new_page()
        login_browser(page, live.url, "adam")
        page.goto(f"{live.url}/projects/apollo/keys/")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"  # --bg in the dark palette
        screenshot(page, "projects-keys-dark")
    finally:
        context.close()


def test_an_admin_sets_the_lifecycle_of_a_project(live, page, admin_user, project):
    from apps.agents.models import LifecyclePolicy, SleepSchedule

    login_browser(page, live.url, "adam")
    page.goto(f"{live.url}/projects/apollo/lifecycle/")
    screenshot(page, "project-lifecycle")
    page.fill("input[name=policy-offline_after]", "3")  # shorter than idle: refused
    page.click("button:has-text('Save lifecycle settings')")
    assert page.locator("text=Must be longer than the idle time").is_visible()
    screenshot(page, "project-lifecycle-error")
    page.fill("input[name=policy-offline_after]", "20")
    page.select_option("select[name=schedule-timezone]", "Europe/Berlin")
    page.select_option("select[name=windows-0-weekday]", "4")
    page.fill("input[name=windows-0-start]", "22:00")
    page.fill("input[name=windows-0-end]", "07:00")
    page.click("button:has-text('Save lifecycle settings')")
    assert page.locator("text=Lifecycle settings saved").is_visible()
    assert LifecyclePolicy.objects.get(project=project).offline_after_seconds == 1200
    schedule = SleepSchedule.objects.get(project=project, agent=None)
    assert schedule.timezone == "Europe/Berlin" and schedule.windows.count() == 1
    screenshot(page, "project-lifecycle-saved")
