"""static/js/charts.js in headless Chromium, on a standalone page served from a temp folder (no
platform process): stacked areas, lines, bars, the empty state, live updates, charts that htmx
swaps in, sparklines, and the look (screenshots under /tmp/h-charts-shots/, light and dark)."""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/h-charts-shots")
TZ = "America/New_York"
START = 1_765_000_800  # 2025-12-06 06:00 UTC, 01:00 in New York
HOUR = 3600
DAY = 86400
MODELS = ["claude-sonnet-4", "gpt-4.1", "claude-haiku-3.5"]


def _wave(i: int, base: float, swing: float, phase: float = 0.0) -> float:
    return round(base + swing * math.sin((i + phase) / 24 * 2 * math.pi), 4)


def cost_payload(hours: int = 24, scale: float = 1.0) -> dict[str, Any]:
    x = [START + i * HOUR for i in range(hours)]
    bases = [(1.2, 0.7), (0.55, 0.3), (0.12, 0.06)]
    series = [
        {"label": label, "values": [round(_wave(i, b, s, k * 3) * scale, 4) for i in range(hours)]}
        for k, (label, (b, s)) in enumerate(zip(MODELS, bases, strict=True))
    ]
    series[1]["values"][5] = None  # a bucket without data
    return {"x": x, "series": series, "unit": "usd", "stacked": True, "kind": "area", "title": "Cost"}


def latency_payload() -> dict[str, Any]:
    x = [START + i * HOUR for i in range(24)]
    return {
        "x": x,
        "series": [
            {"label": "p50", "values": [_wave(i, 820, 160) for i in range(24)]},
            {"label": "p95", "values": [_wave(i, 2300, 700, 4) for i in range(24)]},
        ],
        "unit": "ms",
        "stacked": False,
        "kind": "line",
        "title": "Latency",
    }


def tokens_payload() -> dict[str, Any]:
    x = [START + i * DAY for i in range(14)]
    return {
        "x": x,
        "series": [
            {"label": "claude-sonnet-4", "values": [int(_wave(i * 3, 2.1e6, 8e5)) for i in range(14)]},
            {"label": "gpt-4.1", "values": [int(_wave(i * 3, 9e5, 3e5, 6)) for i in range(14)]},
        ],
        "unit": "tokens",
        "stacked": True,
        "kind": "bars",
        "title": "Tokens per day",
    }


def runs_payload() -> dict[str, Any]:
    x = [START + i * DAY for i in range(7)]
    labels = ["coder", "reviewer", "planner", "tester", "docs", "triage", "other"]
    return {
        "x": x,
        "series": [
            {"label": label, "values": [int(_wave(i * 4 + k, 30 + 6 * k, 10)) for i in range(7)]}
            for k, label in enumerate(labels)
        ],
        "unit": "count",
        "stacked": False,
        "kind": "line",
        "title": "Runs by agent",
    }


EMPTY = {"x": [START, START + HOUR], "series": [{"label": "errors", "values": [None, None]}],
         "unit": "count", "stacked": False, "kind": "bars", "title": "Errors"}

SPARK_COST = [round(_wave(i, 1.9, 0.9), 2) for i in range(24)]
SPARK_LATENCY = [_wave(i, 900, 250, 5) for i in range(24)]


def _chart(chart_id: str, payload: dict[str, Any], height: int | None = None) -> str:
    """The markup templates/components/chart.html gives."""
    from django.template.loader import render_to_string

    return render_to_string("components/chart.html",
                            {"id": chart_id, "payload": payload, "height": height})


def _card(chart_id: str, payload: dict[str, Any], height: int | None = None) -> str:
    return f'<section class="card chart-card">{_chart(chart_id, payload, height)}</section>'


def _assets() -> str:
    from django.template.loader import render_to_string

    return render_to_string("components/chart_assets.html")


def index_html() -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="color-scheme" content="light dark">
<title>Charts</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/css/app.css">
<script src="/static/vendor/htmx-2.0.11.min.js" defer></script>
{_assets()}
</head><body><main class="container">
<div class="page-head"><div><h1>Analytics</h1><p>Last 24 hours</p></div></div>
<div class="chart-grid">
{_card("cost", cost_payload())}
{_card("latency", latency_payload())}
{_card("tokens", tokens_payload())}
{_card("runs", runs_payload())}
{_card("errors", EMPTY, 160)}
<section class="card chart-card"><div class="row">
  <button class="btn btn-sm" id="load" hx-get="/fragment.html" hx-target="#slot">Load</button></div>
  <div id="slot"></div></section>
</div>
<section class="panel" style="margin-top:16px"><table class="table"><thead><tr>
  <th>Project</th><th>24 h cost</th><th>Latency</th><th>Idle</th></tr></thead><tbody><tr>
  <td>Apollo</td>
  <td><span class="sparkline" id="spark-cost" data-values="{json.dumps(SPARK_COST)}" data-unit="usd"
    data-label="24 h cost"></span></td>
  <td><span class="sparkline" id="spark-latency" data-values="{json.dumps(SPARK_LATENCY)}"
    data-unit="ms" data-label="p50 latency"></span></td>
  <td><span class="sparkline" id="spark-empty" data-values="[]" data-unit="usd"
    data-label="24 h cost"></span></td>
</tr></tbody></table></section>
</main></body></html>
"""


FRAGMENT_PAYLOAD = {
    "x": [START + i * HOUR for i in range(12)],
    "series": [{"label": "claude-sonnet-4", "values": [1.5 + (i % 4) * 0.25 for i in range(12)]}],
    "unit": "usd", "stacked": False, "kind": "bars", "title": "Swapped in",
}


def _port() -> int:
    for port in range(18500, 18600):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18500-18599")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("charts-site")
    shutil.copytree(ROOT / "static", root / "static")
    (root / "index.html").write_text(index_html())
    (root / "fragment.html").write_text(
        _chart("swapped", FRAGMENT_PAYLOAD, 160))
    server = ThreadingHTTPServer(("127.0.0.1", _port()), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _open(browser: Any, url: str, scheme: str = "light", width: int = 1360) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme,
                                  timezone_id=TZ, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("window.SBCharts && document.querySelectorAll('.chart-ready').length >= 5")
    return page, errors


def _legend(page: Any, chart_id: str) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        f'[data-chart="{chart_id}"] .chart-key',
        "keys => keys.map(k => [k.querySelector('.chart-key-label').textContent,"
        " k.querySelector('.chart-key-value').textContent])",
    )


def _hover(page: Any, chart_id: str, fraction: float) -> int:
    over = page.locator(f'[data-chart="{chart_id}"] .u-over')
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
    page.wait_for_function(f"SBCharts.get('{chart_id}').cursor.idx != null")
    return page.evaluate(f"SBCharts.get('{chart_id}').cursor.idx")


def _usd(v: float) -> str:
    return f"${v:,.2f}" if v >= 0.01 else f"${v:.2g}"


def test_charts_draw_update_and_swap(browser, site):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = _open(browser, f"{site}/index.html")

    # A stacked area chart with three series: canvas, three legend entries, totals at rest.
    cost = page.locator('[data-chart="cost"]')
    assert cost.locator("canvas").count() == 1
    legend = _legend(page, "cost")
    assert [label for label, _ in legend] == MODELS
    payload = cost_payload()
    totals = [sum(v for v in s["values"] if v is not None) for s in payload["series"]]
    assert [value for _, value in legend] == [_usd(t) for t in totals]
    assert cost.locator(".chart-when").inner_text() == "Total"
    assert cost.locator(".chart-sum").inner_text() == _usd(sum(totals))
    assert cost.locator(".chart-title").inner_text() == "Cost"
    # Stacked: the top series is drawn at the running sum.
    top = page.evaluate("SBCharts.get('cost').data[3][0]")
    assert top == pytest.approx(sum(s["values"][0] for s in payload["series"]))
    page.screenshot(path=str(SHOTS / "light.png"), full_page=True)

    # Hover: the legend shows that bucket's values in dollars, the caption its local time.
    idx = _hover(page, "cost", 0.5)
    hovered = _legend(page, "cost")
    for (_label, text), s in zip(hovered, payload["series"], strict=True):
        v = s["values"][idx]
        assert text == ("\u2014" if v is None else _usd(v))
        assert re.fullmatch(r"\u2014|\$\d[\d,]*\.\d{2,4}", text)
    when = cost.locator(".chart-when").inner_text()
    local_hour = (payload["x"][idx] - 5 * HOUR) % DAY // HOUR  # New York is UTC-5 in December
    assert f"{local_hour:02d}:00" in when and when.startswith(("Sat", "Sun"))
    cost.screenshot(path=str(SHOTS / "cost-hover.png"))
    idx_gap = 5
    _hover_at_index(page, "cost", idx_gap)
    assert _legend(page, "cost")[1][1] == "\u2014"  # gpt-4.1 has no value there
    page.mouse.move(5, 5)
    page.wait_for_function("SBCharts.get('cost').cursor.idx == null")
    assert cost.locator(".chart-when").inner_text() == "Total"

    # Other units format on the axis and in the legend.
    assert all(v.endswith((" ms", " s")) for _, v in _legend(page, "latency"))
    assert all(re.fullmatch(r"\d+(\.\d)?M", v) for _, v in _legend(page, "tokens"))
    assert page.locator('[data-chart="latency"] .chart-when').inner_text() == "Latest"

    # The same label keeps its colour on every chart.
    swatch = "el => getComputedStyle(el).backgroundColor"
    assert (page.locator('[data-chart="cost"] .chart-swatch').first.evaluate(swatch)
            == page.locator('[data-chart="tokens"] .chart-swatch').first.evaluate(swatch))

    # Clicking a legend entry hides a series and re-piles the stack.
    cost.locator(".chart-key").nth(0).click()
    page.wait_for_function("!SBCharts.get('cost').series[1].show")
    assert cost.locator(".chart-key").nth(0).get_attribute("aria-pressed") == "false"
    assert page.evaluate("SBCharts.get('cost').data[3][0]") == pytest.approx(
        sum(s["values"][0] for s in payload["series"][1:]))
    cost.locator(".chart-key").nth(0).click()
    page.wait_for_function("SBCharts.get('cost').series[1].show")
    page.mouse.move(5, 5)

    # The empty state.
    errors_chart = page.locator('[data-chart="errors"]')
    assert errors_chart.locator(".chart-empty").inner_text() == "No data in this range"
    assert errors_chart.locator("canvas").count() == 0

    # A live update replaces the data in place: same uPlot, new legend values.
    before = page.evaluate("(window.__u = SBCharts.get('cost'), 1)")
    assert before
    doubled = cost_payload(scale=2.0)
    assert page.evaluate("([id, p]) => SBCharts.update(id, p)", ["cost", doubled])
    assert page.evaluate("SBCharts.get('cost') === window.__u")
    new_totals = [sum(v for v in s["values"] if v is not None) for s in doubled["series"]]
    assert [v for _, v in _legend(page, "cost")] == [_usd(t) for t in new_totals]
    # ... and an update to an empty chart draws it; one to no data shows the empty state.
    page.evaluate("([id, p]) => SBCharts.update(id, p)", ["errors", latency_payload()])
    assert errors_chart.locator("canvas").count() == 1
    page.evaluate("([id, p]) => SBCharts.update(id, p)", ["errors", EMPTY])
    assert errors_chart.locator(".chart-empty").count() == 1
    assert not page.evaluate("SBCharts.update('nope', {})")
    # x out of order (or not a number) is sorted (or dropped), values moving with it.
    shuffled = latency_payload()
    shuffled["x"] = [*shuffled["x"][::-1], "soon"]
    for s in shuffled["series"]:
        s["values"] = [*s["values"][::-1], 1]
    page.evaluate("([id, p]) => SBCharts.update(id, p)", ["latency", shuffled])
    assert page.evaluate("SBCharts.get('latency').data") == [
        latency_payload()["x"], *(s["values"] for s in latency_payload()["series"])]

    # A chart that htmx swaps in is drawn; removed from the page, it is destroyed.
    page.click("#load")
    page.wait_for_selector('[data-chart="swapped"] canvas')
    assert [label for label, _ in _legend(page, "swapped")] == ["claude-sonnet-4"]
    _hover(page, "swapped", 0.3)
    page.locator("#slot").screenshot(path=str(SHOTS / "swapped-bars.png"))
    # ... and one inserted by other code is drawn on the next htmx:afterSettle.
    page.evaluate("""(payload) => {
        const slot = document.getElementById('slot');
        const box = document.createElement('div');
        box.innerHTML = '<div class="chart" data-chart="inserted" data-height="120"></div>';
        const s = document.createElement('script');
        s.type = 'application/json'; s.id = 'inserted';
        s.textContent = JSON.stringify(payload);
        box.append(s);
        slot.append(box);
        box.dispatchEvent(new CustomEvent('htmx:afterSettle', {bubbles: true}));
    }""", FRAGMENT_PAYLOAD)
    page.wait_for_selector('[data-chart="inserted"] canvas')
    page.evaluate("document.getElementById('slot').textContent = ''")
    page.wait_for_function("SBCharts.get('swapped') === null && SBCharts.get('inserted') === null")

    # Sparklines: a tiny canvas with the total in its title; no values, a dash.
    spark = page.locator("#spark-cost")
    assert spark.locator("canvas").count() == 1
    box = spark.bounding_box()
    assert 95 <= box["width"] <= 110 and 24 <= box["height"] <= 32
    assert spark.get_attribute("title") == f"24 h cost: {_usd(sum(SPARK_COST))} total"
    assert page.locator("#spark-latency").get_attribute("title").endswith(" ms average")
    assert page.locator("#spark-empty").inner_text() == "\u2014"
    assert page.locator("#spark-empty canvas").count() == 0

    # Responsive: the canvas follows its container.
    page.set_viewport_size({"width": 700, "height": 900})
    page.wait_for_function(
        "Math.abs(SBCharts.get('cost').width - document.querySelector('[data-chart=cost]')"
        ".clientWidth) <= 1 && SBCharts.get('cost').width < 660"
    )
    page.screenshot(path=str(SHOTS / "narrow.png"), full_page=True)

    assert errors == []
    page.context.close()


def _hover_at_index(page: Any, chart_id: str, idx: int) -> None:
    left = page.evaluate(f"SBCharts.get('{chart_id}').valToPos({START + idx * HOUR}, 'x')")
    box = page.locator(f'[data-chart="{chart_id}"] .u-over').bounding_box()
    page.mouse.move(box["x"] + left, box["y"] + box["height"] / 2)
    page.wait_for_function(f"SBCharts.get('{chart_id}').cursor.idx === {idx}")


def test_charts_in_dark_mode(browser, site):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = _open(browser, f"{site}/index.html", scheme="dark")
    # The axis labels use the site's muted text colour for dark mode.
    assert page.evaluate("SBCharts.get('cost').axes[1].stroke(SBCharts.get('cost'))") == "#9aa3b5"
    _hover(page, "cost", 0.7)
    page.screenshot(path=str(SHOTS / "dark.png"), full_page=True)
    assert errors == []
    page.context.close()
