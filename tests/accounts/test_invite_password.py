"""Joining through an invite link with a username and password, on a Switchboard without GitHub
sign-in: the member gets the invite's role, is signed in, the invite is spent and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import Invite, User
from apps.core.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

FORM = {"username": "priya", "password1": PASSWORD, "password2": PASSWORD}


@pytest.fixture(autouse=True)
def _no_github(settings):
    settings.GITHUB_LOGIN_ENABLED = False
    settings.GITHUB_CLIENT_ID = ""


def _invite(owner, role="admin"):
    return services.invite_create(actor=owner, role=role)


def test_it_creates_the_member_with_the_invites_role_and_signs_them_in(client, owner):
    invite, raw = _invite(owner)
    response = client.post(f"/invite/{raw}/", FORM)
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="priya")
    assert user.role == "admin" and user.is_active and user.check_password(PASSWORD)
    assert client.session["_auth_user_id"] == str(user.pk)
    invite.refresh_from_db()
    assert invite.used_by == user and invite.used_at is not None
    entry = AuditEntry.objects.get(action="invite.accepted")
    assert entry.actor == user and entry.target_id == str(invite.pk)
    assert entry.data == {"role": "admin", "username": "priya", "via": "password"}
    sign_in = AuditEntry.objects.get(action="auth.sign_in")
    assert sign_in.data == {"method": "invite"}
    page = client.get("/")
    assert b"You joined as Admin" in page.content or page.status_code in (200, 302)


def test_the_link_works_once(client, owner):
    _, raw = _invite(owner)
    client.post(f"/invite/{raw}/", FORM)
    client.logout()
    again = client.post(f"/invite/{raw}/", {**FORM, "username": "second"})
    assert again.status_code == 410
    assert not User.objects.filter(username="second").exists()


def test_an_expired_or_revoked_invite_is_refused(client, owner):
    invite, raw = _invite(owner)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.post(f"/invite/{raw}/", FORM).status_code == 410
    other, raw2 = _invite(owner)
    services.invite_revoke(actor=owner, invite=other)
    assert client.post(f"/invite/{raw2}/", FORM).status_code == 410
    assert not User.objects.filter(username="priya").exists()


def test_a_taken_username_is_refused(client, owner):
    _, raw = _invite(owner)
    response = client.post(f"/invite/{raw}/", {**FORM, "username": owner.username.upper()})
    assert response.status_code == 400
    assert b"That username is taken" in response.content
    assert Invite.objects.get().used_at is None


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", b"too short"), ("password123", b"too common")],
)
def test_a_weak_password_is_refused_by_djangos_validators(client, owner, password, message):
    _, raw = _invite(owner)
    response = client.post(
        f"/invite/{raw}/", {"username": "priya", "password1": password, "password2": password}
    )
    assert response.status_code == 400
    assert message in response.content
    assert not User.objects.filter(username="priya").exists()


def test_differing_passwords_are_refused(client, owner):
    _, raw = _invite(owner)
    response = client.post(f"/invite/{raw}/", {**FORM, "password2": PASSWORD + "x"})
    assert response.status_code == 400 and b"The two passwords differ" in response.content


def test_with_github_set_up_github_stays_the_way_in(client, owner, fake_github):
    _, raw = _invite(owner)
    page = client.get(f"/invite/{raw}/")
    assert b"Sign in with GitHub to accept" in page.content
    assert b'name="password1"' not in page.content
    response = client.post(f"/invite/{raw}/", FORM)
    assert response.status_code == 302
    assert not User.objects.filter(username="priya").exists()
    with pytest.raises(services.AccessError):
        services.invite_accept_with_password(raw_token=raw, username="priya", password=PASSWORD)


def test_with_password_sign_in_off_the_page_says_so(client, owner, settings):
    settings.PASSWORD_LOGIN_ENABLED = False
    _, raw = _invite(owner)
    page = client.get(f"/invite/{raw}/")
    assert b'name="password1"' not in page.content
    assert b"Settings \xe2\x86\x92 Sign-in" in page.content
    with pytest.raises(services.AccessError):
        services.invite_accept_with_password(raw_token=raw, username="priya", password=PASSWORD)


def test_the_service_refuses_a_username_taken_meanwhile(owner):
    _, raw = _invite(owner)
    with pytest.raises(services.AccessError, match="taken"):
        services.invite_accept_with_password(
            raw_token=raw, username=owner.username, password=PASSWORD
        )
    assert Invite.objects.get().used_at is None


def test_the_joined_member_signs_in_with_the_password_later(client, owner):
    _, raw = _invite(owner, role="viewer")
    client.post(f"/invite/{raw}/", FORM)
    client.logout()
    response = client.post("/accounts/login/", {"login": "priya", "password": PASSWORD})
    assert response.status_code == 302
    assert User.objects.get(username="priya").role == "viewer"


def test_the_team_page_does_not_promise_github_when_it_is_not_set_up(client, owner):
    client.force_login(owner)
    response = client.post(
        "/settings/team/preauthorized/", {"github_login": "octocat", "role": "viewer"}, follow=True
    )
    body = response.content.decode()
    assert "can now sign in with GitHub" not in body
    assert "Send them an invite link instead" in body
    assert "they join with a password" in body
