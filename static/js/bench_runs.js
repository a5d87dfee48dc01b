/* Bench pages: load curves (a figure against concurrency or request rate), the inter-token
 * latency histogram, and the suite form's model suggestions. uPlot and charts.js (for
 * SBCharts.format / colorFor) load first. No inline scripts: payloads are JSON <script> blocks.
 *
 *   <div class="bench-chart" data-bench-chart="chart-ttft" data-height="240"></div>
 *   <script type="application/json" id="chart-ttft">{...}</script>
 *
 * Curve:     {"kind": "curve", "unit": "ms" | "tok/s", "x": [1, 2, 4], "xlabel": "Concurrency",
 *             "title": "...", "series": [{"label", "stat": "p50" | "p90" | "p99", "values"}]}
 *            Series of one run's p50/p90/p99 share a colour (p90 dashed, p99 dotted, the band
 *            between p50 and p99 shaded); series of different runs each take their own.
 * Histogram: {"kind": "histogram", "unit": "pct", "edges": [ms...], "title": "...",
 *             "series": [{"label": "c=4", "values": [share of gaps per bucket, %]}]}
 * Charts are drawn on load and again whenever live.js swaps in a fragment that holds them.
 */
(function () {
  "use strict";
  const DASH = "\u2014";
  const charts = new Map(); // element -> {u, ro}

  function theme() {
    const cs = getComputedStyle(document.documentElement);
    const v = (name, fallback) => cs.getPropertyValue(name).trim() || fallback;
    return {
      text: v("--text", "#141827"), muted: v("--muted", "#5d6479"), faint: v("--faint", "#8a90a3"),
      border: v("--border", "#e3e6ef"), surface: v("--surface", "#fff"), accent: v("--accent", "#4f46e5"),
      sans: v("--sans", "system-ui, sans-serif"),
    };
  }
  function rgba(hex, a) {
    const m = /^#([0-9a-f]{6})$/i.exec(hex);
    if (!m) return hex;
    const n = parseInt(m[1], 16);
    return "rgba(" + [(n >> 16) & 255, (n >> 8) & 255, n & 255].join(",") + "," + a + ")";
  }
  const colorFor = (label) => (window.SBCharts ? window.SBCharts.colorFor(label) : "#4f46e5");

  function fmt(unit, v) {
    if (v == null || !Number.isFinite(v)) return DASH;
    if (unit === "ms") return window.SBCharts ? window.SBCharts.format("ms", v) : v.toFixed(0) + " ms";
    if (unit === "pct") return (v < 10 ? v.toFixed(1) : v.toFixed(0)) + " %";
    if (unit === "tok/s") return (v >= 1000 ? (v / 1000).toFixed(1) + "k" : v.toFixed(v < 10 ? 1 : 0)) + " tok/s";
    return String(v);
  }
  function axisFmt(unit, v) {
    if (unit === "ms") return v >= 1000 ? +(v / 1000).toFixed(2) + " s" : +v.toFixed(1) + " ms";
    if (unit === "pct") return +v.toFixed(1) + " %";
    return v >= 1000 ? +(v / 1000).toFixed(1) + "k" : String(+v.toFixed(1));
  }
  const num = (v) => (v == null || v === "" || !Number.isFinite(Number(v)) ? null : Number(v));

  function payloadOf(el) {
    const script = document.getElementById(el.getAttribute("data-bench-chart"));
    try { return script ? JSON.parse(script.textContent || "null") : null; } catch (e) { return null; }
  }

  function h(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = text;
    return el;
  }

  // --- shapes -------------------------------------------------------------------------------
  function curve(p, th) {
    const x = (p.x || []).map(num);
    const stats = new Set((p.series || []).map((s) => s.stat));
    const oneRun = stats.size > 1; // p50/p90/p99 of one run: one colour, three strokes
    const base = oneRun ? th.accent : null;
    const series = [{}];
    const data = [x];
    (p.series || []).forEach((s) => {
      const color = base || colorFor(s.label);
      const dash = oneRun && s.stat === "p90" ? [6, 4] : oneRun && s.stat === "p99" ? [2, 3] : undefined;
      series.push({
        label: s.label, stroke: oneRun && s.stat !== "p50" ? rgba(color, 0.75) : color,
        width: oneRun && s.stat !== "p50" ? 1.5 : 2.5, dash, spanGaps: true,
        points: { show: true, size: s.stat === "p50" || !oneRun ? 7 : 5, width: 1.5, fill: th.surface },
      });
      data.push((s.values || []).map(num));
    });
    const bands = [];
    if (oneRun) {
      const i50 = p.series.findIndex((s) => s.stat === "p50") + 1;
      const i99 = p.series.findIndex((s) => s.stat === "p99") + 1;
      if (i50 > 0 && i99 > 0) bands.push({ series: [i99, i50], fill: rgba(base, 0.1) });
    }
    const positive = x.length > 1 && x.every((v) => v > 0) && Math.max(...x) / Math.min(...x) >= 4;
    const xScale = positive ? { distr: 3, log: 2 } : { distr: 1 };
    xScale.range = (u, min, max) => {
      if (min == null) return [0, 1];
      if (positive) return [min / 1.25, max * 1.25];
      const pad = min === max ? Math.max(1, min / 2) : (max - min) * 0.06;
      return [min - pad, max + pad];
    };
    return {
      data, series, bands, xScale,
      xSplits: () => x.slice(),
      xValues: (u, splits) => splits.map((v) => (v == null ? "" : +v.toFixed(2) + "")),
      legendAt: (idx) => (idx == null ? x.length - 1 : idx),
      caption: (idx) => (p.xlabel === "Concurrency" ? "at concurrency " : "at ") + (x[idx] != null ? +x[idx].toFixed(2) : "") + (p.xlabel === "Concurrency" ? "" : " req/s"),
    };
  }

  function histogram(p, th) {
    const edges = (p.edges || []).map(num);
    const series = [{}];
    const data = [edges];
    (p.series || []).forEach((s) => {
      const color = colorFor(s.label);
      const vals = (s.values || []).map(num);
      vals.push(vals.length ? vals[vals.length - 1] : null); // the last bucket's right edge
      series.push({
        label: s.label, stroke: color, width: 2, fill: rgba(color, (p.series || []).length > 1 ? 0.08 : 0.22),
        paths: window.uPlot.paths.stepped({ align: 1 }), points: { show: false },
      });
      data.push(vals);
    });
    return {
      data, series, bands: [],
      xScale: { distr: 3, log: 10, range: (u, min, max) => (min == null ? [1, 10] : [min, max]) },
      xSplits: null,
      xValues: (u, splits) => splits.map((v) => (v == null ? "" : axisFmt("ms", v))),
      legendAt: (idx) => idx,
      caption: (idx) => (edges[idx] != null && edges[idx + 1] != null
        ? axisFmt("ms", edges[idx]) + "–" + axisFmt("ms", edges[idx + 1]) : ""),
    };
  }

  // --- drawing ------------------------------------------------------------------------------
  function draw(el) {
    const old = charts.get(el);
    if (old) { old.u && old.u.destroy(); old.ro && old.ro.disconnect(); }
    const p = payloadOf(el) || {};
    const th = theme();
    const height = parseInt(el.getAttribute("data-height"), 10) || 240;
    el.textContent = "";
    el.classList.add("chart", "chart-ready");
    const head = h("div", "chart-head");
    head.append(h("div", "chart-title", p.title || ""));
    const caption = h("div", "chart-caption");
    head.append(caption);
    const plot = h("div", "chart-plot");
    const legend = h("div", "chart-legend");
    el.append(head, plot, legend);
    el.setAttribute("role", "figure");
    el.setAttribute("aria-label", (p.title || "Chart") + " chart");
    const hasData = (p.series || []).some((s) => (s.values || []).some((v) => num(v) != null));
    if (!hasData || !window.uPlot) {
      const empty = h("div", "chart-empty", "No finished requests yet");
      empty.style.height = height + "px";
      plot.append(empty);
      charts.set(el, { u: null });
      return;
    }
    const shape = p.kind === "histogram" ? histogram(p, th) : curve(p, th);
    const unit = p.unit || "ms";
    const font = "11px " + th.sans;
    const axis = { stroke: th.muted, font, labelFont: font, gap: 6, ticks: { show: false }, border: { show: false } };
    const keys = [];
    const opts = {
      width: Math.max(160, Math.floor(el.clientWidth) || 400),
      height,
      legend: { show: false },
      padding: [10, 14, 0, 4],
      cursor: { y: false, points: { size: 8, width: 2, fill: th.surface }, drag: { x: false, y: false } },
      select: { show: false },
      scales: {
        x: Object.assign({ time: false }, shape.xScale),
        y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        Object.assign({}, axis, {
          label: p.xlabel || "", labelSize: 18, labelGap: 0, size: 26, space: 28,
          splits: shape.xSplits || undefined, values: shape.xValues,
          grid: { show: false }, ticks: { show: true, stroke: th.border, width: 1, size: 4 },
        }),
        Object.assign({}, axis, {
          size: 56, space: 30, grid: { show: true, stroke: th.border, width: 1 },
          values: (u, splits) => splits.map((v) => axisFmt(unit, v)),
        }),
      ],
      series: shape.series,
      bands: shape.bands,
      hooks: { setCursor: [(u) => legendAt(u.cursor.idx)] },
    };
    const u = new window.uPlot(opts, shape.data, plot);
    shape.series.slice(1).forEach((s, i) => {
      const key = h("button", "chart-key");
      key.type = "button";
      const swatch = h("span", "chart-swatch chart-swatch-line");
      swatch.style.setProperty("--swatch", typeof s.stroke === "string" ? s.stroke : th.accent);
      key.append(swatch, h("span", "chart-key-label", s.label), h("span", "chart-key-value"));
      key.addEventListener("click", () => {
        u.setSeries(i + 1, { show: !u.series[i + 1].show });
        key.classList.toggle("is-off", !u.series[i + 1].show);
        key.setAttribute("aria-pressed", String(u.series[i + 1].show));
      });
      key.setAttribute("aria-pressed", "true");
      keys.push(key);
      legend.append(key);
    });
    function legendAt(cursorIdx) {
      const idx = shape.legendAt(cursorIdx);
      keys.forEach((key, i) => {
        const v = idx == null ? null : shape.data[i + 1][idx];
        key.querySelector(".chart-key-value").textContent = idx == null ? "" : fmt(unit, v);
      });
      caption.textContent = idx == null ? "" : shape.caption(idx);
    }
    legendAt(null);
    const state = { u };
    if ("ResizeObserver" in window) {
      let frame = 0;
      state.ro = new ResizeObserver(() => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => {
          const w = Math.floor(el.clientWidth);
          if (w > 0 && w !== u.width) u.setSize({ width: w, height });
        });
      });
      state.ro.observe(el);
    }
    charts.set(el, state);
  }

  function sweep() {
    charts.forEach((st, el) => {
      if (el.isConnected) return;
      if (st.u) st.u.destroy();
      if (st.ro) st.ro.disconnect();
      charts.delete(el);
    });
  }

  function init(root) {
    sweep();
    (root || document).querySelectorAll(".bench-chart[data-bench-chart]").forEach((el) => {
      if (!charts.has(el)) {
        try { draw(el); } catch (err) { console.warn("bench_runs.js: could not draw", el, err); }
      }
    });
  }

  function redrawAll() { charts.forEach((_st, el) => { if (el.isConnected) draw(el); }); }

  // --- the suite form: suggest the chosen endpoint's models -------------------------------
  function suiteForm() {
    const select = document.getElementById("id_endpoint");
    const list = document.getElementById("suite-models");
    const data = document.getElementById("suite-endpoint-models");
    if (!select || !list || !data) return;
    let byEndpoint = {};
    try { byEndpoint = JSON.parse(data.textContent || "{}"); } catch (e) { return; }
    const all = Array.from(list.options).map((o) => o.value);
    const fill = () => {
      const models = byEndpoint[select.value];
      list.textContent = "";
      (models && models.length ? models : all).forEach((m) => {
        const o = document.createElement("option");
        o.value = m;
        list.append(o);
      });
    };
    select.addEventListener("change", fill);
    fill();
  }

  document.addEventListener("live:applied", (evt) => {
    (evt.detail && evt.detail.elements || []).forEach((el) => init(el));
    sweep();
  });
  const scheme = window.matchMedia("(prefers-color-scheme: dark)");
  if (scheme.addEventListener) scheme.addEventListener("change", redrawAll);
  function start() { init(document); suiteForm(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.SBBenchCharts = { init, redraw: redrawAll, get: (el) => (charts.get(el) || {}).u || null };
})();
