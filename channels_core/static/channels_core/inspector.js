/*
 * The admin's "Channels" page (channels_core/admin.py): fetch the backend's state as JSON
 * every few seconds and redraw the page's four tables. No dependencies, no build step.
 *
 * Polling rather than a socket: one request every few seconds from a few staff members
 * costs nothing, and it keeps working across server restarts with no reconnection code.
 * The page says how fresh it is on #channels-inspector[data-state]: "loading", "live"
 * (the last poll answered), "error" (it did not: the table shows the last answer).
 */
(function () {
  "use strict";

  const page = document.getElementById("channels-inspector");
  const status = page.querySelector(".status");
  const refreshMs = Number(page.dataset.refreshMs) || 2000;

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
    if (seconds < 60) return `${seconds.toFixed(1)}s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
    return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
  }

  // One row per item: [key, [cell, isNumber], ...]; textContent only, so names never become markup.
  function fill(tableId, rows, emptyText) {
    const body = document.querySelector(`#${tableId} tbody`);
    const columns = document.querySelectorAll(`#${tableId} thead th`).length;
    const fresh = document.createElement("tbody");
    for (const [key, ...cells] of rows) {
      const tr = document.createElement("tr");
      tr.dataset.key = key;
      for (const [text, isNumber] of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        if (isNumber) td.className = "number";
        tr.appendChild(td);
      }
      fresh.appendChild(tr);
    }
    if (!rows.length) {
      const td = document.createElement("td");
      td.colSpan = columns;
      td.className = "empty";
      td.textContent = emptyText;
      fresh.appendChild(document.createElement("tr")).appendChild(td);
    }
    body.replaceWith(fresh);
  }

  function draw(state) {
    fill("channels-queues", state.queues.map((q) => [
      q.queue, [q.queue], [q.depth, true], [q.capacity, true], [age(q.oldest_age), true], [age(q.expiry), true],
    ]), "No messages waiting.");
    fill("channels-groups", state.groups.map((g) => [g.group, [g.group], [g.members, true]]), "No groups.");
    fill("channels-presence", state.presence.map((p) => [
      p.presence, [p.presence], [p.sockets, true], [p.people.join(", ")],
    ]), "Nobody here.");
    fill("channels-servers", state.servers.map((s) => [
      s.inbox, [s.inbox], [s.memberships, true], [s.waiting, true],
    ]), "No WebSocket server has announced itself.");
  }

  async function poll() {
    try {
      const response = await fetch(page.dataset.url, {headers: {Accept: "application/json"}, credentials: "same-origin"});
      if (response.redirected || !(response.headers.get("Content-Type") || "").startsWith("application/json")) {
        throw new Error("logged out: reload the page to log in again");
      }
      const state = await response.json();
      if (state.error) throw new Error(state.error);
      draw(state);
      page.dataset.state = "live";
      status.textContent = `${state.backend} '${state.alias}', read at ${new Date(state.taken_at * 1000).toLocaleTimeString()}`;
    } catch (error) {
      page.dataset.state = "error";
      status.textContent = `Could not read the backend: ${error.message}`;
    }
    setTimeout(poll, refreshMs);
  }

  poll();
})();
