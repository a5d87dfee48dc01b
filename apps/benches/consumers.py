"""The run page's socket: each progress tick or state change of the run re-renders the page's
live region (head, progress, results) from the database, as `?partial=live` does; live.js
keeps only what is newer than the page (data-version)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.template.loader import render_to_string

from apps.benches import pages
from apps.benches.models import Run
from apps.realtime.consumers import LivePageConsumer
from apps.realtime.groups import bench_run_group


class RunPageConsumer(LivePageConsumer):
    page = "bench-run"

    def setup(self) -> bool:
        self.run_id = int(self.scope["url_route"]["kwargs"]["pk"])
        project_id = (Run.objects.filter(pk=self.run_id, project__archived=False)
                      .values_list("project_id", flat=True).first())
        if project_id is None:
            return False
        self.project_ids = {project_id}
        self.sent_version = 0
        return True

    def live_groups(self) -> list[str]:
        return [bench_run_group(self.run_id)]

    def render_live(self, *, snapshot: bool) -> str:
        run = Run.objects.filter(pk=self.run_id).select_related(
            "project", "endpoint", "suite", "started_by", "baseline").first()
        if run is None:
            return ""
        self.sent_version = max(self.sent_version, run.version)
        return render_to_string("benches/run_detail.html#live",
                                pages.run_context(run, can_act=self.is_admin, snapshot=snapshot))

    def render_snapshot(self) -> str:
        return self.render_live(snapshot=True)

    async def bench_run(self, message: dict[str, Any]) -> None:
        """{"type": "bench.run", "run", "version", "state"} from apps.benches.live."""
        if message.get("run") != self.run_id:
            return
        if int(message.get("version") or 0) <= self.sent_version:
            return  # what the page has is as new: a late or duplicate tick
        html = await database_sync_to_async(self.render_live)(snapshot=False)
        await self.send_delta(html)
