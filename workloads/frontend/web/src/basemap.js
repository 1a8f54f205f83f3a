// Basemaps: OpenStreetMap tiles when online (the default), and the bundled Natural Earth
// countries as the offline fallback. If the tiles cannot be loaded (no network, blocked, or too
// slow) the page switches to the offline basemap by itself and says so.
import L from 'leaflet';
import { feature, mesh } from 'topojson-client';
import { cssVar } from './format.js';
import { yieldToPage } from './tasks.js';

/** No tile has loaded this long after OpenStreetMap was switched on: fall back. */
export const TILE_TIMEOUT_MS = 10000;
const OSM_CREDIT = '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';
const NE_CREDIT = '<a href="https://www.naturalearthdata.com/">Natural Earth</a>';

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

const landStyle = () => ({ color: cssVar('--coast'), weight: 0.6, fillColor: cssVar('--land'), fillOpacity: 1 });
const borderStyle = () => ({ color: cssVar('--border'), weight: 0.7 });

/** The offline basemap: a layer group that loads and draws the bundled countries when first shown. */
function offlineLayer(url) {
  const renderer = L.canvas();
  const group = L.layerGroup([], { attribution: `Basemap © ${NE_CREDIT}` });
  let loading = null;
  group.on('add', () => {
    loading ??= fetch(url).then((r) => r.json()).then(async (topo) => {
      await yieldToPage();
      // One MultiPolygon for all the land and one MultiLineString for the borders: two map layers
      // instead of 178 (each layer has its own projection, clipping and bookkeeping).
      const land = { type: 'MultiPolygon', coordinates: [] };
      for (const f of feature(topo, topo.objects.countries).features) {
        const g = unwrap(f.geometry);
        if (g.type === 'Polygon') land.coordinates.push(g.coordinates);
        if (g.type === 'MultiPolygon') land.coordinates.push(...g.coordinates);
      }
      await yieldToPage();
      group.land = L.geoJSON(land, { renderer, interactive: false, style: landStyle }).addTo(group);
      await yieldToPage();
      const borders = unwrap(mesh(topo, topo.objects.countries, (a, b) => a !== b));
      group.borders = L.geoJSON(borders, { renderer, interactive: false, style: borderStyle }).addTo(group);
      document.body.dataset.offlineBasemap = 'drawn';
    }).catch(() => { loading = null; });
  });
  group.restyle = () => { group.land?.setStyle(landStyle); group.borders?.setStyle(borderStyle); };
  return group;
}

/**
 * Adds both basemaps to `map` and shows one: `pref` 'osm' or 'offline', or '' for OpenStreetMap
 * when the browser is online. `onFallback(reason)` is told when the tiles failed.
 */
export function basemaps(map, { countriesUrl, pref, onFallback }) {
  const offline = offlineLayer(countriesUrl);
  const osm = L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', {
    maxZoom: 19, attribution: OSM_CREDIT, crossOrigin: 'anonymous', className: 'osm-tiles',
  });
  let loaded = 0;
  let timer = null;
  const fallBack = (reason) => {
    clearTimeout(timer);
    if (!map.hasLayer(osm)) return;
    map.removeLayer(osm);
    offline.addTo(map);
    document.body.dataset.basemap = 'offline';
    onFallback(reason);
  };
  osm.on('add', () => {
    loaded = 0;
    document.body.dataset.basemap = 'osm';
    clearTimeout(timer);
    timer = setTimeout(() => { if (!loaded) fallBack('timeout'); }, TILE_TIMEOUT_MS);
  });
  osm.on('remove', () => clearTimeout(timer));
  osm.on('tileload', () => { loaded++; });
  // 'load' fires when every tile in view has finished, loaded or failed. Leaflet goes on using the
  // layer after its handlers return, so it leaves the map a moment later.
  osm.on('load', () => { if (!loaded) setTimeout(() => { if (!loaded) fallBack('error'); }, 0); });
  offline.on('add', () => { document.body.dataset.basemap = 'offline'; });
  const useOsm = pref === 'osm' || (pref === '' && navigator.onLine !== false);
  (useOsm ? osm : offline).addTo(map);
  return { osm, offline, restyle: () => offline.restyle() };
}
