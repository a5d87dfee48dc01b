"""A run as Markdown: what gets pasted into an issue or a pull request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apps.benches.models import Run
from apps.benches.pages import METRIC_LABELS, load_label

SETTINGS = (
    ("mode", "Mode"), ("concurrency_levels", "Concurrency levels"),
    ("request_rates", "Request rates (req/s)"), ("arrival", "Arrival"),
    ("prompt_set", "Prompt set"), ("prompt_tokens", "Prompt tokens"),
    ("max_tokens", "Max tokens"), ("requests_per_level", "Requests per level"),
    ("warmup_requests", "Warm-up requests"), ("timeout_s", "Timeout (s)"),
    ("slo_ttft_ms", "SLO TTFT (ms)"), ("slo_tpot_ms", "SLO TPOT (ms)"),
    ("slo_e2e_ms", "SLO E2E (ms)"), ("regression_threshold_pct", "Regression threshold (%)"),
)


def _n(value: Any, digits: int = 1) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _stat(row: Mapping[str, Any], metric: str, stat: str) -> str:
    return _n((row.get(metric) or {}).get(stat))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def run_markdown(run: Run, rows: Sequence[Mapping[str, Any]], *, url: str) -> str:
    title = f"# Bench run #{run.pk}: {run.model} on {run.endpoint.name}"
    lines = [title, ""]
    facts = [
        ("State", run.get_state_display()),
        ("Suite", run.suite.name if run.suite else "ad hoc"),
        ("Endpoint", f"{run.endpoint.name} ({run.endpoint.base_url})"),
        ("Model", f"`{run.model}`"),
        ("Trigger", run.get_trigger_display()),
        ("Started by", str(run.started_by) if run.started_by else "–"),
        ("Started", run.started_at.isoformat(timespec="seconds") if run.started_at else "–"),
        ("Finished", run.finished_at.isoformat(timespec="seconds") if run.finished_at else "–"),
        ("Baseline", f"run #{run.baseline_id}" if run.baseline_id else "none"),
        ("Page", url),
    ]
    lines += [f"- **{k}:** {_cell(v)}" for k, v in facts]
    if run.polluted:
        lines += ["", f"> **Polluted:** the endpoint served "
                      f"{run.concurrent_foreign_requests or 'some'} request(s) from elsewhere "
                      "during the run; its figures include that load."]
    if run.error:
        lines += ["", f"> **Error:** {_cell(run.error)}"]
    lines += ["", "## Settings", "", "| Setting | Value |", "|---|---|"]
    for key, label in SETTINGS:
        if key not in run.config:
            continue
        value = run.config[key]
        if isinstance(value, list):
            value = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        if value in (None, "", []):
            continue
        lines.append(f"| {label} | {_cell(_n(value))} |")
    rate = run.config.get("mode") == "rate"
    lines += ["", "## Levels", ""]
    if rows:
        head = ["Rate (req/s)" if rate else "Concurrency", "OK", "Errors"]
        for m in ("TTFT", "ITL", "TPOT", "E2E"):
            head += [f"{m} mean", f"{m} p50", f"{m} p90", f"{m} p99"]
        head += ["Output tok/s", "Req/s", "Goodput"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
        for row in rows:
            cells = [load_label(row) + (" (cancelled)" if row.get("cancelled") else ""),
                     _n(row.get("completed")), _n(row.get("errors"))]
            for metric in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
                cells += [_stat(row, metric, s) for s in ("mean", "p50", "p90", "p99")]
            cells += [_n(row.get("output_tokens_per_s")), _n(row.get("requests_per_s"), 2),
                      _n(row.get("goodput"), 2)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("Latencies in milliseconds.")
    else:
        lines.append("No level finished.")
    lines += ["", "## Regressions", ""]
    if run.regressions:
        threshold = run.config.get("regression_threshold_pct", 10)
        lines.append(f"Worse than baseline run #{run.baseline_id} by more than {threshold:g} %:")
        lines.append("")
        for found in run.regressions:
            lines.append(
                f"- {'rate ' if found.get('rate') is not None else 'concurrency '}"
                f"{load_label(found)}: {METRIC_LABELS.get(found['metric'], found['metric'])} "
                f"{_n(found['baseline'])} → {_n(found['value'])} ({found['change_pct']:+g} %)")
    elif run.baseline_id:
        lines.append(f"None against baseline run #{run.baseline_id}.")
    else:
        lines.append("No baseline to compare with.")
    return "\n".join(lines) + "\n"
