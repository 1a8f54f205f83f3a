// QuakeStream live map. Bundled with esbuild (build.mjs) and served from the frontend's own
// origin under a strict Content-Security-Policy: no inline script or style anywhere. The only
// other origin it talks to is OpenStreetMap's tile server, for the online basemap.
import { readUrl, urlQuery, listQuery, apiFilters, matches, viewSince } from './filters.js';
import { EventSet } from './events.js';
import { VirtualList } from './list.js';
import { liveStream } from './stream.js';
import { showDetail } from './detail.js';
import { ago } from './format.js';
import { yieldToPage } from './tasks.js';
import { createActivity, regionOf } from './activity.js';
import { initSequences } from './sequences.js';

/** Markers added per task when a list loads, so a big window never blocks the page for long. */
const MARKER_CHUNK = 100;
/** Pushed events are applied at most this often (each application redraws the map's canvas). */
const FLUSH_MS = 250;
/** How often events that left the window are dropped, and the "last event" line refreshed. */
const TICK_MS = 15000;
/* global __ASSET_URLS__ */
const URLS = __ASSET_URLS__;
const PHONE = matchMedia('(max-width: 760px)');
const DARK = matchMedia('(prefers-color-scheme: dark)');

const $ = (id) => document.getElementById(id);
const initial = readUrl(location.search);
const state = {
  filters: initial.filters,
  selected: initial.selected,
  since: viewSince(initial.filters.window),
  events: new EventSet(initial.filters.sort),
  pending: new Map(),
  lastEventAt: null,
  loadSeq: 0,
};

// The events are what the page is for: ask for them before building anything else.
const firstList = startList();

// ---------- URL, filters, downloads ----------
function writeUrl() {
  history.replaceState(null, '', urlQuery(state.filters, state.selected) || location.pathname);
}
function updateDownloads() {
  const stamp = new Date(state.since).toISOString().slice(0, 16).replace(/[:T]/g, '-');
  for (const [id, format, ext] of [['dl-csv', 'csv', 'csv'], ['dl-geojson', '', 'geojson']]) {
    const a = $(id);
    a.href = `/api/quakes?${listQuery(state.filters, state.since, format)}`;
    a.download = `quakes-${state.filters.window}-from-${stamp}.${ext}`;
  }
}
function showCount() {
  const n = state.events.size;
  $('count').textContent = `${n} event${n === 1 ? '' : 's'}`;
  $('count').dataset.count = String(n);
}
const notes = {};
/** One line per topic ('list', 'basemap') under the event count. */
function note(topic, text) {
  notes[topic] = text;
  $('note').textContent = Object.values(notes).filter(Boolean).join(' ');
}

// ---------- map, list, detail ----------
// The map (and Leaflet, in a chunk of its own) is loaded and built after the first frame is
// painted: the header, filters and list come first, and building the map then finds the layout
// done instead of forcing it inside one long task.
let view = null;
const mapReady = new Promise((ok) => requestAnimationFrame(() => setTimeout(async () => {
  const { createMap } = await import('./mapview.js');
  await yieldToPage(); // evaluating Leaflet and building the map: two tasks, not one
  view = createMap($('map'), {
    urls: URLS,
    basemapPref: state.filters.basemap,
    fullscreenTarget: document.querySelector('main'),
    onSelect: (id) => select(id, { fromMap: true }),
    onHover: (f) => activity.hover(f),
    onFallback: () => note('basemap', 'OpenStreetMap tiles could not be loaded: showing the offline basemap.'),
    onBasemapPick: (b) => { state.filters.basemap = b; writeUrl(); note('basemap', ''); },
  });
  ok(view);
}, 0)));
const activity = createActivity({ root: $('activity'), $, since: () => state.since, selectedRegion: regionOf });
requestAnimationFrame(() => setTimeout(() => activity.start(), 0));
const seqs = initSequences({
  getView: () => mapReady,
  onPickEvent: (unid) => select(unid, { fromList: true }),
  announce: (t) => { $('announce').textContent = t; },
});
const list = new VirtualList($('list-scroll'), $('list'), { onSelect: (id) => select(id, { fromList: true }) });
list.setData(state.events);

async function select(unid, { fromMap = false, fromList = false } = {}) {
  state.selected = unid;
  writeUrl();
  view?.select(unid);
  list.setSelected(unid);
  const e = state.events.entries.get(unid);
  activity.select(e?.f ?? null);
  if (e && fromList && !PHONE.matches) view?.map.panTo(latLng(e.f));
  if (fromMap) list.revealId(unid);
  seqs.eventLine(unid, () => state.selected === unid);
  await showDetail(unid, () => state.selected === unid);
  if (fromList && state.selected === unid) $('d-title').focus();
}
function closeDetail() {
  const prev = state.selected;
  $('detail').hidden = true;
  state.selected = null;
  writeUrl();
  activity.select(null);
  view?.select(null);
  list.setSelected(null);
  const li = prev && document.querySelector(`#list li[data-unid="${CSS.escape(prev)}"] button`);
  li?.focus();
}
const latLng = (f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]];
$('d-close').addEventListener('click', closeDetail);
$('d-onmap').addEventListener('click', () => {
  const e = state.events.entries.get(state.selected);
  setView('map');
  if (e && view) view.map.setView(latLng(e.f), Math.max(view.map.getZoom(), 5));
});
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  if (!$('detail').hidden) closeDetail();
  else if (document.body.dataset.fullscreen === 'on' && !document.fullscreenElement) $('t-fullscreen').click();
});

// ---------- phone: map or list ----------
function setView(v) {
  document.body.dataset.view = v;
  for (const b of document.querySelectorAll('.views button')) b.setAttribute('aria-pressed', String(b.dataset.view === v));
  if (v === 'map') view?.map.invalidateSize();
  else list.refresh();
}
for (const b of document.querySelectorAll('.views button')) b.addEventListener('click', () => setView(b.dataset.view));
function layoutChanged() {
  // On a phone the filters fold away; on a wide screen they are always shown.
  $('filters-box').open = !PHONE.matches;
  $('activity').open = !PHONE.matches;
  view?.map.invalidateSize();
}
PHONE.addEventListener('change', layoutChanged);
DARK.addEventListener('change', () => view?.restyle());

// ---------- data ----------
async function syncMarkers(seq) {
  const view = await mapReady;
  for (const id of [...view.markers.keys()]) if (!state.events.entries.has(id)) view.remove(id);
  const all = state.events.order;
  for (let i = 0; i < all.length; i += MARKER_CHUNK) {
    if (seq !== state.loadSeq) return;
    for (const e of all.slice(i, i + MARKER_CHUNK)) view.upsert(e.f);
    if (i + MARKER_CHUNK < all.length) await yieldToPage();
  }
}

function startList() {
  const since = viewSince(state.filters.window);
  return { since, response: fetch(`/api/quakes?${listQuery(state.filters, since)}`) };
}
async function load(started = startList()) {
  const seq = ++state.loadSeq;
  const { since } = started;
  const r = await started.response;
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const fc = await r.json();
  if (seq !== state.loadSeq) return;
  state.since = since;
  if (seq > 1) activity.refresh({ reload: true });
  state.events.replaceAll(fc.features);
  list.refresh();
  showCount();
  updateDownloads();
  note('list', fc.features.length >= fc.metadata?.limit ? `Showing the newest ${fc.features.length}; narrow the filters for more.` : '');
  await syncMarkers(seq);
  if (seq !== state.loadSeq) return;
  document.body.dataset.loaded = String(seq);
  if (state.selected) showDetail(state.selected, () => state.selected !== null);
}
const reload = () => load().catch(() => note('list', 'Could not load events; retrying on the next update.'));

// Pushed events are applied together, in an animation frame at most every FLUSH_MS, however
// many arrive in between (a burst of 200 in a second costs about five redraws, not 200).
let flushQueued = false;
let lastFlush = 0;
function queue(f) {
  state.pending.set(f.id, f);
  if (flushQueued) return;
  flushQueued = true;
  const wait = Math.max(0, lastFlush + FLUSH_MS - performance.now());
  setTimeout(() => {
    requestAnimationFrame(flush);
    setTimeout(flush, 500); // a hidden tab gets no animation frames
  }, wait);
}
function flush() {
  if (!flushQueued) return;
  if (!view) { mapReady.then(flush); return; }
  flushQueued = false;
  lastFlush = performance.now();
  let selectedChanged = false;
  for (const f of state.pending.values()) {
    if (!matches(f, state.filters, state.since)) {
      if (state.events.remove(f.id)) view.remove(f.id);
      continue;
    }
    if (state.events.upsert(f)) { list.markNew(f.id); view.pulse(f); }
    view.upsert(f);
    if (f.id === state.selected) selectedChanged = true;
    document.body.dataset.lastPushed = f.id;
  }
  state.pending.clear();
  list.refresh();
  showCount();
  showLast();
  if (selectedChanged) showDetail(state.selected, () => state.selected !== null);
}

function tick() {
  const since = viewSince(state.filters.window);
  if (since !== state.since) {
    state.since = since;
    for (const id of state.events.pruneBefore(since)) view?.remove(id);
    list.refresh();
    showCount();
    updateDownloads();
  }
  activity.refresh();
  showLast();
}
function showLast() {
  if (!state.lastEventAt) return;
  const iso = state.lastEventAt.toISOString();
  $('last').textContent = `Last event ${iso.slice(11, 19)} UTC (${ago(iso)})`;
}
setInterval(tick, TICK_MS);

// ---------- the stream ----------
const STATES = {
  connecting: () => 'Connecting…',
  live: () => 'Live',
  // On a phone the header's second line also holds the replay note: say less.
  waiting: (s) => (PHONE.matches ? `Retrying in ${s} s` : `Disconnected · retrying in ${s} s`),
  offline: () => 'Offline · waiting for the network',
};
function setConn(s, detail) {
  const el = $('conn');
  const changed = el.dataset.state !== s;
  el.className = `conn ${s}`;
  el.dataset.state = s;
  el.textContent = STATES[s](detail);
  $('retry').hidden = s !== 'waiting';
  // Screen readers hear the change of state, not every tick of the countdown.
  if (changed && s !== 'connecting') $('announce').textContent = s === 'waiting' ? 'Disconnected from the live feed; retrying.' : el.textContent;
}
function showSource(text) {
  const el = $('source');
  el.hidden = !text;
  el.textContent = text || '';
  document.body.classList.toggle('has-source', Boolean(text));
}
const stream = liveStream({
  query: () => apiFilters(state.filters),
  onState: setConn,
  onHello: ({ source }, resumed) => {
    // `quakestream dev` says whether this is the live feed or a replay.
    showSource(source);
    seqs.load(); // on every (re)connection: sequence events have no resume
    if (resumed) reload();
  },
  onReset: reload,
  onStats: (rec) => activity.onStats(rec),
  onSequence: (d) => seqs.onEvent(d),
  onQuake: ({ feature }) => {
    state.lastEventAt = new Date();
    queue(feature);
  },
});
$('retry').addEventListener('click', () => stream.restart());

$('filters').addEventListener('change', (e) => {
  const name = e.target.name;
  state.filters[name] = e.target.value.trim();
  writeUrl();
  if (name === 'sort') { state.events.setSort(state.filters.sort); list.refresh(); return; }
  reload();
  if (name !== 'window') stream.restart();
});
$('filters').addEventListener('submit', (e) => e.preventDefault());

// ---------- start ----------
for (const k of Object.keys(state.filters)) { const el = $(`f-${k}`); if (el) el.value = state.filters[k]; }
layoutChanged();
writeUrl();
updateDownloads();
load(firstList).then(() => { if (state.selected) select(state.selected); }).catch(() => note('list', 'Could not load events; retrying on the next update.'))
  .finally(() => mapReady.then((v) => v.loadPlates()));
window.__qs = { state, list, stream, activity, seqs, get view() { return view; }, get events() { return state.events.entries; } }; // for tests and the curious
