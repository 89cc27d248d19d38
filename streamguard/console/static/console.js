"use strict";
// The operator console: streams with live previews, the alerts feed (SSE) and one alert's detail.
// Everything comes from the daemon's own origin; the server draws all images, the page only shows them.

const state = {
  session: null,
  streams: new Map(), // id -> {tile, img, busy, lastAt, objectUrl, visible}
  alerts: new Map(), // alert_id -> folded alert
  seenEntries: new Set(),
  detailTimer: null,
};
const STATE_BY_EVENT = { start: "open", update: "open", end: "ended", ack: "acknowledged", dismiss: "dismissed" };
const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

function clock(ts) {
  return ts ? new Date(ts * 1000).toLocaleTimeString([], { hour12: false }) : "–";
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    location.assign("/login");
    throw new Error("not logged in");
  }
  return response;
}

// ---- streams ---------------------------------------------------------------------------------------------

const STATUS_COLOURS = { up: "green", reconnecting: "amber", starting: "amber", waiting: "amber", ended: "grey" };

async function refreshStreams() {
  let rows = [];
  try {
    rows = (await (await api("/console/api/streams")).json()).streams;
  } catch (e) {
    return;
  }
  const ids = new Set(rows.map((row) => row.id));
  for (const [id, entry] of state.streams) {
    if (!ids.has(id)) {
      entry.tile.remove();
      if (entry.objectUrl) URL.revokeObjectURL(entry.objectUrl);
      state.streams.delete(id);
    }
  }
  for (const row of rows) renderStream(row);
  $("#no-streams").hidden = rows.length > 0;
  updateStreamFilter([...ids]);
}

const tileObserver = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const stream = state.streams.get(entry.target.dataset.streamId);
    if (stream) stream.visible = entry.isIntersecting;
  }
});

function renderStream(row) {
  let entry = state.streams.get(row.id);
  if (!entry) {
    const img = el("img", { "data-testid": "preview", alt: `preview of ${row.id}` });
    const tile = el("article", { class: "tile", "data-testid": "stream-tile", "data-stream-id": row.id },
      el("div", { class: "preview" }, img),
      el("div", { class: "tile-head" }, el("strong", { text: row.id }),
        el("span", { class: "badge", "data-testid": "stream-status" })),
      el("div", { class: "facts" }),
      el("div", { class: "error-line" }));
    entry = { tile, img, busy: false, lastAt: 0, objectUrl: null, visible: false };
    state.streams.set(row.id, entry);
    $("#streams").append(tile);
    tileObserver.observe(tile);
  }
  const badge = $("[data-testid=stream-status]", entry.tile);
  badge.textContent = row.status;
  badge.className = `badge ${STATUS_COLOURS[row.status] || "red"}`;
  const facts = $(".facts", entry.tile);
  facts.replaceChildren(
    el("span", { text: `${row.input_fps.toFixed(1)} fps in` }),
    el("span", { text: `${row.analyzed_fps.toFixed(1)} analysed` }),
    el("span", { text: `${row.faces} face${row.faces === 1 ? "" : "s"}` }),
    el("span", { class: row.open_alerts > 0 ? "alerting" : "", text: `${row.open_alerts} open alert${row.open_alerts === 1 ? "" : "s"}` }),
  );
  const error = $(".error-line", entry.tile);
  error.textContent = row.last_error || "";
  error.title = row.last_error || "";
}

// Previews are fetched only while the page is visible, the overview shown and the tile on screen.
async function pollPreviews() {
  if (document.visibilityState !== "visible" || $("#overview").hidden || !state.session) return;
  const interval = 1000 / state.session.preview_fps;
  const now = performance.now();
  for (const [id, entry] of state.streams) {
    if (!entry.visible || entry.busy || now - entry.lastAt < interval) continue;
    entry.busy = true;
    entry.lastAt = now;
    fetchPreview(id, entry).finally(() => { entry.busy = false; });
  }
}

async function fetchPreview(id, entry) {
  try {
    const response = await api(`/console/api/streams/${encodeURIComponent(id)}/preview.jpg`);
    if (response.status !== 200) return;
    const frame = response.headers.get("X-Frame-Index");
    const url = URL.createObjectURL(await response.blob());
    entry.img.src = url;
    if (entry.objectUrl) URL.revokeObjectURL(entry.objectUrl);
    entry.objectUrl = url;
    if (frame !== null) entry.img.dataset.frame = frame;
  } catch (e) { /* the next poll retries */ }
}

// ---- alerts feed -----------------------------------------------------------------------------------------

function connectFeed() {
  const status = $("[data-testid=connection-status]");
  const feed = new EventSource("/console/api/alerts/events"); // resumes with Last-Event-ID by itself
  feed.onopen = () => { status.textContent = "live"; status.className = "badge green"; };
  feed.onerror = async () => {
    status.textContent = "reconnecting";
    status.className = "badge amber";
    if (feed.readyState === EventSource.CLOSED) {
      try { await api("/console/api/session"); } catch (e) { return; } // a 401 sends us to the login page
      setTimeout(connectFeed, 2000);
    }
  };
  feed.addEventListener("alert", (message) => addEntry(JSON.parse(message.data)));
}

function addEntry(entry) {
  if (state.seenEntries.has(entry.entry_id)) return;
  state.seenEntries.add(entry.entry_id);
  let alert = state.alerts.get(entry.alert_id);
  if (!alert) {
    alert = { id: entry.alert_id, stream: entry.stream_id, track: entry.track_id, state: "open",
              opened: entry.opened_at || entry.ts, peak: 0, reason: "", order: 0 };
    state.alerts.set(entry.alert_id, alert);
  }
  alert.order = Math.max(alert.order, entryOrder(entry.entry_id));
  if (entry.event in STATE_BY_EVENT) alert.state = STATE_BY_EVENT[entry.event];
  if (typeof entry.peak_score === "number") alert.peak = Math.max(alert.peak, entry.peak_score);
  if (entry.opened_at) alert.opened = entry.opened_at;
  if (entry.event === "end") alert.reason = entry.reason || "";
  updateStreamFilter([entry.stream_id]);
  renderAlerts();
}

function entryOrder(entryId) {
  const [ms, seq] = entryId.split("-").map(Number);
  return ms * 1000 + seq;
}

function updateStreamFilter(ids) {
  const select = $("[data-testid=filter-stream]");
  const known = new Set([...select.options].map((o) => o.value));
  for (const id of ids) if (id && !known.has(id)) select.append(el("option", { value: id, text: id }));
}

function renderAlerts() {
  const stream = $("[data-testid=filter-stream]").value;
  const wanted = $("[data-testid=filter-state]").value;
  const all = [...state.alerts.values()].sort((a, b) => b.opened - a.opened);
  const shown = all.filter((a) => (!stream || a.stream === stream) && (!wanted || a.state === wanted));
  $("#alert-count").textContent = `${shown.length} of ${all.length}`;
  $("#alerts").replaceChildren(...shown.map((a) => el("li", {},
    el("a", { href: `#/alerts/${encodeURIComponent(a.id)}`, class: `alert-row ${a.state}`,
              "data-testid": "alert-row", "data-alert-id": a.id, "data-state": a.state },
      el("span", { class: `badge ${a.state === "open" ? "red" : "grey"}`, text: a.state }),
      el("strong", { text: a.stream }),
      el("span", { text: `track ${a.track}` }),
      el("span", { text: `peak ${a.peak.toFixed(2)}` }),
      el("span", { class: "muted", text: clock(a.opened) }),
      el("span", { class: "muted", text: a.reason })))));
}

// ---- alert detail ----------------------------------------------------------------------------------------

async function showDetail(alertId) {
  const section = $("#detail");
  let response;
  try {
    response = await api(`/console/api/alerts/${encodeURIComponent(alertId)}`);
  } catch (e) {
    return;
  }
  if (location.hash !== `#/alerts/${encodeURIComponent(alertId)}`) return; // navigated away meanwhile
  if (!response.ok) {
    section.replaceChildren(el("a", { href: "#/", "data-testid": "back", text: "← back" }),
      el("p", { class: "error", text: "alert not found" }));
    return;
  }
  const alert = await response.json();
  const note = $("[data-testid=ack-note]", section)?.value || "";
  section.replaceChildren(renderDetail(alert, note));
  clearTimeout(state.detailTimer);
  if (alert.state === "open") state.detailTimer = setTimeout(() => showDetail(alertId), 2000);
}

function renderDetail(alert, note) {
  const image = (kind, label) => alert.images[kind]
    ? el("figure", {}, el("img", { src: alert.images[kind], alt: label, "data-testid": `${kind}-image` }),
      el("figcaption", { text: label }))
    : el("figure", { class: "missing" }, el("span", { text: `${label}: none (expired?)` }));
  const facts = [
    ["peak score", alert.peak_score?.toFixed(3)], ["score at last event", alert.score?.toFixed(3)],
    ["window", `${alert.window_s} s, ${alert.n_samples} samples`], ["model", alert.model],
    ["opened", clock(alert.opened_at)], ["ended", alert.ended_at ? `${clock(alert.ended_at)} (${alert.reason})` : "–"],
  ];
  const readOnly = state.session.read_only;
  const noteInput = el("input", { "data-testid": "ack-note", placeholder: "note (optional)", maxLength: 500, value: note });
  const message = el("p", { class: "error" });
  const act = (action) => acknowledge(alert.alert_id, action, noteInput.value, message);
  return el("div", { "data-testid": "alert-detail", class: "detail" },
    el("a", { href: "#/", "data-testid": "back", text: "← back" }),
    el("h2", {}, `${alert.stream_id} · track ${alert.track_id} `,
      el("span", { class: `badge ${alert.state === "open" ? "red" : "grey"}`, text: alert.state })),
    el("div", { class: "images" }, image("crop", "face crop"), image("mask", "mask"), image("overlay", "overlay")),
    scorePlot(alert),
    el("table", { class: "facts-table" }, ...facts.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v ?? "–" })))),
    el("h3", { text: "Acknowledgements" }),
    el("ul", { "data-testid": "ack-list" }, ...alert.acks.map((a) =>
      el("li", { text: `${a.event} by ${a.by} at ${clock(a.ts)}${a.note ? ` — ${a.note}` : ""}` }))),
    el("div", { class: "actions" }, noteInput,
      el("button", { "data-testid": "ack-button", type: "button", disabled: readOnly, text: "Acknowledge", onclick: () => act("ack") }),
      el("button", { "data-testid": "dismiss-button", type: "button", disabled: readOnly, text: "Dismiss", onclick: () => act("dismiss") })),
    message);
}

async function acknowledge(alertId, action, note, message) {
  const response = await api(`/console/api/alerts/${encodeURIComponent(alertId)}/ack`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ action, note }),
  });
  if (response.status === 201) {
    $("[data-testid=ack-note]").value = "";
    showDetail(alertId);
    return;
  }
  let error = `failed (HTTP ${response.status})`;
  try { error = (await response.json()).error || error; } catch (e) { /* not JSON */ }
  message.textContent = response.status === 403 ? `read-only: ${error}` : error;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function scorePlot(alert) {
  const [width, height, pad] = [640, 200, 30];
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "plot", "data-testid": "score-plot" });
  const points = alert.history || [];
  const t0 = alert.opened_at;
  const times = points.map((p) => p[0]);
  const tMin = Math.min(t0, ...times);
  const tMax = Math.max(t0 + 1, alert.ended_at || 0, ...times);
  const x = (t) => pad + ((t - tMin) / (tMax - tMin)) * (width - 2 * pad);
  const y = (v) => height - pad - v * (height - 2 * pad);
  plot.append(svg("rect", { x: x(t0), y: y(1), width: Math.max(1, x(alert.ended_at || tMax) - x(t0)),
                            height: y(0) - y(1), class: "alert-span" }));
  for (const [name, value] of Object.entries(alert.thresholds)) {
    plot.append(svg("line", { x1: pad, x2: width - pad, y1: y(value), y2: y(value), class: `threshold ${name}` }));
    const label = svg("text", { x: width - pad + 2, y: y(value) + 4, class: "axis" });
    label.textContent = `${name} ${value}`;
    plot.append(label);
  }
  plot.append(svg("line", { x1: pad, x2: pad, y1: y(0), y2: y(1), class: "axis-line" }));
  plot.append(svg("line", { x1: pad, x2: width - pad, y1: y(0), y2: y(0), class: "axis-line" }));
  for (const t of [tMin, t0, tMax]) {
    const label = svg("text", { x: x(t), y: height - 8, class: "axis", "text-anchor": "middle" });
    label.textContent = `${(t - t0).toFixed(0)} s`;
    plot.append(label);
  }
  if (points.length) {
    plot.append(svg("polyline", { points: points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
                                  class: "level" }));
  }
  return plot;
}

// ---- routing and start -----------------------------------------------------------------------------------

function route() {
  const match = location.hash.match(/^#\/alerts\/(.+)$/);
  clearTimeout(state.detailTimer);
  $("#overview").hidden = Boolean(match);
  $("#detail").hidden = !match;
  if (match) showDetail(decodeURIComponent(match[1]));
  else $("#detail").replaceChildren();
}

async function start() {
  state.session = await (await api("/console/api/session")).json();
  $("[data-testid=operator]").textContent = state.session.operator;
  $("[data-testid=read-only]").hidden = !state.session.read_only;
  $("[data-testid=logout]").addEventListener("click", async () => {
    await fetch("/console/logout", { method: "POST", credentials: "same-origin" });
    location.assign("/login");
  });
  for (const filter of ["filter-stream", "filter-state"]) {
    $(`[data-testid=${filter}]`).addEventListener("change", renderAlerts);
  }
  window.addEventListener("hashchange", route);
  route();
  await refreshStreams();
  setInterval(refreshStreams, 2000);
  setInterval(pollPreviews, 100);
  connectFeed();
}

start();
