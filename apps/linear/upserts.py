"""Idempotent upserts of Linear nodes into the local copy, a page at a time.

Each function takes the nodes of one GraphQL page, resolves the Linear ids they point at with
one query per referenced table, and writes with one bulk INSERT ... ON CONFLICT. Re-running on
the same page changes nothing (issue versions only move when Linear's updatedAt does).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import F, Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.linear.models import (
    LinearCycle,
    LinearIssue,
    LinearLabel,
    LinearProject,
    LinearTeam,
    LinearUser,
    LinearWorkflowState,
    SyncRun,
    state_type_rank,
)

CREATED, UPDATED, REMOVED = "created", "updated", "removed"


def parse_dt(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.utc)
    return parsed


def _ref(node: dict[str, Any], key: str) -> str | None:
    """Linear id of a nested `{key: {id}}` or a flat `keyId` (webhook payloads)."""
    value = node.get(key)
    if isinstance(value, dict):
        return value.get("id")
    return node.get(f"{key}Id")


def _id_map(model: type[Model], linear_ids: Iterable[str | None]) -> dict[str, int]:
    wanted = {i for i in linear_ids if i}
    if not wanted:
        return {}
    return dict(model._default_manager.filter(linear_id__in=wanted).values_list("linear_id", "id"))


def _bulk(model: type[Model], rows: list[Model], fields: list[str]) -> None:
    if rows:
        model._default_manager.bulk_create(
            rows, update_conflicts=True, unique_fields=["linear_id"], update_fields=fields
        )


def upsert_teams(nodes: list[dict[str, Any]]) -> int:
    rows = [
        LinearTeam(
            linear_id=n["id"],
            key=n.get("key") or "",
            name=n.get("name") or "",
            color=n.get("color") or "",
            archived_at=parse_dt(n.get("archivedAt")),
            updated_at_linear=parse_dt(n.get("updatedAt")),
        )
        for n in nodes
    ]
    _bulk(LinearTeam, rows, ["key", "name", "color", "archived_at", "updated_at_linear"])
    return len(rows)


def upsert_states(nodes: list[dict[str, Any]]) -> int:
    teams = _id_map(LinearTeam, (_ref(n, "team") for n in nodes))
    rows = [
        LinearWorkflowState(
            linear_id=n["id"],
            team_id=teams[_ref(n, "team")],
            name=n.get("name") or "",
            type=n.get("type") or "",
            color=n.get("color") or "",
            position=n.get("position") or 0,
            type_rank=state_type_rank(n.get("type") or ""),
            archived_at=parse_dt(n.get("archivedAt")),
        )
        for n in nodes
        if _ref(n, "team") in teams
    ]
    _bulk(
        LinearWorkflowState,
        rows,
        ["team", "name", "type", "color", "position", "type_rank", "archived_at"],
    )
    return len(rows)


def upsert_labels(nodes: list[dict[str, Any]]) -> int:
    teams = _id_map(LinearTeam, (_ref(n, "team") for n in nodes))
    rows = [
        LinearLabel(
            linear_id=n["id"],
            team_id=teams.get(_ref(n, "team") or ""),
            name=n.get("name") or "",
            color=n.get("color") or "",
            archived_at=parse_dt(n.get("archivedAt")),
        )
        for n in nodes
    ]
    _bulk(LinearLabel, rows, ["team", "name", "color", "archived_at"])
    return len(rows)


def upsert_cycles(nodes: list[dict[str, Any]]) -> int:
    teams = _id_map(LinearTeam, (_ref(n, "team") for n in nodes))
    rows = [
        LinearCycle(
            linear_id=n["id"],
            team_id=teams[_ref(n, "team")],
            number=int(n.get("number") or 0),
            name=n.get("name") or "",
            starts_at=parse_dt(n.get("startsAt")),
            ends_at=parse_dt(n.get("endsAt")),
            archived_at=parse_dt(n.get("archivedAt")),
        )
        for n in nodes
        if _ref(n, "team") in teams
    ]
    _bulk(LinearCycle, rows, ["team", "number", "name", "starts_at", "ends_at", "archived_at"])
    return len(rows)


def upsert_projects(nodes: list[dict[str, Any]]) -> int:
    rows = [
        LinearProject(
            linear_id=n["id"],
            name=n.get("name") or "",
            url=n.get("url") or "",
            state=((n.get("status") or {}).get("name") or n.get("state") or "")[:40],
            archived_at=parse_dt(n.get("archivedAt")),
        )
        for n in nodes
    ]
    _bulk(LinearProject, rows, ["name", "url", "state", "archived_at"])
    team_links = {
        n["id"]: [t["id"] for t in ((n.get("teams") or {}).get("nodes") or [])]
        if "teams" in n
        else n.get("teamIds")
        for n in nodes
    }
    team_links = {k: v for k, v in team_links.items() if v is not None}
    if team_links:
        projects = _id_map(LinearProject, team_links)
        teams = _id_map(LinearTeam, (t for ids in team_links.values() for t in ids))
        through = LinearProject.teams.through
        through.objects.filter(linearproject_id__in=projects.values()).delete()
        through.objects.bulk_create(
            [
                through(linearproject_id=projects[p], linearteam_id=teams[t])
                for p, ids in team_links.items()
                for t in ids
                if p in projects and t in teams
            ],
            ignore_conflicts=True,
        )
    return len(rows)


def _user_row(n: dict[str, Any]) -> LinearUser:
    return LinearUser(
        linear_id=n["id"],
        name=n.get("name") or "",
        display_name=n.get("displayName") or "",
        email=n.get("email") or "",
        avatar_url=n.get("avatarUrl") or "",
        active=n.get("active", True) is not False,
    )


def upsert_users(nodes: list[dict[str, Any]]) -> int:
    rows = [_user_row(n) for n in nodes]
    _bulk(LinearUser, rows, ["name", "display_name", "email", "avatar_url", "active"])
    return len(rows)


ISSUE_FIELDS = [
    "identifier",
    "number",
    "title",
    "description",
    "team",
    "state",
    "priority",
    "estimate",
    "sort_order",
    "assignee",
    "project",
    "cycle",
    "url",
    "created_at_linear",
    "updated_at_linear",
    "archived_at",
    "deleted_at",
    "last_seen_run",
    "version",
    "move_error",
]


def upsert_issues(
    nodes: list[dict[str, Any]], *, run: SyncRun | None = None, force: bool = False
) -> list[tuple[int, str]]:
    """Upsert one page of issues; returns [(issue pk, "created"|"updated"|"removed")] for the
    rows that changed. An issue whose drag is still being confirmed keeps its board state."""
    if not nodes:
        return []
    ids = [n["id"] for n in nodes]
    existing = {
        row["linear_id"]: row
        for row in LinearIssue.objects.filter(linear_id__in=ids).values(
            "linear_id", "id", "version", "updated_at_linear", "deleted_at", "pending_from_state"
        )
    }
    # Assignees travel inside the issue: keep the user table current from them.
    assignees = {
        n["assignee"]["id"]: n["assignee"] for n in nodes if isinstance(n.get("assignee"), dict)
    }
    full_users = [u for u in assignees.values() if "name" in u]
    if full_users:
        upsert_users(full_users)
    teams = _id_map(LinearTeam, (_ref(n, "team") for n in nodes))
    states = _id_map(LinearWorkflowState, (_ref(n, "state") for n in nodes))
    users = _id_map(LinearUser, (_ref(n, "assignee") for n in nodes))
    projects = _id_map(LinearProject, (_ref(n, "project") for n in nodes))
    cycles = _id_map(LinearCycle, (_ref(n, "cycle") for n in nodes))
    labels = _id_map(LinearLabel, (lid for n in nodes for lid in _label_ids(n)))

    rows: list[LinearIssue] = []
    changes: list[tuple[str, str]] = []
    unchanged: list[str] = []
    now = timezone.now()
    for n in nodes:
        team_id = teams.get(_ref(n, "team") or "")
        if team_id is None:
            continue  # a team we do not know yet; the next full sync brings it
        old = existing.get(n["id"])
        updated = parse_dt(n.get("updatedAt"))
        gone = bool(n.get("trashed"))
        if old is not None and not force and old["pending_from_state"] is not None:
            unchanged.append(n["id"])
            continue
        if (
            old is not None
            and not force
            and updated is not None
            and old["updated_at_linear"] == updated
            and (old["deleted_at"] is not None) == gone
        ):
            unchanged.append(n["id"])
            continue
        kind = (
            CREATED if old is None else (REMOVED if gone and old["deleted_at"] is None else UPDATED)
        )
        changes.append((n["id"], kind))
        rows.append(
            LinearIssue(
                linear_id=n["id"],
                identifier=n.get("identifier") or "",
                number=int(n.get("number") or 0),
                title=(n.get("title") or "")[:500],
                description=n.get("description") or "",
                team_id=team_id,
                state_id=states.get(_ref(n, "state") or ""),
                priority=int(n.get("priority") or 0),
                estimate=n.get("estimate"),
                sort_order=n.get("sortOrder") or 0,
                assignee_id=users.get(_ref(n, "assignee") or ""),
                project_id=projects.get(_ref(n, "project") or ""),
                cycle_id=cycles.get(_ref(n, "cycle") or ""),
                url=n.get("url") or "",
                created_at_linear=parse_dt(n.get("createdAt")),
                updated_at_linear=updated,
                archived_at=parse_dt(n.get("archivedAt")),
                deleted_at=(now if gone else None),
                last_seen_run=run,
                version=(old["version"] + 1) if old else 1,
                move_error="",
            )
        )
    _bulk(LinearIssue, rows, ISSUE_FIELDS)
    if run is not None and unchanged:
        LinearIssue.objects.filter(linear_id__in=unchanged).update(last_seen_run=run)
    if not rows:
        return []
    pks = _id_map(LinearIssue, (r.linear_id for r in rows))
    through = LinearIssue.labels.through
    through.objects.filter(linearissue_id__in=pks.values()).delete()
    through.objects.bulk_create(
        [
            through(linearissue_id=pks[n["id"]], linearlabel_id=labels[lid])
            for n in nodes
            if n["id"] in pks and n["id"] not in unchanged
            for lid in _label_ids(n)
            if lid in labels
        ],
        ignore_conflicts=True,
    )
    return [(pks[lid], kind) for lid, kind in changes if lid in pks]


def _label_ids(node: dict[str, Any]) -> list[str]:
    if node.get("labelIds") is not None:
        return list(node["labelIds"])
    labels = node.get("labels")
    if isinstance(labels, dict):
        return [x["id"] for x in labels.get("nodes") or []]
    if isinstance(labels, list):
        return [x["id"] for x in labels if isinstance(x, dict)]
    return []


def mark_issue_removed(linear_id: str) -> int | None:
    """A delete from Linear: keep the row (tasks point at it) but hide it everywhere."""
    issue = LinearIssue.objects.filter(linear_id=linear_id, deleted_at__isnull=True).first()
    if issue is None:
        return None
    LinearIssue.objects.filter(pk=issue.pk).update(
        deleted_at=timezone.now(), version=F("version") + 1
    )
    return issue.pk
