"""Linear webhook intake: verify, store, answer; processing happens in Celery.

Verification follows Linear's rules: HMAC-SHA256 (hex) of the raw body with the webhook
secret in `Linear-Signature`, compared in constant time; `webhookTimestamp` (ms) within 60 s
of now; `Linear-Delivery` is unique, so a replay is stored once and processed once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from apps.core import crypto
from apps.core.events import bump_version
from apps.core.text import bad_text
from apps.linear import upserts
from apps.linear.announce import issues_announce
from apps.linear.models import (
    DeliveryStatus,
    LinearComment,
    LinearConnection,
    LinearIssue,
    LinearTeam,
    LinearWorkflowState,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)

MAX_SKEW_SECONDS = 60
MAX_BODY_BYTES = 1024 * 1024
HANDLED_TYPES = {"Issue", "Comment", "Project", "Cycle", "IssueLabel", "AgentSessionEvent"}


@dataclass
class Rejection(Exception):
    status: int
    message: str


def webhook_secret() -> str:
    if settings.LINEAR_WEBHOOK_SECRET:
        return settings.LINEAR_WEBHOOK_SECRET
    token = (
        LinearConnection.objects.filter(pk=1)
        .values_list("webhook_secret_encrypted", flat=True)
        .first()
    )
    return crypto.decrypt(token or "")


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity; Linear never sends them


def verify(*, body: bytes, headers: Any, now: float | None = None) -> tuple[str, dict[str, Any]]:
    """(delivery id, payload) or Rejection. Nothing is written here."""
    if len(body) > MAX_BODY_BYTES:
        raise Rejection(413, "Request body is larger than 1 MB.")
    signature = headers.get("Linear-Signature") or ""
    delivery_id = (headers.get("Linear-Delivery") or "").strip()
    if not signature or not delivery_id:
        raise Rejection(400, "Missing Linear-Signature or Linear-Delivery header.")
    if len(delivery_id) > 100:
        raise Rejection(400, "Linear-Delivery is too long.")
    given = signature.strip().lower()
    # The workspace webhook's secret first (the busy path: issue events), and only when it does
    # not match, each app installation's session-event webhook's (a query and a decryption).
    workspace = webhook_secret()
    if not (workspace and hmac.compare_digest(sign(body, workspace), given)):
        from apps.linear.app_install import webhook_secrets

        installs = webhook_secrets()
        if not workspace and not installs:
            raise Rejection(503, "No webhook secret is configured.")
        if not any(hmac.compare_digest(sign(body, s), given) for s in installs):
            raise Rejection(401, "Signature does not match.")
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Rejection(400, "Malformed JSON body.") from None
    if not isinstance(payload, dict):
        raise Rejection(400, "The body must be a JSON object.")
    bad = bad_text(payload)  # NUL or a lone surrogate would fail the INSERT or every reader
    if bad:
        raise Rejection(400, f"The body is refused: {bad}.")
    stamp = payload.get("webhookTimestamp")
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
        raise Rejection(400, "webhookTimestamp is missing.")
    skew = abs((now if now is not None else time.time()) - stamp / 1000)
    if skew > MAX_SKEW_SECONDS:
        raise Rejection(400, f"webhookTimestamp is {skew:.0f}s off; at most {MAX_SKEW_SECONDS}s.")
    return delivery_id, payload


def delivery_store(*, delivery_id: str, payload: dict[str, Any]) -> tuple[int | None, bool]:
    """Store once: (row id, created); a replay stores nothing and returns created=False.

    The hot path is one INSERT ... ON CONFLICT DO NOTHING RETURNING in autocommit: one round
    trip and one commit, no savepoint, no exception for a replay (PostgreSQL and SQLite)."""
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    if not data and isinstance(payload.get("agentSession"), dict):
        data = payload["agentSession"]  # AgentSessionEvent: the session is the resource
    table = WebhookDelivery._meta.db_table
    payload_field = WebhookDelivery._meta.get_field("payload")
    received_field = WebhookDelivery._meta.get_field("received_at")
    conn = connections[router.db_for_write(WebhookDelivery)]
    params = [
        delivery_id,
        str(payload.get("type") or "")[:60],
        str(payload.get("action") or "")[:30],
        str(data.get("id") or "")[:64],
        payload_field.get_db_prep_save(payload, conn),
        DeliveryStatus.RECEIVED,
        "",
        received_field.get_db_prep_save(timezone.now(), conn),
    ]
    with conn.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (delivery_id, resource_type, action, resource_id, payload, "
            f"status, error, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            f"ON CONFLICT (delivery_id) DO NOTHING RETURNING id",
            params,
        )
        row = cursor.fetchone()
    if row is None:
        # A retry of a delivery stored but never processed (the queue was down when it came)
        # is not swallowed: it is queued again. One already processed is a duplicate.
        waiting = WebhookDelivery.objects.filter(
            delivery_id=delivery_id, status=DeliveryStatus.RECEIVED).values_list("pk", flat=True)
        pk = next(iter(waiting), None)
        if pk is not None:
            _enqueue(pk)
        return pk, pk is not None
    pk = row[0]
    _enqueue(pk)
    return pk, True


def _enqueue(pk: int) -> None:
    """Queue the processing after commit. The row is stored whatever happens here: when the
    broker is down the sweep (delivery_sweep) processes it later, and Linear gets its 200."""
    from apps.core.queueing import enqueue
    from apps.linear.tasks import process_delivery

    transaction.on_commit(lambda: enqueue(process_delivery, pk,
                                          recovered_by="the webhook sweep (delivery_sweep)"))


# --- processing (Celery) ----------------------------------------------------------------------
@transaction.atomic
def delivery_process(delivery_id: int) -> None:
    """Apply one stored delivery, once. The claim (a conditional update) and the effect commit
    together: a worker killed in between rolls both back, the row stays `received`, and the
    sweep applies it again; a second worker finds it claimed and does nothing."""
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.RECEIVED).update(
        status=DeliveryStatus.PROCESSED, processed_at=timezone.now()
    )
    if not claimed:
        return
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    if delivery.resource_type not in HANDLED_TYPES:
        WebhookDelivery.objects.filter(pk=delivery_id).update(status=DeliveryStatus.IGNORED)
        return
    try:
        with transaction.atomic():
            _apply(delivery)
    except Exception as exc:
        logger.exception("linear webhook %s failed", delivery.delivery_id)
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.FAILED, error=f"{exc.__class__.__name__}: {exc}"[:2000]
        )


def delivery_sweep(now: Any = None, limit: int = 200) -> int:
    """Process deliveries still `received` one sweep interval (LINEAR_SWEEP_SECONDS) after they
    came (their queueing failed, or a worker died mid-way): every stored delivery is processed
    eventually."""
    from datetime import timedelta

    now = now or timezone.now()
    ids = list(WebhookDelivery.objects.filter(
        status=DeliveryStatus.RECEIVED, received_at__lt=now - timedelta(seconds=settings.LINEAR_SWEEP_SECONDS),
    ).order_by("id").values_list("pk", flat=True)[:limit])
    for pk in ids:
        delivery_process(pk)
    return len(ids)


def _apply(delivery: WebhookDelivery) -> None:
    payload = delivery.payload
    action = payload.get("action")
    data = payload.get("data") or {}
    kind = delivery.resource_type
    if kind == "Issue":
        _apply_issue(action, data)
    elif kind == "Comment":
        _apply_comment(action, data)
    elif kind == "Project":
        if action == "remove":
            data = {**data, "archivedAt": data.get("archivedAt") or timezone.now().isoformat()}
        upserts.upsert_projects([data])
    elif kind == "Cycle":
        upserts.upsert_cycles([data])
    elif kind == "AgentSessionEvent":
        from apps.linear.agent_sessions import event_apply

        event_apply(payload)
    elif kind == "IssueLabel":
        if action == "remove":
            data = {**data, "archivedAt": data.get("archivedAt") or timezone.now().isoformat()}
        upserts.upsert_labels([data])


def _apply_issue(action: str, data: dict[str, Any]) -> None:
    linear_id = data.get("id")
    if not linear_id:
        raise ValueError("Issue payload without id")
    if action == "remove":
        pk = upserts.mark_issue_removed(linear_id)
        if pk:
            issues_announce([(pk, upserts.REMOVED)])
        return
    state_id = data.get("stateId") or (data.get("state") or {}).get("id")
    if state_id and not LinearWorkflowState.objects.filter(linear_id=state_id).exists():
        _store_team_and_state(data, state_id)
    if not (state_id and LinearWorkflowState.objects.filter(linear_id=state_id).exists()):
        # The payload does not say enough: only Linear can complete it.
        from apps.linear.client import NotConfigured, connection_client
        from apps.linear.tasks import fetch_issue

        try:
            connection_client()
        except NotConfigured:
            raise ValueError(f"issue {data.get('identifier') or linear_id}: its workflow state "
                             "is not in the payload nor known here, and no Linear API key is "
                             "connected to fetch it") from None
        linear = linear_id
        transaction.on_commit(lambda: fetch_issue.delay(linear))
        return
    # The payload is the whole issue (IssueWebhookPayload): an issue we never saw is stored
    # from it, no fetch needed.
    changes = upserts.upsert_issues([data])
    issues_announce(changes)
    if changes:
        from apps.linear.routing import enqueue_routing

        enqueue_routing([pk for pk, kind in changes if kind != upserts.REMOVED])


def _store_team_and_state(data: dict[str, Any], state_id: str) -> None:
    """A team or workflow state first seen in an issue payload: stored from it (known ones are
    left as the sync wrote them, with fields the payload lacks)."""
    team = data.get("team") if isinstance(data.get("team"), dict) else {}
    team_id = data.get("teamId") or team.get("id")
    state = data.get("state") if isinstance(data.get("state"), dict) else {}
    if not team_id or state.get("id") != state_id:
        return
    if not LinearTeam.objects.filter(linear_id=team_id).exists():
        upserts.upsert_teams([{**team, "id": team_id}])
    upserts.upsert_states([{**state, "team": {"id": team_id}}])


def _apply_comment(action: str, data: dict[str, Any]) -> None:
    issue = LinearIssue.objects.filter(linear_id=data.get("issueId") or "").first()
    if issue is None or not data.get("id"):
        return
    user = data.get("user") or {}
    if action == "remove":
        LinearComment.objects.filter(linear_id=data["id"]).update(deleted_at=timezone.now())
    else:
        LinearComment.objects.update_or_create(
            linear_id=data["id"],
            defaults={
                "issue": issue,
                "body": data.get("body") or "",
                "user_name": user.get("name") or "",
                "created_at_linear": upserts.parse_dt(data.get("createdAt")),
            },
        )
    # The card shows a comment count: a new version makes the live update apply.
    bump_version(issue)
    issues_announce([(issue.pk, upserts.UPDATED)])
