"""Notification targets cannot be used to reach the server's private network (SSRF)."""

from __future__ import annotations

import pytest

from apps.alerts.models import PushSubscription, TeamChannel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _guarded(settings):
    settings.ALERTS_ALLOW_PRIVATE_TARGETS = False


@pytest.mark.parametrize("endpoint", [
    "http://fcm.googleapis.com/fcm/send/abc",  # not https
    "https://127.0.0.1:6379/x", "https://10.0.0.5/push", "https://169.254.169.254/latest",
    "https://[::1]/push", "https://localhost/push",
])
def test_a_push_endpoint_must_be_https_to_a_public_host(client, viewer, endpoint):
    client.force_login(viewer)
    r = client.post("/settings/notifications/push/", {"browser_id": "b1", "endpoint": endpoint,
                    "keys": {"p256dh": "k", "auth": "a"}}, content_type="application/json")
    assert r.status_code == 400, r.content
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/admin/", "http://192.168.1.10/hook",
                                 "http://metadata.google.internal.invalid/"])
def test_an_admin_cannot_point_a_channel_at_the_private_network(client, admin_user, url):
    client.force_login(admin_user)
    r = client.post("/settings/alerts/channels/", {"kind": "webhook", "name": "probe", "url": url,
                                                    "min_severity": "info"})
    assert r.status_code == 400  # the form again, with the reason
    body = r.content.decode()
    assert "private, loopback or link-local" in body or "does not resolve" in body
    assert not TeamChannel.objects.exists()


def test_a_target_re_pointed_after_it_was_saved_is_refused_at_send_time_without_echo(
        make_rule, agent, emit, receiver):
    from apps.alerts.dispatch import delivery_attempt
    from apps.alerts.models import Delivery

    hook = receiver(statuses=[200])
    TeamChannel.objects.create(kind="webhook", name="internal", url=hook.url,
                               secret=TeamChannel.new_secret())  # saved before the guard
    make_rule("agent.blocked", channels=["webhook"])
    emit("agent.blocked", agent, status="blocked", reason="x")
    for d in Delivery.objects.filter(channel="webhook"):
        delivery_attempt(delivery_id=d.pk)
    d = Delivery.objects.get(channel="webhook")
    assert d.state == "failed" and "private, loopback or link-local" in d.last_error
    assert hook.requests == []


def test_a_receivers_answer_is_not_shown_back(make_rule, agent, emit, receiver, settings):
    from apps.alerts.dispatch import delivery_attempt
    from apps.alerts.models import Delivery

    settings.ALERTS_ALLOW_PRIVATE_TARGETS = True
    hook = receiver(statuses=[403])
    TeamChannel.objects.create(kind="webhook", name="internal", url=hook.url,
                               secret=TeamChannel.new_secret())
    make_rule("agent.blocked", channels=["webhook"])
    emit("agent.blocked", agent, status="blocked", reason="x")
    for d in Delivery.objects.filter(channel="webhook"):
        delivery_attempt(delivery_id=d.pk)
    d = Delivery.objects.get(channel="webhook")
    assert d.last_error == "HTTP 403"


def test_channel_secrets_and_the_vapid_key_are_encrypted_at_rest(db):
    """A Slack webhook URL is a credential, like a webhook's signing secret and the server's
    VAPID private key: the database holds them encrypted; the application reads them back."""
    from django.db import connection

    from apps.alerts import vapid

    url = "https://hooks.slack.com/services/T000/B000/SeCrEtPaRt"
    channel = TeamChannel.objects.create(kind="slack", name="#ops", url=url,
                                         secret="whsec_abc")
    vapid.public_key()  # generates the key pair
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, secret FROM alerts_teamchannel WHERE id = %s", [channel.pk])
        stored_url, stored_secret = cursor.fetchone()
        cursor.execute("SELECT private_pem FROM alerts_vapidkey")
        (stored_pem,) = cursor.fetchone()
    assert "SeCrEtPaRt" not in stored_url and stored_url.startswith("gAAAAA")
    assert "whsec_abc" not in stored_secret
    assert "PRIVATE KEY" not in stored_pem
    fresh = TeamChannel.objects.get(pk=channel.pk)
    assert (fresh.url, fresh.secret) == (url, "whsec_abc")
    assert vapid.signer() is not None  # the key reads back and signs


def test_a_vapid_key_stored_under_another_secret_key_is_replaced(db):
    from apps.alerts import vapid
    from apps.alerts.models import VapidKey

    first = vapid.public_key()
    from django.db import connection

    with connection.cursor() as cursor:  # as encrypted under another SECRET_KEY
        cursor.execute("UPDATE alerts_vapidkey SET private_pem = %s",
                       ["gAAAAABunreadable-under-this-SECRET_KEY"])
    assert vapid.public_key() != first
    assert vapid.signer() is not None and VapidKey.objects.count() == 1
