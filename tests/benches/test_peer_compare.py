"""The pure helpers of benchmarks/peer_compare.py: the truth, and reading GuideLLM's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.peer_compare import (
    Figures,
    guidellm_figures,
    guidellm_scenario,
    relative_error,
    truth_tok_s,
)


def _dist(median: float, mean: float | None = None) -> dict:
    return {"median": median, "mean": median if mean is None else mean, "count": 1}


def _bench(streams: int, *, ttft: float, itl: float, tok_s: float, ok: int, bad: int) -> dict:
    """One benchmark of a GuideLLM 0.8 JSON report, trimmed to the fields the script reads."""
    return {
        "config": {"strategy": {"type_": "concurrent", "streams": streams}},
        "metrics": {
            "request_totals": {"successful": ok, "errored": bad, "incomplete": 1, "total": ok},
            "time_to_first_token_ms": {"successful": _dist(ttft), "total": _dist(999.0)},
            "inter_token_latency_ms": {"successful": _dist(itl), "total": _dist(999.0)},
            # the console's "Output Tokens Per Sec Mean" is the total status's mean
            "output_tokens_per_second": {
                "successful": _dist(1.0, 1.0),
                "total": _dist(300.0, tok_s),
            },
        },
    }


def test_guidellm_figures_reads_each_benchmark_by_streams() -> None:
    report = {
        "metadata": {"version": 2, "guidellm_version": "0.8.1"},
        "benchmarks": [
            _bench(1, ttft=101.2, itl=20.01, tok_s=46.9, ok=2, bad=0),
            _bench(32, ttft=102.1, itl=20.0, tok_s=1434.9, ok=95, bad=2),
        ],
    }
    figures = guidellm_figures(report)
    assert figures[1] == Figures(101.2, 20.01, 46.9, 2, 1)
    assert figures[32] == Figures(102.1, 20.0, 1434.9, 95, 3)


def test_truth_and_relative_error() -> None:
    # 64 tokens: the first at 100 ms, the last 63 gaps of 20 ms later, so 1.36 s a stream
    assert truth_tok_s(1, 100, 20, 64) == pytest.approx(64 / 1.36)
    assert truth_tok_s(32, 100, 20, 64) == pytest.approx(32 * 64 / 1.36)
    assert relative_error(102.0, 100.0) == pytest.approx(0.02)
    assert relative_error(None, 100.0) is None


def test_scenario_asks_for_the_levels_streams_and_a_local_tokenizer(tmp_path: Path) -> None:
    scenario = guidellm_scenario(
        url="http://127.0.0.1:1",
        concurrency=8,
        tokenizer=tmp_path / "tok",
        tokens=64,
        report=tmp_path / "r.json",
    )["spec"]
    assert scenario["profile"]["streams"] == [8]
    assert scenario["constraints"] == [{"kind": "max_requests", "count": 32}]
    assert scenario["tokenizer"]["model"] == str(tmp_path / "tok")
    assert scenario["data"][0]["output_tokens"] == 64
    assert scenario["backend"]["validate_backend"] is False
    assert scenario["outputs"] == [{"kind": "json", "path": str(tmp_path / "r.json")}]
