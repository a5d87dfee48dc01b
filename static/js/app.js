// Small progressive enhancements; pages work without them. No inline scripts (CSP).
(function () {
  "use strict";

  function relTime(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return "";
    var s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 5) return "just now";
    if (s < 60) return s + "s ago";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m ago";
    var h = Math.floor(m / 60);
    if (h < 48) return h + "h " + (m % 60) + "m ago";
    return Math.floor(h / 24) + "d ago";
  }
  function duration(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return "";
    var s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m " + (s % 60) + "s";
    var h = Math.floor(m / 60);
    if (h < 48) return h + "h " + (m % 60) + "m";
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }
  function tick() {
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      el.textContent = relTime(el.getAttribute("datetime"));
    });
    document.querySelectorAll("time[data-duration]").forEach(function (el) {
      el.textContent = duration(el.getAttribute("datetime"));
    });
  }
  window.Switchboard = window.Switchboard || {};
  window.Switchboard.tick = tick;

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSettle", tick);
  document.addEventListener("htmx:oobAfterSwap", tick);

  // Copy buttons: <button data-copy="#id"> or data-copy-text="...".
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy],[data-copy-text]");
    if (!btn) return;
    var text = btn.getAttribute("data-copy-text");
    if (text === null) {
      var src = document.querySelector(btn.getAttribute("data-copy"));
      text = src ? (src.value || src.textContent).trim() : "";
    }
    var done = function () {
      var old = btn.textContent;
      btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, done);
    } else {
      var ta = document.createElement("textarea");
      ta.value = text; document.body.appendChild(ta); ta.select();
      try { document.execCommand("copy"); } catch (err) { /* ignore */ }
      ta.remove(); done();
    }
  });

  // Confirm before destructive submits: <form data-confirm="Revoke this key?">
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  }, true);

  // Selects that submit their form on change (project selector, filters).
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-autosubmit]")) {
      e.target.form.requestSubmit ? e.target.form.requestSubmit() : e.target.form.submit();
    }
  });
})();
