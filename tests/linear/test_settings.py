from __future__ import annotations

import pytest

from apps.linear import crypto
from apps.linear.models import LinearConnection, LinearTeam, ProjectMapping

URL = "/settings/integrations/linear/"


@pytest.fixture
def aimed(db, fake_linear, settings):
    """The connection row points at the fake, but holds no key yet."""
    settings.LINEAR_API_KEY = ""
    settings.LINEAR_WEBHOOK_SECRET = ""
    conn = LinearConnection.get()
    conn.api_url = fake_linear.url
    conn.save()
    return conn


def test_it_shows_the_not_connected_state(aimed, client, owner):
    client.force_login(owner)
    r = client.get(URL)
    assert r.status_code == 200
    html = r.content.decode()
    assert "not connected" in html and "Save key" in html


def test_an_owner_saves_a_key_encrypted_and_never_shown(
    aimed, client, owner, fake_linear, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False):
        r = client.post(URL, {"action": "key", "api_key": fake_linear.api_key})
    assert r.status_code == 302
    conn = LinearConnection.get()
    assert fake_linear.api_key not in conn.api_key_encrypted
    assert crypto.decrypt(conn.api_key_encrypted) == fake_linear.api_key
    assert conn.organization_name == "Acme Inc"
    html = client.get(URL).content.decode()
    assert fake_linear.api_key not in html
    assert "Acme Inc" in html and "connected" in html


def test_a_key_linear_rejects_is_not_stored(aimed, client, owner):
    client.force_login(owner)
    r = client.post(URL, {"action": "key", "api_key": "lin_api_wrong"})
    assert r.status_code == 200
    assert "Linear did not accept this key" in r.content.decode()
    assert LinearConnection.get().api_key_encrypted == ""


def test_admins_cannot_set_the_key(aimed, client, admin_user, fake_linear):
    client.force_login(admin_user)
    assert client.get(URL).status_code == 200
    r = client.post(URL, {"action": "key", "api_key": fake_linear.api_key})
    assert r.status_code == 403
    assert LinearConnection.get().api_key_encrypted == ""


def test_viewers_are_refused(db, client, viewer):
    client.force_login(viewer)
    assert client.get(URL).status_code == 403


def test_registering_the_webhook_calls_webhook_create(linear_conn, client, owner, fake_linear):
    client.force_login(owner)
    r = client.post(URL, {"action": "webhook"})
    assert r.status_code == 302
    assert len(fake_linear.webhooks) == 1
    hook = fake_linear.webhooks[0]
    assert hook["url"].endswith("/api/v1/linear/webhook")
    assert set(hook["resourceTypes"]) == {"Issue", "Comment", "Project", "Cycle", "IssueLabel"}
    conn = LinearConnection.get()
    assert conn.webhook_id == hook["id"]
    assert crypto.decrypt(conn.webhook_secret_encrypted) == hook["secret"]
    # and Linear's deliveries signed with that secret are accepted
    payload = fake_linear.envelope("Reaction", "create", {"id": "r"})
    from tests.linear.fake_linear import FakeLinear

    body, headers = FakeLinear.signed(payload, hook["secret"])
    resp = client.post(
        "/api/v1/linear/webhook",
        data=body,
        content_type="application/json",
        HTTP_LINEAR_SIGNATURE=headers["Linear-Signature"],
        HTTP_LINEAR_DELIVERY=headers["Linear-Delivery"],
    )
    assert resp.status_code == 200


def test_mapping_a_project(synced, client, admin_user, project, fake_linear):
    client.force_login(admin_user)
    team = LinearTeam.objects.get()
    r = client.post(URL, {"action": "mapping", "project": project.pk, "team": team.pk})
    assert r.status_code == 302
    assert ProjectMapping.objects.get(project=project).team == team
    client.post(URL, {"action": "mapping", "project": project.pk, "team": ""})
    assert not ProjectMapping.objects.exists()
    assert client.post(URL, {"action": "mapping", "project": "x"}).status_code == 302


def test_it_shows_sync_log_and_deliveries(mapping, client, admin_user):
    client.force_login(admin_user)
    html = client.get(URL).content.decode()
    assert "Sync log" in html and "finished" in html and "24 issues" in html


def test_sync_buttons_enqueue(linear_conn, client, admin_user, django_capture_on_commit_callbacks):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(URL, {"action": "sync_full"})
    assert len(callbacks) == 1
