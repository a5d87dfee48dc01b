"""The first minutes of a new Switchboard, in headless Chromium against the real platform process:
claim the owner account, create a project, create an invite link, sign out, sign in again."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_team_gets_going(live, page):
    from apps.accounts.models import Invite, User, hash_token
    from apps.accounts.services import claim_token_issue_if_needed
    from apps.core.models import AuditEntry
    from apps.projects.models import Project

    raw = claim_token_issue_if_needed()
    assert raw, "the test database starts without users"

    # 1. Claim the owner account.
    page.goto(f"{live.url}/claim/{raw}/")
    assert page.locator("h1").inner_text() == "Claim this Switchboard"
    screenshot(page, "foundation-1-claim")
    page.fill("input[name=username]", "founder")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")
    assert page.locator(".topbar").is_visible()
    screenshot(page, "foundation-2-after-claim")
    assert User.objects.get(username="founder").role == "owner"

    # The claim link is spent.
    page.goto(f"{live.url}/claim/{raw}/")
    assert "not valid" in page.locator("h1").inner_text()

    # 2. Create a project.
    page.goto(f"{live.url}/projects/new/")
    page.fill("input[name=name]", "Apollo")
    page.fill("input[name=slug]", "apollo")
    page.fill("[name=description]", "Agents working on the Apollo repo")
    screenshot(page, "foundation-3-new-project")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_load_state("networkidle")
    assert Project.objects.filter(slug="apollo", name="Apollo").exists()
    screenshot(page, "foundation-4-project-created")

    # 3. Create an invite link on the team page.
    page.goto(f"{live.url}/settings/team/")
    screenshot(page, "foundation-5-team")
    page.select_option("#id_role", "admin")
    page.fill("#id_note", "Priya, backend")
    page.get_by_role("button", name="Create invite link").click()
    page.wait_for_load_state("networkidle")
    link = page.locator("#new-invite-url").inner_text().strip()
    assert re.fullmatch(rf"{re.escape(live.url)}/invite/[\w-]+/", link), link
    assert page.locator("[data-copy='#new-invite-url']").is_visible()
    screenshot(page, "foundation-6-invite-created")
    invite = Invite.objects.get()
    assert invite.role == "admin" and invite.token_hash == hash_token(
        link.rstrip("/").split("/")[-1]
    )
    page.reload()
    assert page.locator("#new-invite-url").count() == 0  # shown once
    assert page.locator(f"#invite-{invite.pk}").is_visible()

    # 4. Sign out (a POST from the user menu), landing on the signed-out sign-in page.
    page.locator("details.usermenu summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/accounts/login/.*"))
    assert page.locator(".topbar").count() == 0
    screenshot(page, "foundation-7-signed-out")

    # Someone opening the invite sees the team and the role.
    page.goto(link)
    assert "Join Switchboard" in page.locator("h1").inner_text()
    assert page.locator(".invite-role").inner_text().strip() == "ADMIN"
    screenshot(page, "foundation-8-invite-page")

    # 5. Sign in again with the password.
    page.goto(f"{live.url}/accounts/login/")
    page.fill("input[name=login]", "founder")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(f"{live.url}/")
    assert page.locator(".topbar").is_visible()
    page.goto(f"{live.url}/settings/audit/")
    screenshot(page, "foundation-9-audit")
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"auth.claim", "invite.created", "auth.sign_out", "auth.sign_in"} <= actions
