// The alerts inbox: the bulk bar's "tick all" and count, and live rows put in their place.
// No inline scripts (CSP). Without this file the bulk form still posts the ticked rows.
(function () {
  "use strict";

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('#alert-items input[name="alert"]'));
  }

  function updateCount() {
    var count = document.getElementById("bulk-count");
    if (!count) return;
    var ticked = boxes().filter(function (b) { return b.checked; }).length;
    count.textContent = ticked ? ticked + " ticked" : "Tick alerts to act on them";
    var bar = document.getElementById("alert-bulk");
    if (bar) bar.setAttribute("data-ticked", String(ticked));
    var all = document.getElementById("bulk-all");
    if (all) all.checked = ticked > 0 && ticked === boxes().length;
  }

  // Severity first (critical, warning, info), then oldest first: the server's order.
  function before(a, b) {
    var ra = Number(a.getAttribute("data-rank")), rb = Number(b.getAttribute("data-rank"));
    if (ra !== rb) return ra > rb;
    var oa = Number(a.getAttribute("data-opened")), ob = Number(b.getAttribute("data-opened"));
    if (oa !== ob) return oa < ob;
    return Number(a.getAttribute("data-id")) < Number(b.getAttribute("data-id"));
  }

  function place(row) {
    var list = document.getElementById("alert-items");
    if (!list || list.getAttribute("data-order") !== "severity" || row.parentNode !== list) return;
    var rows = Array.prototype.slice.call(list.children).filter(function (r) {
      return r !== row && r.hasAttribute("data-rank");
    });
    var next = null;
    for (var i = 0; i < rows.length; i++) {
      if (before(row, rows[i])) { next = rows[i]; break; }
    }
    if (row.nextElementSibling !== next) list.insertBefore(row, next);
  }

  document.addEventListener("live:applied", function (e) {
    (e.detail && e.detail.elements || []).forEach(function (el) {
      if (el.classList && el.classList.contains("alert-row")) place(el);
    });
    updateCount();
  });
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.id === "bulk-all") {
      boxes().forEach(function (b) { b.checked = t.checked; });
    }
    if (t && (t.id === "bulk-all" || t.name === "alert")) updateCount();
  });
  // A custom moment picked in the bar means "snooze until then".
  document.addEventListener("input", function (e) {
    if (e.target && e.target.id === "bulk-until" && e.target.value) {
      var sel = document.getElementById("bulk-snooze");
      if (sel) sel.value = "custom";
    }
  });
  document.addEventListener("DOMContentLoaded", updateCount);
})();
