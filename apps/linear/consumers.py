"""The board's WebSocket: cards and agent chips as version-checked fragments."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.template.loader import render_to_string

from apps.core import roles
from apps.linear import selectors
from apps.linear.announce import BOARD_REFRESH
from apps.linear.models import LinearIssue, ProjectMapping
from apps.realtime.consumers import LivePageConsumer

TEMPLATE = "linear/board.html"


class BoardConsumer(LivePageConsumer):
    mapping: ProjectMapping | None

    def resolve_project_ids(self) -> set[int]:
        mappings = selectors.board_mappings()
        self.mapping = selectors.pick_mapping(
            mappings, project=None, board_id=self.query.get("board")
        )
        self.filters = selectors.BoardFilters.parse(self.query)
        return {self.mapping.project_id} if self.mapping is not None else set()

    def _context(self, **extra: Any) -> dict[str, Any]:
        assert self.mapping is not None
        return {
            "mapping": self.mapping,
            "can_edit": roles.is_admin(self.user),
            "choices": selectors.filter_choices(self.mapping),
            "request": _FakeRequest(self.mapping, self.filters),
            **extra,
        }

    def render_snapshot(self) -> str:
        if self.mapping is None:
            return ""
        columns = selectors.board_columns(self.mapping, self.filters)
        return render_to_string(f"{TEMPLATE}#board", self._context(columns=columns))

    def render_event(self, message: dict[str, Any]) -> str:
        if self.mapping is None:
            return ""
        kind = message.get("kind", "")
        if kind == BOARD_REFRESH:
            return self.render_snapshot()
        if kind.startswith("linear.issue."):
            return self._render_issue(message)
        if kind.startswith(("agent.", "task.")):
            return self._render_chips(message)
        return ""

    def _event_data(self, message: dict[str, Any]) -> dict[str, Any]:
        from apps.agents.models import AgentEvent

        data = (
            AgentEvent.objects.filter(pk=message.get("event_id"))
            .values_list("data", flat=True)
            .first()
        )
        return data or {}

    def _render_issue(self, message: dict[str, Any]) -> str:
        issue_id = self._event_data(message).get("issue_id")
        if not issue_id:
            return ""
        issue = selectors.board_card(int(issue_id))
        if issue is None:
            return ""
        shown = selectors.mapping_issues(self.mapping, self.filters).filter(pk=issue.pk).exists()
        if not shown:
            return f'<article id="issue-{issue.pk}" data-deleted data-version="{issue.version}"></article>'
        return render_to_string(f"{TEMPLATE}#card", self._context(issue=issue))

    def _render_chips(self, message: dict[str, Any]) -> str:
        linear_ids: set[str] = set()
        data = self._event_data(message)
        if data.get("linear_issue_id"):
            linear_ids.add(data["linear_issue_id"])
        agent_id = message.get("agent_id")
        if agent_id:
            linear_ids.update(selectors.agent_issue_ids(int(agent_id)))
        from apps.agents.models import AgentTask

        task_id = data.get("task_id")
        if task_id:
            linked = (
                AgentTask.objects.filter(pk=task_id)
                .values_list("linear_issue_id", flat=True)
                .first()
            )
            if linked:
                linear_ids.add(linked)
        if not linear_ids:
            return ""
        issues = list(selectors.mapping_issues(self.mapping).filter(linear_id__in=linear_ids))
        selectors.attach_agents(issues)
        return "".join(render_to_string(f"{TEMPLATE}#chip", {"issue": i}) for i in issues)


class _FakeRequest:
    """Cards carry a `next` URL for their assign form; consumers have no request."""

    def __init__(self, mapping: ProjectMapping, filters: selectors.BoardFilters) -> None:
        self._path = "/board/?" + urlencode({"board": mapping.pk, **filters.as_query()})

    def get_full_path(self) -> str:
        return self._path


__all__ = ["BoardConsumer", "LinearIssue"]
