"""The GitHub sign-in in a real browser: Chromium -> our server -> the fake GitHub -> back, and
screenshots of the signed-out pages in light and dark."""

from __future__ import annotations

import pytest

from apps.accounts import services
from apps.accounts.models import User
from tests.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(browser):
    # The CSP's form-action names the GitHub URL read at server start; the in-process live
    # server started before this test pointed GITHUB_URL at the fake, so skip CSP here (the
    # header itself is core's and tested there).
    context = browser.new_context(viewport={"width": 1360, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_an_invited_person_signs_in_with_github_in_the_browser(
    live_server, page, fake_github, owner
):
    _, raw = services.invite_create(actor=owner, role="viewer")
    fake_github.sign_in_as(github_id=2024, login="lin", name="Lin Chen")

    page.goto(f"{live_server.url}/invite/{raw}/")
    screenshot(page, "accounts-invite-github")
    page.get_by_role("button", name="Sign in with GitHub to accept").click()
    page.wait_for_url(f"{live_server.url}/")

    user = User.objects.get(github_id=2024)
    assert user.role == "viewer" and user.display_name == "Lin Chen"
    page.goto(f"{live_server.url}/settings/team/")
    assert page.locator(f"#member-{user.pk}").is_visible()
    screenshot(page, "accounts-team-viewer")
    assert page.locator("text=Create invite link").count() == 0


def test_an_uninvited_person_is_told_to_ask_for_an_invite(live_server, page, fake_github, owner):
    fake_github.sign_in_as(github_id=4040, login="stranger")
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot(page, "accounts-login-github-and-password")
    page.get_by_role("button", name="Sign in with GitHub").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Ask an owner for an invite"
    screenshot(page, "accounts-not-invited")
    assert not User.objects.filter(github_id=4040).exists()


def test_signed_out_pages_in_dark_mode(live_server, page, fake_github):
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot(page, "accounts-login-dark")
    page.goto(f"{live_server.url}/invite/made-up/")
    assert page.locator("h1").inner_text() == "Invalid or expired invite"
    screenshot(page, "accounts-invite-invalid-dark")
