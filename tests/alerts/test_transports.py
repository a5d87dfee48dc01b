"""Each transport against a receiver on 127.0.0.1 speaking the real protocol; email through
Django's test outbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core import mail

from apps.alerts.dispatch import delivery_attempt
from apps.alerts.models import Delivery, PersonalSettings, PushSubscription, TeamChannel


def _deliver_all(channel: str) -> list[Delivery]:
    for d in Delivery.objects.filter(channel=channel, state__in=["pending", "retrying"]):
        delivery_attempt(delivery_id=d.pk)
    return list(Delivery.objects.filter(channel=channel).order_by("id"))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- email ------------------------------------------------------------------------------------
def test_email_has_a_plain_and_an_html_body(make_rule, agent, emit, owner, viewer):
    owner.email = "olivia@example.com"
    owner.save()
    PersonalSettings.objects.create(user=viewer, email="vera@example.com", severities=["critical"])
    make_rule("agent.blocked", channels=["email"], severity="warning")
    emit("agent.blocked", agent, status="blocked", reason="needs approval to push")
    [d] = _deliver_all("email")  # the viewer only wants critical ones
    assert (d.state, d.target, d.attempts) == ("sent", "olivia@example.com", 1)
    [msg] = mail.outbox
    assert msg.to == ["olivia@example.com"]
    assert msg.subject == "[Warning] ada is blocked: needs approval to push"
    assert "Agent: ada" in msg.body
    assert "http://switchboard.test/alerts/" in msg.body
    html, mimetype = msg.alternatives[0]
    assert mimetype == "text/html"
    assert "Open in Switchboard" in html and "ada is blocked" in html


def test_email_can_be_turned_off(make_rule, agent, emit, owner):
    owner.email = "olivia@example.com"
    owner.save()
    PersonalSettings.objects.create(user=owner, email_enabled=False)
    make_rule("agent.blocked", channels=["email"])
    emit("agent.blocked", agent, status="blocked", reason="x")
    assert _deliver_all("email") == []


# --- Slack -------------------------------------------------------------------------------------
def _slack_check(req):
    if req["headers"].get("content-type") != "application/json":
        return "wrong content type"
    body = json.loads(req["body"])
    if not isinstance(body.get("text"), str) or not body["text"]:
        return "no fallback text"
    if body["blocks"][0]["type"] != "section" or "mrkdwn" != body["blocks"][0]["text"]["type"]:
        return "bad blocks"
    return None


def test_slack_gets_an_incoming_webhook_payload(make_rule, agent, emit, receiver):
    slack = receiver(check=_slack_check)
    TeamChannel.objects.create(kind="slack", name="#agents", url=slack.url + "/services/T0/B0/x")
    make_rule("agent.error", channels=["slack"], severity="critical")
    emit("agent.error", agent, message="Traceback: <KeyError> & more")
    [d] = _deliver_all("slack")
    assert d.state == "sent", d.attempt_log
    [req] = slack.requests
    assert req["problem"] is None and req["path"] == "/services/T0/B0/x"
    body = slack.json()
    assert body["text"] == "ada errored — Traceback: <KeyError> & more (critical)"
    first = body["blocks"][0]["text"]["text"]
    assert "&lt;KeyError&gt; &amp; more" in first  # Slack's escaping
    assert "<http://switchboard.test/alerts/" in first


def test_team_channels_below_their_severity_are_skipped(make_rule, agent, emit, receiver):
    slack = receiver()
    TeamChannel.objects.create(kind="slack", name="#pager", url=slack.url, min_severity="critical")
    make_rule("task.completed", channels=["slack"], severity="info")
    emit("task.completed", agent)
    assert _deliver_all("slack") == []


# --- signed webhooks ----------------------------------------------------------------------------
def _verify_standard_webhook(secret: str):
    key = base64.b64decode(secret.removeprefix("whsec_"))

    def check(req):
        h = req["headers"]
        msg_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature", "")
        if not (msg_id and ts and sigs):
            return "missing webhook headers"
        if abs(time.time() - int(ts)) > 300:
            return "timestamp outside the tolerance"
        signed = f"{msg_id}.{ts}.".encode() + req["body"]
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for sig in sigs.split(" "):
            version, _, value = sig.partition(",")
            if version == "v1" and hmac.compare_digest(value, expected):
                return None
        return "bad signature"

    return check


def test_webhooks_are_signed_per_standard_webhooks(make_rule, agent, emit, receiver):
    secret = TeamChannel.new_secret()
    hook = receiver(check=_verify_standard_webhook(secret))
    TeamChannel.objects.create(kind="webhook", name="ops", url=hook.url + "/in", secret=secret)
    make_rule("agent.blocked", channels=["webhook"])
    emit("agent.blocked", agent, status="blocked", reason="x")
    [d] = _deliver_all("webhook")
    assert d.state == "sent", d.attempt_log
    [req] = hook.requests
    assert req["problem"] is None
    body = hook.json()
    assert body["type"] == "alert.notification"
    assert body["data"]["alert"]["agent_id"] == agent.pk
    assert req["headers"]["webhook-id"] == f"msg_{d.uid.hex}"


def test_a_bad_secret_is_rejected_by_the_receiver(make_rule, agent, emit, receiver):
    hook = receiver(check=_verify_standard_webhook(TeamChannel.new_secret()))
    TeamChannel.objects.create(kind="webhook", name="ops", url=hook.url, secret=TeamChannel.new_secret())
    make_rule("agent.blocked", channels=["webhook"])
    emit("agent.blocked", agent, status="blocked", reason="x")
    [d] = _deliver_all("webhook")
    assert hook.requests[0]["problem"] == "bad signature"
    assert d.state == "failed"  # a 400 will not pass on retry
    assert "HTTP 400" in d.last_error


def test_a_retry_keeps_the_webhook_id(make_rule, agent, emit, receiver):
    secret = TeamChannel.new_secret()
    hook = receiver(statuses=[502, 200], check=_verify_standard_webhook(secret))
    TeamChannel.objects.create(kind="webhook", name="ops", url=hook.url, secret=secret)
    make_rule("agent.blocked", channels=["webhook"])
    emit("agent.blocked", agent, status="blocked", reason="x")
    [d] = _deliver_all("webhook")
    assert d.state == "retrying" and "HTTP 502" in d.last_error
    Delivery.objects.filter(pk=d.pk).update(next_attempt_at=None)
    [d] = _deliver_all("webhook")
    assert (d.state, d.attempts) == ("sent", 2)
    assert [len(d.attempt_log), d.attempt_log[0]["ok"], d.attempt_log[1]["ok"]] == [2, False, True]
    ids = {r["headers"]["webhook-id"] for r in hook.requests}
    assert len(ids) == 1


# --- web push -----------------------------------------------------------------------------------
def _browser_keys():
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    auth = b"0123456789abcdef"
    return private, _b64url(public), auth


def test_web_push_is_encrypted_and_vapid_signed(make_rule, agent, emit, receiver, owner):
    from apps.alerts import vapid

    private, p256dh, auth = _browser_keys()
    server_key = vapid.public_key()  # read here: the receiver thread cannot see this transaction
    seen = {}

    def check(req):
        h = req["headers"]
        if h.get("content-encoding") != "aes128gcm":
            return "not aes128gcm"
        scheme, _, params = h.get("authorization", "").partition(" ")
        fields = dict(p.strip().split("=", 1) for p in params.split(","))
        if scheme != "vapid" or set(fields) != {"t", "k"}:
            return "no vapid t=, k="
        if fields["k"] != server_key:
            return "unexpected VAPID key"
        point = _unb64url(fields["k"])
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        claims = jwt.decode(fields["t"], pub, algorithms=["ES256"], audience=push.url)
        seen["claims"] = claims
        seen["ttl"] = h.get("ttl")
        seen["plain"] = http_ece.decrypt(req["body"], private_key=private, auth_secret=auth,
                                         version="aes128gcm")
        return None

    push = receiver(statuses=[201], check=check)
    PushSubscription.objects.create(user=owner, browser_id="b1", endpoint=push.url + "/push/abc",
                                    p256dh=p256dh, auth=_b64url(auth), user_agent="Chromium test")
    make_rule("agent.blocked", channels=["webpush"], severity="critical")
    emit("agent.blocked", agent, status="blocked", reason="needs a human")
    [d] = _deliver_all("webpush")
    assert push.requests[0]["problem"] is None, push.requests[0]["problem"]
    assert d.state == "sent", d.attempt_log
    assert seen["claims"]["sub"].startswith("mailto:")
    assert int(seen["ttl"]) > 0
    payload = json.loads(seen["plain"])
    assert payload["title"] == "ada is blocked: needs a human"
    assert payload["url"].startswith("http://switchboard.test/alerts/")


def test_the_vapid_key_is_generated_once_and_kept(db):
    from apps.alerts import vapid
    from apps.alerts.models import VapidKey

    first = vapid.public_key()
    assert vapid.public_key() == first
    assert VapidKey.objects.count() == 1
    assert len(_unb64url(first)) == 65


def test_a_gone_subscription_is_dropped(make_rule, agent, emit, receiver, owner):
    _, p256dh, auth = _browser_keys()
    push = receiver(statuses=[410])
    sub = PushSubscription.objects.create(user=owner, browser_id="b1", endpoint=push.url + "/x",
                                          p256dh=p256dh, auth=_b64url(auth))
    make_rule("agent.blocked", channels=["webpush"], severity="critical")
    emit("agent.blocked", agent, status="blocked", reason="x")
    [d] = _deliver_all("webpush")
    assert d.state == "failed" and "gone" in d.last_error
    assert not PushSubscription.objects.filter(pk=sub.pk).exists()


def _push_payloads(push_requests, private, auth) -> list[dict]:
    return [json.loads(http_ece.decrypt(r["body"], private_key=private, auth_secret=auth,
                                        version="aes128gcm")) for r in push_requests]


def test_a_push_about_a_waiting_permission_prompt_can_be_answered_from_the_notification(
        make_rule, agent, emit, receiver, owner, viewer, client):
    """The push brings Allow / Deny with a signed token; the service worker posts exactly this
    body to the decide URL, without a session or a CSRF token."""
    from apps.agents.approvals import approval_request
    from apps.agents.models import ApprovalRequest, ApprovalStatus

    private, p256dh, auth = _browser_keys()
    push = receiver(statuses=[201])
    for user, name in ((owner, "b1"), (viewer, "b2")):
        PushSubscription.objects.create(user=user, browser_id=name,
                                        endpoint=f"{push.url}/push/{name}", p256dh=p256dh,
                                        auth=_b64url(auth), user_agent="Chromium test")
    approval, _ = approval_request(agent=agent, key="perm-1", tool_name="Bash",
                                   summary="rm -rf build/", input='{"command": "rm -rf build/"}',
                                   wait_seconds=60)
    make_rule("agent.blocked", channels=["webpush"], severity="critical")
    emit("agent.blocked", agent, status="blocked", reason="waiting for permission to use Bash")
    _deliver_all("webpush")
    by_endpoint = dict(zip([r["path"] for r in push.requests],
                           _push_payloads(push.requests, private, auth), strict=True))
    mine, theirs = by_endpoint["/push/b1"], by_endpoint["/push/b2"]
    assert "approval" not in theirs  # a viewer may not decide: a plain notification
    assert mine["body"] == "Waiting for permission — Bash: rm -rf build/"
    assert mine["url"].endswith(f"/agents/{agent.pk}/")
    decide_url = mine["approval"]["decide_url"]
    assert decide_url == "http://switchboard.test/approvals/decide/"
    path = "/approvals/decide/"
    token = mine["approval"]["token"]

    forged = token[:-2] + ("aa" if not token.endswith("aa") else "bb")
    r = client.post(path, {"token": forged, "decision": "allow"}, content_type="application/json")
    assert r.status_code == 403
    r = client.post(path, {"token": token, "decision": "allow"}, content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "allowed"
    approval = ApprovalRequest.objects.get(pk=approval.pk)
    assert approval.status == ApprovalStatus.ALLOWED and approval.decided_by == owner
    r = client.post(path, {"token": token, "decision": "deny"}, content_type="application/json")
    assert r.status_code == 409 and "allowed already" in r.json()["error"]
    assert client.post(path, "not json", content_type="application/json").status_code == 400
