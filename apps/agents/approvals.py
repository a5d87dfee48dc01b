"""Remote approval: a permission prompt of an agent, answered from the control room.

The agent's hook files the prompt (`approval_request`) and polls it until a person allows or
denies it (`approval_decide`) or its wait runs out (`approval_expire`: the terminal's own prompt
decides, as without Switchboard). Every step is an event on the agent, so the page updates
live and the event log is the audit trail of who decided what."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.agents.lifecycle import project_of
from apps.agents.models import Agent, ApprovalRequest, ApprovalStatus
from apps.core.events import record_event

MAX_WAIT_SECONDS = 3600
DECISIONS = {"allow": ApprovalStatus.ALLOWED, "deny": ApprovalStatus.DENIED}


def approval_request(*, agent: Agent, key: str, tool_name: str, summary: str, input: str,
                     wait_seconds: int, actor_label: str = "",
                     now: datetime | None = None) -> tuple[ApprovalRequest, bool]:
    """Idempotent on (agent, key): a retry of the same prompt returns the first row."""
    now = now or timezone.now()
    if not key:
        raise ValidationError({"key": ["required."]})
    wait = max(1, min(int(wait_seconds), MAX_WAIT_SECONDS))
    existing = ApprovalRequest.objects.filter(agent=agent, key=key[:200]).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            approval = ApprovalRequest.objects.create(
                project_id=agent.project_id, agent=agent, key=key[:200],
                tool_name=tool_name[:200], summary=summary[:500], input=input[:16000],
                expires_at=now + timedelta(seconds=wait), created_at=now)
            record_event("approval.requested", project=project_of(agent), agent=agent,
                         actor_label=actor_label,
                         data={"approval_id": approval.pk, "tool_name": approval.tool_name,
                               "summary": approval.summary, "wait_seconds": wait},
                         changed=agent, ts=now)
    except IntegrityError:
        return ApprovalRequest.objects.get(agent=agent, key=key[:200]), False
    return approval, True


@transaction.atomic
def approval_decide(*, approval: ApprovalRequest, decision: str, actor: Any,
                    message: str = "", actor_label: str = "",
                    now: datetime | None = None) -> ApprovalRequest:
    """A person allows or denies. Only a prompt still waiting can be decided; deciding one that
    was answered already (by someone else, or locally) is refused with a clear message.
    `actor_label` names a person who is not a member (someone answering in Linear)."""
    now = now or timezone.now()
    if decision not in DECISIONS:
        raise ValidationError({"decision": ["allow or deny."]})
    approval = ApprovalRequest.objects.select_for_update().select_related("agent").get(
        pk=approval.pk)
    if not approval.is_open(now):
        shown = approval.get_status_display().lower() if approval.status != "pending" \
            else "answered locally"
        raise ValidationError(f"This request was {shown} already.")
    label = actor.get_username() if getattr(actor, "is_authenticated", False) else actor_label
    name = getattr(actor, "display_name", "") or label or "someone"
    approval.status = DECISIONS[decision]
    approval.decided_by = actor if getattr(actor, "is_authenticated", False) else None
    approval.decided_at = now
    approval.message = (message or f"{'Allowed' if decision == 'allow' else 'Denied'} by "
                        f"{name} from Switchboard")[:500]
    approval.save(update_fields=["status", "decided_by", "decided_at", "message"])
    record_event("approval.decided", project=project_of(approval.agent), agent=approval.agent,
                 actor=approval.decided_by, actor_label=label,
                 data={"approval_id": approval.pk, "decision": approval.status,
                       "tool_name": approval.tool_name, "summary": approval.summary},
                 changed=approval.agent, ts=now)
    return approval


@transaction.atomic
def approval_expire(*, approval: ApprovalRequest, actor_label: str = "",
                    now: datetime | None = None) -> ApprovalRequest:
    """The hook stopped waiting: the local prompt decides. Idempotent."""
    now = now or timezone.now()
    approval = ApprovalRequest.objects.select_for_update().select_related("agent").get(
        pk=approval.pk)
    if approval.status != ApprovalStatus.PENDING:
        return approval
    approval.status = ApprovalStatus.EXPIRED
    approval.decided_at = now
    approval.save(update_fields=["status", "decided_at"])
    record_event("approval.expired", project=project_of(approval.agent), agent=approval.agent,
                 actor_label=actor_label,
                 data={"approval_id": approval.pk, "tool_name": approval.tool_name},
                 changed=approval.agent, ts=now)
    return approval


def pending_approval(agent_id: int | None, now: datetime | None = None) -> ApprovalRequest | None:
    """The newest prompt of the agent still waiting for a decision, if any."""
    if agent_id is None:
        return None
    return (ApprovalRequest.objects.filter(agent_id=agent_id, status=ApprovalStatus.PENDING,
                                           expires_at__gt=now or timezone.now())
            .order_by("-id").first())


# --- decisions from a notification ---------------------------------------------------------
# A web-push notification's Allow / Deny buttons run in the browser's service worker, which has
# the session cookie but no CSRF token: the push carries a signed token instead, naming the
# prompt and the person it was sent to (who must still be an admin when they press it).
TOKEN_SALT = "switchboard.approvals.notification"


def decision_token(approval_id: int, user: Any) -> str:
    return signing.dumps({"a": approval_id, "u": user.pk}, salt=TOKEN_SALT, compress=True)


def decide_with_token(*, token: str, decision: str) -> ApprovalRequest:
    """PermissionDenied for a bad or stale token or a user who may not decide; ValidationError
    when the prompt was answered already (approval_decide's message)."""
    from django.contrib.auth import get_user_model

    from apps.core import roles

    try:
        claims = signing.loads(token, salt=TOKEN_SALT, max_age=MAX_WAIT_SECONDS + 300)
        approval_id, user_id = int(claims["a"]), int(claims["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise PermissionDenied("This decision link is not valid (or too old).") from None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not roles.is_admin(user):
        raise PermissionDenied("Only admins can answer permission prompts.")
    approval = ApprovalRequest.objects.filter(pk=approval_id).first()
    if approval is None:
        raise PermissionDenied("This permission prompt no longer exists.")
    return approval_decide(approval=approval, decision=decision, actor=user)
