// "Connect an agent": agent tabs switch in place (a key shown once must not be lost to a
// reload), and the "Create a key" form follows the chosen agent. Without JS the tabs are links
// (?agent=...) and the server shows the chosen panel. No inline JS (CSP).
(function () {
  "use strict";
  function select(tabs, tab, focus) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    });
    if (focus) tab.focus();
    var slug = tab.getAttribute("data-agent");
    document.querySelectorAll("[data-agent-input]").forEach(function (i) { i.value = slug; });
    document.querySelectorAll("[data-agent-name]").forEach(function (n) {
      n.textContent = tab.getAttribute("data-agent-label");
    });
    var url = new URL(window.location.href);
    url.searchParams.set("agent", slug);
    window.history.replaceState(null, "", url.pathname + url.search);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-connect-tabs]").forEach(function (list) {
      var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
      tabs.forEach(function (t) {
        var on = t.getAttribute("aria-selected") === "true";
        t.tabIndex = on ? 0 : -1;
        // On a narrow screen the strip scrolls: bring the chosen agent into view.
        var x = t.offsetLeft - list.offsetLeft;
        if (on && x + t.offsetWidth > list.clientWidth) list.scrollLeft = x - 16;
      });
      list.addEventListener("click", function (e) {
        var tab = e.target.closest("[role=tab]");
        if (!tab || e.metaKey || e.ctrlKey || e.shiftKey) return;
        e.preventDefault();
        select(tabs, tab, false);
      });
      list.addEventListener("keydown", function (e) {
        var i = tabs.indexOf(document.activeElement);
        if (i < 0) return;
        var next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
        if (next === undefined) return;
        e.preventDefault();
        select(tabs, tabs[(next + tabs.length) % tabs.length], true);
      });
    });
  });
})();
