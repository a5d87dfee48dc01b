"""Writes: the connection, project mappings, board moves and their confirmation by Linear."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core import crypto
from apps.core.audit import audit_record
from apps.linear import queries, upserts
from apps.linear.announce import issues_announce
from apps.linear.client import LinearClient, LinearError, connection_client
from apps.linear.models import (
    LinearConnection,
    LinearIssue,
    LinearProject,
    LinearTeam,
    LinearWorkflowState,
    ProjectMapping,
)

WEBHOOK_RESOURCE_TYPES = ["Issue", "Comment", "Project", "Cycle", "IssueLabel"]


# --- connection ------------------------------------------------------------------------------
def connection_verify(*, client: LinearClient) -> dict[str, Any]:
    """Ask Linear who we are; raises LinearError when the key does not work."""
    return client.execute(queries.VIEWER)


@transaction.atomic
def connection_set_key(
    *, api_key: str, actor: Any, request: Any = None, api_url: str = ""
) -> LinearConnection:
    """Check the key against Linear, then store it encrypted. Raises LinearError."""
    from django.conf import settings

    conn = LinearConnection.get()
    api_key = api_key.strip()
    url = api_url or conn.api_url or settings.LINEAR_API_URL
    data = connection_verify(client=LinearClient(api_url=url, api_key=api_key))
    conn.api_key_encrypted = crypto.encrypt(api_key)
    conn.api_key_hint = api_key[-4:]
    conn.organization_name = (data.get("organization") or {}).get("name", "")
    conn.viewer_name = (data.get("viewer") or {}).get("name", "")
    conn.verified_at = timezone.now()
    conn.last_error = ""
    conn.save()
    audit_record(
        "linear.key_set",
        actor=actor,
        request=request,
        target=conn,
        data={"organization": conn.organization_name},
    )
    return conn


@transaction.atomic
def connection_clear_key(*, actor: Any, request: Any = None) -> LinearConnection:
    conn = LinearConnection.get()
    conn.api_key_encrypted = ""
    conn.api_key_hint = ""
    conn.verified_at = None
    conn.save()
    audit_record("linear.key_removed", actor=actor, request=request, target=conn, data={})
    return conn


def connection_register_webhook(*, url: str, actor: Any, request: Any = None) -> LinearConnection:
    """Create Switchboard's webhook in Linear with a fresh secret (webhookCreate). Raises
    LinearError. The secret is stored encrypted; LINEAR_WEBHOOK_SECRET, if set, still wins."""
    conn = LinearConnection.get()
    secret = secrets.token_hex(32)
    data = connection_client(conn).execute(
        queries.WEBHOOK_CREATE,
        {
            "input": {
                "url": url,
                "resourceTypes": WEBHOOK_RESOURCE_TYPES,
                "allPublicTeams": True,
                "label": "Switchboard",
                "secret": secret,
                "enabled": True,
            }
        },
    )
    result = data.get("webhookCreate") or {}
    if not result.get("success"):
        raise LinearError("Linear did not create the webhook.")
    with transaction.atomic():
        conn.webhook_secret_encrypted = crypto.encrypt(secret)
        conn.webhook_id = result["webhook"]["id"]
        conn.webhook_url = url
        conn.save()
        audit_record(
            "linear.webhook_registered",
            actor=actor,
            request=request,
            target=conn,
            data={"url": url, "webhook_id": conn.webhook_id},
        )
    return conn


def connection_note_error(message: str) -> None:
    LinearConnection.objects.filter(pk=1).update(last_error=message[:1000])


# --- mappings --------------------------------------------------------------------------------
@transaction.atomic
def mapping_set(
    *,
    project: Any,
    team: LinearTeam | None,
    linear_project: LinearProject | None,
    actor: Any,
    request: Any = None,
) -> ProjectMapping | None:
    if team is None:
        ProjectMapping.objects.filter(project=project).delete()
        audit_record(
            "linear.mapping_removed", actor=actor, request=request, target=project, data={}
        )
        return None
    if linear_project is not None and not linear_project.teams.filter(pk=team.pk).exists():
        raise ValueError(f"Linear project {linear_project} does not belong to team {team}.")
    mapping, _ = ProjectMapping.objects.update_or_create(
        project=project, defaults={"team": team, "linear_project": linear_project}
    )
    audit_record(
        "linear.mapping_set",
        actor=actor,
        request=request,
        target=project,
        data={"team": team.key, "linear_project": str(linear_project or "")},
    )
    return mapping


# --- board moves -----------------------------------------------------------------------------
@transaction.atomic
def issue_move(*, issue: LinearIssue, state: LinearWorkflowState, actor: Any) -> LinearIssue:
    """Move the card at once; a Celery task asks Linear (issue_push_state) and confirms or
    moves it back."""
    issue = LinearIssue.objects.select_for_update().get(pk=issue.pk)
    if state.team_id != issue.team_id:
        raise ValueError("That column belongs to another team.")
    if issue.state_id == state.pk:
        return issue
    LinearIssue.objects.filter(pk=issue.pk).update(
        pending_from_state=issue.pending_from_state_id or issue.state_id,
        state=state,
        move_error="",
        version=F("version") + 1,
    )
    issue.refresh_from_db()
    issues_announce([(issue.pk, upserts.UPDATED)], actor_label=actor.get_username())
    from apps.linear.tasks import push_issue_state

    pk = issue.pk
    transaction.on_commit(lambda: push_issue_state.delay(pk))
    return issue


def issue_push_state(*, issue_id: int) -> None:
    """Send the board's state to Linear. Refused: the card goes back with Linear's reason."""
    issue = LinearIssue.objects.select_related("state").filter(pk=issue_id).first()
    if issue is None or issue.pending_from_state_id is None or issue.state is None:
        return
    wanted = issue.state_id
    try:
        data = connection_client().execute(
            queries.ISSUE_UPDATE,
            {"id": issue.linear_id, "input": {"stateId": issue.state.linear_id}},
        )
        result = data.get("issueUpdate") or {}
        if not result.get("success"):
            raise LinearError("Linear did not accept the change.")
    except LinearError as exc:
        _move_refused(issue_id, wanted, str(exc))
        return
    with transaction.atomic():
        # Only confirm if nobody moved the card again meanwhile.
        if LinearIssue.objects.filter(pk=issue_id, state_id=wanted).update(pending_from_state=None):
            node = result.get("issue")
            if node:
                upserts.upsert_issues([node], force=True)
                issues_announce([(issue_id, upserts.UPDATED)], actor_label="linear")


@transaction.atomic
def _move_refused(issue_id: int, wanted: int, reason: str) -> None:
    issue = LinearIssue.objects.select_for_update().filter(pk=issue_id).first()
    if issue is None or issue.state_id != wanted or issue.pending_from_state_id is None:
        return
    LinearIssue.objects.filter(pk=issue_id).update(
        state=issue.pending_from_state_id,
        pending_from_state=None,
        move_error=f"Linear refused the move: {reason}"[:500],
        version=F("version") + 1,
    )
    issues_announce([(issue_id, upserts.UPDATED)], actor_label="linear")


# --- completion ------------------------------------------------------------------------------
def issue_complete_in_linear(*, task_id: int) -> list[str]:
    """After an agent completes a routed task: move the issue / comment back, per the rule.
    Returns what was done (for logs and tests)."""
    from apps.agents.models import AgentTask
    from apps.linear.routing import completion_actions

    found = completion_actions(task_id=task_id)
    if found is None:
        return []
    issue, rule = found
    task = AgentTask.objects.select_related("agent").get(pk=task_id)
    client = connection_client()
    done = []
    if rule.complete_state_id and rule.complete_state.team_id == issue.team_id:
        data = client.execute(
            queries.ISSUE_UPDATE,
            {"id": issue.linear_id, "input": {"stateId": rule.complete_state.linear_id}},
        )
        node = (data.get("issueUpdate") or {}).get("issue")
        if node:
            with transaction.atomic():
                changes = upserts.upsert_issues([node], force=True)
                issues_announce(changes)
        done.append("moved")
    if rule.comment_on_complete:
        agent = task.agent.name if task.agent else "an agent"
        body = f"Completed by Switchboard agent **{agent}**."
        if task.result:
            body += f"\n\n{task.result}"
        client.execute(
            queries.COMMENT_CREATE, {"input": {"issueId": issue.linear_id, "body": body}}
        )
        done.append("commented")
    return done
