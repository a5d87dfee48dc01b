"""Benches → Runs: every run of the chosen project (or of every active one), newest first.

The page (views.runs_page), its polling fallback (`?partial=rows`) and its socket
(consumers.RunsListConsumer) read the same filtered queryset and decorate rows the same way,
so a pushed row is the row a reload would show. Reads are a fixed number of queries per page
whatever its length: runs with their endpoint, suite and starter, and one prefetch of levels.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import Prefetch, QuerySet

from apps.benches.models import Endpoint, Run, RunLevel, RunState, Suite, Trigger
from apps.benches.pages import levels_text, progress_text

# The list's narrow Trigger column; the filter and the run page keep the full wording.
TRIGGER_LABELS = {Trigger.MANUAL: "Page", Trigger.API: "API", Trigger.SCHEDULE: "Schedule",
                  Trigger.COMMAND: "manage.py bench"}


@dataclass(frozen=True)
class RunFilters:
    endpoint: int | None = None
    suite: int | None = None
    model: str = ""
    state: str = ""
    trigger: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> RunFilters:
        """Unknown or malformed values are ignored, as a hand-edited URL deserves."""
        def pk(name: str) -> int | None:
            raw = str(data.get(name) or "")
            return int(raw) if raw.isdigit() else None

        state = str(data.get("state") or "")
        trigger = str(data.get("trigger") or "")
        return cls(endpoint=pk("endpoint"), suite=pk("suite"),
                   model=str(data.get("model") or "").strip()[:200],
                   state=state if state in RunState.values else "",
                   trigger=trigger if trigger in Trigger.values else "")

    @property
    def active(self) -> bool:
        return any((self.endpoint, self.suite, self.model, self.state, self.trigger))

    def query(self) -> str:
        """The filters as a query string (pagination links, the socket, the poll URL)."""
        pairs = {"endpoint": self.endpoint, "suite": self.suite, "model": self.model,
                 "state": self.state, "trigger": self.trigger}
        return urlencode({k: v for k, v in pairs.items() if v})

    def apply(self, qs: QuerySet[Run]) -> QuerySet[Run]:
        if self.endpoint:
            qs = qs.filter(endpoint_id=self.endpoint)
        if self.suite:
            qs = qs.filter(suite_id=self.suite)
        if self.model:
            qs = qs.filter(model=self.model)
        if self.state:
            qs = qs.filter(state=self.state)
        if self.trigger:
            qs = qs.filter(trigger=self.trigger)
        return qs


_LEVELS = RunLevel.objects.only("id", "run_id", "index", "concurrency", "rate", "completed",
                                "figures").order_by("index")


def runs_for(project: Any, filters: RunFilters) -> QuerySet[Run]:
    """The runs the list shows, newest first, with what a row needs fetched alongside."""
    qs = (Run.objects.filter(project__archived=False)
          .select_related("project", "endpoint", "suite", "started_by")
          .prefetch_related(Prefetch("levels", queryset=_LEVELS))
          .order_by("-created_at", "-id"))
    if project is not None:
        qs = qs.filter(project=project)
    return filters.apply(qs)


def decorate(runs: Iterable[Run]) -> list[Run]:
    """Sets `levels_text`, `headline` (the highest stored load's TTFT p50 and tok/s) and
    `progress_text` ("level 2/4 · 37/64") on each run, from what was fetched."""
    rows = list(runs)
    for run in rows:
        config = run.config or {}
        if config.get("mode") == "rate":
            run.levels_text = f"{levels_text(config.get('request_rates') or [])} req/s"
        else:
            run.levels_text = "c=" + levels_text(config.get("concurrency_levels") or []
                                                 ).replace(", ", ",")
        levels = [lv for lv in run.levels.all() if lv.completed]
        top = max(levels, key=lambda lv: (lv.rate or 0, lv.concurrency or 0), default=None)
        run.headline = None
        if top is not None:
            figures = top.figures or {}
            run.headline = {
                "load": f"{top.rate:g} req/s" if top.rate is not None else f"c={top.concurrency}",
                "ttft_p50": (figures.get("ttft_ms") or {}).get("p50"),
                "tok_s": figures.get("output_tokens_per_s"),
            }
        run.progress_text = progress_text(run)
        run.trigger_label = TRIGGER_LABELS.get(run.trigger, run.get_trigger_display())
    return rows


def run_row(run_id: int, project: Any, filters: RunFilters) -> Run | None:
    """One run as the list shows it, or None when the list (its project, filters) leaves it out."""
    run = runs_for(project, filters).filter(pk=run_id).first()
    return decorate([run])[0] if run is not None else None


def filter_choices(project: Any) -> dict[str, Any]:
    """What the filter selects offer: three queries whatever the number of runs."""
    endpoints = Endpoint.objects.filter(project__archived=False).select_related("project")
    suites = Suite.objects.filter(project__archived=False).select_related("project")
    models = Run.objects.filter(project__archived=False)
    if project is not None:
        endpoints = endpoints.filter(project=project)
        suites = suites.filter(project=project)
        models = models.filter(project=project)
    return {
        "endpoints": list(endpoints.order_by("project__name", "name").only(
            "id", "name", "project__name")),
        "suites": list(suites.order_by("project__name", "name").only("id", "name",
                                                                       "project__name")),
        "models": list(models.order_by("model").values_list("model", flat=True).distinct()[:200]),
        "states": RunState.choices,
        "triggers": Trigger.choices,
    }


def list_version(runs: Iterable[Run]) -> int:
    """A fingerprint of the rows shown: a snapshot with the same one changes nothing."""
    key = ",".join(f"{r.pk}:{r.version}" for r in runs)
    return zlib.crc32(key.encode()) or 1
