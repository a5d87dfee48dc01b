// Switchboard service worker: shows alert pushes and opens the alert when clicked. A push about
// a waiting permission prompt carries Allow / Deny buttons: pressing one posts the decision
// with the signed token the push brought (a service worker has no CSRF token), then says how it
// went. Served at /sw.js (not /static/) so its scope covers every page.
self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: event.data && event.data.text() }; }
  var title = data.title || "Switchboard alert";
  var options = {
    body: data.body || "",
    tag: data.tag || undefined,
    renotify: !!data.tag,
    icon: "/static/img/favicon.svg",
    badge: "/static/img/favicon.svg",
    data: { url: data.url || "/alerts/", approval: data.approval || null },
    requireInteraction: data.severity === "critical" || !!data.approval
  };
  if (data.approval) {
    options.actions = [{ action: "allow", title: "Allow" }, { action: "deny", title: "Deny" }];
  }
  event.waitUntil(self.registration.showNotification(title, options));
});

function decide(approval, decision, url) {
  return fetch(approval.decide_url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: approval.token, decision: decision })
  }).then(function (r) {
    return r.json().catch(function () { return {}; }).then(function (body) {
      var text = r.ok ? (body.message || (decision === "allow" ? "Allowed" : "Denied"))
                      : (body.error || "Could not send the decision (HTTP " + r.status + ")");
      return self.registration.showNotification(r.ok ? "Sent to the agent" : "Not sent", {
        body: text, icon: "/static/img/favicon.svg", data: { url: url }
      });
    });
  }).catch(function () {
    return self.registration.showNotification("Not sent", {
      body: "Switchboard could not be reached; open the agent page to decide.",
      icon: "/static/img/favicon.svg", data: { url: url }
    });
  });
}

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var data = event.notification.data || {};
  var url = data.url || "/alerts/";
  if (data.approval && (event.action === "allow" || event.action === "deny")) {
    event.waitUntil(decide(data.approval, event.action, url));
    return;
  }
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url === url && "focus" in list[i]) return list[i].focus();
    }
    return self.clients.openWindow ? self.clients.openWindow(url) : undefined;
  }));
});
