// Live pages: apply server-pushed fragments only when newer, show Live / Reconnecting, fall back
// to polling while the socket is down, take a fresh snapshot on reconnect.
//
// Markup contract (docs/CONTRACTS.md):
//   <div data-live hx-ext="ws" ws-connect="/ws/..." data-poll-url="/page/?partial=x"> ... </div>
//   live rows: id + data-version; tombstone: data-deleted + data-version;
//   new rows: data-live-insert="#container" (+ data-live-position="append", default prepend);
//   data-snapshot on an element replaces it whatever its version (a full snapshot);
//   a replaced element's open <details id> stay open, and <details data-keep-closed> the
//   reader closed stay closed.
(function () {
  "use strict";
  var tombstones = {};
  var pollTimer = null;
  var POLL_MS = 3000;
  var RESYNC_MS = 30000; // the channel layer delivers at most once
  var started = false;
  var socket = null;
  var resyncTimer = null;
  var manualRetry = 0;

  function version(el) {
    var v = el && el.getAttribute("data-version");
    return v === null || v === undefined || v === "" ? null : Number(v);
  }

  function indicator(state) {
    var el = document.getElementById("live-indicator");
    if (!el) return;
    el.setAttribute("data-state", state);
    el.textContent = state === "live" ? "Live" : state === "reconnecting" ? "Reconnecting…"
      : state === "off-error" ? "Not live — reload" : "";
    el.title = state === "live" ? "Changes appear as they happen" : state === "reconnecting"
      ? "Connection lost; the page polls until it is back" : "";
    document.documentElement.setAttribute("data-live-state", state);
  }

  function activate(el, fresh) {
    el.removeAttribute("hx-swap-oob");
    // A short highlight on pushed changes; snapshots replace quietly.
    if (fresh && !el.hasAttribute("data-snapshot")) el.classList.add(el.tagName === "LI" ? "is-new" : "live-flash");
    if (window.htmx) window.htmx.process(el);
  }

  // What the reader was doing inside a replaced element survives the replacement: open
  // <details> (by id) and typed-in form fields (by form action + field name).
  function carryOver(from, to) {
    from.querySelectorAll("details[open][id]").forEach(function (d) {
      var twin = to.querySelector("#" + CSS.escape(d.id));
      if (twin) twin.open = true;
    });
    // Open by default, closed by the reader (a trace's turns): they stay closed.
    from.querySelectorAll("details[data-keep-closed][id]:not([open])").forEach(function (d) {
      var twin = to.querySelector("#" + CSS.escape(d.id));
      if (twin) twin.open = false;
    });
    from.querySelectorAll("input[name], textarea[name], select[name]").forEach(function (f) {
      if (f.type === "hidden" || !f.form) return;
      var dirty = f.tagName === "SELECT" ? f.selectedIndex > 0 : f.value !== f.defaultValue;
      if (!dirty) return;
      var form = to.querySelector('form[action="' + f.form.getAttribute("action") + '"]');
      var twin = form && form.querySelector('[name="' + f.name + '"]');
      if (twin) twin.value = f.value;
    });
    var focused = document.activeElement;
    return focused && from.contains(focused) && focused.name && focused.form
      ? { action: focused.form.getAttribute("action"), name: focused.name } : null;
  }
  function refocus(root, where) {
    if (!where) return;
    var form = root.querySelector('form[action="' + where.action + '"]');
    var field = form && form.querySelector('[name="' + where.name + '"]');
    if (field) field.focus();
  }

  function applyElement(el) {
    var id = el.id;
    if (!id) return false;
    var incoming = version(el);
    var current = document.getElementById(id);
    var deleted = el.hasAttribute("data-deleted");
    if (deleted) {
      if (incoming !== null) tombstones[id] = Math.max(tombstones[id] || 0, incoming);
      if (current && (incoming === null || version(current) === null || incoming >= version(current))) {
        current.remove();
        return true;
      }
      return false;
    }
    if (tombstones[id] !== undefined && incoming !== null && incoming <= tombstones[id]) return false;
    if (current) {
      var have = version(current);
      if (!el.hasAttribute("data-snapshot")) {
        if (incoming !== null && have !== null && incoming <= have) return false; // stale or duplicate
      } else if (incoming !== null && incoming === have) {
        return false; // a snapshot of what is already shown: keep the DOM (and the reader's place)
      }
      activate(el, !el.hasAttribute("data-snapshot") && inLiveRegion(current));
      var focus = carryOver(current, el);
      // A group the reader opened (the overview's offline agents) stays open across updates.
      current.querySelectorAll("details[id][open]").forEach(function (d) {
        var twin = el.querySelector("#" + CSS.escape(d.id));
        if (twin) twin.open = true;
      });
      current.replaceWith(el);
      refocus(el, focus);
      return true;
    }
    var sel = el.getAttribute("data-live-insert");
    var into = sel && document.querySelector(sel);
    if (!into) return false;
    activate(el, true);
    if (el.getAttribute("data-live-position") === "append") into.append(el);
    else into.prepend(el);
    return true;
  }

  // <template data-pulse='{"<agent id>": "<iso time>"}'>: newer last-heartbeat times.
  function applyPulse(el) {
    var times;
    try { times = JSON.parse(el.getAttribute("data-pulse") || "{}"); } catch (err) { return false; }
    var moved = false;
    Object.keys(times).forEach(function (id) {
      var at = Date.parse(times[id]);
      document.querySelectorAll('time[data-heartbeat-of="' + CSS.escape(id) + '"]').forEach(function (t) {
        var shown = Date.parse(t.getAttribute("datetime"));
        if (!isNaN(at) && (isNaN(shown) || at > shown)) {
          t.setAttribute("datetime", times[id]);
          moved = true;
        }
      });
    });
    return moved;
  }

  function apply(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = String(html).trim();
    var changed = [];
    Array.prototype.slice.call(tpl.content.children).forEach(function (el) {
      if (el.hasAttribute("data-pulse")) {
        if (applyPulse(el)) changed.push(el);
        return;
      }
      if (applyElement(el)) changed.push(el);
    });
    if (changed.length) {
      document.dispatchEvent(new CustomEvent("live:applied", { detail: { elements: changed } }));
      if (window.Switchboard && window.Switchboard.tick) window.Switchboard.tick();
    }
    return changed.length;
  }

  function liveRoot() { return document.querySelector("[data-live]"); }
  function inLiveRegion(el) { return !!(el && el.closest && el.closest("[data-live]")) && started; }

  function poll() {
    var root = liveRoot();
    var url = root && root.getAttribute("data-poll-url");
    if (!url) return;
    fetch(url, { headers: { "HX-Request": "true", "X-Live-Poll": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { if (html) apply(html); })
      .catch(function () { /* still offline; try again next tick */ });
  }
  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(poll, POLL_MS);
  }
  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    evt.preventDefault(); // we apply fragments ourselves, version-checked
    apply(evt.detail.message);
  });
  document.addEventListener("htmx:wsOpen", function (evt) {
    socket = evt.detail && evt.detail.socketWrapper;
    manualRetry = 0;
    indicator("live");
    stopPolling();
    if (resyncTimer) clearInterval(resyncTimer);
    resyncTimer = setInterval(resync, RESYNC_MS);
  });
  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail && evt.detail.event ? evt.detail.event.code : 0;
    var wrapper = evt.detail && evt.detail.socketWrapper;
    if (resyncTimer) clearInterval(resyncTimer);
    resyncTimer = null;
    socket = null;
    if (code >= 4000) {
      // 4401 signed out, 4403 no role, 4404 gone: retrying cannot help.
      indicator("off-error");
      stopPolling();
      return;
    }
    indicator("reconnecting");
    startPolling();
    poll();
    // The ws extension retries only after abnormal closes (1006, 1011-1013); a clean close
    // from a restarting server (1000, 1001) must come back too.
    if ([1006, 1011, 1012, 1013].indexOf(code) < 0 && wrapper && liveRoot()) {
      manualRetry += 1;
      setTimeout(function () { if (!socket) wrapper.reconnect(); }, backoff(manualRetry));
    }
  });
  document.addEventListener("htmx:wsError", function () { indicator("reconnecting"); startPolling(); });

  function backoff(retry) {
    return Math.min(1000 * Math.pow(2, retry - 1), 15000) * (0.5 + Math.random() / 2);
  }
  function resync() {
    if (socket && document.visibilityState !== "hidden") socket.send(JSON.stringify({ type: "resync" }));
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") resync(); // a background tab may have been throttled
  });

  // Forms inside pushed fragments were rendered without a request, so without a CSRF token:
  // take it from <body hx-headers> before they submit.
  document.addEventListener("submit", function (e) {
    var input = e.target.querySelector && e.target.querySelector("input[name=csrfmiddlewaretoken]");
    if (!input || input.value) return;
    try {
      input.value = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (err) { /* leave it empty; the server answers 403 */ }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    if (!liveRoot()) return;
    started = true;
    if (window.htmx) window.htmx.config.wsReconnectDelay = backoff;
    if (document.documentElement.getAttribute("data-live-state") !== "live") indicator("reconnecting");
    // If the socket never opens, polling keeps the page current.
    setTimeout(function () {
      if (document.documentElement.getAttribute("data-live-state") !== "live") startPolling();
    }, 4000);
  });

  // Keep a handle on the raw socket so tests (and the console) can drop it on purpose.
  var rawSocket = null;
  if (window.htmx && window.htmx.createWebSocket) {
    var makeSocket = window.htmx.createWebSocket;
    window.htmx.createWebSocket = function (url) { rawSocket = makeSocket(url); return rawSocket; };
  }
  function drop() { if (rawSocket) rawSocket.close(1000, "dropped"); }

  window.SwitchboardLive = {
    drop: drop,
    apply: apply, poll: poll, resync: resync, tombstones: tombstones,
    state: function () { return document.documentElement.getAttribute("data-live-state") || ""; },
  };
})();
