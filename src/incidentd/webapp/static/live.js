// Live updates of the board and the incident page from the org's events stream (docs/web.md "Live updates").
// An incident event refreshes the board's [data-live] sections (htmx's "live" trigger) and, on an incident's
// page, #incident when the event names that incident; at most once a second. While the stream is open, the
// sections' polling requests are dropped; without EventSource, or while the stream is down, polling goes on.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.EventSource || !window.htmx) return;
  var source = new EventSource(script.getAttribute("data-stream"));
  var timer = null, last = 0, board = false, incident = false;

  function busy(section) {  // the user is typing into the incident: its refresh waits
    var active = document.activeElement;
    if (active && section.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return true;
    return Array.prototype.some.call(section.querySelectorAll("input, textarea"), function (field) {
      return field.type !== "hidden" && field.type !== "file" && field.value !== field.defaultValue;
    });
  }

  function refresh() {
    timer = null;
    last = Date.now();
    if (board) document.querySelectorAll("[data-live]").forEach(function (section) { htmx.trigger(section, "live"); });
    var section = document.getElementById("incident");
    if (incident && section && section.getAttribute("data-live-url")) {
      if (busy(section)) { schedule(); return; }
      htmx.ajax("GET", section.getAttribute("data-live-url"), { source: section, target: "#incident", swap: "outerHTML" });
    }
    board = incident = false;
  }

  function schedule() {
    if (!timer) timer = setTimeout(refresh, Math.max(1000 - (Date.now() - last), 0));
  }

  function changed(event) {
    var section = document.getElementById("incident");
    var id = section && section.getAttribute("data-live-incident");
    board = board || event.type.indexOf("incident_") === 0;
    incident = incident || (!!id && event.data.indexOf('"' + id + '"') >= 0);
    if (board || incident) schedule();
  }

  ["incident_created", "incident_updated", "incident_deleted", "timeline_entry_created", "timeline_entry_updated",
    "timeline_entry_deleted", "link_created", "link_deleted"].forEach(function (type) {
    source.addEventListener(type, changed);
  });
  // Connected: the board's sections are fetched once (a poll dropped before this, or a change made since the page
  // was rendered); reconnected: the incident too, for what changed while the stream was down.
  var opened = false;
  source.addEventListener("open", function () {
    document.documentElement.setAttribute("data-live-stream", "open");
    board = true;
    incident = incident || opened;
    opened = true;
    schedule();
  });
  source.addEventListener("error", function () {  // polling goes on while it reconnects (or for good, if refused)
    document.documentElement.setAttribute("data-live-stream", "down");
  });
  // A refresh asked for before the user began an edit must not wipe it: its answer is dropped (and asked for
  // again later) if the incident has unsaved input by the time it arrives. The user's own saves are POSTs.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail.requestConfig, section = document.getElementById("incident");
    if (!config || !section || event.detail.target !== section || config.verb !== "get") return;
    if (config.path !== section.getAttribute("data-live-url") || !busy(section)) return;
    event.detail.shouldSwap = false;
    incident = true;
    schedule();
  });
  document.body.addEventListener("htmx:confirm", function (event) {
    var trigger = event.detail.triggeringEvent;
    if (source.readyState === EventSource.OPEN && event.detail.elt.hasAttribute("data-live") &&
        !(trigger && trigger.type === "live")) {
      event.preventDefault();
    }
  });
})();
