// QuakeStream live map. Bundled with esbuild; talks only to its own origin (the optional
// OpenStreetMap layer is the one exception, and it is off unless the user switches it on).
import L from 'leaflet';
import { feature, mesh } from 'topojson-client';

const WINDOWS = { '1h': 3600e3, '6h': 6 * 3600e3, '24h': 86400e3, '3d': 3 * 86400e3, '7d': 7 * 86400e3 };
const DEPTHS = [
  [0, '#d7191c', '0–35 km'],
  [35, '#fdae61', '35–70 km'],
  [70, '#e6d531', '70–150 km'],
  [150, '#2c7bb6', '150–300 km'],
  [300, '#6a3d9a', '> 300 km'],
];
const $ = (id) => document.getElementById(id);
const state = {
  filters: { window: '24h', minmag: '', maxmag: '', mindepth: '', maxdepth: '', sort: 'time' },
  events: new Map(), // unid -> feature
  markers: new Map(), // unid -> circle marker
  selected: null,
  es: null,
  lastEventAt: null,
  loadSeq: 0,
};

// ---------- formatting ----------
const depthColour = (d) => { let c = DEPTHS[0][1]; for (const [min, col] of DEPTHS) if (d >= min) c = col; return c; };
const radius = (m) => (m == null ? 3 : Math.max(3, 1.7 * Math.pow(Math.max(m, 0) + 1, 1.2)));
const magText = (m) => (m == null ? '–' : m.toFixed(1));
const utc = (iso) => iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
function ago(iso) {
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// ---------- URL <-> filters ----------
function readUrl() {
  const p = new URLSearchParams(location.search);
  for (const k of Object.keys(state.filters)) if (p.has(k)) state.filters[k] = p.get(k);
  if (!WINDOWS[state.filters.window]) state.filters.window = '24h';
  if (!['time', 'mag'].includes(state.filters.sort)) state.filters.sort = 'time';
  state.selected = p.get('event');
  for (const k of Object.keys(state.filters)) $(`f-${k}`).value = state.filters[k];
}
function writeUrl() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state.filters)) {
    if (v !== '' && !(k === 'window' && v === '24h') && !(k === 'sort' && v === 'time')) p.set(k, v);
  }
  if (state.selected) p.set('event', state.selected);
  const qs = p.toString();
  history.replaceState(null, '', qs ? `?${qs}` : location.pathname);
}
function apiFilters() {
  const p = new URLSearchParams();
  for (const k of ['minmag', 'maxmag', 'mindepth', 'maxdepth']) if (state.filters[k] !== '') p.set(k, state.filters[k]);
  return p;
}
function matches(f) {
  const q = f.properties;
  const { minmag, maxmag, mindepth, maxdepth } = state.filters;
  if ((minmag !== '' || maxmag !== '') && q.mag == null) return false;
  if (minmag !== '' && q.mag < +minmag) return false;
  if (maxmag !== '' && q.mag > +maxmag) return false;
  if (mindepth !== '' && q.depth_km < +mindepth) return false;
  if (maxdepth !== '' && q.depth_km > +maxdepth) return false;
  return Date.parse(q.time) >= Date.now() - WINDOWS[state.filters.window];
}

// ---------- map ----------
const map = L.map('map', { preferCanvas: true, worldCopyJump: true, minZoom: 1, maxZoom: 12, zoomControl: true })
  .setView([20, 10], 2);
map.attributionControl.setPrefix('<a href="https://leafletjs.com/">Leaflet</a>');
// Panes, bottom to top: basemap (overlayPane, 400), plate boundaries (410), earthquakes (450).
map.createPane('plates').style.zIndex = 410;
map.getPane('plates').style.pointerEvents = 'none';
map.createPane('quakes').style.zIndex = 450;
const baseRenderer = L.canvas({ padding: 0.3 });
const renderer = L.canvas({ padding: 0.3, pane: 'quakes' });
const basemap = L.layerGroup().addTo(map);
const PLATES_CREDIT = 'Plate boundaries: <a href="https://doi.org/10.1029/2001GC000252">Bird (2003), PB2002</a> (ODC-By)';
const plates = L.geoJSON(null, {
  pane: 'plates', renderer: L.svg({ pane: 'plates', padding: 0.3 }), interactive: false, attribution: PLATES_CREDIT,
  style: { color: '#7d6b8f', weight: 1, opacity: 0.7, lineCap: 'round' },
}).addTo(map);
const quakesLayer = L.layerGroup().addTo(map);
const osm = L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', {
  maxZoom: 19, attribution: '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
});
L.control.layers({ 'Offline basemap (Natural Earth)': basemap, 'OpenStreetMap (online)': osm },
  { 'Plate boundaries (PB2002)': plates, Earthquakes: quakesLayer },
  { position: 'topright', collapsed: true }).addTo(map);
fetch('/assets/plates.json').then((r) => r.json()).then((fc) => {
  plates.addData(fc);
  document.body.dataset.plates = String(fc.features.length);
}).catch(() => {});

// Rings that cross the antimeridian (Fiji, Chukotka) would be drawn as bands across the world:
// move their western half east of 180°.
function unwrap(geom) {
  const fix = (ring) => {
    let cross = false;
    for (let i = 1; i < ring.length; i++) if (Math.abs(ring[i][0] - ring[i - 1][0]) > 180) cross = true;
    return cross ? ring.map(([x, y]) => [x < 0 ? x + 360 : x, y]) : ring;
  };
  if (geom.type === 'Polygon') geom.coordinates = geom.coordinates.map(fix);
  if (geom.type === 'MultiPolygon') geom.coordinates = geom.coordinates.map((p) => p.map(fix));
  if (geom.type === 'MultiLineString') geom.coordinates = geom.coordinates.map(fix);
  return geom;
}
fetch('/assets/countries-110m.json').then((r) => r.json()).then((topo) => {
  const countries = feature(topo, topo.objects.countries);
  for (const f of countries.features) unwrap(f.geometry);
  L.geoJSON(countries, {
    renderer: baseRenderer, interactive: false,
    style: { color: '#b9b3a5', weight: 0.6, fillColor: '#f3f0e8', fillOpacity: 1 },
  }).addTo(basemap);
  L.geoJSON(unwrap(mesh(topo, topo.objects.countries, (a, b) => a !== b)), {
    renderer: baseRenderer, interactive: false, style: { color: '#a39d8f', weight: 0.7 },
  }).addTo(basemap);
  map.attributionControl.addAttribution('Basemap © <a href="https://www.naturalearthdata.com/">Natural Earth</a>');
}).catch(() => {});
map.attributionControl.addAttribution('Data: <a href="https://www.seismicportal.eu/">EMSC</a> (CC BY 4.0), <a href="https://earthquake.usgs.gov/">USGS</a>');

const legend = L.control({ position: 'bottomright' });
legend.onAdd = () => {
  const div = L.DomUtil.create('div', 'legend');
  div.setAttribute('aria-label', 'Legend');
  div.innerHTML = '<h3>Depth</h3>' + DEPTHS.map(([, c, t]) => `<div class="row"><span class="sw" style="background:${c}"></span>${t}</div>`).join('')
    + '<h3 style="margin-top:.4rem">Magnitude</h3><div class="sizes">'
    + [2, 4, 6, 8].map((m) => { const r = radius(m); return `<span><i style="width:${2 * r}px;height:${2 * r}px"></i>${m}</span>`; }).join('') + '</div>';
  return div;
};
legend.addTo(map);

function markerStyle(f, selected) {
  const q = f.properties;
  return {
    renderer, radius: radius(q.mag), fillColor: depthColour(q.depth_km), fillOpacity: 0.78,
    color: selected ? '#0d47a1' : '#3a3a3a', weight: selected ? 3 : 0.6, opacity: 1,
  };
}
function upsertMarker(f) {
  const [lon, lat] = f.geometry.coordinates;
  let m = state.markers.get(f.id);
  if (!m) {
    m = L.circleMarker([lat, lon], markerStyle(f, f.id === state.selected));
    m.on('click', () => select(f.id, { fromMap: true }));
    m.addTo(quakesLayer);
    state.markers.set(f.id, m);
  } else {
    m.setLatLng([lat, lon]);
    m.setStyle(markerStyle(f, f.id === state.selected));
  }
  m.bindTooltip(`M ${magText(f.properties.mag)} · ${esc(f.properties.region || '')}`);
  if (f.id === state.selected) m.bringToFront();
}
function removeMarker(unid) {
  const m = state.markers.get(unid);
  if (m) { quakesLayer.removeLayer(m); state.markers.delete(unid); }
}

// ---------- list ----------
function sorted() {
  const all = [...state.events.values()];
  if (state.filters.sort === 'mag') all.sort((a, b) => (b.properties.mag ?? -9) - (a.properties.mag ?? -9) || b.properties.time.localeCompare(a.properties.time));
  else all.sort((a, b) => b.properties.time.localeCompare(a.properties.time));
  return all;
}
function itemHtml(f) {
  const q = f.properties;
  return `<button type="button" aria-label="Magnitude ${magText(q.mag)}, ${esc(q.region || 'unknown region')}, ${utc(q.time)}, depth ${Math.round(q.depth_km)} km">`
    + `<span class="mag" style="background:${depthColour(q.depth_km)}">${magText(q.mag)}</span>`
    + `<span class="region">${esc(q.region || 'Unknown region')}</span>`
    + `<span class="meta">${utc(q.time)} · ${Math.round(q.depth_km)} km · ${esc(q.agency || q.source)}</span></button>`;
}
const MAX_LIST = 2000;
function renderList(flash) {
  const ul = $('list');
  const all = sorted();
  const frag = document.createDocumentFragment();
  for (const f of all.slice(0, MAX_LIST)) {
    const li = document.createElement('li');
    li.dataset.unid = f.id;
    li.innerHTML = itemHtml(f);
    if (f.id === state.selected) li.classList.add('selected');
    if (flash && flash.has(f.id)) li.classList.add('flash');
    li.firstChild.addEventListener('click', () => select(f.id, { fromList: true }));
    frag.appendChild(li);
  }
  ul.replaceChildren(frag);
  if (!all.length) ul.innerHTML = '<li class="empty">No earthquakes match these filters.</li>';
  const n = state.events.size;
  $('count').textContent = `${n} event${n === 1 ? '' : 's'}`;
  $('count').dataset.count = String(n);
  $('note').textContent = n > MAX_LIST ? `list shows the first ${MAX_LIST}` : '';
}
ul_keyboard();
function ul_keyboard() {
  $('list').addEventListener('keydown', (e) => {
    if (!['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(e.key)) return;
    const btns = [...$('list').querySelectorAll('button')];
    const i = btns.indexOf(document.activeElement);
    const j = e.key === 'Home' ? 0 : e.key === 'End' ? btns.length - 1 : Math.min(Math.max(i + (e.key === 'ArrowDown' ? 1 : -1), 0), btns.length - 1);
    if (btns[j]) { btns[j].focus(); e.preventDefault(); }
  });
}

// ---------- selection & detail ----------
async function select(unid, { fromMap = false, fromList = false } = {}) {
  const prev = state.selected;
  state.selected = unid;
  writeUrl();
  for (const id of [prev, unid]) {
    const f = id && state.events.get(id);
    if (f) upsertMarker(f);
    const li = id && document.querySelector(`#list li[data-unid="${CSS.escape(id)}"]`);
    if (li) li.classList.toggle('selected', id === unid);
  }
  const f = state.events.get(unid);
  if (f && fromList) map.panTo([f.geometry.coordinates[1], f.geometry.coordinates[0]]);
  if (fromMap) document.querySelector(`#list li[data-unid="${CSS.escape(unid)}"]`)?.scrollIntoView({ block: 'nearest' });
  await showDetail(unid);
}
function closeDetail() {
  $('detail').hidden = true;
  const prev = state.selected;
  state.selected = null;
  writeUrl();
  const f = prev && state.events.get(prev);
  if (f) upsertMarker(f);
  document.querySelector('#list li.selected')?.classList.remove('selected');
}
$('d-close').addEventListener('click', closeDetail);
document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !$('detail').hidden) closeDetail(); });

async function showDetail(unid) {
  const panel = $('detail');
  let f;
  try {
    const r = await fetch(`/api/quakes/${encodeURIComponent(unid)}`);
    if (!r.ok) throw new Error(String(r.status));
    f = await r.json();
  } catch (e) {
    $('d-title').textContent = 'Event not available';
    $('d-body').textContent = `Could not load ${unid}.`;
    panel.hidden = false;
    return;
  }
  if (state.selected !== unid) return;
  const q = f.properties;
  $('d-title').textContent = `M ${magText(q.mag)} ${q.magtype ? `(${q.magtype})` : ''} — ${q.region || 'Unknown region'}`;
  const rows = [
    ['Origin time', utc(q.time)], ['', ago(q.time)], ['Magnitude', `${magText(q.mag)} ${q.magtype || ''}`],
    ['Depth', `${q.depth_km} km`], ['Latitude', q.lat], ['Longitude', q.lon], ['Region', q.region],
    ['Agency', q.agency], ['Event type', q.evtype], ['Source', q.source === 'emsc' ? 'EMSC' : 'USGS'],
    ['Last update', utc(q.lastupdate)], ['Event id', q.unid],
  ];
  const revs = f.revisions || [];
  $('d-body').innerHTML = `<dl>${rows.filter(([, v]) => v != null && v !== '').map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`
    + `<h3>Revisions (${revs.length})</h3><table id="d-revisions"><thead><tr><th scope="col">Updated (UTC)</th><th scope="col">Mag</th><th scope="col">Depth</th><th scope="col">Lat, Lon</th></tr></thead><tbody>`
    + revs.slice().reverse().map((r) => `<tr><td>${esc(utc(r.lastupdate).replace(' UTC', ''))}</td><td>${esc(magText(r.mag))} ${esc(r.magtype || '')}</td><td>${esc(r.depth_km)} km</td><td>${esc(r.lat)}, ${esc(r.lon)}</td></tr>`).join('')
    + `</tbody></table><a class="ext" href="${esc(q.url)}" target="_blank" rel="noopener">View on ${q.source === 'emsc' ? 'EMSC' : 'USGS'} ↗</a>`;
  panel.hidden = false;
}

// ---------- data ----------
async function load() {
  const seq = ++state.loadSeq;
  const p = apiFilters();
  p.set('since', new Date(Date.now() - WINDOWS[state.filters.window]).toISOString());
  p.set('limit', '20000');
  const r = await fetch(`/api/quakes?${p}`);
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const fc = await r.json();
  if (seq !== state.loadSeq) return;
  state.events = new Map(fc.features.map((f) => [f.id, f]));
  for (const id of [...state.markers.keys()]) if (!state.events.has(id)) removeMarker(id);
  for (const f of state.events.values()) upsertMarker(f);
  renderList();
  document.body.dataset.loaded = String(state.loadSeq);
  if (state.selected) showDetail(state.selected);
}

function setConn(s) {
  const el = $('conn');
  el.className = `conn ${s}`;
  el.dataset.state = s;
  el.textContent = s === 'live' ? 'Live' : s === 'reconnecting' ? 'Reconnecting…' : 'Connecting…';
}
function updateLast() {
  if (state.lastEventAt) $('last').textContent = `Last event received ${state.lastEventAt.toISOString().slice(11, 19)} UTC (${ago(state.lastEventAt.toISOString())})`;
}
setInterval(updateLast, 15000);

function connect() {
  if (state.es) state.es.close();
  const es = new EventSource(`/api/stream?${apiFilters()}`);
  state.es = es;
  es.onopen = () => setConn('live');
  es.onerror = () => setConn(es.readyState === EventSource.CLOSED ? 'reconnecting' : 'reconnecting');
  es.addEventListener('hello', (e) => {
    setConn('live');
    // `quakestream dev` says whether this is the live feed or a replay.
    const { source } = JSON.parse(e.data);
    const el = $('source');
    el.hidden = !source;
    el.textContent = source || '';
  });
  es.addEventListener('reset', () => load().catch(() => {}));
  es.addEventListener('quake', (e) => {
    const { kind, feature: f } = JSON.parse(e.data);
    state.lastEventAt = new Date();
    updateLast();
    const known = state.events.has(f.id);
    if (!matches(f)) {
      if (known) { state.events.delete(f.id); removeMarker(f.id); renderList(); }
      return;
    }
    state.events.set(f.id, f);
    upsertMarker(f);
    renderList(new Set([f.id]));
    document.body.dataset.lastPushed = f.id;
    if (!known) pulse(f);
    if (state.selected === f.id) showDetail(f.id);
    void kind;
  });
}
function pulse(f) {
  const [lon, lat] = f.geometry.coordinates;
  const ring = L.circleMarker([lat, lon], { renderer, radius: radius(f.properties.mag) + 10, color: '#c62828', weight: 3, fill: false, interactive: false }).addTo(map);
  setTimeout(() => map.removeLayer(ring), 6000);
}

$('filters').addEventListener('change', (e) => {
  const name = e.target.name;
  state.filters[name] = e.target.value.trim();
  writeUrl();
  if (name === 'sort') { renderList(); return; }
  load().catch(() => {});
  if (name !== 'window') connect();
});
$('filters').addEventListener('submit', (e) => e.preventDefault());

readUrl();
writeUrl();
load().then(() => { if (state.selected) select(state.selected); }).catch(() => { $('note').textContent = 'Could not load events; retrying on the next update.'; });
connect();
window.__qs = state; // for tests and the curious
