// Web push subscribe button on "My notifications". No inline scripts (CSP).
(function () {
  "use strict";
  var card = document.getElementById("push-card");
  if (!card) return;
  var statusEl = document.getElementById("push-status");
  var onBtn = document.getElementById("push-subscribe");
  var offBtn = document.getElementById("push-unsubscribe");
  var errEl = document.getElementById("push-error");

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function browserId() {
    var id = localStorage.getItem("sb-browser-id");
    if (!id) {
      id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
      localStorage.setItem("sb-browser-id", id);
    }
    return id;
  }
  function keyBytes(b64) {
    var pad = "=".repeat((4 - (b64.length % 4)) % 4);
    var raw = atob((b64 + pad).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function show(state, text) {
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = text;
    onBtn.hidden = state !== "off";
    offBtn.hidden = state !== "on";
  }
  function fail(msg) { errEl.hidden = false; errEl.textContent = msg; }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body)
    });
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    show("unsupported", "not supported here");
    return;
  }
  var swUrl = card.getAttribute("data-sw-url");
  var ready = navigator.serviceWorker.register(swUrl, { scope: "/" }).then(function () {
    return navigator.serviceWorker.ready;
  });
  ready.then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
    if (Notification.permission === "denied") show("blocked", "blocked by the browser");
    else show(sub ? "on" : "off", sub ? "on" : "off");
  }).catch(function (e) { show("off", "off"); fail(String(e)); });

  onBtn.addEventListener("click", function () {
    errEl.hidden = true;
    ready.then(function (reg) {
      return reg.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: keyBytes(card.getAttribute("data-vapid-key"))
      });
    }).then(function (sub) {
      var body = sub.toJSON();
      body.browser_id = browserId();
      return post(card.getAttribute("data-subscribe-url"), body);
    }).then(function (r) {
      if (!r.ok) return r.json().then(function (j) { throw new Error(j.error || "refused"); });
      window.location.reload();
    }).catch(function (e) {
      if (Notification.permission === "denied") show("blocked", "blocked by the browser");
      fail("Could not turn on push: " + (e && e.message ? e.message : e));
    });
  });

  offBtn.addEventListener("click", function () {
    ready.then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
      return (sub ? sub.unsubscribe() : Promise.resolve()).then(function () {
        return post(card.getAttribute("data-unsubscribe-url"), { browser_id: browserId() });
      });
    }).then(function () { window.location.reload(); })
      .catch(function (e) { fail(String(e)); });
  });
})();
