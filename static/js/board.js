// The Linear board: plain HTML5 drag and drop. A drop moves the card at once and POSTs the
// move; Linear's answer arrives as a live card fragment (live.js), which may put the card
// back with the reason. No inline scripts (CSP).
(function () {
  "use strict";
  var dragged = null;
  var origin = null;

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }

  function toast(text) {
    var el = document.getElementById("board-toast");
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.hidden = true; }, 8000);
  }

  function columnFor(stateId) {
    return document.getElementById("col-" + stateId + "-cards");
  }

  function bump(col, delta) {
    var count = col && col.closest(".lcol").querySelector(".lcol-count");
    if (count) count.textContent = String(Math.max(0, Number(count.textContent || 0) + delta));
  }

  // A card belongs in the column of its data-state-id; live updates replace cards in place, so
  // put them where they now belong.
  function place(card) {
    var want = columnFor(card.getAttribute("data-state-id"));
    var have = card.parentElement;
    if (want && have !== want) {
      want.prepend(card);
      if (have && have.classList.contains("lcol-cards")) bump(have, -1);
      bump(want, 1);
    }
  }

  function moveCard(card, col) {
    var from = card.parentElement;
    if (from === col) return;
    var url = card.getAttribute("data-move-url");
    var stateId = col.getAttribute("data-state-id");
    var previous = card.getAttribute("data-state-id");
    col.prepend(card);
    bump(from, -1);
    bump(col, 1);
    card.setAttribute("data-state-id", stateId);
    card.classList.add("lcard-pending");
    card.classList.remove("lcard-refused");
    var err = card.querySelector(".lcard-error");
    if (err) err.remove();
    var body = new URLSearchParams();
    body.set("state", stateId);
    fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.error || ("The move failed (" + r.status + ")."));
        if (data.version && Number(card.getAttribute("data-version")) < data.version) {
          card.setAttribute("data-version", String(data.version));
        }
      });
    }).catch(function (e) {
      card.setAttribute("data-state-id", previous);
      card.classList.remove("lcard-pending");
      place(card);
      toast((card.getAttribute("data-identifier") || "Issue") + " was not moved: " + e.message);
    });
  }

  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest(".lcard[draggable=true]");
    if (!card) return;
    dragged = card;
    origin = card.parentElement;
    card.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.id);
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    document.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
    dragged = null;
    origin = null;
  });
  document.addEventListener("dragover", function (e) {
    var col = e.target.closest && e.target.closest(".lcol");
    if (!col || !dragged) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    var cards = col.querySelector(".lcol-cards");
    document.querySelectorAll(".drop-target").forEach(function (el) { if (el !== cards) el.classList.remove("drop-target"); });
    if (cards !== origin) cards.classList.add("drop-target");
  });
  document.addEventListener("drop", function (e) {
    var col = e.target.closest && e.target.closest(".lcol");
    if (!col) return;
    e.preventDefault();
    var id = e.dataTransfer.getData("text/plain");
    var card = dragged || (id && document.getElementById(id));
    if (card) moveCard(card, col.querySelector(".lcol-cards"));
  });

  // Cards rendered by the live socket have no request, so no CSRF field: add the page's token.
  document.addEventListener("submit", function (e) {
    var form = e.target.closest && e.target.closest(".lcard form");
    if (!form) return;
    var field = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "csrfmiddlewaretoken";
      form.appendChild(field);
    }
    if (!field.value) field.value = csrfToken();
  }, true);

  document.addEventListener("live:applied", function (evt) {
    (evt.detail.elements || []).forEach(function (el) {
      if (!el.classList || !el.classList.contains("lcard")) return;
      place(el);
      var why = el.getAttribute("data-move-error");
      if (why) toast((el.getAttribute("data-identifier") || "Issue") + " moved back. " + why);
    });
  });
})();
