// The map: basemaps, plate boundaries, the earthquakes (canvas circles), the legend and the tools
// (reset view, fullscreen, download as PNG).
import L from 'leaflet';
import { DEPTHS, depthBand, radius, magText, esc, cssVar, themeChanged } from './format.js';
import { basemaps } from './basemap.js';
import { mapToPng } from './png.js';

/** At most this many "new event" rings at once (a burst would otherwise draw hundreds). */
const MAX_PULSES = 40;
/** How long a ring stays; expired rings are removed together, once a second. */
const PULSE_MS = 6000;
const PULSE_SWEEP_MS = 1000;
const PLATES_CREDIT = 'Plates: <a href="https://doi.org/10.1029/2001GC000252">Bird (2003), PB2002</a> (ODC-By)';
const DATA_CREDIT = 'Data: <a href="https://www.seismicportal.eu/">EMSC</a> (CC BY 4.0), <a href="https://earthquake.usgs.gov/">USGS</a>';

/** The view a first visit (and "Reset view") shows: the whole world, smaller zoom on a phone. */
export function homeView(el) {
  return { center: [20, 10], zoom: el.clientWidth >= 900 ? 2 : 1 };
}

export function createMap(el, { urls, basemapPref, onSelect, onHover, onFallback, onBasemapPick, fullscreenTarget }) {
  const home = homeView(el);
  const map = L.map(el, { preferCanvas: true, worldCopyJump: true, minZoom: 1, maxZoom: 12, zoomControl: true })
    .setView(home.center, home.zoom);
  map.attributionControl.setPrefix('<a href="https://leafletjs.com/">Leaflet</a>');
  map.attributionControl.addAttribution(DATA_CREDIT);
  // Panes, bottom to top: basemap (tiles 200, countries in the overlay pane 400), plates (410), quakes (450).
  map.createPane('plates').style.zIndex = 410;
  map.getPane('plates').style.pointerEvents = 'none';
  map.createPane('quakes').style.zIndex = 450;
  map.createPane('pulses').style.zIndex = 460;
  map.getPane('pulses').style.pointerEvents = 'none';
  const renderer = L.canvas({ pane: 'quakes' });
  // Rings on a canvas of their own: adding and removing them does not redraw every earthquake.
  const pulseRenderer = L.canvas({ pane: 'pulses' });
  const base = basemaps(map, { countriesUrl: urls.countries, pref: basemapPref, onFallback });
  const plateStyle = () => ({ color: cssVar('--plates'), weight: 1, opacity: 0.8, lineCap: 'round' });
  const plates = L.geoJSON(null, {
    pane: 'plates', renderer: L.canvas({ pane: 'plates' }), interactive: false, style: plateStyle,
  }).addTo(map);
  // Credited once, while the layer is on (an `attribution` option would be added per segment).
  plates.on('add', () => map.attributionControl.addAttribution(PLATES_CREDIT));
  plates.on('remove', () => map.attributionControl.removeAttribution(PLATES_CREDIT));
  map.attributionControl.addAttribution(PLATES_CREDIT);
  const quakes = L.featureGroup().addTo(map);
  const layers = L.control.layers(
    { 'OpenStreetMap (online)': base.osm, 'Offline basemap (Natural Earth)': base.offline },
    { 'Plate boundaries (PB2002)': plates, Earthquakes: quakes },
    { position: 'topleft', collapsed: true },
  ).addTo(map);
  // A person's choice in the layer control (not the automatic fallback) goes into the URL.
  layers.getContainer().addEventListener('change', (e) => {
    if (e.target.type === 'radio') onBasemapPick(map.hasLayer(base.osm) ? 'osm' : 'offline');
  });
  // The plate boundaries come after the events (app.js calls this once the list is shown).
  // All segments as one MultiLineString: one map layer instead of 240.
  const loadPlates = () => fetch(urls.plates).then((r) => r.json()).then((fc) => {
    plates.addData({ type: 'MultiLineString', coordinates: fc.features.map((f) => f.geometry.coordinates) });
    document.body.dataset.plates = String(fc.features.length);
  }).catch(() => {});
  legend().addTo(map);
  tools(map, { home: () => homeView(el), fullscreenTarget }).addTo(map);

  const markers = new Map();
  let selected = null;
  const tip = L.tooltip({ direction: 'top', offset: [0, -4] });
  quakes.on('click', (e) => onSelect(e.layer.qsId));
  quakes.on('mouseover', (e) => {
    const q = e.layer.qsFeature.properties;
    tip.setLatLng(e.layer.getLatLng()).setContent(`M ${magText(q.mag)} · ${esc(q.region || '')}`);
    map.openTooltip(tip);
    onHover?.(e.layer.qsFeature);
  });
  quakes.on('mouseout', () => { map.closeTooltip(tip); onHover?.(null); });

  const style = (f) => {
    const q = f.properties;
    const sel = f.id === selected;
    return {
      renderer, radius: radius(q.mag), fillColor: cssVar(`--d${depthBand(q.depth_km)}`), fillOpacity: 0.8,
      color: sel ? cssVar('--focus') : cssVar('--marker-line'), weight: sel ? 3 : 0.6, opacity: 1,
    };
  };
  const upsert = (f) => {
    const [lon, lat] = f.geometry.coordinates;
    let m = markers.get(f.id);
    if (!m) {
      m = L.circleMarker([lat, lon], style(f));
      m.qsId = f.id;
      markers.set(f.id, m);
      m.addTo(quakes);
    } else {
      m.setLatLng([lat, lon]);
      m.setStyle(style(f));
    }
    m.qsFeature = f;
    if (f.id === selected) m.bringToFront();
  };
  const remove = (id) => {
    const m = markers.get(id);
    if (m) { quakes.removeLayer(m); markers.delete(id); }
  };
  const pulses = []; // [ring, time it expires], oldest first
  const pulse = (f) => {
    const [lon, lat] = f.geometry.coordinates;
    const ring = L.circleMarker([lat, lon], {
      renderer: pulseRenderer, pane: 'pulses', radius: radius(f.properties.mag) + 10, color: cssVar('--accent'),
      weight: 3, fill: false, interactive: false,
    }).addTo(map);
    pulses.push([ring, Date.now() + PULSE_MS]);
    if (pulses.length > MAX_PULSES) map.removeLayer(pulses.shift()[0]);
  };
  setInterval(() => {
    const now = Date.now();
    while (pulses.length && pulses[0][1] <= now) map.removeLayer(pulses.shift()[0]);
  }, PULSE_SWEEP_MS);
  const select = (id) => {
    const prev = selected;
    selected = id;
    for (const x of [prev, id]) { const m = x && markers.get(x); if (m) upsert(m.qsFeature); }
  };
  const restyle = () => {
    themeChanged();
    base.restyle();
    plates.setStyle(plateStyle);
    for (const m of markers.values()) m.setStyle(style(m.qsFeature));
  };
  // The chosen aftershock sequence (sequences.js): a ring at each member, also those outside the
  // list's window, on a canvas of its own; `fit` frames them, clear of `cover` (the [left, bottom]
  // pixels a panel hides).
  map.createPane('sequence').style.zIndex = 455;
  map.getPane('sequence').style.pointerEvents = 'none';
  const seqRenderer = L.canvas({ pane: 'sequence' });
  const sequence = L.layerGroup().addTo(map);
  const showSequence = (members, fit, cover = [0, 0]) => {
    sequence.clearLayers();
    for (const q of members) {
      L.circleMarker([q.lat, q.lon], {
        renderer: seqRenderer, pane: 'sequence', radius: radius(q.mag) + 3, color: cssVar('--seq'), weight: 2, fill: false, interactive: false,
      }).addTo(sequence);
    }
    document.body.dataset.sequenceRings = String(members.length);
    if (fit && members.length) {
      map.fitBounds(L.latLngBounds(members.map((q) => [q.lat, q.lon])).pad(0.4), {
        maxZoom: 9, paddingTopLeft: [cover[0], 0], paddingBottomRight: [0, cover[1]],
      });
    }
  };
  return { map, markers, upsert, remove, pulse, select, restyle, layers, base, plates, quakes, loadPlates, showSequence };
}

function legend() {
  const c = L.control({ position: 'bottomleft' });
  c.onAdd = () => {
    const box = L.DomUtil.create('details', 'legend');
    box.id = 'legend';
    box.open = !matchMedia('(max-width: 760px)').matches;
    const sizes = [2, 4, 6, 8].map((m) => `<span><i class="ring" data-r="${radius(m)}"></i>${m}</span>`).join('');
    box.innerHTML = '<summary>Legend</summary><p class="lt">Depth</p>'
      + DEPTHS.map(([, t], i) => `<div class="row"><span class="sw d${i}"></span>${t}</div>`).join('')
      + `<p class="lt">Magnitude</p><div class="sizes">${sizes}</div>`;
    for (const i of box.querySelectorAll('i.ring')) { const d = `${2 * Number(i.dataset.r)}px`; i.style.width = d; i.style.height = d; }
    L.DomEvent.disableClickPropagation(box);
    return box;
  };
  return c;
}

const svg = (d) => `<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false"><path d="${d}" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>`;
const ICONS = {
  home: svg('M3 11.5 12 4l9 7.5M5.5 10v9.5h13V10'),
  fullscreen: svg('M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5'),
  png: svg('M12 4v11m-5-5 5 5 5-5M5 20h14'),
};

function tools(map, { home, fullscreenTarget }) {
  const c = L.control({ position: 'topleft' });
  c.onAdd = () => {
    const bar = L.DomUtil.create('div', 'leaflet-bar tools');
    const button = (id, label, icon, onClick) => {
      const b = L.DomUtil.create('button', '', bar);
      b.type = 'button';
      b.id = id;
      b.title = label;
      b.setAttribute('aria-label', label);
      b.innerHTML = icon;
      L.DomEvent.on(b, 'click', (e) => { L.DomEvent.stop(e); onClick(b); });
      return b;
    };
    button('t-reset', 'Reset view', ICONS.home, () => { const h = home(); map.setView(h.center, h.zoom); });
    const fs = button('t-fullscreen', 'Full screen', ICONS.fullscreen, () => toggleFullscreen(fullscreenTarget, map));
    const sync = () => {
      const on = document.body.dataset.fullscreen === 'on';
      fs.setAttribute('aria-pressed', String(on));
    };
    sync();
    document.addEventListener('qs-fullscreen', sync);
    button('t-png', 'Download the map as PNG', ICONS.png, async (b) => {
      b.disabled = true;
      try { await downloadPng(map); } finally { b.disabled = false; }
    });
    L.DomEvent.disableClickPropagation(bar);
    return bar;
  };
  return c;
}

/** The Fullscreen API where there is one, else (iPhone Safari) the map fills the window with CSS. */
function toggleFullscreen(target, map) {
  const on = document.body.dataset.fullscreen === 'on';
  const set = (v) => {
    document.body.dataset.fullscreen = v ? 'on' : 'off';
    document.dispatchEvent(new Event('qs-fullscreen'));
    map.invalidateSize();
  };
  if (target.requestFullscreen && document.fullscreenEnabled) {
    if (on && document.fullscreenElement) document.exitFullscreen();
    else if (!on) target.requestFullscreen().catch(() => set(true));
    else set(false);
    return;
  }
  set(!on);
}
document.addEventListener('fullscreenchange', () => {
  document.body.dataset.fullscreen = document.fullscreenElement ? 'on' : 'off';
  document.dispatchEvent(new Event('qs-fullscreen'));
  window.dispatchEvent(new Event('resize'));
});

async function downloadPng(map) {
  const blob = await mapToPng(map);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `quakestream-map-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.png`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
