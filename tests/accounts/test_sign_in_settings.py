"""Settings → Sign-in: owners set up GitHub sign-in from the product (secret stored encrypted,
never shown back), check it against GitHub, and the environment wins when it is set."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.accounts import services
from apps.accounts.models import GithubSignIn, User
from apps.core.models import AuditEntry
from tests.accounts.conftest import CLIENT_ID, CLIENT_SECRET, github_dance

pytestmark = pytest.mark.django_db

URL = "/settings/sign-in/"


def _save(client, fake, **data):
    return client.post(
        URL,
        {"action": "save", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
         "github_url": fake.url, **data},
    )


def test_it_shows_the_callback_url_to_paste_into_github(
    client, owner, settings, fake_github_unconfigured
):
    settings.ALLOWED_HOSTS = ["switchboard.example.com"]
    client.force_login(owner)
    response = client.get(URL, HTTP_HOST="switchboard.example.com")
    body = response.content.decode()
    assert response.status_code == 200
    assert "http://switchboard.example.com/accounts/github/login/callback/" in body
    assert "not set up" in body


def test_the_callback_url_follows_site_url(client, owner, settings, fake_github_unconfigured):
    settings.SITE_URL = "https://sb.example.org"
    client.force_login(owner)
    assert b"https://sb.example.org/accounts/github/login/callback/" in client.get(URL).content


def test_saving_stores_the_secret_encrypted_and_never_shows_it(
    client, owner, fake_github_unconfigured
):
    client.force_login(owner)
    response = _save(client, fake_github_unconfigured)
    assert response.status_code == 302
    config = GithubSignIn.objects.get()
    assert config.client_id == CLIENT_ID and config.client_secret == CLIENT_SECRET
    assert config.secret_hint == CLIENT_SECRET[-4:]
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM accounts_githubsignin")
        raw = cursor.fetchone()[0]
    assert CLIENT_SECRET not in raw and raw.startswith("gAAAAA")
    page = client.get(URL).content.decode()
    assert CLIENT_SECRET not in page and f"…{CLIENT_SECRET[-4:]}" in page
    entry = AuditEntry.objects.get(action="settings.github_sign_in_saved")
    assert entry.actor == owner and entry.data["secret_changed"] is True
    assert CLIENT_SECRET not in str(entry.data)


def test_an_empty_secret_keeps_the_stored_one(client, owner, fake_github_unconfigured):
    client.force_login(owner)
    _save(client, fake_github_unconfigured)
    _save(client, fake_github_unconfigured, client_secret="")
    assert GithubSignIn.objects.get().client_secret == CLIENT_SECRET
    assert AuditEntry.objects.filter(action="settings.github_sign_in_saved").count() == 2


def test_a_bad_url_is_refused(client, owner, fake_github_unconfigured):
    client.force_login(owner)
    response = _save(client, fake_github_unconfigured, github_url="not a url at all")
    assert response.status_code == 400
    assert not GithubSignIn.objects.exists()


def test_the_check_says_when_the_credentials_work(client, owner, fake_github_unconfigured):
    client.force_login(owner)
    _save(client, fake_github_unconfigured)
    response = client.post(URL, {"action": "check"})
    assert response.status_code == 200
    assert b"GitHub accepted the client ID and secret" in response.content
    assert "POST /login/oauth/access_token" in fake_github_unconfigured.requests


def test_the_check_says_when_the_secret_is_wrong(client, owner, fake_github_unconfigured):
    client.force_login(owner)
    _save(client, fake_github_unconfigured, client_secret="wrong-secret")
    response = client.post(URL, {"action": "check"})
    assert b"GitHub rejected the client ID or secret" in response.content


def test_the_check_says_when_github_is_unreachable(client, owner, fake_github_unconfigured):
    client.force_login(owner)
    _save(client, fake_github_unconfigured, github_url="http://127.0.0.1:9")
    response = client.post(URL, {"action": "check"})
    assert b"Could not reach http://127.0.0.1:9/login/oauth/access_token" in response.content


def test_github_sign_in_works_with_the_stored_credentials(client, owner, fake_github_unconfigured):
    fake = fake_github_unconfigured
    client.force_login(owner)
    _save(client, fake)
    client.logout()
    login_page = client.get("/accounts/login/")
    assert b"Sign in with GitHub" in login_page.content
    assert fake.url in login_page["Content-Security-Policy"]
    _, raw = services.invite_create(actor=owner, role="viewer")
    client.get(f"/invite/{raw}/")
    response = github_dance(client, fake, github_id=4242, login="mona")
    assert response.status_code == 302, response.content[:500]
    assert User.objects.get(github_login="mona").role == "viewer"


def test_the_environment_wins_and_the_fields_are_read_only(client, owner, fake_github):
    client.force_login(owner)
    page = client.get(URL).content.decode()
    assert "The environment is in effect" in page
    assert 'name="client_id"' not in page and "readonly" in page
    response = client.post(
        URL, {"action": "save", "client_id": "other", "client_secret": "x", "github_url": ""}
    )
    assert response.status_code == 302
    assert not GithubSignIn.objects.exists()
    with pytest.raises(services.AccessError):
        services.github_sign_in_save(actor=owner, client_id="other", client_secret="x")
    check = client.post(URL, {"action": "check"})
    assert b"GitHub accepted the client ID and secret" in check.content


def test_only_owners_may_see_or_use_it(client, admin_user, viewer, fake_github_unconfigured):
    for user in (admin_user, viewer):
        client.force_login(user)
        assert client.get(URL).status_code == 403
        assert _save(client, fake_github_unconfigured).status_code == 403
    assert not GithubSignIn.objects.exists()
    with pytest.raises(services.AccessError):
        services.github_sign_in_save(actor=admin_user, client_id="x", client_secret="y")
    client.logout()
    assert client.get(URL).status_code == 302


def test_the_nav_shows_it_to_owners_only(client, owner, admin_user):
    client.force_login(owner)
    assert b'href="/settings/sign-in/"' in client.get("/settings/team/").content
    client.force_login(admin_user)
    assert b'href="/settings/sign-in/"' not in client.get("/settings/team/").content


def test_the_login_page_says_when_github_is_not_set_up(client, fake_github_unconfigured):
    body = client.get("/accounts/login/").content
    assert b"GitHub sign-in is not set up here" in body
    assert b"Settings \xe2\x86\x92 Sign-in" in body
