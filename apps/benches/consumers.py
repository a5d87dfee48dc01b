"""Live bench pages.

The live endpoints page: a snapshot of the cards on connect, then one card per change (a
probe, an edit) or a tombstone when an endpoint is deleted. Messages come from the project's
benches group (apps.benches.endpoints publishes them after commit).

The run page's socket: each progress tick or state change of the run re-renders the page's
live region (head, progress, results) from the database, as `?partial=live` does; live.js
keeps only what is newer than the page (data-version).

The runs list and the suites page hear the same run messages on the project's benches group:
the list re-renders the run's row (a new one goes on top of the first page), the suites page
the "last run" cell of the run's suite."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.template.loader import render_to_string

from apps.benches import endpoint_selectors as selectors
from apps.benches import pages, run_list
from apps.benches.models import Run
from apps.realtime.consumers import LivePageConsumer
from apps.realtime.groups import bench_run_group, benches_group

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


class RunsListConsumer(LivePageConsumer):
    """/ws/benches/runs/?project=&endpoint=&suite=&model=&state=&trigger=&page= (the page's
    own query): the rows the page shows, then each run's row as it changes."""

    page = "bench-runs"

    def setup(self) -> bool:
        if self.project is not None and self.project.archived:
            return False
        self.filters = run_list.RunFilters.parse(self.query)
        self.page_number = self.query.get("page") or 1
        self.first_page = True
        self.shown: dict[int, int] = {}  # run id -> the version the page has
        return True

    def live_groups(self) -> list[str]:
        return [benches_group(pid) for pid in sorted(self.project_ids)]

    def render_snapshot(self) -> str:
        page = pages.run_page(run_list.runs_for(self.project, self.filters), self.page_number)
        runs = run_list.decorate(page)
        self.first_page = page.number == 1
        self.shown = {run.pk: run.version for run in runs}
        return render_to_string("benches/runs.html#rows", {
            "runs": runs, "list_version": run_list.list_version(runs),
            "show_project": self.project is None, "insert_new": self.first_page,
        })

    def render_run(self, run_id: int, version: int) -> str:
        run = run_list.run_row(run_id, self.project, self.filters)
        if run is None:  # it left the filters (a state filter and the run ended): drop the row
            if run_id in self.shown:
                del self.shown[run_id]
                return f'<tr id="run-row-{run_id}" data-deleted data-version="{version}"></tr>'
            return ""
        if run_id not in self.shown and not self.first_page:
            return ""  # a new run belongs on the first page; this socket shows an older one
        self.shown[run_id] = run.version
        return render_to_string("benches/_run_row.html", {
            "run": run, "show_project": self.project is None, "insert_new": self.first_page,
        })

    async def bench_run(self, message: dict[str, Any]) -> None:
        """{"type": "bench.run", "run", "version", "state"} from apps.benches.live."""
        run_id, version = int(message.get("run") or 0), int(message.get("version") or 0)
        if run_id in self.shown and version <= self.shown[run_id]:
            return  # a late or duplicate tick
        html = await database_sync_to_async(self.render_run)(run_id, version)
        await self.send_delta(html)


class SuitesConsumer(LivePageConsumer):
    """/ws/benches/suites/?project=: each suite's "last run" cell, as its runs start, move
    and end."""

    page = "bench-suites"

    def setup(self) -> bool:
        self.sent: dict[int, int] = {}  # suite id -> the cell version sent
        return True

    def live_groups(self) -> list[str]:
        return [benches_group(pid) for pid in sorted(self.project_ids)]

    def _scope(self) -> Any:
        return self.project if self.project is not None and not self.project.archived else None

    def render_snapshot(self) -> str:
        suites = pages.suites_for(self._scope())
        self.sent = {s.pk: s.last_run_version for s in suites}
        return "".join(render_to_string("benches/_suite_last_run.html", {"suite": s})
                       for s in suites)

    def render_suite(self, run_id: int) -> str:
        suite_id = Run.objects.filter(pk=run_id).values_list("suite_id", flat=True).first()
        if not suite_id:
            return ""
        suite = next(iter(pages.suites_for(self._scope(), pk=suite_id)), None)
        if suite is None or suite.last_run_version <= self.sent.get(suite.pk, -1):
            return ""
        self.sent[suite.pk] = suite.last_run_version
        return render_to_string("benches/_suite_last_run.html", {"suite": suite})

    async def bench_run(self, message: dict[str, Any]) -> None:
        html = await database_sync_to_async(self.render_suite)(int(message.get("run") or 0))
        await self.send_delta(html)
