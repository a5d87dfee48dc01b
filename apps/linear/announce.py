"""Tell the rest of Switchboard that Linear issues changed: `linear.issue.*` events on the
Switchboard projects mapped to the issue's team (and Linear project), which push live board
updates and wake the routing reactor.

A bulk import (a full sync page) would mean thousands of events nobody wants in the activity
feed, so big batches send one board refresh per project instead.
"""

from __future__ import annotations

from django.db import transaction

from apps.core.events import record_event
from apps.linear.models import LinearIssue, ProjectMapping

EVENT_BATCH_LIMIT = 100
BOARD_REFRESH = "linear.board.refresh"


def mappings_for(
    issue: LinearIssue, mappings: list[ProjectMapping] | None = None
) -> list[ProjectMapping]:
    mappings = mappings if mappings is not None else list(ProjectMapping.objects.all())
    return [m for m in mappings if m.covers(issue)]


def issues_announce(changes: list[tuple[int, str]], *, actor_label: str = "linear") -> None:
    if not changes:
        return
    mappings = list(ProjectMapping.objects.select_related("project"))
    if not mappings:
        return
    if len(changes) > EVENT_BATCH_LIMIT:
        board_refresh(project_ids=[m.project_id for m in mappings])
        return
    issues = LinearIssue.objects.in_bulk([pk for pk, _ in changes])
    for pk, kind in changes:
        issue = issues.get(pk)
        if issue is None:
            continue
        for mapping in mappings_for(issue, mappings):
            record_event(
                f"linear.issue.{kind}",
                project=mapping.project,
                actor_label=actor_label,
                data={
                    "issue_id": issue.pk,
                    "linear_id": issue.linear_id,
                    "identifier": issue.identifier,
                    "title": issue.title[:200],
                    "version": issue.version,
                },
            )


def board_refresh(*, project_ids: list[int]) -> None:
    """After commit, ask every open board of these projects for a fresh snapshot."""
    from apps.realtime.groups import project_group
    from apps.realtime.publish import publish

    def send() -> None:
        for pid in set(project_ids):
            try:
                publish(
                    project_group(pid),
                    {
                        "type": "sb.event",
                        "event_id": 0,
                        "kind": BOARD_REFRESH,
                        "project_id": pid,
                        "agent_id": None,
                    },
                )
            except Exception:  # a dead channel layer must not fail a sync that committed
                pass

    transaction.on_commit(send)
