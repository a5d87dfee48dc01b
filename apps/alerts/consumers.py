"""The live inbox: a snapshot of the filtered list on connect, then one row per alert event
(opened, acknowledged, resolved), or a tombstone when the row left the filter."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from apps.alerts import selectors
from apps.core import roles
from apps.realtime.consumers import LivePageConsumer

ALERT_KINDS = ("alert.opened", "alert.acknowledged", "alert.resolved")


class AlertsInboxConsumer(LivePageConsumer):
    def _context(self) -> dict[str, Any]:
        return {"can_act": roles.is_admin(self.user), "user": self.user}

    def render_snapshot(self) -> str:
        from apps.projects.models import Project

        filters = selectors.InboxFilters.from_query(self.query)
        slug = self.query.get("project", "")
        project = Project.objects.filter(slug=slug).first() if slug and slug != "all" else None
        page = selectors.inbox_page(project, filters, 1)
        return render_to_string("alerts/inbox.html#list", {
            **self._context(), "page": page, "alerts": page.object_list, "filters": filters,
            "query": "",
        })

    def render_event(self, message: dict[str, Any]) -> str:
        if message.get("kind") not in ALERT_KINDS:
            return ""
        from apps.agents.models import AgentEvent

        event = AgentEvent.objects.filter(pk=message.get("event_id")).only("data").first()
        alert_id = (event.data or {}).get("alert_id") if event else None
        alert = selectors.alert_row(alert_id) if alert_id else None
        if alert is None:
            return ""
        filters = selectors.InboxFilters.from_query(self.query)
        if not filters.matches(alert):
            return f'<article id="alert-{alert.pk}" data-deleted data-version="{alert.version}"></article>'
        return render_to_string("alerts/_row.html", {**self._context(), "alert": alert})
