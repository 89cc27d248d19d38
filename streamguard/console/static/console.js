// streamguard operator console. Plain ES module, no dependencies; all requests stay on this origin.

const STREAM_POLL_MS = 2000;
const DETAIL_POLL_MS = 2000;
const MAX_ALERTS = 500; // bound memory on long-running consoles; oldest alerts are dropped first
const SVG_NS = 'http://www.w3.org/2000/svg';

const STATUS_COLOUR = {
  up: 'green', starting: 'amber', reconnecting: 'amber', waiting: 'amber',
  down: 'red', failed: 'red', ended: 'grey',
};

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

const ui = {
  operator: $('operator'),
  readOnly: $('read-only'),
  conn: $('connection-status'),
  logout: $('logout'),
  version: document.getElementById('version'),
  overview: document.getElementById('overview'),
  detail: document.getElementById('detail'),
  grid: document.getElementById('stream-grid'),
  streamsEmpty: document.getElementById('streams-empty'),
  feed: document.getElementById('alert-feed'),
  count: document.getElementById('alert-count'),
  filterStream: $('filter-stream'),
  filterState: $('filter-state'),
};

let session = { operator: '', read_only: true, version: '', preview_fps: 1, thresholds: { on: 0.5, off: 0.5 } };

// ---------- helpers ----------

class AuthRedirect extends Error {}

async function api(path, options = {}) {
  const resp = await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...options });
  if (resp.status === 401) {
    location.assign('/login');
    throw new AuthRedirect('not signed in');
  }
  return resp;
}

async function errorMessage(resp) {
  try {
    const body = await resp.json();
    if (body && typeof body.error === 'string' && body.error) return body.error;
  } catch { /* not JSON */ }
  return `HTTP ${resp.status}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

const pad = (n) => String(n).padStart(2, '0');

function clock(ts) {
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return '—';
  const d = new Date(ts * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function dateTime(ts) {
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return '—';
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(ts)}`;
}

const fixed = (x, digits) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—');

function badge(text, colour, testid) {
  return el('span', { class: `badge badge-${colour}`, 'data-testid': testid }, text);
}

const ALERT_COLOUR = { open: 'red', ended: 'amber', acknowledged: 'blue', dismissed: 'grey' };

const alertHref = (id) => `#/alerts/${encodeURIComponent(id)}`;

// ---------- streams grid + previews ----------

const tiles = new Map(); // stream id -> tile record
let streamIdsFromStreams = [];

function createTile(id) {
  const img = el('img', { 'data-testid': 'preview', alt: `preview of ${id}`, decoding: 'async' });
  const frame = el('div', { class: 'preview', 'data-empty': '' }, img);
  const t = {
    id, img, frame,
    root: el('article', { class: 'tile', 'data-testid': 'stream-tile', 'data-stream-id': id }),
    title: el('h3', { class: 'tile-id' }, id),
    status: el('span', { class: 'badge', 'data-testid': 'stream-status' }),
    type: el('span', { class: 'muted small' }),
    url: el('div', { class: 'muted small ellipsis' }),
    inFps: el('dd'), anFps: el('dd'), faces: el('dd'), open: el('dd'),
    error: el('div', { class: 'tile-error small ellipsis', 'data-testid': 'stream-error' }),
    onScreen: false, inFlight: false, objectUrl: null,
  };
  t.root.append(
    el('header', { class: 'tile-head' }, t.title, t.status),
    frame,
    el('dl', { class: 'stats' },
      el('dt', {}, 'in fps'), t.inFps,
      el('dt', {}, 'analysed fps'), t.anFps,
      el('dt', {}, 'faces'), t.faces,
      el('dt', {}, 'open alerts'), t.open),
    el('div', { class: 'tile-meta' }, t.type, t.url),
    t.error,
  );
  tileByFrame.set(frame, t);
  visibilityObserver.observe(frame);
  return t;
}

function updateTile(t, s) {
  t.status.textContent = s.status;
  t.status.className = `badge badge-${STATUS_COLOUR[s.status] ?? 'grey'}`;
  t.root.dataset.status = s.status;
  t.type.textContent = s.type ?? '';
  t.url.textContent = s.url ?? '';
  t.url.title = s.url ?? '';
  t.inFps.textContent = fixed(s.input_fps, 1);
  t.anFps.textContent = fixed(s.analyzed_fps, 1);
  t.faces.textContent = String(s.faces ?? 0);
  t.open.textContent = String(s.open_alerts ?? 0);
  t.open.classList.toggle('hot', (s.open_alerts ?? 0) > 0);
  t.error.textContent = s.last_error || '';
  t.error.title = s.last_error || '';
  t.error.hidden = !s.last_error;
}

function removeTile(t) {
  visibilityObserver.unobserve(t.frame);
  if (t.objectUrl) URL.revokeObjectURL(t.objectUrl);
  t.objectUrl = null;
  t.root.remove();
  tiles.delete(t.id);
}

function renderStreams(streams) {
  const seen = new Set();
  streams = streams.filter((s) => s && typeof s.id === 'string');
  for (const s of streams) {
    seen.add(s.id);
    let t = tiles.get(s.id);
    if (!t) {
      t = createTile(s.id);
      tiles.set(s.id, t);
    }
    updateTile(t, s);
  }
  streams.forEach((s, i) => {
    const node = tiles.get(s.id).root;
    if (ui.grid.children[i] !== node) ui.grid.insertBefore(node, ui.grid.children[i] ?? null);
  });
  for (const t of [...tiles.values()]) if (!seen.has(t.id)) removeTile(t);
  ui.streamsEmpty.hidden = streams.length > 0;
  streamIdsFromStreams = [...seen];
  refreshStreamFilter();
}

async function pollStreams() {
  try {
    const resp = await api('/console/api/streams');
    if (resp.ok) renderStreams((await resp.json()).streams ?? []);
  } catch (err) {
    if (!(err instanceof AuthRedirect)) console.warn('streams poll failed', err);
  }
  setTimeout(pollStreams, STREAM_POLL_MS);
}

const tileByFrame = new WeakMap();
const visibilityObserver = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const t = tileByFrame.get(entry.target);
    if (t) t.onScreen = entry.isIntersecting;
  }
});

let previewTimer = null;

function previewsWanted() {
  return document.visibilityState === 'visible' && !ui.overview.hidden;
}

function syncPreviewTimer() {
  if (previewsWanted() && previewTimer === null) {
    const fps = session.preview_fps > 0 ? session.preview_fps : 1;
    previewTimer = setInterval(previewTick, Math.max(50, 1000 / fps));
    previewTick();
  } else if (!previewsWanted() && previewTimer !== null) {
    clearInterval(previewTimer);
    previewTimer = null;
  }
}

function previewTick() {
  if (!previewsWanted()) return;
  for (const t of tiles.values()) {
    if (t.onScreen && !t.inFlight) fetchPreview(t);
  }
}

async function fetchPreview(t) {
  t.inFlight = true;
  try {
    const resp = await api(`/console/api/streams/${encodeURIComponent(t.id)}/preview.jpg`);
    if (resp.status !== 200) return; // 204: nothing analysed yet; 404: tile goes on next streams poll
    const blob = await resp.blob();
    if (tiles.get(t.id) !== t) return; // tile removed while loading
    const previous = t.objectUrl;
    t.objectUrl = URL.createObjectURL(blob);
    t.img.src = t.objectUrl;
    t.img.dataset.frame = resp.headers.get('X-Frame-Index') ?? '';
    t.frame.removeAttribute('data-empty');
    if (previous) URL.revokeObjectURL(previous);
  } catch (err) {
    if (!(err instanceof AuthRedirect)) console.debug('preview failed', t.id, err);
  } finally {
    t.inFlight = false;
  }
}

// ---------- alerts feed ----------

const seenEntries = new Set();
const alerts = new Map(); // alert id -> folded alert
let entryCounter = 0;

const KNOWN_EVENTS = new Set(['start', 'update', 'end', 'ack', 'dismiss']);

function foldEntry(e) {
  if (!e || e.entry_id == null || e.alert_id == null || !KNOWN_EVENTS.has(e.event)) return;
  if (seenEntries.has(e.entry_id)) return;
  seenEntries.add(e.entry_id);

  let a = alerts.get(e.alert_id);
  if (!a) {
    a = {
      alert_id: e.alert_id, stream_id: e.stream_id, track_id: null, state: 'open', live: false,
      peak_score: null, opened_at: null, first_ts: e.ts, reason: '', row: null,
    };
    alerts.set(e.alert_id, a);
  }
  a.order = ++entryCounter;
  if (e.track_id !== undefined && e.track_id !== null) a.track_id = e.track_id;
  if (typeof e.opened_at === 'number') a.opened_at = e.opened_at;
  if (typeof e.peak_score === 'number') a.peak_score = Math.max(a.peak_score ?? 0, e.peak_score);

  // An operator's decision sticks: later detector updates keep `live` current but do not undo it.
  switch (e.event) {
    case 'start':
    case 'update':
      a.live = true;
      if (!a.operatorState) a.state = 'open';
      break;
    case 'end':
      a.live = false;
      a.reason = e.reason ?? '';
      if (!a.operatorState) a.state = 'ended';
      break;
    case 'ack':
      a.operatorState = a.state = 'acknowledged';
      break;
    case 'dismiss':
      a.operatorState = a.state = 'dismissed';
      break;
  }
  a.dirty = true;
}

function pruneAlerts() {
  if (alerts.size <= MAX_ALERTS) return;
  const oldest = [...alerts.values()].sort((x, y) => sortKey(x) - sortKey(y));
  for (const a of oldest.slice(0, alerts.size - MAX_ALERTS)) {
    a.row?.remove();
    alerts.delete(a.alert_id);
  }
}

const sortKey = (a) => a.opened_at ?? a.first_ts ?? 0;

function renderRow(a) {
  const row = a.row ?? el('li', { class: 'alert-row', 'data-testid': 'alert-row', 'data-alert-id': a.alert_id });
  a.row = row;
  row.dataset.state = a.state;
  const link = el('a', { href: alertHref(a.alert_id), class: 'alert-link' },
    el('span', { class: 'alert-stream' }, a.stream_id),
    el('span', { class: 'muted' }, `track ${a.track_id ?? '—'}`),
    badge(a.state, ALERT_COLOUR[a.state] ?? 'grey', 'alert-state'),
    // An ack/dismiss can precede the end: keep the track's liveness visible.
    a.live && a.state !== 'open' ? badge('open', 'red', 'alert-open-marker') : null,
    el('span', { class: 'score', title: 'peak score' }, fixed(a.peak_score, 2)),
    el('time', { class: 'muted' }, clock(a.opened_at ?? a.first_ts)),
    a.reason && !a.live ? el('span', { class: 'muted small reason' }, a.reason) : null,
  );
  row.replaceChildren(link);
  a.dirty = false;
}

let feedRenderPending = false;

function scheduleFeedRender() {
  if (feedRenderPending) return;
  feedRenderPending = true;
  requestAnimationFrame(() => {
    feedRenderPending = false;
    renderFeed();
  });
}

function renderFeed() {
  pruneAlerts();
  const stream = ui.filterStream.value;
  const state = ui.filterState.value;
  const sorted = [...alerts.values()].sort((x, y) => sortKey(y) - sortKey(x) || y.order - x.order);
  let visible = 0;
  sorted.forEach((a, i) => {
    if (a.dirty || !a.row) renderRow(a);
    const show = (!stream || a.stream_id === stream) && (!state || a.state === state);
    a.row.hidden = !show;
    if (show) visible += 1;
    if (ui.feed.children[i] !== a.row) ui.feed.insertBefore(a.row, ui.feed.children[i] ?? null);
  });
  ui.count.textContent = `${visible}/${alerts.size}`;
  refreshStreamFilter();
}

function refreshStreamFilter() {
  const ids = new Set(streamIdsFromStreams);
  for (const a of alerts.values()) ids.add(a.stream_id);
  const sorted = [...ids].filter((x) => typeof x === 'string').sort();
  const current = [...ui.filterStream.options].slice(1).map((o) => o.value);
  if (sorted.join('\n') === current.join('\n')) return;
  const selected = ui.filterStream.value;
  ui.filterStream.replaceChildren(el('option', { value: '' }, 'All'),
    ...sorted.map((id) => el('option', { value: id }, id)));
  ui.filterStream.value = sorted.includes(selected) ? selected : '';
}

function setLive(live) {
  ui.conn.textContent = live ? 'live' : 'reconnecting';
  ui.conn.dataset.live = String(live);
}

function connectEvents() {
  const es = new EventSource('/console/api/alerts/events');
  es.onopen = () => setLive(true);
  es.onerror = () => {
    setLive(false);
    // CLOSED means the browser gave up (e.g. 401 or a non-SSE response): find out why, then retry ourselves.
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      api('/console/api/session').then(
        () => setTimeout(connectEvents, 3000),
        (err) => { if (!(err instanceof AuthRedirect)) setTimeout(connectEvents, 3000); });
    }
  };
  es.addEventListener('alert', (msg) => {
    try {
      foldEntry(JSON.parse(msg.data));
      scheduleFeedRender();
    } catch (err) {
      console.warn('bad alert event', err);
    }
  });
}

// ---------- alert detail ----------

let detailGen = 0; // bumps on every route change so stale responses are ignored
let detailTimer = null;
let detailView = null;

function openDetail(alertId) {
  detailGen += 1;
  clearTimeout(detailTimer);
  detailView = null;
  ui.detail.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  loadDetail(alertId, detailGen);
}

async function loadDetail(alertId, gen) {
  clearTimeout(detailTimer);
  let data = null;
  let failure = null;
  let notFound = false;
  try {
    const resp = await api(`/console/api/alerts/${encodeURIComponent(alertId)}`);
    if (resp.status === 404) notFound = true;
    else if (resp.ok) data = await resp.json();
    else failure = await errorMessage(resp);
  } catch (err) {
    if (err instanceof AuthRedirect) return;
    failure = 'network error';
  }
  if (gen !== detailGen) return;
  if (notFound) {
    detailView = null;
    ui.detail.replaceChildren(
      el('p', { class: 'error', 'data-testid': 'alert-not-found' }, 'alert not found'),
      el('a', { href: '#/', 'data-testid': 'back' }, '← Back'));
    return;
  }
  if (data) {
    if (!detailView || detailView.alertId !== alertId) detailView = buildDetail(alertId);
    fillDetail(detailView, data);
  } else if (!detailView) {
    ui.detail.replaceChildren(
      el('p', { class: 'error' }, `could not load alert: ${failure}`),
      el('a', { href: '#/', 'data-testid': 'back' }, '← Back'));
  }
  // Open alerts keep growing their history; transient failures are retried too.
  if (!data || data.state === 'open') {
    clearTimeout(detailTimer); // an ack can race the poll: keep a single refresh chain
    detailTimer = setTimeout(() => loadDetail(alertId, gen), DETAIL_POLL_MS);
  }
}

function buildDetail(alertId) {
  const v = { alertId };
  v.title = el('h2', { class: 'detail-title' });
  v.images = {};
  const figures = ['crop', 'mask', 'overlay'].map((kind) => {
    const img = el('img', { 'data-testid': `${kind}-image`, alt: `${kind} image`, hidden: true });
    const placeholder = el('div', { class: 'placeholder muted' }, `no ${kind} image`);
    v.images[kind] = { img, placeholder };
    return el('figure', { class: 'evidence' }, img, placeholder, el('figcaption', {}, kind));
  });
  v.facts = el('tbody');
  v.plot = el('div', { class: 'plot-wrap' });
  v.acks = el('ul', { class: 'ack-list', 'data-testid': 'ack-list' });
  v.noAcks = el('p', { class: 'muted small' }, 'No acknowledgements yet.');
  v.note = el('input', { type: 'text', 'data-testid': 'ack-note', placeholder: 'Note (optional)', maxlength: 500 });
  v.ack = el('button', { type: 'button', 'data-testid': 'ack-button' }, 'Acknowledge');
  v.dismiss = el('button', { type: 'button', class: 'btn-secondary', 'data-testid': 'dismiss-button' }, 'Dismiss');
  v.message = el('p', { class: 'error small', 'data-testid': 'ack-message', role: 'status', hidden: true });
  v.ack.addEventListener('click', () => postAck(v, 'ack'));
  v.dismiss.addEventListener('click', () => postAck(v, 'dismiss'));
  setAckEnabled(v, true);

  ui.detail.replaceChildren(el('div', { 'data-testid': 'alert-detail', class: 'detail-body' },
    el('a', { href: '#/', 'data-testid': 'back', class: 'back' }, '← Back to overview'),
    v.title,
    el('div', { class: 'evidence-row' }, ...figures),
    el('div', { class: 'detail-cols' },
      el('section', {}, el('h3', {}, 'Facts'), el('table', { class: 'facts' }, v.facts)),
      el('section', {}, el('h3', {}, 'Score'), v.plot)),
    el('section', {}, el('h3', {}, 'Acknowledgements'), v.acks, v.noAcks,
      el('div', { class: 'ack-form' }, v.note, v.ack, v.dismiss), v.message),
  ));
  return v;
}

function setAckEnabled(v, enabled) {
  const allowed = enabled && !session.read_only;
  v.ack.disabled = !allowed;
  v.dismiss.disabled = !allowed;
  v.note.disabled = session.read_only;
}

function fillDetail(v, d) {
  v.title.replaceChildren(
    el('span', {}, `${d.stream_id} · track ${d.track_id ?? '—'} `),
    badge(d.state, ALERT_COLOUR[d.state] ?? 'grey', 'detail-state'));

  for (const [kind, { img, placeholder }] of Object.entries(v.images)) {
    const url = d.images?.[kind] ?? null;
    if (url && img.getAttribute('src') !== url) img.src = url;
    if (!url) img.removeAttribute('src');
    img.hidden = !url;
    placeholder.hidden = Boolean(url);
  }

  const ended = d.ended_at == null ? '—' : `${dateTime(d.ended_at)}${d.reason ? ` (${d.reason})` : ''}`;
  const rows = [
    ['what', d.explanation || '—'],
    ['attribute', attributeText(d)],
    ['regions', regionsText(d.regions)],
    ['peak score', fixed(d.peak_score, 2)],
    ['score at last event', fixed(d.score, 2)],
    ['window', `${fixed(d.window_s, 1)} s`],
    ['samples', String(d.n_samples ?? '—')],
    ['model', d.model || '—'],
    ['opened', dateTime(d.opened_at)],
    ['ended', ended],
  ];
  v.facts.replaceChildren(...rows.map(([k, val]) =>
    el('tr', {}, el('th', {}, k), el('td', { 'data-testid': `fact-${k.replaceAll(' ', '-')}` }, val))));

  v.plot.replaceChildren(scorePlot(d));

  const acks = Array.isArray(d.acks) ? d.acks : [];
  v.acks.replaceChildren(...acks.map((a) =>
    el('li', { 'data-event': a.event }, `${a.event} by ${a.by} at ${clock(a.ts)}${a.note ? ` — ${a.note}` : ''}`)));
  v.noAcks.hidden = acks.length > 0;
}

const ATTRIBUTE_WORDS = { identity: 'identity swap', expression: 'expression', physical: 'appearance edit' };

function attributeText(d) {
  if (!d.attribute) return '—';
  const p = d.attribute_p && typeof d.attribute_p === 'object' ? d.attribute_p[d.attribute] : null;
  const word = ATTRIBUTE_WORDS[d.attribute] ?? d.attribute;
  return Number.isFinite(p) ? `${word} (${Math.round(p * 100)} %)` : word;
}

function regionsText(regions) {
  if (!Array.isArray(regions) || regions.length === 0) return '—';
  return regions
    .filter((r) => r && typeof r.region === 'string' && Number.isFinite(r.coverage))
    .map((r) => `${r.region} ${Math.round(r.coverage * 100)} %`).join(', ');
}

function niceStep(range, target = 5) {
  const raw = range / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

function scorePlot(d) {
  const W = 600, H = 220, L = 40, R = 12, T = 10, B = 30;
  const history = (Array.isArray(d.history) ? d.history : [])
    .filter((p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]));
  const t0 = d.opened_at ?? history[0]?.[0] ?? 0;
  const lastTs = history.length ? history[history.length - 1][0] : t0;
  const spanEnd = d.ended_at ?? lastTs;
  const xmin = Math.min(t0, history[0]?.[0] ?? t0);
  const xmax = Math.max(xmin + 1, lastTs, spanEnd);
  const x = (t) => L + ((t - xmin) / (xmax - xmin)) * (W - L - R);
  const y = (s) => T + (1 - Math.min(1, Math.max(0, s))) * (H - T - B);

  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'score-plot', 'data-testid': 'score-plot', role: 'img',
    'aria-label': 'score over time',
  });
  root.append(svg('rect', {
    class: 'alert-span', x: x(t0), y: T, width: Math.max(1, x(spanEnd) - x(t0)), height: H - T - B,
  }));

  for (const s of [0, 0.25, 0.5, 0.75, 1]) {
    root.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(s), y2: y(s) }));
    root.append(svg('text', { class: 'tick', x: L - 6, y: y(s) + 4, 'text-anchor': 'end' }, s.toFixed(2)));
  }
  const step = niceStep(xmax - xmin);
  for (let rel = Math.ceil((xmin - t0) / step) * step; t0 + rel <= xmax + 1e-9; rel += step) {
    const px = x(t0 + rel);
    root.append(svg('line', { class: 'grid', x1: px, x2: px, y1: T, y2: H - B }));
    const label = Number.isInteger(step) ? rel.toFixed(0) : rel.toFixed(1);
    root.append(svg('text', { class: 'tick', x: px, y: H - B + 14, 'text-anchor': 'middle' }, `${label}s`));
  }
  root.append(svg('text', { class: 'axis-label', x: W - R, y: H - 2, 'text-anchor': 'end' },
    'seconds since opened'));

  const th = d.thresholds ?? session.thresholds ?? {};
  for (const [name, value] of [['on', th.on], ['off', th.off]]) {
    if (!Number.isFinite(value)) continue;
    root.append(svg('line', { class: `threshold threshold-${name}`, x1: L, x2: W - R, y1: y(value), y2: y(value) }));
    root.append(svg('text', { class: 'tick', x: W - R - 4, y: y(value) - 4, 'text-anchor': 'end' },
      `${name} ${value.toFixed(2)}`));
  }

  if (history.length) {
    const points = history.map(([t, s]) => `${x(t).toFixed(1)},${y(s).toFixed(1)}`).join(' ');
    root.append(svg('polyline', { class: 'score-line', points }));
  } else {
    root.append(svg('text', { class: 'tick', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no samples'));
  }
  return root;
}

async function postAck(v, action) {
  if (session.read_only) return;
  setAckEnabled(v, false);
  v.message.hidden = true;
  const gen = detailGen;
  try {
    const resp = await api(`/console/api/alerts/${encodeURIComponent(v.alertId)}/ack`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ action, note: v.note.value.trim() }),
    });
    if (resp.status === 201) {
      v.note.value = '';
      if (gen === detailGen) await loadDetail(v.alertId, gen);
    } else {
      v.message.textContent = resp.status === 403 ? 'read-only' : await errorMessage(resp);
      v.message.hidden = false;
    }
  } catch (err) {
    if (err instanceof AuthRedirect) return;
    v.message.textContent = 'network error';
    v.message.hidden = false;
  } finally {
    setAckEnabled(v, true);
  }
}

// ---------- routing + boot ----------

function route() {
  const match = /^#\/alerts\/(.+)$/.exec(location.hash);
  let alertId = null;
  if (match) {
    try { alertId = decodeURIComponent(match[1]); } catch { alertId = null; }
  }
  ui.overview.hidden = alertId !== null;
  ui.detail.hidden = alertId === null;
  if (alertId !== null) {
    openDetail(alertId);
  } else {
    detailGen += 1;
    clearTimeout(detailTimer);
    detailView = null;
    ui.detail.replaceChildren();
  }
  syncPreviewTimer();
}

async function loadSession() {
  for (;;) {
    try {
      const resp = await api('/console/api/session');
      if (resp.ok) return await resp.json();
    } catch (err) {
      if (err instanceof AuthRedirect) throw err;
    }
    await new Promise((r) => setTimeout(r, 3000));
  }
}

async function boot() {
  ui.logout.addEventListener('click', async () => {
    ui.logout.disabled = true;
    try {
      await fetch('/console/logout', { method: 'POST', credentials: 'same-origin' });
    } catch { /* the login page is the right place either way */ } finally {
      location.assign('/login');
    }
  });
  ui.filterStream.addEventListener('change', renderFeed);
  ui.filterState.addEventListener('change', renderFeed);

  try {
    session = { ...session, ...(await loadSession()) };
  } catch {
    return; // redirecting to /login
  }
  ui.operator.textContent = session.operator;
  ui.readOnly.hidden = !session.read_only;
  ui.version.textContent = session.version ? `v${session.version}` : '';

  document.addEventListener('visibilitychange', syncPreviewTimer);
  window.addEventListener('hashchange', route);
  route();
  pollStreams();
  connectEvents();
}

boot();
