"""Rows for the bench page tests: endpoints, suites and runs with stored levels, without running
anything (the runner has its own tests)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.benches import results
from apps.benches.models import Endpoint, Run, RunLevel, RunState, Suite
from apps.benches.services import suite_config


def endpoint(project: Any, name: str = "gpu1", url: str = "http://127.0.0.1:9", **extra: Any
             ) -> Endpoint:
    fields = {"default_model": "llama-3-8b", "models_list": ["llama-3-8b", "qwen2-7b"],
              "metrics_path": ""} | extra
    return Endpoint.objects.create(project=project, name=name, base_url=url, **fields)


def suite(ep: Endpoint, name: str = "nightly", **extra: Any) -> Suite:
    fields = {"concurrency_levels": [1, 2, 4, 8], "requests_per_level": 16} | extra
    return Suite.objects.create(project=ep.project, endpoint=ep, name=name, **fields)


def figures(ttft: float, itl: float, tok_s: float) -> dict[str, Any]:
    def summary(p50: float) -> dict[str, float]:
        return {"mean": p50 * 1.05, "p50": p50, "p90": p50 * 1.3, "p99": p50 * 1.7}

    return {"ttft_ms": summary(ttft), "itl_ms": summary(itl), "tpot_ms": summary(itl * 1.02),
            "e2e_ms": summary(ttft + itl * 20), "output_tokens": 320,
            "output_tokens_per_s": tok_s, "requests_per_s": tok_s / 20, "goodput": tok_s / 25}


def run(s: Suite, *, state: str = RunState.FINISHED, levels: list[int] | None = None,
        slow: float = 1.0, **extra: Any) -> Run:
    """A run of `s` with one stored level per concurrency; `slow` scales its latencies."""
    now = timezone.now()
    r = Run.objects.create(
        project=s.project, endpoint=s.endpoint, suite=s, model=s.effective_model,
        config=suite_config(s), state=state, started_at=now,
        finished_at=None if state in (RunState.QUEUED, RunState.RUNNING) else now, **extra)
    for index, c in enumerate(levels if levels is not None else s.concurrency_levels):
        RunLevel.objects.create(
            run=r, index=index, concurrency=c, requests=16, completed=15, errors=1,
            duration_s=2.5, figures=figures(ttft=50 * slow * (1 + c / 8), itl=20 * slow,
                                           tok_s=40.0 * c / slow),
            itl_histogram=results.itl_histogram([18 * slow, 20 * slow, 21 * slow, 35 * slow]),
        )
    return r
