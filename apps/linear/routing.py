"""Routing Linear issues to agents.

A new or updated issue is matched against the enabled rules in order; the first match picks
the least-loaded available agent among its targets (a named agent is a pool of one). An agent
is available when it is idle or working (not sleeping, blocked, erroring, stopped or offline)
and has fewer open tasks than the target's capacity. When none is free the issue waits
(`route_waiting_since`) and is assigned when an agent frees up.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.linear.models import LinearIssue, RoutingRule, RoutingTarget

logger = logging.getLogger(__name__)

OPEN_TASK_STATUSES = ("pending", "in_progress", "blocked")
AVAILABLE_AGENT_STATUSES = ("idle", "working")
CLOSED_STATE_TYPES = ("completed", "canceled")


def enqueue_routing(issue_ids: list[int]) -> None:
    if not issue_ids or not RoutingRule.objects.filter(enabled=True).exists():
        return
    from apps.linear.tasks import route_issues

    ids = list(issue_ids)
    transaction.on_commit(lambda: route_issues.delay(ids))


def open_task_for(issue: LinearIssue) -> Any:
    from apps.agents.models import AgentTask

    return (
        AgentTask.objects.filter(linear_issue_id=issue.linear_id, status__in=OPEN_TASK_STATUSES)
        .select_related("agent")
        .first()
    )


def routable(issue: LinearIssue) -> bool:
    if not issue.is_visible:
        return False
    return not (issue.state_id and issue.state.type in CLOSED_STATE_TYPES)


def rule_for(issue: LinearIssue) -> RoutingRule | None:
    label_ids = set(issue.labels.values_list("id", flat=True))
    for rule in RoutingRule.objects.filter(enabled=True).order_by("order", "id"):
        if rule.matches(issue, label_ids):
            return rule
    return None


def pick_agent(rule: RoutingRule) -> Any:
    """The least-loaded available target with room left, or None."""
    targets = list(
        RoutingTarget.objects.filter(rule=rule, agent__status__in=AVAILABLE_AGENT_STATUSES)
        .select_related("agent")
        .annotate(load=Count("agent__tasks", filter=Q(agent__tasks__status__in=OPEN_TASK_STATUSES)))
    )
    free = [t for t in targets if t.load < t.capacity]
    if not free:
        return None
    best = min(free, key=lambda t: (t.load / max(t.capacity, 1), t.load, t.agent_id))
    return best.agent


@transaction.atomic
def issue_route(*, issue: LinearIssue) -> Any:
    """Assign the issue if a rule matches and an agent is free; otherwise mark it waiting.
    Returns the AgentTask or None. Idempotent: an issue with an open task is left alone."""
    issue = (
        LinearIssue.objects.select_for_update(of=("self",)).select_related("state").get(pk=issue.pk)
    )
    if not routable(issue) or open_task_for(issue) is not None:
        _stop_waiting(issue)
        return None
    rule = rule_for(issue)
    if rule is None:
        _stop_waiting(issue)
        return None
    agent = pick_agent(rule)
    if agent is None:
        if issue.route_waiting_since is None or issue.route_rule_id != rule.pk:
            LinearIssue.objects.filter(pk=issue.pk).update(
                route_rule=rule, route_waiting_since=timezone.now()
            )
        return None
    return _assign(issue, agent, rule=rule, actor=None, actor_label=f"routing: {rule.name}")


def _stop_waiting(issue: LinearIssue) -> None:
    if issue.route_waiting_since is not None:
        LinearIssue.objects.filter(pk=issue.pk).update(route_waiting_since=None)


def _assign(
    issue: LinearIssue, agent: Any, *, rule: RoutingRule | None, actor: Any, actor_label: str
) -> Any:
    from apps.agents.services import task_assign

    task = task_assign(
        agent=agent,
        title=f"{issue.identifier} {issue.title}"[:300],
        description=_task_description(issue),
        priority=issue.priority if 0 <= issue.priority <= 4 else 0,
        linear_issue_id=issue.linear_id,
        actor=actor,
        actor_label=actor_label,
    )
    LinearIssue.objects.filter(pk=issue.pk).update(
        route_rule=rule or issue.route_rule, route_waiting_since=None
    )
    return task


def _task_description(issue: LinearIssue) -> str:
    head = f"Linear issue {issue.identifier}: {issue.url}".strip()
    return f"{head}\n\n{issue.description}".strip()


@transaction.atomic
def issue_assign_manual(*, issue: LinearIssue, agent: Any, actor: Any) -> Any:
    """ "Assign to agent" from a card: no rule, no capacity check, but never twice."""
    issue = LinearIssue.objects.select_for_update().get(pk=issue.pk)
    existing = open_task_for(issue)
    if existing is not None:
        raise ValueError(f"{issue.identifier} already has an open task for {existing.agent}.")
    label = actor.get_username() if actor is not None else ""
    return _assign(issue, agent, rule=None, actor=actor, actor_label=label)


def assign_waiting(*, limit: int = 100) -> int:
    """Try the waiting issues, oldest first. Returns how many were assigned."""
    assigned = 0
    waiting = LinearIssue.objects.filter(route_waiting_since__isnull=False).order_by(
        "route_waiting_since", "id"
    )[:limit]
    for issue in waiting:
        if issue_route(issue=issue) is not None:
            assigned += 1
    return assigned


def completion_actions(*, task_id: int) -> tuple[LinearIssue, RoutingRule] | None:
    """The issue and the rule whose completion actions apply to a completed task."""
    from apps.agents.models import AgentTask

    task = AgentTask.objects.filter(pk=task_id).first()
    if task is None or not task.linear_issue_id:
        return None
    issue = LinearIssue.objects.filter(linear_id=task.linear_issue_id).first()
    if issue is None:
        return None
    rule = issue.route_rule or rule_for(issue)
    if rule is None or (rule.complete_state_id is None and not rule.comment_on_complete):
        return None
    return issue, rule


# Event kinds after which a waiting issue may find a free agent.
FREEING_KINDS = {
    "task.completed",
    "task.failed",
    "agent.status_changed",
    "agent.woke",
    "agent.unblocked",
    "agent.online",
    "agent.registered",
}


def reactor(event_id: int, kind: str, project_id: int, agent_id: int | None) -> None:
    """Registered with apps.core.events: runs after commit and only enqueues tasks."""
    if kind not in FREEING_KINDS:
        return
    from apps.linear import tasks

    if kind == "task.completed":
        tasks.task_completed.delay(event_id)
    # The task itself checks whether anything waits; the reactor never touches the database.
    tasks.assign_waiting.delay()
