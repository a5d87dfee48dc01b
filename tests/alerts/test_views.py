"""The HTML pages: who may open what, and that each page does its job."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.alerts.models import (
    Alert,
    AlertPolicy,
    AlertRule,
    Delivery,
    PersonalSettings,
    PushSubscription,
    TeamChannel,
)


@pytest.fixture
def alert(make_rule, agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", agent, status="blocked", reason="needs approval")
    return Alert.objects.get()


def _as(client, user):
    if user is not None:
        client.force_login(user)
    return client


PAGES = [
    ("get", "/alerts/", {"owner": 200, "admin": 200, "viewer": 200, "outsider": 403}),
    ("get", "/alerts/{alert}/", {"owner": 200, "admin": 200, "viewer": 200, "outsider": 403}),
    ("post", "/alerts/{alert}/ack/", {"owner": 302, "admin": 302, "viewer": 403, "outsider": 403}),
    ("post", "/alerts/{alert}/resolve/", {"owner": 302, "admin": 302, "viewer": 403, "outsider": 403}),
    ("get", "/settings/alerts/", {"owner": 200, "admin": 200, "viewer": 403, "outsider": 403}),
    ("get", "/settings/alerts/new/", {"owner": 200, "admin": 200, "viewer": 403, "outsider": 403}),
    ("get", "/settings/alerts/{rule}/", {"owner": 200, "admin": 200, "viewer": 403, "outsider": 403}),
    ("post", "/settings/alerts/{rule}/delete/", {"owner": 302, "admin": 302, "viewer": 403, "outsider": 403}),
    ("get", "/settings/alerts/channels/", {"owner": 200, "admin": 200, "viewer": 403, "outsider": 403}),
    ("post", "/settings/alerts/channels/{channel}/test/", {"owner": 302, "admin": 302, "viewer": 403, "outsider": 403}),
    ("post", "/settings/alerts/channels/{channel}/delete/", {"owner": 302, "admin": 302, "viewer": 403, "outsider": 403}),
    ("get", "/settings/notifications/", {"owner": 200, "admin": 200, "viewer": 200, "outsider": 403}),
    ("post", "/settings/notifications/test/", {"owner": 302, "admin": 302, "viewer": 302, "outsider": 403}),
]


@pytest.mark.parametrize("who", ["owner", "admin", "viewer", "outsider", "anonymous"])
def test_the_permission_matrix(client, team, alert, who):
    channel = TeamChannel.objects.create(kind="slack", name="#a", url="http://127.0.0.1:9/x")
    ids = {"alert": alert.pk, "rule": alert.rule_id, "channel": channel.pk}
    _as(client, team.get(who))
    for method, path, expected in PAGES:
        url = path.format(**ids)
        response = getattr(client, method)(url, {"channel": "email"} if "notifications/test" in url else {})
        if who == "anonymous":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
        else:
            assert response.status_code == expected[who], (url, response.status_code)


def test_unknown_ids_404(client, owner, make_rule):
    make_rule("agent.blocked")
    _as(client, owner)
    for url in ("/alerts/999/", "/settings/alerts/999/"):
        assert client.get(url).status_code == 404
    for url in ("/alerts/999/ack/", "/alerts/999/resolve/", "/settings/alerts/999/delete/",
                "/settings/alerts/channels/999/test/"):
        assert client.post(url).status_code == 404


def test_the_inbox_lists_alerts_and_filters_them(client, viewer, alert, make_agent, emit):
    bob = make_agent("bob")
    emit("agent.blocked", bob, status="blocked", reason="other")
    Alert.objects.filter(agent=bob).update(state="resolved")
    _as(client, viewer)
    page = client.get("/alerts/").content.decode()
    assert "ada is blocked: needs approval" in page and "bob is blocked" not in page
    resolved = client.get("/alerts/?state=resolved").content.decode()
    assert "bob is blocked" in resolved and "ada is blocked" not in resolved
    assert "ada is blocked" not in client.get("/alerts/?severity=critical").content.decode()
    assert "/ack/" not in page  # viewers read


def test_the_inbox_query_count_does_not_grow_with_rows(client, admin_user, make_rule, make_agent, emit):
    make_rule("agent.blocked")
    emit("agent.blocked", make_agent("a0"), status="blocked", reason="x")
    _as(client, admin_user)
    client.get("/alerts/")
    with CaptureQueriesContext(connection) as few:
        client.get("/alerts/")
    for i in range(1, 8):
        emit("agent.blocked", make_agent(f"a{i}"), status="blocked", reason="x")
    with CaptureQueriesContext(connection) as many:
        body = client.get("/alerts/").content.decode()
    assert body.count('class="alert-row') == 8
    assert len(many) == len(few)


def test_the_inbox_poll_returns_the_list_partial(client, viewer, alert):
    _as(client, viewer)
    response = client.get("/alerts/?partial=list", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.strip().startswith('<div id="alert-list" data-snapshot')
    assert f'id="alert-{alert.pk}"' in body and "<html" not in body
    # The counts in the page head come along, so polling keeps them current too.
    assert '<span class="tab-count" id="tab-count-open" data-snapshot>1</span>' in body


def test_ack_and_resolve_from_the_inbox(client, admin_user, alert):
    _as(client, admin_user)
    row = client.post(f"/alerts/{alert.pk}/ack/", HTTP_HX_REQUEST="true").content.decode()
    assert "Acknowledged" in row and f'id="alert-{alert.pk}"' in row
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.acknowledged_by == admin_user
    client.post(f"/alerts/{alert.pk}/resolve/")
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.resolved_reason == "resolved by adam"


def test_the_badge_counts_unread_alerts_on_every_page(client, viewer, alert, make_agent, emit,
                                                      django_capture_on_commit_callbacks):
    _as(client, viewer)
    page = client.get("/settings/notifications/").content.decode()
    assert 'class="alerts-bell-count">1<' in page
    client.get("/alerts/")  # opening the inbox marks them seen
    assert "alerts-bell-count" not in client.get("/settings/notifications/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # alerts change: badges recount
        emit("agent.blocked", make_agent("bob"), status="blocked", reason="x")
    assert 'class="alerts-bell-count">1<' in client.get("/settings/notifications/").content.decode()


def test_the_badge_costs_at_most_one_query_and_is_cached(client, viewer, alert):
    from apps.alerts.badge import unread_count

    with CaptureQueriesContext(connection) as first:
        assert unread_count(viewer.pk) == 1
    with CaptureQueriesContext(connection) as second:
        assert unread_count(viewer.pk) == 1
    assert (len(first), len(second)) == (1, 0)


def test_an_admin_creates_edits_and_deletes_a_rule(client, admin_user, project, make_rule):
    _as(client, admin_user)
    response = client.post("/settings/alerts/new/", {
        "name": "Codex errors", "enabled": "on", "project": project.pk, "event_kind": "agent.error",
        "agent_kind": "codex", "threshold": 3, "window_minutes": 10, "severity": "critical",
        "channels": ["email", "slack"], "action_interval_minutes": 30, "respect_quiet_hours": "on",
    })
    assert response.status_code == 302
    rule = AlertRule.objects.get(name="Codex errors")
    assert (rule.project, rule.agent_kind, rule.channels, rule.respect_sleep_windows) == (
        project, "codex", ["email", "slack"], False)
    page = client.get("/settings/alerts/").content.decode()
    assert "Codex errors" in page and "3× within 10 min" in page
    client.post(f"/settings/alerts/{rule.pk}/", {
        "name": "Codex errors", "event_kind": "agent.error", "threshold": 5, "window_minutes": 10,
        "severity": "warning", "action_interval_minutes": 30})
    rule.refresh_from_db()
    assert (rule.threshold, rule.enabled, rule.version) == (5, False, 2)
    client.post(f"/settings/alerts/{rule.pk}/delete/")
    assert not AlertRule.objects.filter(pk=rule.pk).exists()


def test_bad_rule_input_is_explained_not_saved(client, admin_user, make_rule):
    _as(client, admin_user)
    response = client.post("/settings/alerts/new/", {
        "name": "x", "event_kind": "Not A Kind!", "threshold": 0, "window_minutes": 10,
        "severity": "loud", "action_interval_minutes": 60})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Use a dotted event kind" in body
    assert not AlertRule.objects.exists()
    response = client.post("/settings/alerts/new/", {
        "name": "x", "event_kind": "alert.opened", "threshold": 1, "window_minutes": 10,
        "severity": "info", "action_interval_minutes": 60})
    assert "Alerts cannot watch alert events" in response.content.decode()


def test_quiet_hours_are_saved_and_validated(client, admin_user):
    _as(client, admin_user)
    bad = client.post("/settings/alerts/", {"quiet_hours_enabled": "on", "timezone": "Mars/Base"})
    assert "not a known time zone" in bad.content.decode()
    client.post("/settings/alerts/", {"quiet_hours_enabled": "on", "quiet_start": "22:00",
                                      "quiet_end": "07:00", "timezone": "Europe/Berlin"})
    policy = AlertPolicy.current()
    assert policy.quiet_hours_enabled and policy.timezone == "Europe/Berlin"
    assert str(policy.quiet_start) == "22:00:00"


def test_an_admin_adds_a_webhook_channel_with_a_secret_and_sends_a_test(client, admin_user):
    _as(client, admin_user)
    client.post("/settings/alerts/channels/", {"kind": "webhook", "name": "ops",
                                               "url": "http://127.0.0.1:9/hook", "min_severity": "warning"})
    channel = TeamChannel.objects.get()
    assert channel.secret.startswith("whsec_")
    assert channel.secret in client.get("/settings/alerts/channels/").content.decode()
    client.post(f"/settings/alerts/channels/{channel.pk}/test/")
    test = Delivery.objects.get(team_channel=channel)
    assert test.notification.is_test and test.state == "pending"
    assert "Last test" in client.get("/settings/alerts/channels/").content.decode()
    client.post(f"/settings/alerts/channels/{channel.pk}/toggle/")
    channel.refresh_from_db()
    assert not channel.enabled


def test_a_bad_channel_url_is_refused(client, admin_user):
    _as(client, admin_user)
    response = client.post("/settings/alerts/channels/", {"kind": "slack", "name": "x",
                                                          "url": "ftp://nope", "min_severity": "info"})
    assert response.status_code == 400 and not TeamChannel.objects.exists()


def test_a_person_saves_their_channels(client, viewer):
    _as(client, viewer)
    client.post("/settings/notifications/", {"email_enabled": "on", "email": "v@example.com",
                                             "severities": ["critical"]})
    prefs = PersonalSettings.objects.get(user=viewer)
    assert (prefs.email, prefs.severities, prefs.push_enabled) == ("v@example.com", ["critical"], False)
    client.post("/settings/notifications/test/", {"channel": "email"})
    assert Delivery.objects.get().target == "v@example.com"


def test_a_test_push_without_a_subscription_explains(client, viewer):
    _as(client, viewer)
    response = client.post("/settings/notifications/test/", {"channel": "webpush"}, follow=True)
    assert "Turn on push in this browser first" in response.content.decode()


def test_one_push_subscription_per_browser(client, viewer):
    _as(client, viewer)
    body = {"endpoint": "https://push.example/abc", "keys": {"p256dh": "BPk", "auth": "xyz"},
            "browser_id": "browser-1"}
    assert client.post("/settings/notifications/push/", json.dumps(body),
                       content_type="application/json").status_code == 201
    body["endpoint"] = "https://push.example/def"
    client.post("/settings/notifications/push/", json.dumps(body), content_type="application/json")
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == ["https://push.example/def"]
    assert client.post("/settings/notifications/push/", "nonsense",
                       content_type="application/json").status_code == 400
    client.post("/settings/notifications/push/remove/", json.dumps({"browser_id": "browser-1"}),
                content_type="application/json")
    assert not PushSubscription.objects.exists()


def test_the_personal_page_offers_push_with_the_vapid_key(client, viewer):
    from apps.alerts.vapid import public_key

    _as(client, viewer)
    page = client.get("/settings/notifications/").content.decode()
    assert f'data-vapid-key="{public_key()}"' in page and "Turn on push in this browser" in page


def test_the_service_worker_is_served_for_the_whole_site(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    assert response["Service-Worker-Allowed"] == "/"
    assert b"showNotification" in response.content


def test_an_alert_about_a_waiting_permission_prompt_offers_allow_and_deny(
        client, admin_user, viewer, make_rule, make_agent, emit):
    from apps.agents.approvals import approval_request
    from apps.agents.models import ApprovalRequest

    agent = make_agent()
    approval, _ = approval_request(agent=agent, key="perm-9", tool_name="Bash",
                                   summary="git push --force", input='{"command": "git push"}',
                                   wait_seconds=120)
    make_rule("agent.blocked", channels=[])
    emit("agent.blocked", agent, status="blocked", reason="waiting for permission")
    alert = Alert.objects.get()
    url = f"/alerts/{alert.pk}/"
    client.force_login(viewer)
    body = client.get(url).content.decode()
    assert "Waiting for permission" in body and "git push --force" in body
    assert 'value="allow"' not in body  # viewers see it, admins answer it
    client.force_login(admin_user)
    body = client.get(url).content.decode()
    assert 'value="allow"' in body and 'value="deny"' in body
    r = client.post(f"/agents/{agent.pk}/approvals/{approval.pk}/",
                    {"decision": "deny", "next": url})
    assert r.status_code == 302 and r["Location"] == url  # back on the alert
    assert ApprovalRequest.objects.get(pk=approval.pk).status == "denied"
    assert "Waiting for permission" not in client.get(url).content.decode()
    # `next` never leads off the site.
    r = client.post(f"/agents/{agent.pk}/approvals/{approval.pk}/",
                    {"decision": "deny", "next": "https://evil.example/"})
    assert r["Location"] == f"/agents/{agent.pk}/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_ack_never_redirects_off_the_site(client, admin_user, alert, target):
    client.force_login(admin_user)
    r = client.post(f"/alerts/{alert.pk}/ack/", {"next": target})
    assert r.status_code == 302 and r["Location"] == f"/alerts/{alert.pk}/"
    r = client.post(f"/alerts/{alert.pk}/resolve/", {"next": "/alerts/?state=open"})
    assert r["Location"] == "/alerts/?state=open"
