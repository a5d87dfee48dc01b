"""Reads shared by the board view, its live consumer and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Prefetch, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from apps.linear.models import (
    LinearCycle,
    LinearIssue,
    LinearLabel,
    LinearUser,
    LinearWorkflowState,
    ProjectMapping,
)

CARDS_PER_COLUMN = 60
OPEN_TASK_STATUSES = ("pending", "in_progress", "blocked")
FILTER_KEYS = ("label", "assignee", "agent", "cycle")


@dataclass
class BoardFilters:
    label: int | None = None
    assignee: int | None = None  # LinearUser pk; 0 = unassigned
    agent: int | None = None
    cycle: int | None = None

    @classmethod
    def parse(cls, params: Any) -> BoardFilters:
        values: dict[str, int | None] = {}
        for key in FILTER_KEYS:
            raw = (params.get(key) or "").strip()
            values[key] = int(raw) if raw.isdigit() else None
        return cls(**values)

    def as_query(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @property
    def active(self) -> bool:
        return bool(self.as_query())


def board_mappings() -> list[ProjectMapping]:
    return list(
        ProjectMapping.objects.filter(project__archived=False)
        .select_related("project", "team", "linear_project")
        .order_by("project__name")
    )


def pick_mapping(
    mappings: list[ProjectMapping], *, project: Any, board_id: str | None
) -> ProjectMapping | None:
    if board_id and board_id.isdigit():
        chosen = next((m for m in mappings if m.pk == int(board_id)), None)
        if chosen is not None:
            return chosen
    if project is not None:
        chosen = next((m for m in mappings if m.project_id == project.pk), None)
        if chosen is not None:
            return chosen
    return mappings[0] if mappings else None


def agent_issue_ids(agent_id: int) -> list[str]:
    from apps.agents.models import AgentTask

    return list(
        AgentTask.objects.filter(agent_id=agent_id, status__in=OPEN_TASK_STATUSES)
        .exclude(linear_issue_id="")
        .values_list("linear_issue_id", flat=True)
    )


def mapping_issues(
    mapping: ProjectMapping, filters: BoardFilters | None = None
) -> QuerySet[LinearIssue]:
    qs = LinearIssue.objects.filter(
        team_id=mapping.team_id, archived_at__isnull=True, deleted_at__isnull=True
    )
    if mapping.linear_project_id:
        qs = qs.filter(project_id=mapping.linear_project_id)
    f = filters or BoardFilters()
    if f.label:
        qs = qs.filter(labels__id=f.label)
    if f.assignee is not None:
        qs = (
            qs.filter(assignee__isnull=True)
            if f.assignee == 0
            else qs.filter(assignee_id=f.assignee)
        )
    if f.cycle:
        qs = qs.filter(cycle_id=f.cycle)
    if f.agent:
        qs = qs.filter(linear_id__in=agent_issue_ids(f.agent))
    return qs


def card_queryset(qs: QuerySet[LinearIssue]) -> QuerySet[LinearIssue]:
    return (
        qs.select_related("assignee", "state")
        .prefetch_related(
            Prefetch("labels", queryset=LinearLabel.objects.only("id", "name", "color"))
        )
        .annotate(comment_count=Count("comments", filter=Q(comments__deleted_at__isnull=True)))
    )


def attach_agents(issues: list[LinearIssue]) -> list[LinearIssue]:
    """Set `issue.agent_task` (open task with its agent, or None) and `issue.chip_version`
    with one query, whatever the number of cards."""
    from apps.agents.models import AgentTask

    by_issue: dict[str, Any] = {}
    ids = [i.linear_id for i in issues]
    if ids:
        for task in (
            AgentTask.objects.filter(linear_issue_id__in=ids, status__in=OPEN_TASK_STATUSES)
            .select_related("agent")
            .order_by("created_at", "id")
        ):
            by_issue[task.linear_issue_id] = task
    sessions = _open_sessions([i.pk for i in issues])
    for issue in issues:
        task = by_issue.get(issue.linear_id)
        issue.agent_task = task  # type: ignore[attr-defined]
        issue.chip_version = chip_version(task)  # type: ignore[attr-defined]
        issue.agent_session = sessions.get(issue.pk)  # type: ignore[attr-defined]
    return issues


def _open_sessions(issue_pks: list[int]) -> dict[int, Any]:
    """The newest Linear agent session of each card (delegated in Linear), one query."""
    from apps.linear.models_agent import LinearAgentSession

    found: dict[int, Any] = {}
    if issue_pks:
        for session in (LinearAgentSession.objects.filter(issue_id__in=issue_pks)
                        .select_related("agent").order_by("created_at", "id")):
            found[session.issue_id] = session
    return found


def chip_version(task: Any) -> int:
    """Agent chips change without the issue changing: version them by the latest of the task
    and agent update times (ms), which only grows."""
    if task is None or task.agent is None:
        return 1
    latest = max(task.updated_at, task.agent.updated_at)
    return int(latest.timestamp() * 1000)


@dataclass
class Column:
    state: LinearWorkflowState
    cards: list[LinearIssue] = field(default_factory=list)
    total: int = 0

    @property
    def hidden(self) -> int:
        return max(0, self.total - len(self.cards))


def board_columns(mapping: ProjectMapping, filters: BoardFilters) -> list[Column]:
    """Columns in Linear's order, each with its first CARDS_PER_COLUMN cards. A fixed number
    of queries: states, counts, cards (ranked per column with a window), labels, tasks."""
    states = list(
        LinearWorkflowState.objects.filter(
            team_id=mapping.team_id, archived_at__isnull=True
        ).order_by("type_rank", "position", "name")
    )
    base = mapping_issues(mapping, filters)
    counts = dict(base.values("state_id").annotate(n=Count("id")).values_list("state_id", "n"))
    ranked = base.annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("state_id")],
            order_by=[F("sort_order").asc(), F("id").asc()],
        )
    )
    cards = list(
        card_queryset(ranked.filter(rank__lte=CARDS_PER_COLUMN)).order_by("sort_order", "id")
    )
    attach_agents(cards)
    columns = {s.pk: Column(state=s, total=counts.get(s.pk, 0)) for s in states}
    for card in cards:
        if card.state_id in columns:
            columns[card.state_id].cards.append(card)
    return list(columns.values())


def board_card(issue_id: int) -> LinearIssue | None:
    issue = card_queryset(LinearIssue.objects.filter(pk=issue_id)).first()
    if issue is not None:
        attach_agents([issue])
    return issue


def filter_choices(mapping: ProjectMapping) -> dict[str, Any]:
    from apps.agents.models import Agent

    return {
        "labels": list(
            LinearLabel.objects.filter(
                Q(team_id=mapping.team_id) | Q(team__isnull=True), archived_at__isnull=True
            )
        ),
        "assignees": list(LinearUser.objects.filter(issues__team_id=mapping.team_id).distinct()),
        "cycles": list(
            LinearCycle.objects.filter(team_id=mapping.team_id, archived_at__isnull=True)
        ),
        "agents": list(Agent.objects.filter(project_id=mapping.project_id).order_by("name")),
    }


def api_issues(
    *, project: Any = None, state: str = "", assignee: str = "", agent: str = ""
) -> QuerySet[LinearIssue]:
    qs = (
        LinearIssue.objects.filter(deleted_at__isnull=True)
        .select_related("team", "state", "assignee", "project", "cycle")
        .prefetch_related("labels")
    )
    if project is not None:
        mapping = ProjectMapping.objects.filter(project=project).first()
        if mapping is None:
            return qs.none()
        qs = (
            mapping_issues(mapping)
            .select_related("team", "state", "assignee", "project", "cycle")
            .prefetch_related("labels")
        )
    if state:
        qs = qs.filter(
            Q(state__linear_id=state) | Q(state__name__iexact=state) | Q(state__type=state)
        )
    if assignee:
        qs = qs.filter(
            Q(assignee__linear_id=assignee)
            | Q(assignee__email__iexact=assignee)
            | Q(assignee__display_name__iexact=assignee)
        )
    if agent:
        qs = qs.filter(linear_id__in=agent_issue_ids(int(agent))) if agent.isdigit() else qs.none()
    return qs


def agent_linear_session(agent_id: int) -> Any:
    """The newest Linear agent session this agent works for, or None (the agent page links it)."""
    from apps.linear.models_agent import LinearAgentSession

    return LinearAgentSession.objects.filter(agent_id=agent_id).order_by("-created_at", "-id").first()
