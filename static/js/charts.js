/* Switchboard charts: time-series charts and sparklines drawn with uPlot
 * (static/vendor/uplot-1.6.32.iife.min.js + .min.css, loaded before this file). Plain ES2020,
 * no build step. No inline scripts (CSP): data travels in JSON <script> blocks.
 *
 * A chart
 *   <div class="chart" data-chart="cost-by-model" data-height="220"></div>
 *   <script type="application/json" id="cost-by-model">{ ...payload... }</script>
 *   (Django: {{ payload|json_script:"cost-by-model" }}; data-height is optional, 220 px.)
 *
 * The payload
 *   {
 *     "x":      [1733560800, 1733564400, ...],   bucket starts, unix seconds, ascending
 *     "series": [{"label": "claude-sonnet-4", "values": [0.42, null, ...]}, ...],
 *                                                one value per x; null = no data
 *     "unit":   "usd" | "tokens" | "ms" | "pct" | "count" | "hours" | "per_s",   pct is 0-100;
 *               per_s a rate (tokens/s, requests/s): the legend shows the latest, not a total
 *     "stacked": true | false,                   series pile up in order, the first at the bottom
 *     "kind":   "area" | "line" | "bars",
 *     "title":  "Cost"                           optional, shown above the plot
 *   }
 *   No x, or no series with a value, shows "No data in this range". Up to ~12 series; a label
 *   keeps its colour on every chart of the page (the first label seen takes the first colour).
 *   The legend shows each series' value under the cursor; otherwise its total over the range
 *   (usd, tokens, count, hours) or its latest value (ms, pct). Clicking a legend entry hides
 *   or shows that series. Times are in the browser's time zone.
 *
 * A sparkline (~100 x 28 px, no axes; its title and aria-label give the total, or the average
 * for ms and pct; no values shows a muted dash)
 *   <span class="sparkline" data-values="[1,2,3]" data-unit="usd" data-label="24 h cost"></span>
 *
 * window.SBCharts
 *   update(id, payload)  replace a chart's data in place (e.g. when a WebSocket brings the
 *                        current bucket); returns false when no chart has that id
 *   init(root)           draw every .chart and .sparkline under root not drawn yet; runs on
 *                        load and after every htmx swap (htmx:afterSettle, htmx:oobAfterSwap)
 *   format(unit, value)  the legend's number format;  colorFor(label)  a series' colour
 *   get(id)              the uPlot instance, or null
 * Charts removed from the page are destroyed (a MutationObserver watches for removals); all
 * charts redraw when the colour scheme changes.
 */
(function () {
  "use strict";

  if (typeof window.uPlot !== "function") {
    console.warn("charts.js: uPlot is not loaded; include vendor/uplot-*.iife.min.js first");
    return;
  }
  const uPlot = window.uPlot;

  const DAY = 86400;
  const DEFAULT_HEIGHT = 220;
  const UNITS = ["usd", "tokens", "ms", "pct", "count", "hours", "per_s"];
  const ADDITIVE = new Set(["usd", "tokens", "count", "hours"]);
  const KINDS = ["area", "line", "bars"];
  const EMPTY_TEXT = "No data in this range";
  const DASH = "\u2014";

  // Twelve hues, ordered so neighbours differ most; 600-ish shades keep 3:1 against a light
  // surface, 400-ish shades against a dark one. "Other" is always slate.
  const PALETTE = {
    light: ["#4f46e5", "#d97706", "#059669", "#db2777", "#0284c7", "#ea580c",
            "#7c3aed", "#65a30d", "#dc2626", "#0d9488", "#8b5e34", "#c026d3"],
    dark: ["#818cf8", "#fbbf24", "#34d399", "#f472b6", "#38bdf8", "#fb923c",
           "#a78bfa", "#a3e635", "#f87171", "#2dd4bf", "#c8a27a", "#e879f9"],
  };
  const OTHER_COLOR = { light: "#64748b", dark: "#94a3b8" };
  const OTHER_LABEL = /^\(?(other|others|rest)\)?$/i;

  // --- numbers -----------------------------------------------------------------------------
  const formatters = new Map();
  function nf(maxDigits, minDigits) {
    const key = maxDigits + ":" + (minDigits || 0);
    let f = formatters.get(key);
    if (!f) {
      f = new Intl.NumberFormat("en-US", {
        maximumFractionDigits: maxDigits, minimumFractionDigits: minDigits || 0,
      });
      formatters.set(key, f);
    }
    return f;
  }
  const twoSignificant = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 2 });

  // 850, 1.2k, 34k, 3.4M, 1.2B
  function compact(a) {
    if (a < 1000) return nf(a < 10 ? 1 : 0).format(a);
    const steps = [[1e3, "k"], [1e6, "M"], [1e9, "B"]];
    for (let i = 0; i < steps.length; i++) {
      const n = a / steps[i][0];
      const d = n >= 100 ? 0 : 1;
      if (Number(n.toFixed(d)) < 1000 || i === steps.length - 1) return nf(d).format(n) + steps[i][1];
    }
    return "";
  }

  function format(unit, v) {
    if (v == null || !Number.isFinite(v)) return DASH;
    const sign = v < 0 ? "-" : "";
    const a = Math.abs(v);
    switch (unit) {
      case "usd":
        if (a === 0) return "$0.00";
        if (a >= 1000) return sign + "$" + nf(0).format(a);
        if (a >= 0.01) return sign + "$" + nf(2, 2).format(a);
        return sign + "$" + twoSignificant.format(a);
      case "tokens":
        return sign + compact(a);
      case "ms":
        if (a < 1000) return sign + nf(a < 10 ? 1 : 0).format(a) + " ms";
        if (a < 60000) return sign + nf(1).format(a / 1000) + " s";
        return sign + nf(1).format(a / 60000) + " min";
      case "pct":
        return sign + nf(a < 10 ? 1 : 0).format(a) + " %";
      case "hours":
        return sign + nf(a < 1 ? 2 : a < 100 ? 1 : 0).format(a) + " h";
      case "per_s":
        return sign + nf(a < 10 ? 1 : 0).format(a) + "/s";
      default:
        return sign + nf(Number.isInteger(a) || a >= 100 ? 0 : 1).format(a);
    }
  }

  // Axis labels: one number of decimals for the whole axis, chosen from the tick step.
  function decimalsFor(step) {
    if (!(step > 0)) return 0;
    return Math.min(6, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9)));
  }
  function axisLabels(unit, splits, step) {
    const top = Math.max(...splits.map((v) => Math.abs(v)));
    return splits.map((v) => {
      if (v === 0) return unit === "usd" ? "$0" : "0";
      const sign = v < 0 ? "-" : "";
      const a = Math.abs(v);
      switch (unit) {
        case "usd": {
          const d = step >= 1 ? 0 : Math.max(2, decimalsFor(step));
          return sign + "$" + nf(d, d).format(a);
        }
        case "tokens": {
          const div = top >= 1e9 ? 1e9 : top >= 1e6 ? 1e6 : top >= 1e3 ? 1e3 : 1;
          const suffix = { 1e9: "B", 1e6: "M", 1e3: "k", 1: "" }[div];
          return sign + nf(decimalsFor(step / div)).format(a / div) + suffix;
        }
        case "ms":
          if (top >= 60000) return sign + nf(decimalsFor(step / 60000)).format(a / 60000) + " min";
          if (top >= 1000) return sign + nf(decimalsFor(step / 1000)).format(a / 1000) + " s";
          return sign + nf(0).format(a) + " ms";
        case "pct":
          return sign + nf(decimalsFor(step)).format(a) + " %";
        case "hours":
          return sign + nf(decimalsFor(step)).format(a) + " h";
        default:
          return sign + nf(decimalsFor(step)).format(a);
      }
    });
  }
  const INT_INCRS = [];
  for (let e = 0; e <= 12; e++) [1, 2, 5].forEach((m) => INT_INCRS.push(m * 10 ** e));

  // --- time ----------------------------------------------------------------------------------
  // uPlot formats in the browser's time zone. 24-hour clock; the date below the first tick of
  // each day, "Dec 7" style so it reads the same in every locale.
  const _ = null;
  const TIME_TICKS = [
    [DAY * 365, "{YYYY}", _, _, _, _, _, _, 1],
    [DAY * 28, "{MMM}", "\n{YYYY}", _, _, _, _, _, 1],
    [DAY, "{MMM} {D}", _, _, _, _, _, _, 1],
    [3600, "{HH}:{mm}", "\n{MMM} {D}", _, "\n{MMM} {D}", _, _, _, 1],
    [60, "{HH}:{mm}", "\n{MMM} {D}", _, "\n{MMM} {D}", _, _, _, 1],
    [1, "{HH}:{mm}:{ss}", "\n{MMM} {D}", _, "\n{MMM} {D}", _, _, _, 1],
  ];
  const fmtDay = uPlot.fmtDate("{WWW} {MMM} {D}");
  const fmtMinute = uPlot.fmtDate("{WWW} {MMM} {D}, {HH}:{mm}");

  function stepOf(x) {
    const gaps = [];
    for (let i = 1; i < x.length; i++) if (x[i] > x[i - 1]) gaps.push(x[i] - x[i - 1]);
    if (!gaps.length) return 3600;
    gaps.sort((a, b) => a - b);
    return gaps[Math.floor(gaps.length / 2)];
  }

  // --- theme and colours -----------------------------------------------------------------
  function parseColor(c) {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c.trim());
    if (m) {
      let h = m[1];
      if (h.length === 3) h = h.replace(/./g, "$&$&");
      return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
    }
    const r = /rgba?\(([^)]+)\)/.exec(c);
    return r ? r[1].split(/[ ,/]+/).slice(0, 3).map(Number) : null;
  }
  function rgba(c, a) {
    const p = parseColor(c);
    return p ? "rgba(" + p.join(",") + "," + a + ")" : c;
  }

  function readTheme() {
    const cs = getComputedStyle(document.documentElement);
    const v = (name, fallback) => cs.getPropertyValue(name).trim() || fallback;
    const surface = v("--surface", "#ffffff");
    const rgb = parseColor(surface);
    const dark = rgb
      ? (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255 < 0.4
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    return {
      dark,
      surface,
      text: v("--text", "#141827"),
      muted: v("--muted", "#5d6479"),
      faint: v("--faint", "#8a90a3"),
      border: v("--border", "#e3e6ef"),
      accent: v("--accent", "#4f46e5"),
      sans: v("--sans", "system-ui, sans-serif"),
    };
  }
  let theme = null;

  const colorSlots = new Map(); // label -> palette index, first come first served on the page
  function colorFor(label) {
    const th = theme || (theme = readTheme());
    const mode = th.dark ? "dark" : "light";
    const key = String(label == null ? "" : label);
    if (OTHER_LABEL.test(key.trim())) return OTHER_COLOR[mode];
    if (!colorSlots.has(key)) colorSlots.set(key, colorSlots.size);
    const list = PALETTE[mode];
    return list[colorSlots.get(key) % list.length];
  }

  function verticalGradient(color, top, bottom) {
    return (u) => {
      const g = u.ctx.createLinearGradient(0, u.bbox.top, 0, u.bbox.top + u.bbox.height);
      g.addColorStop(0, rgba(color, top));
      g.addColorStop(1, rgba(color, bottom));
      return g;
    };
  }

  // --- payloads --------------------------------------------------------------------------
  function cleanNumber(v) {
    if (v == null || v === "") return null;
    const n = typeof v === "number" ? v : Number(v);
    return Number.isFinite(n) ? n : null;
  }

  function normalise(raw) {
    const p = raw && typeof raw === "object" ? raw : {};
    // uPlot needs finite, ascending x: drop other points, sort if the server did not
    const rawX = Array.isArray(p.x) ? p.x.map(cleanNumber) : [];
    const order = rawX.map((_v, j) => j).filter((j) => rawX[j] != null);
    order.sort((a, b) => rawX[a] - rawX[b]);
    const x = order.map((j) => rawX[j]);
    const series = (Array.isArray(p.series) ? p.series : []).map((s, i) => {
      const values = Array.isArray(s && s.values) ? s.values : [];
      return {
        label: s && s.label != null ? String(s.label) : "Series " + (i + 1),
        values: order.map((j) => cleanNumber(values[j])),
      };
    });
    return {
      x,
      series,
      unit: UNITS.includes(p.unit) ? p.unit : "count",
      stacked: Boolean(p.stacked),
      kind: KINDS.includes(p.kind) ? p.kind : "line",
      title: p.title != null ? String(p.title) : "",
    };
  }

  function isEmpty(p) {
    return !p.x.length || !p.series.some((s) => s.values.some((v) => v != null));
  }

  function sameShape(a, b) {
    return a.kind === b.kind && a.unit === b.unit && a.stacked === b.stacked &&
      a.series.length === b.series.length &&
      a.series.every((s, i) => s.label === b.series[i].label);
  }

  // Data as uPlot takes it; stacked series become running sums and each fills down to the
  // nearest shown series below it (a band). Hidden series add nothing to the pile.
  function plotData(p, hidden) {
    const raw = p.series.map((s) => s.values);
    if (!p.stacked) return { data: [p.x, ...raw], bands: [] };
    const acc = p.x.map(() => 0);
    const piled = raw.map((vals, i) =>
      hidden[i] ? acc.slice() : vals.map((v, j) => (acc[j] += v == null ? 0 : v)));
    const bands = [];
    let below = -1;
    raw.forEach((_v, i) => {
      if (hidden[i]) return;
      if (below >= 0) bands.push({ series: [i + 1, below + 1] });
      below = i;
    });
    return { data: [p.x, ...piled], bands };
  }

  function summaries(p) {
    const additive = ADDITIVE.has(p.unit);
    return p.series.map((s) => {
      if (additive) {
        let total = null;
        s.values.forEach((v) => { if (v != null) total = (total || 0) + v; });
        return total;
      }
      for (let j = s.values.length - 1; j >= 0; j--) if (s.values[j] != null) return s.values[j];
      return null;
    });
  }

  // --- DOM helpers -----------------------------------------------------------------------
  function h(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = text;
    return el;
  }

  function readPayload(id) {
    const script = document.getElementById(id);
    if (!script) {
      console.warn("charts.js: no payload <script> with id", id);
      return null;
    }
    try {
      return JSON.parse(script.textContent || "null");
    } catch (err) {
      console.warn("charts.js: the payload in #" + id + " is not JSON:", err.message);
      return null;
    }
  }

  // --- charts ----------------------------------------------------------------------------
  const charts = new Map(); // element -> state
  const chartsById = new Map(); // payload id -> state

  function axisSize(u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    let size = axis.ticks.size + axis.gap;
    const longest = (values || []).reduce((a, v) => (v.length > a.length ? v : a), "");
    if (longest) {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / devicePixelRatio;
    }
    return Math.ceil(size) + 2;
  }

  function seriesOptions(p, i, count, step, th) {
    const color = colorFor(p.series[i].label);
    const s = { label: p.series[i].label, stroke: color, spanGaps: false };
    if (p.kind === "bars") {
      s.width = 0;
      s.fill = rgba(color, th.dark ? 0.85 : 0.9);
      s.points = { show: false };
      if (p.stacked || count === 1) {
        s.paths = uPlot.paths.bars({ size: [0.72, 56, 2], gap: p.stacked ? 0 : 0 });
      } else {
        // side by side within each bucket: 80 % of the bucket shared by the series
        const width = (step * 0.8) / count;
        s.paths = uPlot.paths.bars({
          gap: 1,
          disp: {
            x0: { unit: 1, values: (u) => u.data[0].map((x) => x - step * 0.4 + i * width) },
            size: { unit: 1, values: () => [width] },
          },
        });
      }
    } else if (p.kind === "area") {
      s.width = p.stacked ? 1.5 : 2;
      s.fill = p.stacked
        ? rgba(color, th.dark ? 0.62 : 0.42)
        : verticalGradient(color, th.dark ? 0.3 : 0.22, 0.02);
      s.points = { show: false };
      s.fillTo = () => 0;
    } else {
      s.width = 2;
      // dots only where they help: a few points of a few series
      s.points = { show: p.x.length <= 16 && count <= 3, size: 5, width: 1.5, fill: th.surface };
    }
    return s;
  }

  function uplotOptions(st, width) {
    const p = st.payload;
    const th = theme;
    const step = stepOf(p.x);
    const font = "11px " + th.sans;
    const axisCommon = {
      stroke: th.muted,
      font,
      labelFont: font,
      gap: 6,
      ticks: { show: false },
      border: { show: false },
    };
    const series = [{}];
    p.series.forEach((_s, i) => {
      const s = seriesOptions(p, i, p.series.length, step, th);
      s.show = !st.hidden[i];
      series.push(s);
    });
    const bars = p.kind === "bars";
    return {
      width,
      height: st.height,
      legend: { show: false },
      padding: [10, 20, 0, 0],
      cursor: {
        y: false,
        // the line sits on the bucket whose values the legend shows
        move: (u, left, top) => {
          if (!(left >= 0)) return [left, top]; // off the plot
          const i = u.posToIdx(left);
          return i == null || u.data[0][i] == null ? [left, top] : [u.valToPos(u.data[0][i], "x"), top];
        },
        points: { size: 8, width: 2, fill: th.surface },
        drag: { x: true, y: false, setScale: true },
      },
      select: { show: true },
      scales: {
        x: {
          time: true,
          range: (u, min, max) => {
            if (min == null) return [0, 1];
            const pad = bars ? step / 2 : min === max ? step : 0;
            return [min - pad, max + pad];
          },
        },
        y: {
          range: (u, min, max) => {
            if (min == null || max == null) return [0, 1];
            const lo = Math.min(0, min);
            let hi = Math.max(0, max);
            if (hi === lo) hi = lo + (p.unit === "usd" ? 1 : p.unit === "pct" ? 100 : 10);
            const r = uPlot.rangeNum(lo, hi, 0.1, true);
            if (lo >= 0) r[0] = 0;
            if (p.unit === "pct" && max <= 100) r[1] = Math.min(r[1], 100);
            return r;
          },
        },
      },
      axes: [
        Object.assign({}, axisCommon, {
          space: 70,
          // room for a second line (the date) only when a label has one
          size: (u, values) => ((values || []).some((v) => String(v).includes("\n")) ? 44 : 28),
          grid: { show: false },
          ticks: { show: true, stroke: th.border, width: 1, size: 4 },
          values: TIME_TICKS,
        }),
        Object.assign({}, axisCommon, {
          space: 32,
          size: axisSize,
          grid: { show: true, stroke: th.border, width: 1 },
          incrs: ["tokens", "count", "ms"].includes(p.unit) ? INT_INCRS : undefined,
          values: (u, splits, _ai, _space, incr) => axisLabels(p.unit, splits, incr),
        }),
      ],
      series,
      hooks: {
        setCursor: [(u) => renderLegend(st, u.cursor.idx)],
        setSeries: [(u, si) => onToggle(st, si)],
      },
    };
  }

  function buildSkeleton(st) {
    const el = st.el;
    el.textContent = "";
    el.classList.add("chart-ready");
    st.head = h("div", "chart-head");
    st.titleEl = h("div", "chart-title");
    st.caption = h("div", "chart-caption");
    st.when = h("span", "chart-when");
    st.sum = h("span", "chart-sum");
    st.caption.append(st.when, st.sum);
    st.head.append(st.titleEl, st.caption);
    st.plot = h("div", "chart-plot");
    st.legend = h("div", "chart-legend");
    st.legend.setAttribute("role", "group");
    st.legend.setAttribute("aria-label", "Legend");
    el.append(st.head, st.plot, st.legend);
  }

  function render(st) {
    if (st.u) {
      st.u.destroy();
      st.u = null;
    }
    const p = st.payload;
    st.plot.textContent = "";
    st.legend.textContent = "";
    st.keys = [];
    st.titleEl.textContent = p.title;
    st.titleEl.hidden = !p.title;
    st.el.setAttribute("aria-label", p.title ? p.title + " chart" : "Chart");
    st.el.setAttribute("role", "figure");
    if (isEmpty(p)) {
      st.el.classList.add("chart-is-empty");
      st.caption.hidden = true;
      st.legend.hidden = true;
      const empty = h("div", "chart-empty", EMPTY_TEXT);
      empty.style.height = st.height + "px";
      st.plot.append(empty);
      return;
    }
    st.el.classList.remove("chart-is-empty");
    st.caption.hidden = false;
    st.legend.hidden = false;
    if (st.hidden.length !== p.series.length) st.hidden = p.series.map((_s, i) => !!st.hidden[i]);
    p.series.forEach((s, i) => {
      const key = h("button", "chart-key");
      key.type = "button";
      key.title = "Show or hide " + s.label;
      const swatch = h("span", "chart-swatch");
      swatch.style.setProperty("--swatch", colorFor(s.label));
      if (p.kind === "line") swatch.classList.add("chart-swatch-line");
      key.append(swatch, h("span", "chart-key-label", s.label), h("span", "chart-key-value"));
      key.addEventListener("click", () => {
        if (st.u) st.u.setSeries(i + 1, { show: !st.u.series[i + 1].show });
      });
      st.keys.push(key);
      st.legend.append(key);
    });
    const { data, bands } = plotData(p, st.hidden);
    st.summary = summaries(p);
    st.step = stepOf(p.x);
    const opts = uplotOptions(st, Math.max(120, Math.floor(st.el.clientWidth) || 600));
    opts.bands = bands;
    st.u = new uPlot(opts, data, st.plot);
    renderLegend(st, null);
  }

  function onToggle(st, si) {
    const i = si - 1;
    if (!st.u || i < 0) return;
    st.hidden[i] = !st.u.series[si].show;
    if (st.payload.stacked) {
      const { data, bands } = plotData(st.payload, st.hidden);
      st.u.delBand(null);
      bands.forEach((b) => st.u.addBand(b));
      st.u.setData(data);
    }
    renderLegend(st, st.u.cursor.idx);
  }

  function renderLegend(st, idx) {
    if (!st.u || !st.keys) return;
    const p = st.payload;
    const hovering = idx != null && idx >= 0 && idx < p.x.length;
    let sum = null;
    p.series.forEach((s, i) => {
      const v = hovering ? s.values[idx] : st.summary[i];
      const key = st.keys[i];
      key.querySelector(".chart-key-value").textContent = format(p.unit, v);
      key.setAttribute("aria-pressed", String(!st.hidden[i]));
      key.classList.toggle("is-off", !!st.hidden[i]);
      if (!st.hidden[i] && v != null) sum = (sum || 0) + v;
    });
    if (hovering) {
      const when = new Date(p.x[idx] * 1000);
      st.when.textContent = (st.step >= DAY ? fmtDay : fmtMinute)(when);
    } else {
      st.when.textContent = ADDITIVE.has(p.unit) ? "Total" : "Latest";
    }
    const showSum = p.stacked && ADDITIVE.has(p.unit) && p.series.length > 1;
    st.sum.textContent = showSum ? format(p.unit, sum) : "";
    st.sum.hidden = !showSum;
  }

  function resize(st) {
    if (!st.u) return;
    const w = Math.floor(st.el.clientWidth);
    if (w > 0 && w !== st.u.width) st.u.setSize({ width: w, height: st.height });
  }

  function initChart(el) {
    const id = el.getAttribute("data-chart");
    const st = {
      el,
      id,
      kind: "chart",
      height: Math.max(60, parseInt(el.getAttribute("data-height"), 10) || DEFAULT_HEIGHT),
      payload: normalise(readPayload(id)),
      hidden: [],
      u: null,
    };
    charts.set(el, st);
    const before = chartsById.get(id);
    if (before && before !== st && !before.el.isConnected) destroy(before);
    chartsById.set(id, st);
    buildSkeleton(st);
    render(st);
    if ("ResizeObserver" in window) {
      let frame = 0;
      st.ro = new ResizeObserver(() => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => resize(st));
      });
      st.ro.observe(el);
    }
    return st;
  }

  function update(id, payload) {
    let st = chartsById.get(id);
    if (!st || !st.el.isConnected) {
      const el = document.querySelector('.chart[data-chart="' + CSS.escape(id) + '"]');
      if (!el) return false;
      st = charts.get(el) || initChart(el);
    }
    const next = normalise(payload);
    const before = st.payload;
    st.payload = next;
    if (st.u && !isEmpty(next) && sameShape(before, next)) {
      st.summary = summaries(next);
      st.step = stepOf(next.x);
      st.titleEl.textContent = next.title;
      st.titleEl.hidden = !next.title;
      const { data } = plotData(next, st.hidden);
      st.u.setData(data);
      renderLegend(st, st.u.cursor.idx);
    } else {
      // keep hidden series hidden when their label stays
      const off = new Set(before.series.filter((_s, i) => st.hidden[i]).map((s) => s.label));
      st.hidden = next.series.map((s) => off.has(s.label));
      render(st);
    }
    return true;
  }

  // --- sparklines ------------------------------------------------------------------------
  function initSparkline(el) {
    const st = { el, kind: "sparkline", u: null };
    charts.set(el, st);
    renderSparkline(st);
    return st;
  }

  function renderSparkline(st) {
    const el = st.el;
    if (st.u) {
      st.u.destroy();
      st.u = null;
    }
    el.textContent = "";
    let values = [];
    try {
      const parsed = JSON.parse(el.getAttribute("data-values") || "[]");
      if (Array.isArray(parsed)) values = parsed.map(cleanNumber);
    } catch (err) {
      console.warn("charts.js: data-values is not a JSON list:", err.message);
    }
    const unit = UNITS.includes(el.getAttribute("data-unit")) ? el.getAttribute("data-unit") : "count";
    const label = el.getAttribute("data-label") || "";
    const present = values.filter((v) => v != null);
    el.setAttribute("role", "img");
    if (!present.length) {
      el.classList.add("sparkline-empty");
      el.textContent = DASH;
      const text = (label ? label + ": " : "") + "no data";
      el.title = text;
      el.setAttribute("aria-label", text);
      return;
    }
    el.classList.remove("sparkline-empty");
    const additive = ADDITIVE.has(unit);
    const total = present.reduce((a, v) => a + v, 0);
    const text = (label ? label + ": " : "") +
      (additive ? format(unit, total) + " total" : format(unit, total / present.length) + " average");
    el.title = text;
    el.setAttribute("aria-label", text);
    const th = theme;
    const width = parseInt(el.getAttribute("data-width"), 10) || 100;
    const height = parseInt(el.getAttribute("data-height"), 10) || 28;
    const ys = values.length === 1 ? [values[0], values[0]] : values;
    const xs = ys.map((_v, i) => i);
    const lo = Math.min(...present);
    const hi = Math.max(...present);
    st.u = new uPlot({
      width,
      height,
      padding: [3, 2, 2, 2],
      legend: { show: false },
      cursor: { show: false },
      select: { show: false },
      axes: [{ show: false }, { show: false }],
      scales: {
        x: { time: false },
        y: {
          range: () => {
            const bottom = additive && lo >= 0 ? 0 : lo;
            const top = hi === bottom ? bottom + 1 : hi;
            return [bottom - (top - bottom) * 0.04, top + (top - bottom) * 0.08];
          },
        },
      },
      series: [
        {},
        {
          stroke: th.accent,
          width: 1.5,
          fill: verticalGradient(th.accent, th.dark ? 0.35 : 0.25, 0.02),
          points: { show: false },
          spanGaps: true,
        },
      ],
    }, [xs, ys], el);
  }

  // --- lifecycle -------------------------------------------------------------------------
  function destroy(st) {
    if (st.ro) st.ro.disconnect();
    if (st.u) st.u.destroy();
    st.u = null;
    charts.delete(st.el);
    if (st.id && chartsById.get(st.id) === st) chartsById.delete(st.id);
  }

  function sweep() {
    charts.forEach((st) => { if (!st.el.isConnected) destroy(st); });
  }

  function init(root) {
    const scope = root && root.querySelectorAll && root.isConnected !== false ? root : document;
    theme = theme || readTheme();
    const found = [];
    if (scope.matches && scope.matches(".chart[data-chart], .sparkline")) found.push(scope);
    scope.querySelectorAll(".chart[data-chart], .sparkline").forEach((el) => found.push(el));
    found.forEach((el) => {
      if (charts.has(el) || !el.isConnected) return;
      try {
        if (el.classList.contains("sparkline")) initSparkline(el);
        else initChart(el);
      } catch (err) {
        console.warn("charts.js: could not draw", el, err);
      }
    });
    sweep();
  }

  function redrawAll() {
    theme = readTheme();
    charts.forEach((st) => {
      if (st.kind === "sparkline") renderSparkline(st);
      else render(st);
    });
  }

  let sweepQueued = false;
  new MutationObserver((records) => {
    if (sweepQueued) return;
    const removedElement = records.some((r) =>
      Array.prototype.some.call(r.removedNodes, (n) => n.nodeType === 1));
    if (!removedElement) return;
    sweepQueued = true;
    requestAnimationFrame(() => {
      sweepQueued = false;
      sweep();
    });
  }).observe(document.documentElement, { childList: true, subtree: true });

  document.addEventListener("htmx:afterSettle", (evt) => init(evt.target));
  document.addEventListener("htmx:oobAfterSwap", (evt) => init(evt.target));
  const scheme = window.matchMedia("(prefers-color-scheme: dark)");
  if (scheme.addEventListener) scheme.addEventListener("change", redrawAll);

  window.SBCharts = {
    init,
    update,
    format,
    colorFor,
    get: (id) => {
      const st = chartsById.get(id);
      return st && st.u ? st.u : null;
    },
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => init(document));
  } else {
    init(document);
  }
})();
