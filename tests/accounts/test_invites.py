"""Invite links: created by admins with a role they may grant, shown once, stored hashed,
single use, expiring and revocable; every unusable token gets the same page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import Invite, hash_token
from apps.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _create(client, **data):
    return client.post("/settings/team/invites/", {"role": "viewer", "days": 7, "note": "", **data})


def test_an_admin_creates_an_invite_and_sees_the_link_once(client, admin_user):
    client.force_login(admin_user)
    response = _create(client, role="admin", note="for Priya")
    assert response.status_code == 302
    invite = Invite.objects.get()
    assert invite.role == "admin" and invite.note == "for Priya"
    assert invite.created_by == admin_user
    assert timedelta(days=6, hours=23) < invite.expires_at - timezone.now() <= timedelta(days=7)

    page = client.get("/settings/team/")
    url = page.context["new_invite"]["url"]
    raw = url.rstrip("/").rsplit("/", 1)[1]
    assert hash_token(raw) == invite.token_hash and raw not in invite.token_hash
    assert b"data-copy" in page.content and raw.encode() in page.content
    assert raw.encode() not in client.get("/settings/team/").content  # shown once
    entry = AuditEntry.objects.get(action="invite.created")
    assert entry.actor == admin_user and entry.data["role"] == "admin"


def test_the_default_lifetime_follows_settings(client, owner, settings):
    settings.INVITE_TTL_DAYS = 3
    client.force_login(owner)
    page = client.get("/settings/team/")
    assert page.context["invite_form"].initial["days"] == 3
    invite, _ = services.invite_create(actor=owner, role="viewer")
    assert timedelta(days=2, hours=23) < invite.expires_at - timezone.now() <= timedelta(days=3)


def test_an_admin_cannot_invite_an_owner(client, admin_user):
    client.force_login(admin_user)
    _create(client, role="owner")
    assert not Invite.objects.exists()
    with pytest.raises(services.AccessError):
        services.invite_create(actor=admin_user, role="owner")


def test_an_owner_can_invite_an_owner(owner):
    invite, _ = services.invite_create(actor=owner, role="owner")
    assert invite.role == "owner"


def test_a_viewer_cannot_invite(client, viewer):
    client.force_login(viewer)
    assert _create(client).status_code == 403
    assert not Invite.objects.exists()
    with pytest.raises(services.AccessError):
        services.invite_create(actor=viewer, role="viewer")


def test_it_rejects_a_silly_lifetime(client, owner):
    client.force_login(owner)
    _create(client, days=0)
    _create(client, days=365)
    _create(client, days="soon")
    assert not Invite.objects.exists()


def test_the_invite_page_shows_team_and_role(client, owner, fake_github):
    _, raw = services.invite_create(actor=owner, role="admin")
    response = client.get(f"/invite/{raw}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Join Switchboard" in body and "role-admin" in body
    assert "Sign in with GitHub" in body
    assert client.session["accounts.invite_token"] == raw


def test_without_github_the_invite_page_asks_for_a_password(client, owner, settings):
    settings.GITHUB_LOGIN_ENABLED = False
    _, raw = services.invite_create(actor=owner, role="viewer")
    response = client.get(f"/invite/{raw}/")
    assert response.status_code == 200
    # Without GitHub the link is no dead end: it asks for a username and password.
    assert b'name="password1"' in response.content
    assert b"Sign in with GitHub" not in response.content


def _invalid_page(client, raw):
    response = client.get(f"/invite/{raw}/")
    # The masked CSRF token differs on every response; everything else must be identical.
    return response.status_code, re.sub(rb'"X-CSRFToken": "[^"]*"', b"", response.content)


def test_expired_used_revoked_and_tampered_invites_look_the_same(client, owner, viewer):
    expired, raw_expired = services.invite_create(actor=owner, role="viewer")
    Invite.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    used, raw_used = services.invite_create(actor=owner, role="viewer")
    Invite.objects.filter(pk=used.pk).update(used_at=timezone.now(), used_by=viewer)
    revoked, raw_revoked = services.invite_create(actor=owner, role="viewer")
    services.invite_revoke(actor=owner, invite=revoked)
    _, raw_good = services.invite_create(actor=owner, role="viewer")
    tampered = raw_good[:-3] + "xyz"

    pages = {
        _invalid_page(client, raw)
        for raw in (raw_expired, raw_used, raw_revoked, tampered, "nonsense")
    }
    assert len(pages) == 1
    status, body = pages.pop()
    assert status == 410 and b"Invalid or expired invite" in body
    assert "accounts.invite_token" not in client.session


def test_revoking_an_invite(client, admin_user):
    invite, raw = services.invite_create(actor=admin_user, role="viewer")
    client.force_login(admin_user)
    response = client.post(f"/settings/team/invites/{invite.pk}/revoke/")
    assert response.status_code == 302
    invite.refresh_from_db()
    assert invite.revoked_at is not None
    assert client.get(f"/invite/{raw}/").status_code == 410
    assert AuditEntry.objects.filter(action="invite.revoked", actor=admin_user).exists()
    # Revoking twice is refused politely, not a 500.
    again = client.post(f"/settings/team/invites/{invite.pk}/revoke/", follow=True)
    assert b"already used or revoked" in again.content


def test_an_admin_cannot_revoke_an_owner_invite(client, owner, admin_user):
    invite, _ = services.invite_create(actor=owner, role="owner")
    client.force_login(admin_user)
    client.post(f"/settings/team/invites/{invite.pk}/revoke/")
    invite.refresh_from_db()
    assert invite.revoked_at is None


def test_pending_invites_are_listed_for_admins(client, owner, admin_user):
    services.invite_create(actor=owner, role="viewer", note="for Lee")
    client.force_login(admin_user)
    page = client.get("/settings/team/")
    assert b"for Lee" in page.content and b"Revoke" in page.content


def test_direct_add_preauthorizes_a_github_login(client, admin_user):
    client.force_login(admin_user)
    client.post("/settings/team/preauthorized/", {"github_login": "@NewPerson", "role": "admin"})
    page = client.get("/settings/team/")
    assert b"@NewPerson" in page.content and b"Copy sign-in link" in page.content
    entry = AuditEntry.objects.get(action="member.preauthorized")
    assert entry.data == {"github_login": "NewPerson", "role": "admin"}


def test_direct_add_refuses_bad_logins_roles_and_duplicates(client, owner, admin_user):
    client.force_login(admin_user)
    client.post("/settings/team/preauthorized/", {"github_login": "bad login!", "role": "viewer"})
    client.post("/settings/team/preauthorized/", {"github_login": "boss", "role": "owner"})
    response = client.post(
        "/settings/team/preauthorized/", {"github_login": "olivia", "role": "viewer"}, follow=True
    )
    assert b"already on the team" in response.content
    assert not AuditEntry.objects.filter(action="member.preauthorized").exists()


def test_revoking_a_preauthorization(client, admin_user):
    pending = services.preauth_create(actor=admin_user, github_login="temp", role="viewer")
    client.force_login(admin_user)
    client.post(f"/settings/team/preauthorized/{pending.pk}/revoke/")
    from apps.accounts.models import User

    assert not User.objects.filter(github_login="temp").exists()
    assert AuditEntry.objects.filter(action="member.preauth_revoked").exists()
