// The trace viewer's span drawer: htmx loads a span's details into #span-drawer (the links
// keep their real hrefs, so without JS they open the span's own page); this shows and hides it.
(function () {
  "use strict";
  var opener = null;

  function drawer() { return document.getElementById("span-drawer"); }

  function close() {
    var d = drawer();
    if (!d || d.hidden) return;
    d.hidden = true;
    d.innerHTML = "";
    document.documentElement.classList.remove("has-drawer");
    document.querySelectorAll(".wf-row.is-selected").forEach(function (r) { r.classList.remove("is-selected"); });
    if (opener && document.contains(opener)) opener.focus();
    opener = null;
  }

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var el = evt.detail && evt.detail.elt;
    if (!el || !el.closest || el.getAttribute("hx-target") !== "#span-drawer") return;
    if (el.closest(".wf-row")) {
      opener = el;
      document.querySelectorAll(".wf-row.is-selected").forEach(function (r) { r.classList.remove("is-selected"); });
      el.closest(".wf-row").classList.add("is-selected");
    }
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    var d = drawer();
    if (!d || evt.detail.target !== d) return;
    d.hidden = false;
    document.documentElement.classList.add("has-drawer");
    var h = d.querySelector("h2[tabindex]");
    if (h) h.focus();
  });

  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest && evt.target.closest("[data-drawer-close]");
    if (!btn || !btn.closest("#span-drawer")) return;
    evt.preventDefault();
    close();
  });

  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") close();
  });
})();
