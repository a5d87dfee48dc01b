"""The "Connect an agent" page's socket: one status fragment, re-rendered when an agent of the
project reports (an event, or a heartbeat pulse for reports that record no event).

The fragment says "connected" for reports after the page was opened, so it depends on the
socket's `opened` (?opened=<ms since epoch>, from the page's first render) and is rendered per
socket; the page is a set-up page, open in a handful of tabs at most."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.utils import timezone

from apps.realtime.consumers import LivePageConsumer


class ConnectConsumer(LivePageConsumer):
    page = "connect"
    shows_heartbeats = True  # joins the project's pulse group

    def setup(self) -> bool:
        if self.project is None:  # this page is about one project: no "all"
            return False
        try:
            self.opened = datetime.fromtimestamp(int(self.query.get("opened", "")) / 1000, tz=UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            self.opened = timezone.now()
        return True

    def wants(self, message: dict[str, Any]) -> bool:
        return bool(message.get("agent_id"))

    def render_status(self, *, snapshot: bool) -> str:
        from apps.projects.connect_views import status_context

        return render_to_string(
            "projects/connect.html#status",
            status_context(self.project, opened=self.opened, snapshot=snapshot),
        )

    def render_snapshot(self) -> str:
        return self.render_status(snapshot=True)

    def render_event(self, message: dict[str, Any]) -> str:
        return self.render_status(snapshot=False)

    async def sb_pulse(self, message: dict[str, Any]) -> None:
        if message.get("project_id") not in self.project_ids:
            return
        html = await database_sync_to_async(self.render_status)(snapshot=False)
        await self.send_delta(html)
