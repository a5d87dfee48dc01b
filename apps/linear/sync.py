"""Full and incremental sync of the Linear workspace into the local copy.

Full sync: one request for teams, states, projects, cycles, labels and users (paged per
connection), then issues 250 a page. The run's cursor is saved in the same transaction as
each page, so a run that fails (network, rate limit) resumes where it stopped. Issues not
seen by a complete full sync were deleted in Linear and are marked so.

Incremental sync: one request per team for whatever changed since the watermark (the largest
`updatedAt` seen).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from apps.linear import queries, upserts
from apps.linear.announce import board_refresh, issues_announce
from apps.linear.client import LinearClient
from apps.linear.models import (
    LinearConnection,
    LinearIssue,
    LinearTeam,
    ProjectMapping,
    SyncKind,
    SyncRun,
    SyncStatus,
)

logger = logging.getLogger(__name__)

# (response field, variable prefix, upsert) in dependency order: teams first.
WORKSPACE_PARTS: list[tuple[str, str, Callable[[list[dict[str, Any]]], int]]] = [
    ("teams", "teams", upserts.upsert_teams),
    ("workflowStates", "states", upserts.upsert_states),
    ("projects", "projects", upserts.upsert_projects),
    ("cycles", "cycles", upserts.upsert_cycles),
    ("issueLabels", "labels", upserts.upsert_labels),
    ("users", "users", upserts.upsert_users),
]


def client_for(run: SyncRun) -> LinearClient:
    """A client whose rate-limit notes go to the run's log."""
    from apps.linear.client import connection_client

    return connection_client(on_note=lambda message: run_note(run, message))


def run_note(run: SyncRun, message: str) -> None:
    entry = {"at": timezone.now().isoformat(timespec="seconds"), "message": message}
    run.log = [*run.log, entry][-200:]
    SyncRun.objects.filter(pk=run.pk).update(log=run.log)


def _bump(run: SyncRun, key: str, n: int) -> None:
    run.counts[key] = run.counts.get(key, 0) + n


def full_sync(run: SyncRun, client: LinearClient) -> SyncRun:
    cursor = dict(run.cursor or {})
    if cursor.get("stage", "workspace") == "workspace":
        _sync_workspace(run, client, cursor)
    if cursor.get("stage") == "issues":
        _sync_issues(run, client, cursor)
    finish_full(run)
    return run


def _sync_workspace(run: SyncRun, client: LinearClient, cursor: dict[str, Any]) -> None:
    parts = cursor.setdefault("parts", {})
    while True:
        todo = [(f, p, fn) for f, p, fn in WORKSPACE_PARTS if not parts.get(p, {}).get("done")]
        if not todo:
            break
        variables: dict[str, Any] = {"first": queries.PAGE_SIZE}
        for _field, prefix, _fn in WORKSPACE_PARTS:
            variables[f"with{prefix.capitalize()}"] = any(p == prefix for _, p, _ in todo)
            variables[f"{prefix}After"] = parts.get(prefix, {}).get("after")
        data = client.execute(queries.WORKSPACE, variables)
        with transaction.atomic():
            teams_done = parts.get("teams", {}).get("done", False)
            for field, prefix, upsert in todo:
                conn = data.get(field)
                if conn is None:
                    continue
                # Everything else points at teams: only take it once all teams are in.
                if prefix != "teams" and prefix != "users" and not teams_done:
                    continue
                _bump(run, prefix, upsert(conn["nodes"]))
                info = conn["pageInfo"]
                parts[prefix] = {"after": info.get("endCursor"), "done": not info["hasNextPage"]}
                if prefix == "teams":
                    teams_done = parts[prefix]["done"]
            if all(parts.get(p, {}).get("done") for _, p, _ in WORKSPACE_PARTS):
                cursor["stage"] = "issues"
                cursor.pop("parts", None)
            _save_progress(run, client, cursor)
        if cursor.get("stage") == "issues":
            break


def _sync_issues(run: SyncRun, client: LinearClient, cursor: dict[str, Any]) -> None:
    while True:
        data = client.execute(
            queries.ISSUES, {"first": queries.PAGE_SIZE, "after": cursor.get("after")}
        )
        conn = data["issues"]
        with transaction.atomic():
            changes = upserts.upsert_issues(conn["nodes"], run=run)
            _bump(run, "issues", len(conn["nodes"]))
            _bump(run, "issues_changed", len(changes))
            info = conn["pageInfo"]
            cursor["after"] = info.get("endCursor") or cursor.get("after")
            if not info["hasNextPage"]:
                cursor["stage"] = "done"
            _save_progress(run, client, cursor)
        if cursor["stage"] == "done":
            return


def _save_progress(run: SyncRun, client: LinearClient, cursor: dict[str, Any]) -> None:
    run.cursor = cursor
    run.requests += client.requests_made
    client.requests_made = 0
    SyncRun.objects.filter(pk=run.pk).update(
        cursor=run.cursor, counts=run.counts, requests=run.requests
    )


@transaction.atomic
def finish_full(run: SyncRun) -> None:
    now = timezone.now()
    # Issues a complete pass did not see were deleted (or moved out of reach) in Linear.
    removed = (
        LinearIssue.objects.filter(deleted_at__isnull=True)
        .exclude(last_seen_run=run)
        .update(deleted_at=now, version=F("version") + 1)
    )
    if removed:
        run.counts["issues_removed"] = removed
    watermark = LinearIssue.objects.aggregate(m=Max("updated_at_linear"))["m"]
    LinearConnection.objects.filter(pk=1).update(
        sync_watermark=watermark, last_full_sync_at=now, last_sync_at=now, last_error=""
    )
    run.status = SyncStatus.OK
    run.finished_at = now
    run.error = ""
    run.save(update_fields=["status", "finished_at", "counts", "error"])
    board_refresh(project_ids=list(ProjectMapping.objects.values_list("project_id", flat=True)))


def incremental_teams() -> list[LinearTeam]:
    """Mapped teams when there are mappings (only they matter), otherwise every team."""
    mapped = LinearTeam.objects.filter(mappings__isnull=False, archived_at__isnull=True).distinct()
    return list(mapped) or list(LinearTeam.objects.filter(archived_at__isnull=True))


def incremental_sync(run: SyncRun, client: LinearClient, since: datetime) -> SyncRun:
    newest = since
    since_value = linear_time(since)
    changed_ids: list[int] = []
    for team in incremental_teams():
        after = None
        while True:
            data = client.execute(
                queries.TEAM_CHANGES,
                {
                    "teamId": team.linear_id,
                    "teamIdEq": team.linear_id,
                    "since": since_value,
                    "first": queries.PAGE_SIZE,
                    "after": after,
                    "withTeam": after is None,
                },
            )
            with transaction.atomic():
                meta = data.get("team")
                if meta:
                    upserts.upsert_teams([meta])
                    _bump(run, "states", upserts.upsert_states(meta["states"]["nodes"]))
                    _bump(run, "labels", upserts.upsert_labels(meta["labels"]["nodes"]))
                    _bump(run, "cycles", upserts.upsert_cycles(meta["cycles"]["nodes"]))
                    _bump(run, "projects", upserts.upsert_projects(meta["projects"]["nodes"]))
                conn = data["issues"]
                changes = upserts.upsert_issues(conn["nodes"])
                _bump(run, "issues", len(changes))
                issues_announce(changes)
                changed_ids.extend(pk for pk, kind in changes if kind != upserts.REMOVED)
                for node in conn["nodes"]:
                    seen = upserts.parse_dt(node.get("updatedAt"))
                    if seen and seen > newest:
                        newest = seen
            info = conn["pageInfo"]
            if not info["hasNextPage"]:
                break
            after = info["endCursor"]
    now = timezone.now()
    run.requests += client.requests_made
    client.requests_made = 0
    run.status = SyncStatus.OK
    run.finished_at = now
    run.save(update_fields=["status", "finished_at", "counts", "requests"])
    LinearConnection.objects.filter(pk=1).update(
        sync_watermark=newest, last_sync_at=now, last_error=""
    )
    if changed_ids:
        from apps.linear.routing import enqueue_routing

        enqueue_routing(changed_ids)
    return run


def linear_time(value: datetime) -> str:
    """Linear's own format (UTC, milliseconds, Z)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def start_run(kind: str) -> SyncRun:
    return SyncRun.objects.create(kind=kind)


def resumable_full_run() -> SyncRun | None:
    """A full run that stopped (failure or rate limit) and can pick up from its cursor."""
    return (
        SyncRun.objects.filter(
            kind=SyncKind.FULL, status__in=[SyncStatus.FAILED, SyncStatus.WAITING]
        )
        .exclude(cursor={})
        .order_by("-started_at")
        .first()
    )
