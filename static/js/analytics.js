// The Analytics page: the browser's time zone goes into the custom-range form, and while the
// range ends now the charts are refreshed from /api/v1/analytics/series every `data-live`
// seconds, so the current bucket moves without a reload.
(function () {
  "use strict";

  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }

  function setupForm() {
    var form = document.querySelector("[data-analytics-form]");
    if (!form) return;
    var zone = browserZone();
    var tz = form.querySelector("[data-browser-tz]");
    if (tz && zone) tz.value = zone;
    // Dates typed into the custom range win over the preset.
    form.addEventListener("submit", function () {
      var since = form.querySelector("input[name=since]");
      var range = form.querySelector("[data-range]");
      if (since && since.value && range) range.disabled = true;
      form.querySelectorAll("input[type=date]").forEach(function (input) {
        if (!input.value) input.disabled = true;
      });
    });
  }

  function setupLive() {
    var grid = document.querySelector("[data-analytics-charts][data-live]");
    if (!grid || !window.fetch) return;
    var every = Math.max(parseInt(grid.dataset.live, 10) || 30, 10) * 1000;
    var url = grid.dataset.seriesUrl;
    function refresh() {
      if (document.hidden) return;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body || !body.charts || !window.SBCharts) return;
          Object.keys(body.charts).forEach(function (name) {
            window.SBCharts.update("chart-" + name, body.charts[name]);
          });
          grid.dataset.refreshedAt = String(Date.now());
        })
        .catch(function () { /* offline: the next tick tries again */ });
    }
    setInterval(refresh, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  }

  document.addEventListener("DOMContentLoaded", function () { setupForm(); setupLive(); });
})();
