"""The password reset pages are ours (the auth card layout), not allauth's bare defaults, and
the whole reset works end to end by email."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_request_page_uses_the_auth_card(client):
    response = client.get("/accounts/password/reset/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="auth-card' in body and "Reset your password" in body
    assert 'name="email"' in body


def test_a_reset_by_email_end_to_end(client, viewer):
    viewer.email = "vera@example.com"
    viewer.save()
    done = client.post("/accounts/password/reset/", {"email": "vera@example.com"}, follow=True)
    assert b"Check your email" in done.content and b'class="auth-card' in done.content
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    form_page = client.get(link.group(1), follow=True)
    assert b"Choose a new password" in form_page.content
    new = PASSWORD + "-new"
    changed = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1),
        {"password1": new, "password2": new},
        follow=True,
    )
    assert b"Password changed" in changed.content and b'class="auth-card' in changed.content
    viewer.refresh_from_db()
    assert viewer.check_password(new)


def test_a_bad_key_says_so_in_the_auth_card(client):
    body = client.get("/accounts/password/reset/key/1-bad-key/", follow=True).content.decode()
    assert "Invalid reset link" in body and 'class="auth-card' in body


def test_the_login_page_links_to_it(client):
    assert b'href="/accounts/password/reset/"' in client.get("/accounts/login/").content
