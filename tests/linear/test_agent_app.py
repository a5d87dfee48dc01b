"""Installing Switchboard in Linear as an agent app (OAuth actor=app)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import requests

from apps.core.models import AuditEntry
from apps.linear.models_agent import LinearAppInstall
from tests.linear.conftest import install_via_oauth

SETTINGS = "/settings/integrations/linear/"


def test_it_installs_with_the_app_scopes_and_registers_the_session_webhook(
        linear_app, owner, client):
    client.force_login(owner)
    install = install_via_oauth(client, linear_app)
    asked = linear_app.authorize_requests[-1]
    assert asked["actor"] == "app"
    assert {"app:assignable", "app:mentionable"} <= set(asked["scope"].split(","))
    assert install.organization_name == "Acme Inc" and install.app_user_id == "viewer-1"
    token = next(iter(linear_app.app_tokens))
    assert token not in install.access_token_encrypted  # stored encrypted
    hook = linear_app.session_webhook()
    assert hook is not None and hook["resourceTypes"] == ["AgentSessionEvent"]
    assert hook["url"].endswith("/api/v1/linear/webhook")
    assert install.webhook_id == hook["id"]
    assert AuditEntry.objects.filter(action="linear.app_installed").count() == 1
    page = client.get(SETTINGS)
    assert b"Acme Inc" in page.content and b"Install in another workspace" in page.content


def test_installing_again_updates_the_same_workspace(installed, client, linear_app):
    install_via_oauth(client, linear_app)
    assert LinearAppInstall.objects.count() == 1


def test_a_callback_without_our_state_is_refused(linear_app, owner, client):
    client.force_login(owner)
    start = client.post("/settings/integrations/linear/app/install/")
    consent = requests.get(start["Location"], allow_redirects=False, timeout=10)
    query = parse_qs(urlparse(consent.headers["Location"]).query)
    r = client.get("/settings/integrations/linear/app/callback/",
                   {"code": query["code"][0], "state": "forged"}, follow=True)
    assert b"was not started here" in r.content
    assert not LinearAppInstall.objects.exists()


def test_a_refused_code_stores_nothing(linear_app, owner, client):
    client.force_login(owner)
    client.post("/settings/integrations/linear/app/install/")
    state = client.session["linear_app_oauth_state"]
    r = client.get("/settings/integrations/linear/app/callback/",
                   {"code": "not-a-code", "state": state}, follow=True)
    assert b"Installing in Linear failed" in r.content and b"invalid or expired" in r.content
    assert not LinearAppInstall.objects.exists()


def test_linear_saying_no_is_shown(linear_app, owner, client):
    client.force_login(owner)
    client.post("/settings/integrations/linear/app/install/")
    state = client.session["linear_app_oauth_state"]
    r = client.get("/settings/integrations/linear/app/callback/",
                   {"error": "access_denied", "state": state}, follow=True)
    assert b"Linear did not install Switchboard: access_denied" in r.content


def test_only_owners_install_or_remove(installed, admin_user, viewer, client):
    client.force_login(admin_user)
    assert client.post("/settings/integrations/linear/app/install/").status_code == 403
    assert client.post(f"/settings/integrations/linear/app/{installed.pk}/remove/"
                       ).status_code == 403
    client.force_login(viewer)
    assert client.post("/settings/integrations/linear/app/install/").status_code in (302, 403)
    assert LinearAppInstall.objects.count() == 1


def test_without_app_credentials_the_page_says_what_to_set(owner, client, settings):
    settings.LINEAR_OAUTH_CLIENT_ID = ""
    client.force_login(owner)
    page = client.get(SETTINGS)
    assert b"LINEAR_OAUTH_CLIENT_ID" in page.content
    assert b"/settings/integrations/linear/app/callback/" in page.content
    r = client.post("/settings/integrations/linear/app/install/", follow=True)
    assert b"Set LINEAR_OAUTH_CLIENT_ID" in r.content


def test_removing_forgets_the_installation(installed, client):
    r = client.post(f"/settings/integrations/linear/app/{installed.pk}/remove/")
    assert r.status_code == 302
    assert not LinearAppInstall.objects.exists()
    assert AuditEntry.objects.filter(action="linear.app_removed").exists()


def test_an_expiring_token_is_refreshed(installed, linear_app):
    from datetime import timedelta

    from django.utils import timezone

    from apps.linear.app_install import install_client

    old = set(linear_app.app_tokens)
    LinearAppInstall.objects.filter(pk=installed.pk).update(
        token_expires_at=timezone.now() + timedelta(minutes=1))
    client = install_client(LinearAppInstall.objects.get())
    assert client.execute("query { viewer { id } }")["viewer"]["id"] == "viewer-1"
    assert linear_app.app_tokens - old  # a new token was issued and is the one used
    assert client.api_key.removeprefix("Bearer ") not in old
