"""The GitHub OAuth dance over real HTTP against a fake GitHub on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import Invite, User
from apps.core.models import AuditEntry
from tests.accounts.conftest import github_dance

pytestmark = pytest.mark.django_db


def _signed_in_user(client):
    response = client.get("/settings/team/")
    return response.wsgi_request.user if response.status_code == 200 else None


def _invite(owner, role="viewer"):
    return services.invite_create(actor=owner, role=role)


def test_it_talks_to_the_configured_github(client, fake_github):
    github_dance(client, fake_github, github_id=1, login="nobody")
    assert fake_github.requests == [
        "GET /login/oauth/authorize",
        "POST /login/oauth/access_token",
        "GET /api/v3/user",
    ]


def test_invited_user_gets_in_with_the_invite_role(client, owner, fake_github):
    invite, raw = _invite(owner, "admin")
    page = client.get(f"/invite/{raw}/")
    assert page.status_code == 200
    assert b"Admin" in page.content and b"Sign in with GitHub" in page.content

    response = github_dance(
        client,
        fake_github,
        github_id=4242,
        login="priya",
        name="Priya Patel",
        avatar_url="https://avatars.example.test/p.png",
    )

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(github_id=4242)
    assert (user.github_login, user.display_name, user.role) == ("priya", "Priya Patel", "admin")
    assert user.avatar_url == "https://avatars.example.test/p.png"
    assert user.preauthorized is False and not user.has_usable_password()
    invite.refresh_from_db()
    assert invite.used_at is not None and invite.used_by == user
    assert _signed_in_user(client) == user
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"invite.accepted", "auth.sign_in"} <= actions
    sign_in = AuditEntry.objects.get(action="auth.sign_in")
    assert sign_in.data == {"method": "github"} and sign_in.ip == "127.0.0.1"


def test_an_invite_works_only_once(client, owner, fake_github):
    _, raw = _invite(owner)
    client.get(f"/invite/{raw}/")
    github_dance(client, fake_github, github_id=10, login="first")
    client.post("/accounts/logout/")

    second = client.get(f"/invite/{raw}/")
    assert second.status_code == 410
    response = github_dance(client, fake_github, github_id=11, login="second")
    assert response.status_code == 403
    assert not User.objects.filter(github_id=11).exists()


def test_an_invite_that_expired_during_the_dance_lets_nobody_in(client, owner, fake_github):
    invite, raw = _invite(owner)
    client.get(f"/invite/{raw}/")
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = github_dance(client, fake_github, github_id=12, login="late")
    assert response.status_code == 403
    assert not User.objects.filter(github_login="late").exists()


def test_preauthorized_user_gets_in(client, owner, fake_github):
    pending = services.preauth_create(actor=owner, github_login="Marta", role="viewer")
    response = github_dance(client, fake_github, github_id=777, login="marta", name="Marta K")

    assert response.status_code == 302
    user = User.objects.get(pk=pending.pk)
    assert user.github_id == 777 and user.github_login == "marta"
    assert user.display_name == "Marta K" and user.role == "viewer"
    assert user.preauthorized is False
    assert _signed_in_user(client) == user
    assert User.objects.filter(github_login__iexact="marta").count() == 1


def test_uninvited_user_gets_a_clear_page_and_no_account(client, team, fake_github):
    before = User.objects.count()
    response = github_dance(client, fake_github, github_id=999, login="mallory")

    assert response.status_code == 403
    assert b"Ask an owner for an invite" in response.content
    assert b"@mallory" in response.content
    assert User.objects.count() == before
    from allauth.socialaccount.models import SocialAccount

    assert not SocialAccount.objects.exists()
    assert client.get("/settings/team/").status_code == 302  # still signed out


def test_a_github_login_matching_a_password_user_is_not_enough(client, owner, fake_github):
    # The owner's github_login is "olivia" but no GitHub id is bound and it is not pre-authorised.
    response = github_dance(client, fake_github, github_id=31337, login="olivia")
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.github_id is None


def test_returning_user_gets_in_and_their_profile_is_refreshed(client, owner, fake_github):
    _, raw = _invite(owner)
    client.get(f"/invite/{raw}/")
    github_dance(client, fake_github, github_id=55, login="sam", name="Sam")
    client.post("/accounts/logout/")

    response = github_dance(
        client,
        fake_github,
        github_id=55,
        login="sam-renamed",
        name="Samantha",
        avatar_url="https://avatars.example.test/new.png",
    )

    assert response.status_code == 302
    user = User.objects.get(github_id=55)
    assert (user.github_login, user.display_name) == ("sam-renamed", "Samantha")
    assert user.avatar_url == "https://avatars.example.test/new.png"
    assert User.objects.filter(github_id=55).count() == 1
    assert _signed_in_user(client) == user


def test_a_removed_member_cannot_come_back_without_a_new_invite(client, owner, fake_github):
    _, raw = _invite(owner)
    client.get(f"/invite/{raw}/")
    github_dance(client, fake_github, github_id=66, login="gone")
    user = User.objects.get(github_id=66)
    services.member_remove(actor=owner, member=user)
    client.post("/accounts/logout/")

    refused = github_dance(client, fake_github, github_id=66, login="gone")
    assert refused.status_code == 403

    _, raw2 = _invite(owner, "admin")
    client.get(f"/invite/{raw2}/")
    back = github_dance(client, fake_github, github_id=66, login="gone")
    assert back.status_code == 302
    user.refresh_from_db()
    assert user.is_active and user.role == "admin"
    assert User.objects.filter(github_id=66).count() == 1


def test_an_invite_never_demotes_a_member(client, owner, fake_github):
    _, raw = _invite(owner, "admin")
    client.get(f"/invite/{raw}/")
    github_dance(client, fake_github, github_id=70, login="ada")
    client.post("/accounts/logout/")
    _, raw2 = _invite(owner, "viewer")
    client.get(f"/invite/{raw2}/")
    github_dance(client, fake_github, github_id=70, login="ada")
    assert User.objects.get(github_id=70).role == "admin"


def test_a_github_error_shows_a_friendly_page(client, fake_github):
    fake_github.sign_in_as(github_id=1, login="x")
    client.post("/accounts/github/login/")
    response = client.get("/accounts/github/login/callback/?code=forged&state=forged")
    assert response.status_code == 401
    assert b"GitHub sign-in didn" in response.content
    assert not User.objects.exists()


def test_the_login_page_offers_github_when_configured(client, fake_github):
    response = client.get("/accounts/login/")
    assert b"Sign in with GitHub" in response.content
    assert b'action="/accounts/github/login/"' in response.content


def test_the_login_page_hides_github_when_not_configured(client, settings):
    settings.GITHUB_LOGIN_ENABLED = False
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Sign in with GitHub" not in response.content
