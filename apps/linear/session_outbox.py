"""Sending a session's queued activities to Linear: in order, once, without losing any.

One sender per session at a time (a lease on the session row, taken with a conditional
update, so two workers never interleave a session's activities). Each activity goes out with
its own UUID as Linear's id: a retry after a lost answer is recognised by Linear and counted as
sent. When Linear is down or rate-limits, the activity waits with a backoff and everything
after it waits too (order is kept); a refusal (bad input) is recorded and the next goes on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from apps.linear import queries
from apps.linear.app_install import install_client
from apps.linear.client import LinearAuthError, LinearError, RateLimited
from apps.linear.models_agent import (
    ActivityKind,
    LinearAgentActivity,
    LinearAgentSession,
    LinearAppInstall,
    OutboxStatus,
)

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = 600


def backoff_seconds(attempts: int) -> int:
    return min(MAX_BACKOFF, 2 ** max(0, attempts))


def _send(client: object, session: LinearAgentSession, activity: LinearAgentActivity) -> None:
    if activity.kind == ActivityKind.SESSION_UPDATE:
        data = client.execute(queries.AGENT_SESSION_UPDATE,  # type: ignore[attr-defined]
                              {"id": session.linear_id, "input": activity.content})
        if not (data.get("agentSessionUpdate") or {}).get("success"):
            raise LinearError("Linear did not update the session.")
        return
    content = {"type": activity.kind, **activity.content}
    try:
        data = client.execute(queries.AGENT_ACTIVITY_CREATE, {"input": {  # type: ignore[attr-defined]
            "id": str(activity.activity_id), "agentSessionId": session.linear_id,
            "content": content, "ephemeral": activity.ephemeral}})
    except LinearError as exc:
        if "already exists" in str(exc).lower():
            return  # our earlier attempt reached Linear; only its answer was lost
        raise
    if not (data.get("agentActivityCreate") or {}).get("success"):
        raise LinearError("Linear did not create the activity.")


def session_flush(session_id: int, now: datetime | None = None) -> int:
    """Send what is due for one session. Returns how many were sent."""
    now = now or timezone.now()
    claimed = LinearAgentSession.objects.filter(pk=session_id).filter(
        Q(outbox_lease_until__isnull=True) | Q(outbox_lease_until__lt=now)).update(
        outbox_lease_until=now + LEASE)
    if not claimed:
        return 0  # another sender has it; it sends everything queued, this one included
    sent = 0
    try:
        session = LinearAgentSession.objects.select_related("install").get(pk=session_id)
        while True:
            activity = (LinearAgentActivity.objects.filter(session_id=session_id,
                                                           status=OutboxStatus.PENDING)
                        .order_by("seq").first())
            if activity is None or activity.next_attempt_at > timezone.now():
                break
            try:
                _send(install_client(session.install), session, activity)
            except RateLimited as exc:
                _defer(activity, max(1, int(exc.wait_seconds) + 1), str(exc))
                break
            except LinearAuthError as exc:
                LinearAppInstall.objects.filter(pk=session.install_id).update(
                    last_error=f"Linear refused the app token: {exc}"[:1000])
                _defer(activity, 300, str(exc))
                break
            except LinearError as exc:
                if _is_refusal(exc):
                    LinearAgentActivity.objects.filter(pk=activity.pk).update(
                        status=OutboxStatus.REFUSED, error=str(exc)[:2000],
                        attempts=activity.attempts + 1)
                    continue
                _defer(activity, backoff_seconds(activity.attempts + 1), str(exc))
                break
            LinearAgentActivity.objects.filter(pk=activity.pk).update(
                status=OutboxStatus.SENT, sent_at=timezone.now(), attempts=activity.attempts + 1,
                error="")
            sent += 1
    finally:
        LinearAgentSession.objects.filter(pk=session_id).update(outbox_lease_until=None)
    return sent


def _is_refusal(exc: LinearError) -> bool:
    """Linear answered and said no (bad input): sending it again would not help. Network
    trouble and 5xx are LinearUnavailable (a LinearError too) and are retried."""
    from apps.linear.client import LinearUnavailable

    return not isinstance(exc, LinearUnavailable)


def _defer(activity: LinearAgentActivity, seconds: int, error: str) -> None:
    LinearAgentActivity.objects.filter(pk=activity.pk).update(
        attempts=activity.attempts + 1, error=error[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=seconds))
    logger.info("linear session %s: activity %s waits %ss (%s)", activity.session_id,
                activity.seq, seconds, error)


def outbox_sweep(now: datetime | None = None, limit: int = 200) -> int:
    """Beat: flush every session with an activity due (its first send failed or its task was
    lost). Returns how many sessions were flushed."""
    now = now or timezone.now()
    ids = list(LinearAgentActivity.objects.filter(
        status=OutboxStatus.PENDING, next_attempt_at__lte=now).order_by("session_id")
        .values_list("session_id", flat=True).distinct()[:limit])
    for session_id in ids:
        session_flush(session_id)
    return len(ids)
