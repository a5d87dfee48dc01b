"""Celery tasks: thin wrappers that take ids and call sync/services/routing."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from apps.linear.client import (
    LinearAuthError,
    LinearError,
    NotConfigured,
    RateLimited,
    connection_client,
)
from apps.linear.models import LinearConnection, SyncKind, SyncRun, SyncStatus

logger = logging.getLogger(__name__)

MAX_SYNC_ATTEMPTS = 5
STALE_RUN = timedelta(minutes=30)


def _fail(run: SyncRun, status: str, message: str) -> None:
    from apps.linear.sync import run_note

    run_note(run, message)
    SyncRun.objects.filter(pk=run.pk).update(status=status, error=message[:2000])
    LinearConnection.objects.filter(pk=1).update(last_error=message[:1000])


@shared_task(name="linear.full_sync", ignore_result=True, bind=True, max_retries=None)
def full_sync(self, run_id: int | None = None) -> None:  # type: ignore[no-untyped-def]
    """Full sync; on failure it is retried and resumes from the run's cursor."""
    from apps.linear import sync

    run = SyncRun.objects.filter(pk=run_id).first() if run_id else None
    if run is None:
        run = sync.resumable_full_run() or sync.start_run(SyncKind.FULL)
    if run.status == SyncStatus.OK:
        return
    SyncRun.objects.filter(pk=run.pk).update(status=SyncStatus.RUNNING, attempts=run.attempts + 1)
    run.attempts += 1
    try:
        sync.full_sync(run, sync.client_for(run))
    except NotConfigured as exc:
        _fail(run, SyncStatus.FAILED, str(exc))
    except RateLimited as exc:
        _fail(
            run,
            SyncStatus.WAITING,
            f"Waiting {exc.wait_seconds:.0f}s for Linear's rate limit reset.",
        )
        raise self.retry(args=[run.pk], countdown=max(1, int(exc.wait_seconds) + 1)) from None
    except Exception as exc:
        _fail(run, SyncStatus.FAILED, f"{exc.__class__.__name__}: {exc}")
        # A refused key will not start working by itself: the owner has to act.
        if run.attempts < MAX_SYNC_ATTEMPTS and not isinstance(exc, LinearAuthError):
            raise self.retry(args=[run.pk], countdown=min(300, 5 * 2**run.attempts)) from None


@shared_task(name="linear.incremental_sync", ignore_result=True)
def incremental_sync() -> None:
    """Beat: changes since the watermark. Without a watermark (never synced) a full sync."""
    from apps.linear import sync

    conn = LinearConnection.get()
    busy = SyncRun.objects.filter(
        status__in=[SyncStatus.RUNNING, SyncStatus.WAITING],
        started_at__gte=timezone.now() - STALE_RUN,
    ).exists()
    if busy:
        return
    try:
        client = connection_client(conn)
    except NotConfigured:
        return
    if conn.sync_watermark is None:
        full_sync.delay()
        return
    run = sync.start_run(SyncKind.INCREMENTAL)
    client.on_note = lambda m: sync.run_note(run, m)
    try:
        sync.incremental_sync(run, client, conn.sync_watermark)
    except RateLimited as exc:
        _fail(
            run,
            SyncStatus.FAILED,
            f"Rate limited; the next sync resumes ({exc.wait_seconds:.0f}s).",
        )
    except Exception as exc:
        _fail(run, SyncStatus.FAILED, f"{exc.__class__.__name__}: {exc}")
    finally:
        SyncRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(
            finished_at=timezone.now()
        )


@shared_task(name="linear.process_delivery", ignore_result=True)
def process_delivery(delivery_id: int) -> None:
    from apps.linear.webhooks import delivery_process

    delivery_process(delivery_id)


@shared_task(name="linear.sweep_deliveries", ignore_result=True)
def sweep_deliveries() -> int:
    from apps.linear.webhooks import delivery_sweep

    return delivery_sweep()


@shared_task(name="linear.fetch_issue", ignore_result=True, bind=True, max_retries=3)
def fetch_issue(self, linear_id: str) -> None:  # type: ignore[no-untyped-def]
    """An issue we did not know about: take the whole node from Linear."""
    from apps.linear import queries, upserts
    from apps.linear.announce import issues_announce
    from apps.linear.routing import enqueue_routing

    try:
        data = connection_client().execute(queries.ISSUE, {"id": linear_id})
    except NotConfigured:
        return
    except LinearError as exc:
        raise self.retry(countdown=10) from exc
    node = data.get("issue")
    if not node:
        return
    with transaction.atomic():
        changes = upserts.upsert_issues([node], force=True)
        issues_announce(changes)
        enqueue_routing([pk for pk, _ in changes])


@shared_task(name="linear.push_issue_state", ignore_result=True)
def push_issue_state(issue_id: int) -> None:
    from apps.linear.services import issue_push_state

    issue_push_state(issue_id=issue_id)


@shared_task(name="linear.route_issues", ignore_result=True)
def route_issues(issue_ids: list[int]) -> None:
    from apps.linear.models import LinearIssue
    from apps.linear.routing import issue_route

    for issue in LinearIssue.objects.filter(pk__in=issue_ids).order_by("id"):
        try:
            issue_route(issue=issue)
        except Exception:
            logger.exception("routing %s failed", issue.identifier)


@shared_task(name="linear.assign_waiting", ignore_result=True)
def assign_waiting() -> None:
    from apps.linear.routing import assign_waiting as run

    run()


@shared_task(name="linear.task_completed", ignore_result=True, bind=True, max_retries=5)
def task_completed(self, event_id: int) -> None:  # type: ignore[no-untyped-def]
    """An agent completed a task: move its Linear issue and comment back, per the rule."""
    from apps.agents.models import AgentEvent
    from apps.linear.services import issue_complete_in_linear

    event = AgentEvent.objects.filter(pk=event_id).first()
    if event is None:
        return
    task_id = event.task_id or (event.data or {}).get("task_id")
    if not task_id:
        return
    try:
        issue_complete_in_linear(task_id=int(task_id))
    except NotConfigured:
        return
    except RateLimited as exc:
        raise self.retry(countdown=int(exc.wait_seconds) + 1) from exc
    except LinearError as exc:
        logger.warning("completing task %s in Linear failed: %s", task_id, exc)
        raise self.retry(countdown=30) from exc


# --- Switchboard as a Linear agent ----------------------------------------------------------------
@shared_task(name="linear.session_flush", ignore_result=True)
def session_flush(session_id: int) -> None:
    from apps.linear.session_outbox import session_flush as flush

    flush(session_id)


@shared_task(name="linear.session_mirror", ignore_result=True)
def session_mirror(event_id: int) -> None:
    from apps.linear.agent_sessions import event_mirror

    event_mirror(event_id)


@shared_task(name="linear.session_outbox_sweep", ignore_result=True)
def session_outbox_sweep() -> None:
    from apps.linear.session_outbox import outbox_sweep

    outbox_sweep()


@shared_task(name="linear.session_actions", ignore_result=True)
def session_actions() -> None:
    from apps.linear.agent_sessions import actions_summarise

    actions_summarise()
