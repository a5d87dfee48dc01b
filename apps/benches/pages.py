"""What the suites, run, comparison and history pages show, as plain dicts and lists.

The numbers are the ones `results.level_row` gives the command and the API; this module only
labels, orders and pairs them, and shapes the chart payloads (static/js/bench_runs.js draws
the curves; the history charts are charts.js time series).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from apps.benches import results
from apps.benches.models import Run, RunLevel, RunState, Suite

SUMMARY_LABELS = {"ttft_ms": "TTFT", "itl_ms": "ITL", "tpot_ms": "TPOT", "e2e_ms": "E2E"}
METRIC_LABELS = SUMMARY_LABELS | {"output_tokens_per_s": "Output tok/s",
                                  "requests_per_s": "Requests/s", "goodput": "Goodput"}
# Comparison rows: (metric, statistic or None, higher is better)
COMPARED = (
    ("ttft_ms", "p50", False), ("ttft_ms", "p90", False), ("ttft_ms", "p99", False),
    ("itl_ms", "p50", False), ("tpot_ms", "p50", False), ("e2e_ms", "p50", False),
    ("output_tokens_per_s", None, True), ("requests_per_s", None, True), ("goodput", None, True),
)
RUNS_PER_PAGE = 20
COMPARE_CHOICES = 30


# --- lookups that 404 for outsiders --------------------------------------------------------
def suite_or_404(pk: int) -> Suite:
    suite = (Suite.objects.filter(pk=pk, project__archived=False)
             .select_related("project", "endpoint", "baseline").first())
    if suite is None:
        raise Http404("No such suite.")
    return suite


def run_or_404(pk: int) -> Run:
    run = (Run.objects.filter(pk=pk, project__archived=False)
           .select_related("project", "endpoint", "suite", "started_by", "baseline").first())
    if run is None:
        raise Http404("No such run.")
    return run


# --- suites ----------------------------------------------------------------------------------
def suites_for(project: Any, *, pk: int | None = None) -> list[Suite]:
    """Suites of one project (or of every active one; or the one `pk`), each with `last_run`
    (and its `last_run_version`, `progress_text`), in three queries."""
    last = Run.objects.filter(suite=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    qs = (Suite.objects.filter(project__archived=False)
          .select_related("project", "endpoint", "baseline")
          .annotate(last_run_id=Subquery(last))
          .order_by("project__name", "name"))
    if project is not None:
        qs = qs.filter(project=project)
    if pk is not None:
        qs = qs.filter(pk=pk)
    suites = list(qs)
    runs = Run.objects.in_bulk([s.last_run_id for s in suites if s.last_run_id])
    for suite in suites:
        suite.last_run = runs.get(suite.last_run_id)
        suite.last_run_version = last_run_version(suite.last_run)
        if suite.last_run is not None:
            suite.last_run.progress_text = progress_text(suite.last_run)
        suite.levels_text = levels_text(suite.concurrency_levels if suite.mode == "concurrency"
                                        else suite.request_rates)
    return suites


def last_run_version(run: Run | None) -> int:
    """Orders what a suite's "last run" cell showed: a newer run (a larger id) beats any change
    of an older one, and the same run's changes follow its version."""
    return run.pk * 1_000_000 + min(run.version, 999_999) if run is not None else 0


def progress_text(run: Run) -> str:
    """How far an active run is: "level 2/4 · 37/64"; "" once it ended."""
    if run.state == RunState.QUEUED:
        return "waiting for a worker"
    if run.state != RunState.RUNNING:
        return ""
    p = run.progress or {}
    if not p.get("levels"):
        return "starting"
    return (f"level {int(p.get('level') or 0) + 1}/{p['levels']} · "
            f"{p.get('done') or 0}/{p.get('total') or 0}")


def levels_text(values: Iterable[Any]) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values or [])


# --- one run ---------------------------------------------------------------------------------
def load_label(row: Mapping[str, Any]) -> str:
    if row.get("rate") is not None:
        return f"{row['rate']:g} req/s"
    return f"{row.get('concurrency')}"


def level_rows(levels: Sequence[RunLevel], regressions: Sequence[Mapping[str, Any]] = ()
               ) -> list[dict[str, Any]]:
    """One row per stored level for the table, with its regressed metrics named."""
    flagged: dict[tuple[str, float], set[str]] = {}
    for found in regressions:
        flagged.setdefault(results.load_key(found), set()).add(found["metric"])
    rows = []
    for level in levels:
        row = results.level_row(level)
        row["load"] = load_label(row)
        row["regressed"] = flagged.get(results.load_key(row), set())
        row["summaries"] = [
            {"metric": m, "label": SUMMARY_LABELS[m], "values": row.get(m) or {},
             "regressed": m in row["regressed"]}
            for m in results.SUMMARIES
        ]
        rows.append(row)
    return rows


def is_rate(run: Run) -> bool:
    return run.config.get("mode") == "rate"


def _x(rows: Sequence[Mapping[str, Any]], rate: bool) -> list[float]:
    return [float(r["rate"] if rate else r["concurrency"] or 0) for r in rows]


def _stat(row: Mapping[str, Any], metric: str, stat: str | None) -> float | None:
    value = row.get(metric)
    if isinstance(value, Mapping):
        return value.get(stat or "p50")
    return value


def run_charts(run: Run, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Payloads of the run page's three charts; empty when no level finished."""
    measured = [r for r in rows if r.get("completed")]
    if not measured:
        return {}
    rate = is_rate(run)
    x = _x(measured, rate)
    xlabel = "Request rate (req/s)" if rate else "Concurrency"
    ttft = {
        "kind": "curve", "unit": "ms", "x": x, "xlabel": xlabel, "title": "Time to first token",
        "series": [{"label": f"TTFT {s}", "stat": s,
                    "values": [_stat(r, "ttft_ms", s) for r in measured]}
                   for s in ("p50", "p90", "p99")],
    }
    tokens = {
        "kind": "curve", "unit": "tok/s", "x": x, "xlabel": xlabel, "title": "Output tokens/s",
        "series": [{"label": "Output tok/s", "stat": "p50",
                    "values": [r.get("output_tokens_per_s") for r in measured]}],
    }
    return {"ttft": ttft, "tokens": tokens, "itl": itl_chart(run, measured)}


def itl_chart(run: Run, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The inter-token latency distribution, one line per level, over the non-empty buckets."""
    hists = {r["load"]: r.get("_hist") or {} for r in rows}
    edges = next((h["edges"] for h in hists.values() if h.get("edges")), [])
    counts = {label: h.get("counts") or [] for label, h in hists.items()}
    # Buckets at the edges holding under 0.5 % of every level's gaps are left out: a stray
    # slow gap would otherwise stretch the axis over decades of empty buckets.
    shares = {label: [n / (sum(c) or 1) for n in c] for label, c in counts.items()}
    used = [i for i in range(max(len(edges) - 1, 0))
            if any(i < len(c) and c[i] >= 0.005 for c in shares.values())]
    if not used:
        return {"kind": "histogram", "edges": [], "series": [], "title": "Inter-token latency"}
    lo, hi = max(used[0] - 1, 0), min(used[-1] + 1, len(edges) - 2)
    prefix = "" if is_rate(run) else "c="
    series = []
    for label, c in counts.items():
        total = sum(c) or 1
        series.append({"label": f"{prefix}{label}",
                       "values": [round(100 * c[i] / total, 2) if i < len(c) else 0
                                  for i in range(lo, hi + 1)]})
    return {"kind": "histogram", "unit": "pct", "edges": edges[lo:hi + 2], "series": series,
            "title": "Inter-token latency", "xlabel": "Gap between tokens"}


def run_view(run: Run) -> dict[str, Any]:
    """Everything the run page's live region needs, from the database."""
    levels = list(run.levels.all())
    rows = level_rows(levels, run.regressions)
    for row, level in zip(rows, levels, strict=True):
        row["_hist"] = level.itl_histogram
    progress = dict(run.progress or {})
    levels_n = progress.get("levels") or len(_loads(run))
    done, total = progress.get("done") or 0, progress.get("total") or 0
    index = progress.get("level") or 0
    overall = ((index * total + done) / (levels_n * total) * 100) if levels_n and total else 0
    return {
        "run": run,
        "rows": rows,
        "charts": run_charts(run, rows),
        "progress": progress,
        "progress_level": index + 1,
        "progress_levels": levels_n,
        "progress_pct": round(min(done / total * 100, 100), 1) if total else 0,
        "overall_pct": round(min(overall, 100), 1),
        "progress_load": load_label(progress) if progress.get("concurrency") is not None
        or progress.get("rate") is not None else "",
        "loads_text": levels_text(_loads(run)),
        # Grows when a level is stored and once more when the run ends, so the results and
        # their charts are redrawn then and not on every progress tick.
        "results_version": len(levels) * 2 + (0 if run.active else 1),
        "regressions": [dict(r, label=METRIC_LABELS.get(r["metric"], r["metric"]),
                             load=load_label(r)) for r in run.regressions or []],
    }


def run_context(run: Run, *, can_act: bool, snapshot: bool = False) -> dict[str, Any]:
    suite_baseline = run.suite.baseline_id if run.suite else None
    return run_view(run) | {
        "can_act": can_act, "snapshot": snapshot, "is_baseline": suite_baseline == run.pk,
        "can_pin": bool(can_act and run.suite and run.state == RunState.FINISHED
                        and run.model == run.suite.effective_model
                        and run.endpoint_id == run.suite.endpoint_id),
    }


def _loads(run: Run) -> list[Any]:
    key = "request_rates" if is_rate(run) else "concurrency_levels"
    return list(run.config.get(key) or [])


def compare_choices(run: Run) -> QuerySet[Run]:
    """Other finished runs of the same endpoint or the same model, newest first."""
    return (Run.objects.filter(Q(endpoint_id=run.endpoint_id) | Q(model=run.model),
                               state=RunState.FINISHED, project__archived=False)
            .exclude(pk=run.pk).select_related("endpoint")
            .order_by("-created_at", "-id")[:COMPARE_CHOICES])


# --- comparison ------------------------------------------------------------------------------
def _delta(a: float | None, b: float | None, higher_better: bool) -> dict[str, Any]:
    if a is None or b is None or not a:
        return {"pct": None, "tone": ""}
    pct = (b - a) / a * 100
    if abs(pct) < 1:
        tone = "same"
    else:
        tone = "better" if (pct > 0) == higher_better else "worse"
    return {"pct": round(pct, 1), "tone": tone}


def comparison(a: Run, b: Run) -> dict[str, Any]:
    """Levels of two runs paired by load (same rate, else same concurrency)."""
    rows_a = {results.load_key(r): r for r in map(results.level_row, a.levels.all())}
    rows_b = {results.load_key(r): r for r in map(results.level_row, b.levels.all())}
    keys = sorted(set(rows_a) | set(rows_b))
    levels = []
    for key in keys:
        ra, rb = rows_a.get(key), rows_b.get(key)
        metrics = []
        for metric, stat, higher_better in COMPARED:
            va = _stat(ra, metric, stat) if ra else None
            vb = _stat(rb, metric, stat) if rb else None
            metrics.append({
                "label": METRIC_LABELS[metric] + (f" {stat}" if stat else ""),
                "unit": "ms" if metric.endswith("_ms") else "/s",
                "a": va, "b": vb, **_delta(va, vb, higher_better),
            })
        label = f"{key[1]:g} req/s" if key[0] == "rate" else f"Concurrency {key[1]:g}"
        levels.append({"label": label, "metrics": metrics, "in_a": ra is not None,
                       "in_b": rb is not None})
    charts = {}
    if keys:
        x = [k[1] for k in keys]
        xlabel = "Request rate (req/s)" if keys[0][0] == "rate" else "Concurrency"

        def series(metric: str, stat: str | None) -> list[dict[str, Any]]:
            return [{"label": f"Run #{run.pk}", "stat": "p50",
                     "values": [_stat(rows[k], metric, stat) if k in rows else None for k in keys]}
                    for run, rows in ((a, rows_a), (b, rows_b))]

        charts = {
            "ttft": {"kind": "curve", "unit": "ms", "x": x, "xlabel": xlabel,
                     "title": "TTFT p50", "series": series("ttft_ms", "p50")},
            "tokens": {"kind": "curve", "unit": "tok/s", "x": x, "xlabel": xlabel,
                       "title": "Output tokens/s", "series": series("output_tokens_per_s", None)},
        }
    return {"levels": levels, "charts": charts}


# --- history ---------------------------------------------------------------------------------
def history_charts(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """charts.js time series: p50 TTFT and tok/s at each load, one point per run."""
    ordered = sorted(runs, key=lambda r: (r.created_at, r.pk))
    x = [int(r.created_at.timestamp()) for r in ordered]
    per_run = [{results.load_key(results.level_row(lv)): lv for lv in r.levels.all()}
               for r in ordered]
    keys = sorted({k for rows in per_run for k in rows})

    def label(key: tuple[str, float]) -> str:
        return f"{key[1]:g} req/s" if key[0] == "rate" else f"c={key[1]:g}"

    def series(pick: Any) -> list[dict[str, Any]]:
        return [{"label": label(k), "values": [pick(rows[k]) if k in rows else None
                                               for rows in per_run]} for k in keys]

    return {
        "ttft": {"x": x, "unit": "ms", "kind": "line", "title": "TTFT p50 per run",
                 "series": series(lambda lv: (lv.figures.get("ttft_ms") or {}).get("p50"))},
        "tokens": {"x": x, "unit": "per_s", "kind": "line", "title": "Output tokens/s per run",
                   "series": series(lambda lv: lv.figures.get("output_tokens_per_s"))},
    }


def run_page(qs: QuerySet[Run], number: Any) -> Page:
    return Paginator(qs, RUNS_PER_PAGE).get_page(number)
