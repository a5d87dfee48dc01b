"""The live inbox: a snapshot of the filtered list on connect, then one row per alert event
(opened, acknowledged, resolved), or a tombstone when the row left the filter."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from django.template.loader import render_to_string

from apps.alerts import selectors
from apps.realtime.consumers import LivePageConsumer

ALERT_KINDS = frozenset({"alert.opened", "alert.acknowledged", "alert.resolved", "alert.snoozed"})


class AlertsInboxConsumer(LivePageConsumer):
    page = "alerts-inbox"

    def setup(self) -> bool:
        self.filters = selectors.InboxFilters.from_query(self.query)
        return True

    def wants(self, message: dict[str, Any]) -> bool:
        return message.get("kind") in ALERT_KINDS

    def event_cache_key(self, message: dict[str, Any]) -> Hashable:
        # The fragment depends on the filters, the project (the counts) and whether buttons
        # are shown.
        return (self.is_admin, self.filters, self.project.pk if self.project else None)

    def render_counts(self) -> str:
        """The counts in the page head, counted now."""
        return render_to_string("alerts/_counts.html", {
            "counts": selectors.inbox_counts(self.project), "project": self.project,
        })

    def render_snapshot(self) -> str:
        page = selectors.inbox_page(self.project, self.filters, 1)
        return render_to_string("alerts/inbox.html#list", {
            "can_act": self.is_admin, "page": page, "alerts": page.object_list,
            "filters": self.filters, "query": "",
        }) + self.render_counts()

    def render_event(self, message: dict[str, Any]) -> str:
        from apps.agents.models import AgentEvent

        event = AgentEvent.objects.filter(pk=message.get("event_id")).only("data").first()
        alert_id = (event.data or {}).get("alert_id") if event else None
        alert = selectors.alert_row(alert_id) if alert_id else None
        counts = self.render_counts()
        if alert is None:
            return counts
        if not self.filters.matches(alert):
            return (f'<article id="alert-{alert.pk}" data-deleted data-version="{alert.version}">'
                    f"</article>{counts}")
        return render_to_string("alerts/_row.html", {"can_act": self.is_admin, "alert": alert,
                                                      "filters": self.filters}) + counts
