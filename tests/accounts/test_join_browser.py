"""Joining and signing in, in Chromium against the in-process server: accepting an invite with
a password, confirming a role change in the dialog, and Settings → Sign-in's Test button."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.accounts import services
from apps.accounts.models import GithubSignIn, User
from tests.accounts.conftest import CLIENT_ID, CLIENT_SECRET
from tests.conftest import PASSWORD, login_browser, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_an_invited_person_joins_with_a_password_and_lands_signed_in(
    live_server, page, fake_github_unconfigured, owner
):
    _, raw = services.invite_create(actor=owner, role="admin")
    page.goto(f"{live_server.url}/invite/{raw}/")
    expect(page.get_by_role("button", name="Join as Admin")).to_be_visible()
    assert page.get_by_role("button", name="Sign in with GitHub to accept").count() == 0
    page.fill("input[name=username]", "priya")
    page.fill("input[name=password1]", "short")
    page.fill("input[name=password2]", "short")
    page.get_by_role("button", name="Join as Admin").click()
    expect(page.locator(".errorlist")).to_contain_text("too short")
    screenshot(page, "accounts-invite-password-error")

    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Join as Admin").click()
    page.wait_for_url(f"{live_server.url}/")
    expect(page.locator("text=You joined as Admin")).to_be_visible()
    user = User.objects.get(username="priya")
    assert user.role == "admin"
    page.goto(f"{live_server.url}/settings/team/")
    expect(page.locator(f"#member-{user.pk}")).to_contain_text("priya")

    # The link is spent.
    page.goto(f"{live_server.url}/invite/{raw}/")
    expect(page.locator("h1")).to_have_text("Invalid or expired invite")


def test_a_role_change_waits_for_the_dialog(live_server, page, owner, viewer):
    login_browser(page, live_server.url, "olivia")
    page.goto(f"{live_server.url}/settings/team/")
    select = page.locator(f"#role-{viewer.pk}")

    select.select_option("admin")
    dialog = page.locator("#role-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("an Admin?")
    expect(dialog).to_contain_text("manages rules, projects, API keys and invites")
    screenshot(page, "accounts-role-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(select).to_have_value("viewer")
    viewer.refresh_from_db()
    assert viewer.role == "viewer"

    select.select_option("admin")
    dialog.get_by_role("button", name="Change role").click()
    expect(page.locator(".flash-success")).to_contain_text("is now Admin")
    viewer.refresh_from_db()
    assert viewer.role == "admin"


def test_the_sign_in_settings_test_button_says_whether_github_accepts(
    live_server, page, fake_github_unconfigured, owner
):
    login_browser(page, live_server.url, "olivia")
    page.goto(f"{live_server.url}/settings/sign-in/")
    expect(page.locator("#callback-url")).to_have_text(
        f"{live_server.url}/accounts/github/login/callback/"
    )
    page.fill("input[name=client_id]", CLIENT_ID)
    page.fill("input[name=client_secret]", "not-the-secret")
    page.fill("input[name=github_url]", fake_github_unconfigured.url)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-success")).to_contain_text("GitHub sign-in saved")
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#check-result")).to_contain_text("Does not work")
    expect(page.locator("#check-result")).to_contain_text("rejected the client ID or secret")
    screenshot(page, "accounts-sign-in-settings-bad")

    page.fill("input[name=client_secret]", CLIENT_SECRET)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#check-result")).to_contain_text("Works")
    assert GithubSignIn.objects.get().client_secret == CLIENT_SECRET
    assert CLIENT_SECRET not in page.content()
    screenshot(page, "accounts-sign-in-settings-ok")
