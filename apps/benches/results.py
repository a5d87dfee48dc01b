"""A level's figures as stored, printed and served, and the comparison with a baseline.

The shape is the one `manage.py bench run --json` prints; the API and the pages use the same
dicts, so the three never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apps.benches.engine import Level, Summary

SUMMARIES = ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")
# What a regression is measured on: latency p50s (higher is worse) and throughput (lower is).
HIGHER_IS_WORSE = ("ttft_ms", "tpot_ms", "itl_ms")
LOWER_IS_WORSE = ("output_tokens_per_s",)
# ITL histogram edges in ms: log-spaced from 1 ms to 10 s, so one chart fits a local GPU and a
# hosted API alike.
HISTOGRAM_EDGES = tuple(round(10 ** (i / 8), 2) for i in range(0, 33))


def _summary(s: Summary) -> dict[str, float | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {"mean": r(s.mean), "p50": r(s.p50), "p90": r(s.p90), "p99": r(s.p99)}


def level_figures(level: Level) -> dict[str, Any]:
    goodput = level.goodput
    return {
        "ttft_ms": _summary(level.ttft),
        "itl_ms": _summary(level.itl),
        "tpot_ms": _summary(level.tpot),
        "e2e_ms": _summary(level.e2e),
        "output_tokens": level.output_tokens,
        "output_tokens_per_s": round(level.output_tokens_per_s, 3),
        "requests_per_s": round(level.requests_per_s, 4),
        "goodput": None if goodput is None else round(goodput, 4),
    }


def itl_histogram(gaps: Iterable[float]) -> dict[str, list]:
    """Counts of inter-token gaps per bucket: [edges[i], edges[i+1]); below 1 ms in the first,
    above the last edge in the last."""
    counts = [0] * (len(HISTOGRAM_EDGES) - 1)
    for gap in gaps:
        if gap <= HISTOGRAM_EDGES[0]:
            counts[0] += 1
            continue
        i = int(math.log10(gap) * 8)
        counts[min(max(i, 0), len(counts) - 1)] += 1
    return {"edges": list(HISTOGRAM_EDGES), "counts": counts}


def level_row(level: Any) -> dict[str, Any]:
    """A stored RunLevel as one entry of a run's `levels`."""
    row: dict[str, Any] = {}
    if level.rate is not None:
        row["rate"] = level.rate
    row |= {
        "concurrency": level.concurrency,
        "requests": level.requests,
        "completed": level.completed,
        "errors": level.errors,
        "duration_s": round(level.duration_s, 3),
        "cancelled": level.cancelled,
    }
    row |= level.figures
    return row


def load_key(row: Mapping[str, Any]) -> tuple[str, float]:
    """What makes two levels comparable: the same request rate, else the same concurrency."""
    if row.get("rate") is not None:
        return ("rate", float(row["rate"]))
    return ("concurrency", float(row["concurrency"] or 0))


def _value(row: Mapping[str, Any], metric: str) -> float | None:
    figure = row.get(metric)
    if isinstance(figure, Mapping):
        return figure.get("p50")
    return figure


def regressions(
    levels: Sequence[Mapping[str, Any]],
    baseline: Sequence[Mapping[str, Any]],
    *,
    threshold_pct: float,
) -> list[dict[str, Any]]:
    """Each metric of a level worse than the baseline's level at the same load by more than
    `threshold_pct` percent. Levels the baseline lacks, or without figures, compare nothing."""
    base = {load_key(row): row for row in baseline}
    found: list[dict[str, Any]] = []
    for row in levels:
        key = load_key(row)
        ref = base.get(key)
        if ref is None or not row.get("completed"):
            continue
        for metric in HIGHER_IS_WORSE + LOWER_IS_WORSE:
            value, was = _value(row, metric), _value(ref, metric)
            if value is None or not was:
                continue
            change = (value - was) / was * 100
            worse = change > threshold_pct if metric in HIGHER_IS_WORSE else -change > threshold_pct
            if worse:
                found.append({
                    "metric": metric,
                    key[0]: row.get(key[0]),
                    "baseline": was,
                    "value": value,
                    "change_pct": round(change, 2),
                })
    return found
