"""Remote approval: a permission prompt of an agent, answered from the control room.

The agent's hook files the prompt (`approval_request`) and polls it until a person allows or
denies it (`approval_decide`) or its wait runs out (`approval_expire`: the terminal's own prompt
decides, as without Switchboard). Every step is an event on the agent, so the page updates
live and the event log is the audit trail of who decided what."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
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
                    message: str = "", now: datetime | None = None) -> ApprovalRequest:
    """A person allows or denies. Only a prompt still waiting can be decided; deciding one that
    was answered already (by someone else, or locally) is refused with a clear message."""
    now = now or timezone.now()
    if decision not in DECISIONS:
        raise ValidationError({"decision": ["allow or deny."]})
    approval = ApprovalRequest.objects.select_for_update().select_related("agent").get(
        pk=approval.pk)
    if not approval.is_open(now):
        shown = approval.get_status_display().lower() if approval.status != "pending" \
            else "answered locally"
        raise ValidationError(f"This request was {shown} already.")
    label = actor.get_username() if getattr(actor, "is_authenticated", False) else ""
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
