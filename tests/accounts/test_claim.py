"""The one-time link that claims the first owner account."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import ClaimToken, User
from apps.core.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

FORM = {"username": "founder", "password1": PASSWORD, "password2": PASSWORD}


def test_it_issues_a_token_only_while_nobody_exists(owner):
    assert services.claim_token_issue_if_needed() is None
    assert not ClaimToken.objects.exists()


def test_it_stores_only_a_hash_and_keeps_only_the_latest_link():
    first = services.claim_token_issue_if_needed()
    second = services.claim_token_issue_if_needed()
    token = ClaimToken.objects.get()
    assert first not in token.token_hash and second not in token.token_hash
    assert token.expires_at - timezone.now() > timedelta(hours=23, minutes=59)
    assert services.claim_token_is_usable(raw_token=second)
    assert not services.claim_token_is_usable(raw_token=first)


def test_it_shows_the_claim_form(client):
    raw = services.claim_token_issue_if_needed()
    response = client.get(f"/claim/{raw}/")
    assert response.status_code == 200
    assert b"Claim this Switchboard" in response.content
    assert b'class="topbar"' not in response.content  # signed-out layout


def test_it_creates_the_owner_and_signs_them_in(client):
    raw = services.claim_token_issue_if_needed()
    response = client.post(f"/claim/{raw}/", FORM)
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get()
    assert user.username == "founder" and user.role == "owner"
    assert user.is_superuser and user.check_password(PASSWORD)
    assert client.get("/settings/team/").status_code == 200
    entry = AuditEntry.objects.get(action="auth.claim")
    assert entry.actor == user and entry.ip == "127.0.0.1"
    assert AuditEntry.objects.get(action="auth.sign_in").data == {"method": "claim"}


def test_it_is_single_use(client):
    raw = services.claim_token_issue_if_needed()
    client.post(f"/claim/{raw}/", FORM)
    client.post("/accounts/logout/")
    again = client.post(f"/claim/{raw}/", {**FORM, "username": "intruder"})
    assert again.status_code == 410
    assert b"not valid" in again.content
    assert not User.objects.filter(username="intruder").exists()


def test_it_refuses_an_expired_link(client):
    raw = services.claim_token_issue_if_needed()
    ClaimToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/claim/{raw}/").status_code == 410
    assert client.post(f"/claim/{raw}/", FORM).status_code == 410
    assert not User.objects.exists()


def test_it_refuses_a_tampered_link(client):
    raw = services.claim_token_issue_if_needed()
    tampered = raw[:-2] + ("AA" if raw[-2:] != "AA" else "BB")
    assert client.get(f"/claim/{tampered}/").status_code == 410
    assert client.post(f"/claim/{tampered}/", FORM).status_code == 410
    assert not User.objects.exists()


def test_it_refuses_once_any_user_exists(client):
    raw = services.claim_token_issue_if_needed()
    User.objects.create_user(username="someone", password=PASSWORD)
    assert client.post(f"/claim/{raw}/", FORM).status_code == 410
    assert not User.objects.filter(username="founder").exists()


def test_it_validates_the_password(client):
    raw = services.claim_token_issue_if_needed()
    response = client.post(
        f"/claim/{raw}/", {"username": "founder", "password1": "abc", "password2": "abc"}
    )
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert not User.objects.exists()
    mismatch = client.post(f"/claim/{raw}/", {**FORM, "password2": PASSWORD + "x"})
    assert b"The two passwords differ" in mismatch.content
    assert services.claim_token_is_usable(raw_token=raw)  # a bad form does not spend the link


def test_the_service_refuses_a_second_claim_directly():
    raw = services.claim_token_issue_if_needed()
    services.claim_complete(raw_token=raw, username="a", password=PASSWORD)
    with pytest.raises(services.AccessError):
        services.claim_complete(raw_token=raw, username="b", password=PASSWORD)


def test_createsuperuser_makes_an_owner(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", "--username", "root", "--email", "r@x.test")
    assert User.objects.get(username="root").role == "owner"
