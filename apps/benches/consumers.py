"""The live endpoints page: a snapshot of the cards on connect, then one card per change (a
probe, an edit) or a tombstone when an endpoint is deleted. Messages come from the project's
benches group (apps.benches.endpoints publishes them after commit)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from apps.benches import endpoint_selectors as selectors
from apps.realtime.consumers import LivePageConsumer
from apps.realtime.groups import benches_group

ENDPOINT_KINDS = frozenset({"endpoint.changed", "endpoint.deleted"})


class EndpointsConsumer(LivePageConsumer):
    page = "bench-endpoints"

    def live_groups(self) -> list[str]:
        return [benches_group(pid) for pid in sorted(self.project_ids)]

    def wants(self, message: dict[str, Any]) -> bool:
        return message.get("kind") in ENDPOINT_KINDS

    def event_cache_key(self, message: dict[str, Any]) -> Hashable:
        # The card depends on the endpoint's version, the buttons and the project column.
        return (message.get("endpoint_id"), message.get("version"), self.is_admin,
                self.project is None)

    def render_snapshot(self) -> str:
        endpoints = list(selectors.endpoints_for(self.project))
        return render_to_string("benches/endpoints.html#list", {
            "endpoints": endpoints, "list_version": selectors.list_version(endpoints),
            "can_act": self.is_admin, "show_project": self.project is None,
            "query": f"project={self.project.slug}" if self.project else "",
            "probe_seconds": settings.BENCH_PROBE_SECONDS,
        })

    def render_event(self, message: dict[str, Any]) -> str:
        pk = int(message.get("endpoint_id") or 0)
        endpoint = selectors.endpoint_row(pk) if message.get("kind") != "endpoint.deleted" else None
        if endpoint is None:
            version = int(message.get("version") or 2**53)
            return f'<article id="endpoint-{pk}" data-deleted data-version="{version}"></article>'
        return render_to_string("benches/_endpoint_card.html", {
            "endpoint": endpoint, "can_act": self.is_admin, "show_project": self.project is None,
        })
