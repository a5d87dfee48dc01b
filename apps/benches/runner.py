"""Runs a queued bench run: level by level, storing raw samples and figures as it goes.

The engine's event loop runs in a thread of its own; this thread keeps the database
connection and, every TICK seconds, stores progress (for the live page), renews the lease,
and reads `cancel_requested` (set by a page, the API or the command in any process), which it
passes to the engine. A level's samples are stored when the level ends; a cancelled level
keeps the samples that had finished.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.benches import engine, live, results
from apps.benches.endpoints import endpoint_target
from apps.benches.models import Endpoint, Run, RunLevel, RunState, Sample
from apps.benches.prompts import prompt_for
from apps.benches.services import RUNNING_LEASE, check_foreign_traffic, run_release
from apps.core.events import record_event

logger = logging.getLogger(__name__)
TICK = 0.5
SAMPLE_BATCH = 500


class _Level:
    """One level's engine coroutine on its own loop and thread."""

    def __init__(self, make: Callable[..., Coroutine[Any, Any, engine.Level]]) -> None:
        self.samples: queue.SimpleQueue[engine.Sample] = queue.SimpleQueue()
        self._make = make
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel: asyncio.Event | None = None
        self.level: engine.Level | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="sb-bench", daemon=True)

    def _main(self) -> None:
        async def main() -> engine.Level:
            self._loop = asyncio.get_running_loop()
            self._cancel = asyncio.Event()
            self._ready.set()
            return await self._make(cancel=self._cancel, on_sample=self.samples.put)

        try:
            self.level = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - handed to the runner's thread
            self.error = exc
        finally:
            self._ready.set()

    def start(self) -> None:
        self.thread.start()
        self._ready.wait()

    def cancel(self) -> None:
        if self._loop is not None and self._cancel is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._cancel.set)
            except RuntimeError:
                pass  # the loop has just finished


def _progress(run: Run, *, index: int, levels: int, load: dict[str, Any],
              done: list[engine.Sample], total: int) -> dict[str, Any]:
    ok = [s for s in done if s.ok]
    ttft = engine.summarize([s.ttft_ms for s in ok if s.ttft_ms is not None]).p50
    itl = engine.summarize([g for s in ok for g in s.itl_ms]).p50
    return {
        "level": index, "levels": levels, **load, "done": len(done), "total": total,
        "errors": len(done) - len(ok),
        "ttft_p50_ms": None if ttft is None else round(ttft, 2),
        "itl_p50_ms": None if itl is None else round(itl, 2),
    }


def _tick(run: Run, progress: dict[str, Any]) -> bool:
    """Stores progress and renews the lease; True when someone asked to cancel."""
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(progress=progress, heartbeat_at=now,
                                         version=F("version") + 1)
    Endpoint.objects.filter(pk=run.endpoint_id, lease_run=run).update(
        lease_until=now + RUNNING_LEASE)
    row = Run.objects.filter(pk=run.pk).values("cancel_requested", "version").get()
    run.version = row["version"]
    run.state = RunState.RUNNING
    live.announce(run, on_commit=False)
    return row["cancel_requested"]


def _store_level(run: Run, index: int, level: engine.Level, rate: float | None) -> RunLevel:
    stored = RunLevel.objects.create(
        run=run, index=index, concurrency=level.concurrency, rate=rate,
        requests=level.requests, completed=level.completed, errors=level.errors,
        duration_s=level.duration_s, cancelled=level.cancelled,
        figures=results.level_figures(level),
        itl_histogram=results.itl_histogram(g for s in level.samples if s.ok for g in s.itl_ms),
    )
    Sample.objects.bulk_create(
        (
            Sample(level=stored, seq=seq, started_s=round(s.started_s, 6), ttft_ms=s.ttft_ms,
                   e2e_ms=s.e2e_ms, output_tokens=s.output_tokens,
                   itl_ms=[round(g, 3) for g in s.itl_ms], error=s.error)
            for seq, s in enumerate(sorted(level.samples, key=lambda s: s.started_s))
        ),
        batch_size=SAMPLE_BATCH,
    )
    return stored


def _levels_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    if config.get("mode") == "rate":
        return [{"rate": float(r)} for r in config.get("request_rates") or []]
    return [{"concurrency": int(c)} for c in config.get("concurrency_levels") or []]


def run_execute(
    *,
    run_id: int,
    on_level: Callable[[RunLevel], None] | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
) -> Run | None:
    """Takes a queued run and runs it to the end. Returns None when the run was not queued
    (another worker took it, or it was cancelled first). `on_level` sees each stored level,
    `on_progress` each progress tick; setting `stop` cancels like the cancel button."""
    now = timezone.now()
    if not Run.objects.filter(pk=run_id, state=RunState.QUEUED).update(
        state=RunState.RUNNING, started_at=now, heartbeat_at=now, version=F("version") + 1
    ):
        return None
    run = Run.objects.select_related("endpoint", "project", "baseline").get(pk=run_id)
    endpoint = run.endpoint
    live.announce(run, on_commit=False)
    if not Endpoint.objects.filter(pk=endpoint.pk, lease_run=run).update(
        lease_until=now + RUNNING_LEASE
    ):
        return _end(run, RunState.FAILED, error="The endpoint's lease was lost before the run "
                                                "started (another run took it).")
    try:
        cancelled = _run_levels(run, endpoint, hooks=_Hooks(on_level, on_progress, stop))
    except Exception as exc:  # noqa: BLE001 - a run that breaks is a failed run, not a dead worker
        logger.exception("bench run %s failed", run.pk)
        return _end(run, RunState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return _end(run, RunState.CANCELLED if cancelled else RunState.FINISHED)


class _Hooks:
    def __init__(self, on_level: Callable[[RunLevel], None] | None,
                 on_progress: Callable[[dict[str, Any]], None] | None,
                 stop: threading.Event | None) -> None:
        self.on_level, self.on_progress, self.stop = on_level, on_progress, stop

    def tick(self, run: Run, progress: dict[str, Any]) -> bool:
        if self.on_progress is not None:
            self.on_progress(progress)
        if self.stop is not None and self.stop.is_set():
            Run.objects.filter(pk=run.pk).update(cancel_requested=True)
        return _tick(run, progress)


def _run_levels(run: Run, endpoint: Endpoint, *, hooks: _Hooks) -> bool:
    config = run.config
    target = endpoint_target(endpoint, run.model)
    loads = _levels_of(config)
    slo = engine.Slo(ttft_ms=config.get("slo_ttft_ms"), tpot_ms=config.get("slo_tpot_ms"),
                     e2e_ms=config.get("slo_e2e_ms"))
    slo = slo if any((slo.ttft_ms, slo.tpot_ms, slo.e2e_ms)) else None
    requests = int(config.get("requests_per_level", 32))
    prompt = prompt_for(prompt_set=config.get("prompt_set", "fixed"),
                        prompt_tokens=int(config.get("prompt_tokens", 128)), index=run.pk)
    common = dict(requests=requests, prompt=prompt, max_tokens=int(config.get("max_tokens", 128)),
                  timeout=float(config.get("timeout_s", 60)),
                  warmup=int(config.get("warmup_requests", 0)), slo=slo)
    foreign_seen = run.concurrent_foreign_requests or 0
    for index, load in enumerate(loads):
        if index and Run.objects.filter(pk=run.pk, cancel_requested=True).exists():
            return True  # asked between levels: do not start the next one
        if index:  # between levels none of ours are in flight: anything in flight is not ours
            foreign = check_foreign_traffic(endpoint)
            if foreign:
                foreign_seen = max(foreign_seen, foreign)
                Run.objects.filter(pk=run.pk).update(polluted=True,
                                                     concurrent_foreign_requests=foreign_seen)
        if "rate" in load:
            def make(rate: float = load["rate"], **hooks: Any) -> Any:
                return engine.run_rate(target, rate=rate, arrival=config.get("arrival", "constant"),
                                       seed=run.pk, **common, **hooks)
        else:
            def make(concurrency: int = load["concurrency"], **hooks: Any) -> Any:
                return engine.run_level(target, concurrency=concurrency, **common, **hooks)
        driver = _Level(make)
        driver.start()
        done: list[engine.Sample] = []
        while True:
            driver.thread.join(TICK)
            while not driver.samples.empty():
                done.append(driver.samples.get_nowait())
            if not driver.thread.is_alive():
                break
            if hooks.tick(run, _progress(run, index=index, levels=len(loads), load=load,
                                         done=done, total=requests)):
                driver.cancel()
        if driver.error is not None:
            raise driver.error
        assert driver.level is not None
        stored = _store_level(run, index, driver.level, load.get("rate"))
        cancelled = driver.level.cancelled or hooks.tick(
            run, _progress(run, index=index, levels=len(loads), load=load, done=done,
                           total=requests))
        if hooks.on_level is not None:
            hooks.on_level(stored)
        if cancelled:
            return True
    return False


def _end(run: Run, state: str, *, error: str = "") -> Run:
    now = timezone.now()
    with transaction.atomic():
        run.refresh_from_db()
        levels = [results.level_row(level) for level in run.levels.all()]
        found: list[dict[str, Any]] = []
        if state == RunState.FINISHED and run.baseline_id:
            baseline_levels = [results.level_row(level) for level in run.baseline.levels.all()]
            found = results.regressions(
                levels, baseline_levels,
                threshold_pct=float(run.config.get("regression_threshold_pct", 10.0)))
        Run.objects.filter(pk=run.pk).update(
            state=state, finished_at=now, error=error, regressions=found,
            version=F("version") + 1,
        )
        run_release(run)
        run.refresh_from_db()
        data = {"run": run.pk, "endpoint": run.endpoint_id, "endpoint_name": run.endpoint.name,
                "model": run.model, "suite": run.suite_id, "state": state,
                "levels": len(levels), "polluted": run.polluted}
        kind = {RunState.FINISHED: "bench.run.finished", RunState.CANCELLED: "bench.run.cancelled",
                RunState.FAILED: "bench.run.failed"}[state]
        record_event(kind, project=run.project, data=data | ({"error": error} if error else {}))
        if found:
            record_event("bench.regression", project=run.project,
                         data=data | {"baseline": run.baseline_id, "regressions": found})
        live.announce(run)
    return run
