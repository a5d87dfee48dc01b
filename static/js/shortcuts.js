// Keyboard shortcuts, the main menu's sheet and the header search's keys. Pages work without
// this file: the menu is a <details>, search is a GET form, rows are links.
//   g o / g a / g l / g i   go to overview, agents, the Linear board, the alerts inbox
//   /                       focus the search box
//   j / k, Enter            move a selection through [data-list-item] rows, open its link
//   a                       press [data-shortcut="ack"] in the selected row
//   ?                       the help dialog; Esc closes menus and the dialog
(function () {
  "use strict";

  var GO_TIMEOUT = 1200;
  var pendingG = 0;
  var selected = null;

  function typing(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function help() { return document.getElementById("shortcuts-help"); }
  function menu() { return document.querySelector("[data-navmenu]"); }

  // --- main menu ------------------------------------------------------------------------
  function syncMenu(details) {
    var summary = details.querySelector("summary");
    if (summary) summary.setAttribute("aria-expanded", details.open ? "true" : "false");
  }
  function closeMenu() {
    var m = menu();
    if (m && m.open && getComputedStyle(m.querySelector("summary")).display !== "none") {
      m.open = false;
      syncMenu(m);
      return true;
    }
    return false;
  }
  document.addEventListener("toggle", function (e) {
    if (e.target.matches && e.target.matches("[data-navmenu]")) syncMenu(e.target);
  }, true);
  document.addEventListener("click", function (e) {
    var m = menu();
    if (m && m.open && !m.contains(e.target)) closeMenu();
    // The header's live results close when the reader clicks elsewhere.
    var box = document.getElementById("topsearch-results");
    if (box && box.innerHTML && !e.target.closest(".topsearch")) box.innerHTML = "";
  });

  // --- rows -------------------------------------------------------------------------------
  function rows() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-list-item]"), function (el) {
      return el.getClientRects().length > 0;
    });
  }
  function select(el) {
    if (selected) selected.classList.remove("is-kbd-selected");
    selected = el;
    if (!el) return;
    el.classList.add("is-kbd-selected");
    el.scrollIntoView({ block: "nearest" });
  }
  function move(step) {
    var list = rows();
    if (!list.length) return;
    var i = list.indexOf(selected);
    if (i < 0) i = step > 0 ? -1 : list.length;
    select(list[Math.min(list.length - 1, Math.max(0, i + step))]);
  }
  function rowLink(row) {
    if (row.matches("a[href]")) return row;
    return row.querySelector("a[href]:not([data-shortcut])");
  }

  function go(key) {
    var dlg = help();
    var url = dlg && dlg.getAttribute("data-go-" + key);
    if (url) window.location.assign(url);
  }

  function focusSearch() {
    var input = document.getElementById("topsearch-q");
    if (!input) return;
    var m = menu();
    if (m && !m.open && getComputedStyle(m.querySelector("summary")).display !== "none") {
      m.open = true;
      syncMenu(m);
    }
    input.focus();
    input.select();
  }

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      if (closeMenu()) { e.preventDefault(); return; }
      if (selected) { select(null); }
      return;
    }
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e.target)) return;
    var dlg = help();
    if (dlg && dlg.open) return;  // the dialog handles its own keys (Esc closes it)
    var key = e.key;

    if (pendingG && Date.now() - pendingG < GO_TIMEOUT) {
      pendingG = 0;
      if ("oali".indexOf(key) >= 0 && key.length === 1) { e.preventDefault(); go(key); }
      return;
    }
    pendingG = 0;

    if (key === "g") { pendingG = Date.now(); return; }
    if (key === "/") { e.preventDefault(); focusSearch(); return; }
    if (key === "?") {
      if (dlg && dlg.showModal) { e.preventDefault(); dlg.showModal(); }
      return;
    }
    if (key === "j" || key === "k") { e.preventDefault(); move(key === "j" ? 1 : -1); return; }
    if (!selected || !document.contains(selected)) { selected = null; return; }
    if (key === "Enter") {
      var link = rowLink(selected);
      if (link) { e.preventDefault(); link.click(); }
      return;
    }
    if (key === "a") {
      var ack = selected.querySelector('[data-shortcut="ack"]');
      if (ack) { e.preventDefault(); ack.click(); }
    }
  });

  // --- header search: arrows move between the live results, Esc empties them ------------------
  function hits() {
    return Array.prototype.slice.call(document.querySelectorAll("#topsearch-results a.search-hit"));
  }
  document.addEventListener("keydown", function (e) {
    var input = document.getElementById("topsearch-q");
    if (!input) return;
    var inResults = e.target.closest && e.target.closest("#topsearch-results");
    if (e.target !== input && !inResults) return;
    var list = hits();
    var i = list.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && list.length) {
      e.preventDefault();
      list[Math.min(list.length - 1, i + 1)].focus();
    } else if (e.key === "ArrowUp" && inResults) {
      e.preventDefault();
      if (i <= 0) input.focus(); else list[i - 1].focus();
    } else if (e.key === "Escape") {
      var box = document.getElementById("topsearch-results");
      if (box && box.innerHTML) { box.innerHTML = ""; input.focus(); e.stopPropagation(); }
    }
  }, true);
})();
