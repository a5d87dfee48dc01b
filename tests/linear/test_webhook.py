from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from apps.agents.models import AgentEvent
from apps.linear.models import DeliveryStatus, LinearComment, LinearIssue, WebhookDelivery
from apps.linear.webhooks import delivery_process
from tests.linear.fake_linear import FakeLinear

SECRET = "whsec-test-0123456789"
URL = "/api/v1/linear/webhook"


@pytest.fixture
def hook_secret(settings):
    settings.LINEAR_WEBHOOK_SECRET = SECRET
    return SECRET


def post(client: Client, body: bytes, headers: dict[str, str]):
    extra = {
        f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"
    }
    return client.post(URL, data=body, content_type="application/json", **extra)


def issue_update(fake: FakeLinear, issue: dict, **changes) -> dict:
    fake.touch(issue, **changes)
    return fake.envelope("Issue", "update", fake.issue_payload(issue))


def test_it_accepts_a_valid_delivery_and_applies_it(mapping, fake_linear, hook_secret, client):
    issue = fake_linear.issues[2]
    payload = issue_update(fake_linear, issue, title="Retitled by webhook")
    body, headers = FakeLinear.signed(payload, SECRET)
    r = post(client, body, headers)
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "accepted"
    delivery = WebhookDelivery.objects.get(delivery_id=headers["Linear-Delivery"])
    assert delivery.resource_type == "Issue" and delivery.action == "update"
    delivery_process(delivery.pk)  # what the Celery task runs
    local = LinearIssue.objects.get(linear_id=issue["id"])
    assert local.title == "Retitled by webhook"
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.PROCESSED
    event = AgentEvent.objects.get(kind="linear.issue.updated")
    assert event.project_id == mapping.project_id and event.data["issue_id"] == local.pk


def test_it_processes_through_celery(mapping, fake_linear, hook_secret, celery_worker, client):
    from tests.support import wait_for

    issue = fake_linear.issues[3]
    body, headers = FakeLinear.signed(
        issue_update(fake_linear, issue, title="Via the worker"), SECRET
    )
    assert post(client, body, headers).status_code == 200
    wait_for(
        lambda: LinearIssue.objects.get(linear_id=issue["id"]).title == "Via the worker",
        timeout=15,
        message="the worker to apply the delivery",
    )


@pytest.mark.parametrize("mutate", ["wrong_secret", "tampered"])
def test_it_rejects_bad_signature(synced, fake_linear, hook_secret, client, mutate):
    issue = fake_linear.issues[2]
    payload = issue_update(fake_linear, issue, title="Evil")
    body, headers = FakeLinear.signed(
        payload, "not-the-secret" if mutate == "wrong_secret" else SECRET
    )
    if mutate == "tampered":
        body = body.replace(b"Evil", b"Evi1")
    r = post(client, body, headers)
    assert r.status_code == 401
    assert r.json()["error"] == "Signature does not match."
    assert not WebhookDelivery.objects.exists()
    assert LinearIssue.objects.get(linear_id=issue["id"]).title != "Evil"


@pytest.mark.parametrize("offset", [-61, +61, -3600])
def test_it_rejects_stale_and_future_timestamps(synced, fake_linear, hook_secret, client, offset):
    payload = fake_linear.envelope(
        "Issue",
        "update",
        fake_linear.issue_payload(fake_linear.issues[0]),
        timestamp_ms=(time.time() + offset) * 1000,
    )
    body, headers = FakeLinear.signed(payload, SECRET)
    r = post(client, body, headers)
    assert r.status_code == 400
    assert "webhookTimestamp" in r.json()["error"]
    assert not WebhookDelivery.objects.exists()


def test_it_accepts_a_timestamp_within_the_window(synced, fake_linear, hook_secret, client):
    payload = fake_linear.envelope(
        "Issue",
        "update",
        fake_linear.issue_payload(fake_linear.issues[0]),
        timestamp_ms=(time.time() - 50) * 1000,
    )
    body, headers = FakeLinear.signed(payload, SECRET)
    assert post(client, body, headers).status_code == 200


@pytest.mark.parametrize("drop", ["Linear-Signature", "Linear-Delivery"])
def test_it_rejects_missing_headers(synced, fake_linear, hook_secret, client, drop):
    body, headers = FakeLinear.signed(fake_linear.envelope("Issue", "update", {"id": "x"}), SECRET)
    headers.pop(drop)
    r = post(client, body, headers)
    assert r.status_code == 400
    assert "Missing" in r.json()["error"]
    assert not WebhookDelivery.objects.exists()


def test_a_replay_is_answered_200_and_processed_once(mapping, fake_linear, hook_secret, client):
    payload = issue_update(fake_linear, fake_linear.issues[5], title="Once")
    body, headers = FakeLinear.signed(payload, SECRET)
    first = post(client, body, headers)
    second = post(client, body, headers)
    assert first.status_code == second.status_code == 200
    # Not processed yet: the retry is queued again (never swallowed); still one row.
    assert second.json()["status"] == "accepted"
    assert WebhookDelivery.objects.count() == 1
    pk = WebhookDelivery.objects.get().pk
    delivery_process(pk)
    delivery_process(pk)  # a redelivered Celery message changes nothing
    assert AgentEvent.objects.filter(kind="linear.issue.updated").count() == 1


def test_it_rejects_malformed_json(synced, hook_secret, client):
    body, headers = FakeLinear.signed(b'{"action": "update", "type": ', SECRET)
    r = post(client, body, headers)
    assert r.status_code == 400
    assert r.json()["error"] == "Malformed JSON body."
    assert not WebhookDelivery.objects.exists()


def test_it_rejects_a_non_object_body(synced, hook_secret, client):
    body, headers = FakeLinear.signed(b"[1, 2]", SECRET)
    assert post(client, body, headers).status_code == 400


def test_it_rejects_an_oversized_body(synced, fake_linear, hook_secret, client):
    payload = fake_linear.envelope(
        "Issue", "update", {"id": "x", "description": "a" * (1024 * 1024 + 10)}
    )
    body, headers = FakeLinear.signed(payload, SECRET)
    r = post(client, body, headers)
    assert r.status_code == 413
    assert "1 MB" in r.json()["error"]
    assert not WebhookDelivery.objects.exists()


def test_it_refuses_when_no_secret_is_configured(db, settings, client):
    settings.LINEAR_WEBHOOK_SECRET = ""
    body, headers = FakeLinear.signed(b'{"webhookTimestamp": 1}', "anything")
    r = post(client, body, headers)
    assert r.status_code == 503
    assert not WebhookDelivery.objects.exists()


def test_it_uses_the_stored_secret(linear_conn, fake_linear, client):
    from apps.linear import crypto

    linear_conn.webhook_secret_encrypted = crypto.encrypt("stored-secret")
    linear_conn.save()
    body, headers = FakeLinear.signed(
        fake_linear.envelope("Reaction", "create", {"id": "r1"}), "stored-secret"
    )
    assert post(client, body, headers).status_code == 200


def test_it_only_allows_post(client):
    assert client.get(URL).status_code == 405


def test_other_types_are_stored_and_ignored(synced, fake_linear, hook_secret, client):
    body, headers = FakeLinear.signed(
        fake_linear.envelope("Reaction", "create", {"id": "r1", "emoji": "+1"}), SECRET
    )
    assert post(client, body, headers).status_code == 200
    delivery = WebhookDelivery.objects.get()
    delivery_process(delivery.pk)
    assert WebhookDelivery.objects.get().status == DeliveryStatus.IGNORED


def test_an_unknown_issue_in_an_update_is_stored_from_the_payload(
        mapping, fake_linear, hook_secret, client):
    """The payload is the whole issue: one we never saw is stored from it, nothing fetched."""
    new = fake_linear.add_issue(fake_linear.teams[0], "Created while we were away")
    payload = issue_update(fake_linear, new, title="Created while we were away (edited)")
    before = len(fake_linear.requests)
    body, headers = FakeLinear.signed(payload, SECRET)
    assert post(client, body, headers).status_code == 200
    delivery_process(WebhookDelivery.objects.get(delivery_id=headers["Linear-Delivery"]).pk)
    local = LinearIssue.objects.get(linear_id=new["id"])
    assert local.title == "Created while we were away (edited)"
    assert fake_linear.requests[before:] == []


def test_a_webhook_alone_is_enough_without_an_api_key(mapping, fake_linear, hook_secret,
                                                      client):
    """No Linear key connected: an issue in a workflow state never seen here is stored with
    that state from the payload; a payload that lacks what only Linear could tell fails the
    delivery with the reason, shown on the settings page, instead of "processed"."""
    from apps.linear.models import LinearConnection, LinearWorkflowState

    LinearConnection.objects.update(api_key_encrypted="")
    new = fake_linear.add_issue(fake_linear.teams[0], "In a brand-new state")
    payload = fake_linear.envelope("Issue", "create", fake_linear.issue_payload(new))
    payload["data"]["state"] = {"id": "state-new-1", "name": "In review (QA)", "color": "#f2994a",
                                "type": "started"}
    payload["data"]["stateId"] = "state-new-1"
    body, headers = FakeLinear.signed(payload, SECRET)
    post(client, body, headers)
    delivery_process(WebhookDelivery.objects.get(delivery_id=headers["Linear-Delivery"]).pk)
    local = LinearIssue.objects.get(linear_id=new["id"])
    assert local.state.name == "In review (QA)"
    assert LinearWorkflowState.objects.get(linear_id="state-new-1").type == "started"

    bare = fake_linear.add_issue(fake_linear.teams[0], "A payload without its state")
    payload = fake_linear.envelope("Issue", "create", fake_linear.issue_payload(bare))
    payload["data"].pop("state")
    payload["data"]["stateId"] = "state-never-seen"
    body, headers = FakeLinear.signed(payload, SECRET)
    post(client, body, headers)
    delivery = WebhookDelivery.objects.get(delivery_id=headers["Linear-Delivery"])
    delivery_process(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "no Linear API key is connected" in delivery.error
    assert not LinearIssue.objects.filter(linear_id=bare["id"]).exists()


def test_a_create_and_a_remove(mapping, fake_linear, hook_secret, client):
    new = fake_linear.add_issue(fake_linear.teams[0], "Fresh from Linear", priority=1)
    body, headers = FakeLinear.signed(
        fake_linear.envelope("Issue", "create", fake_linear.issue_payload(new)), SECRET
    )
    post(client, body, headers)
    delivery_process(WebhookDelivery.objects.get(delivery_id=headers["Linear-Delivery"]).pk)
    local = LinearIssue.objects.get(linear_id=new["id"])
    assert local.priority == 1 and local.state.name == "Todo"
    body, headers = FakeLinear.signed(
        fake_linear.envelope("Issue", "remove", fake_linear.issue_payload(new)), SECRET
    )
    post(client, body, headers)
    delivery_process(WebhookDelivery.objects.get(delivery_id=headers["Linear-Delivery"]).pk)
    assert LinearIssue.objects.get(linear_id=new["id"]).deleted_at is not None
    kinds = list(AgentEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["linear.issue.created", "linear.issue.removed"]


def test_comment_label_cycle_and_project_events_update_the_copy(
    mapping, fake_linear, hook_secret, client
):
    from apps.linear.models import LinearCycle, LinearLabel, LinearProject

    issue = fake_linear.issues[1]
    team_id = fake_linear.teams[0]["id"]
    events = [
        (
            "Comment",
            "create",
            {
                "id": "c1",
                "body": "Looks good",
                "issueId": issue["id"],
                "createdAt": fake_linear.now(),
                "user": {"id": "u", "name": "Ada"},
            },
        ),
        (
            "IssueLabel",
            "create",
            {"id": "lbl-new", "name": "Perf", "color": "#00ff00", "teamId": team_id},
        ),
        (
            "Cycle",
            "update",
            {
                "id": fake_linear.cycles[0]["id"],
                "number": 1,
                "name": "Renamed sprint",
                "teamId": team_id,
                "startsAt": fake_linear.now(),
                "endsAt": fake_linear.now(),
            },
        ),
        (
            "Project",
            "update",
            {
                "id": fake_linear.projects[0]["id"],
                "name": "Launch v2",
                "url": "https://x",
                "teamIds": [team_id],
            },
        ),
    ]
    for type_, action, data in events:
        body, headers = FakeLinear.signed(fake_linear.envelope(type_, action, data), SECRET)
        assert post(client, body, headers).status_code == 200
        delivery_process(WebhookDelivery.objects.get(delivery_id=headers["Linear-Delivery"]).pk)
    assert LinearComment.objects.get(linear_id="c1").body == "Looks good"
    assert LinearLabel.objects.get(linear_id="lbl-new").name == "Perf"
    assert LinearCycle.objects.get(linear_id=fake_linear.cycles[0]["id"]).name == "Renamed sprint"
    assert LinearProject.objects.get(linear_id=fake_linear.projects[0]["id"]).name == "Launch v2"
    assert not WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).exists()


def test_a_failing_delivery_is_marked_failed(synced, fake_linear, hook_secret, client):
    body, headers = FakeLinear.signed(
        fake_linear.envelope("Cycle", "update", {"id": "cy", "teamId": None, "number": "NaN?"}),
        SECRET,
    )
    post(client, body, headers)
    delivery = WebhookDelivery.objects.get()
    delivery_process(delivery.pk)
    # a cycle of an unknown team is skipped, not an error
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PROCESSED
    body2, headers2 = FakeLinear.signed(
        fake_linear.envelope("Issue", "update", {"title": "no id"}), SECRET
    )
    post(client, body2, headers2)
    delivery_process(WebhookDelivery.objects.get(delivery_id=headers2["Linear-Delivery"]).pk)
    assert (
        WebhookDelivery.objects.get(delivery_id=headers2["Linear-Delivery"]).status
        == DeliveryStatus.FAILED
    )


def test_payload_is_stored_as_sent(synced, fake_linear, hook_secret, client):
    payload = fake_linear.envelope(
        "Issue", "update", fake_linear.issue_payload(fake_linear.issues[0])
    )
    body, headers = FakeLinear.signed(payload, SECRET)
    post(client, body, headers)
    assert WebhookDelivery.objects.get().payload == json.loads(body)


def test_a_delivery_stored_while_the_queue_is_down_is_processed_later(
        mapping, fake_linear, hook_secret, client, django_capture_on_commit_callbacks):
    """The broker refuses the task: Linear still gets its 200 (the row is stored), a retry of
    that unprocessed delivery is queued again rather than answered "duplicate", and the sweep
    processes it a minute later whatever happens."""
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from apps.linear.tasks import process_delivery
    from apps.linear.webhooks import delivery_sweep

    issue = fake_linear.issues[4]
    body, headers = FakeLinear.signed(issue_update(fake_linear, issue, title="While Redis slept"),
                                      SECRET)
    with mock.patch.object(process_delivery, "delay",
                           side_effect=OperationalError("Error 111 connecting to redis")) as down:
        with django_capture_on_commit_callbacks(execute=True):
            first = post(client, body, headers)
        with django_capture_on_commit_callbacks(execute=True):
            retry = post(client, body, headers)
    assert first.status_code == 200 and first.json()["status"] == "accepted"
    assert retry.status_code == 200 and retry.json()["status"] == "accepted"
    assert down.call_count == 2
    delivery = WebhookDelivery.objects.get(delivery_id=headers["Linear-Delivery"])
    assert delivery.status == DeliveryStatus.RECEIVED
    assert delivery_sweep() == 0  # not yet a minute old
    assert delivery_sweep(now=timezone.now() + timedelta(minutes=2)) == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.PROCESSED
    assert LinearIssue.objects.get(linear_id=issue["id"]).title == "While Redis slept"
    # Processed now: a late retry is the duplicate it is.
    assert post(client, body, headers).json()["status"] == "duplicate"
    assert WebhookDelivery.objects.count() == 1


def test_a_worker_dying_mid_effect_leaves_the_delivery_to_be_applied_again(
        mapping, fake_linear, hook_secret, client):
    """The claim commits with the effect: a crash between them (here a BaseException from
    inside the effect, as a kill would interrupt it) rolls both back."""
    from unittest import mock

    from apps.linear import webhooks

    issue = fake_linear.issues[5]
    body, headers = FakeLinear.signed(issue_update(fake_linear, issue, title="Applied once"),
                                      SECRET)
    post(client, body, headers)
    delivery = WebhookDelivery.objects.get(delivery_id=headers["Linear-Delivery"])
    with mock.patch.object(webhooks, "_apply", side_effect=SystemExit("killed")), \
            pytest.raises(SystemExit):
        delivery_process(delivery.pk)
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.RECEIVED
    delivery_process(delivery.pk)
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.PROCESSED
    assert LinearIssue.objects.get(linear_id=issue["id"]).title == "Applied once"
