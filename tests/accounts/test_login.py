"""Password sign-in (and its switch), closed sign-up, sign-out by POST, the signed-out layout."""

from __future__ import annotations

import pytest

from apps.accounts.models import User
from apps.core.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _login(client, username="olivia", password=PASSWORD):
    return client.post("/accounts/login/", {"login": username, "password": password})


def test_the_login_page_uses_the_signed_out_layout(client):
    response = client.get("/accounts/login/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="topbar"' not in body and "auth-card" in body
    assert 'name="password"' in body


def test_password_sign_in_works_and_is_audited(client, owner):
    response = _login(client)
    assert response.status_code == 302
    assert client.get("/settings/team/").status_code == 200
    entry = AuditEntry.objects.get(action="auth.sign_in")
    assert entry.actor == owner and entry.data == {"method": "password"}
    assert entry.ip == "127.0.0.1"


def test_a_wrong_password_is_refused(client, owner):
    response = _login(client, password="nope")
    assert response.status_code == 200
    assert b"auth-error" in response.content
    assert client.get("/settings/team/").status_code == 302


def test_password_sign_in_can_be_turned_off(client, owner, settings):
    settings.PASSWORD_LOGIN_ENABLED = False
    page = client.get("/accounts/login/")
    assert b'name="password"' not in page.content
    response = _login(client)
    assert response.status_code == 200
    assert b"Password sign-in is turned off" in response.content
    assert client.get("/settings/team/").status_code == 302


def test_turning_passwords_off_also_closes_the_admin_login(client, owner, settings):
    from django.contrib.auth import authenticate

    settings.PASSWORD_LOGIN_ENABLED = False
    assert authenticate(None, username="olivia", password=PASSWORD) is None
    client.post("/admin/login/", {"username": "olivia", "password": PASSWORD})
    assert client.get("/admin/").status_code == 302


def test_sign_up_is_closed(client):
    page = client.get("/accounts/signup/")
    assert b"Sign-up is closed" in page.content
    client.post(
        "/accounts/signup/", {"username": "eve", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert not User.objects.exists()


def test_sign_out_needs_a_post(client, owner):
    client.force_login(owner)
    confirm = client.get("/accounts/logout/")
    assert confirm.status_code == 200 and b"Sign out?" in confirm.content
    assert client.get("/settings/team/").status_code == 200  # GET did not sign out

    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/settings/team/").status_code == 302
    assert AuditEntry.objects.get(action="auth.sign_out").actor == owner


def test_last_seen_is_recorded(client, viewer):
    client.force_login(viewer)
    client.get("/settings/team/")
    viewer.refresh_from_db()
    assert viewer.last_seen_at is not None


def test_settings_nav_shows_team_to_viewers_and_audit_to_admins(client, viewer, admin_user):
    client.force_login(viewer)
    labels = [i["label"] for i in client.get("/settings/team/").context["nav_settings"]]
    assert "Team" in labels and "Audit log" not in labels
    client.force_login(admin_user)
    labels = [i["label"] for i in client.get("/settings/team/").context["nav_settings"]]
    assert "Team" in labels and "Audit log" in labels


def test_the_admin_signs_in_through_the_site_login_and_its_lockout(client, owner, admin_user):
    """/admin/login/ is not a second password form: it sends to the site's login, so the
    lockout after failed attempts there covers the admin too."""
    r = client.post("/admin/login/", {"username": "olivia", "password": PASSWORD})
    assert r.status_code == 302 and r["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    assert client.get("/admin/").status_code == 302  # that POST signed nobody in
    for _ in range(6):
        client.post("/accounts/login/", {"login": "olivia", "password": "wrong-password"})
    locked = client.post("/accounts/login/?next=/admin/",
                         {"login": "olivia", "password": PASSWORD})
    assert client.get("/admin/").status_code == 302, locked.status_code  # still locked out
    # A signed-in owner goes straight on; a signed-in admin (not an owner) is told why.
    client.force_login(owner)
    assert client.get("/admin/login/?next=/admin/agents/").url == "/admin/agents/"
    client.force_login(admin_user)
    page = client.get("/admin/login/?next=/admin/")
    assert page.status_code == 403 and b"Owner" in page.content
