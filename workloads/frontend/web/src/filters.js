// The view's filters: read from and written to the URL, turned into API queries, and applied to
// pushed events the same way the server applies them to the list.

export const WINDOWS = { '1h': 3600e3, '6h': 6 * 3600e3, '24h': 86400e3, '3d': 3 * 86400e3, '7d': 7 * 86400e3 };
export const DEFAULTS = { window: '24h', minmag: '', maxmag: '', mindepth: '', maxdepth: '', sort: 'time', basemap: '' };
const NUMERIC = ['minmag', 'maxmag', 'mindepth', 'maxdepth'];
const BASEMAPS = ['', 'osm', 'offline'];
/** The most events one list request asks for (the API's maximum). */
export const LIST_LIMIT = 20000;
const MINUTE = 60e3;

/**
 * Start of a live view of `windowName`, rounded down to the whole UTC minute, so every page view in
 * the same minute asks the same question and shares the server's cached answer.
 */
export function viewSince(windowName, now = Date.now()) {
  return Math.floor((now - WINDOWS[windowName]) / MINUTE) * MINUTE;
}
export const isoSeconds = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

export function readUrl(search) {
  const p = new URLSearchParams(search);
  const f = { ...DEFAULTS };
  for (const k of Object.keys(f)) if (p.has(k)) f[k] = p.get(k).trim();
  if (!WINDOWS[f.window]) f.window = DEFAULTS.window;
  if (!['time', 'mag'].includes(f.sort)) f.sort = DEFAULTS.sort;
  if (!BASEMAPS.includes(f.basemap)) f.basemap = '';
  for (const k of NUMERIC) if (f[k] !== '' && !Number.isFinite(Number(f[k]))) f[k] = '';
  return { filters: f, selected: p.get('event') };
}

export function urlQuery(filters, selected) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v !== '' && v !== DEFAULTS[k]) p.set(k, v);
  if (selected) p.set('event', selected);
  const qs = p.toString();
  return qs ? `?${qs}` : '';
}

/** The magnitude and depth filters, as the API and the stream take them. */
export function apiFilters(filters) {
  const p = new URLSearchParams();
  for (const k of NUMERIC) if (filters[k] !== '') p.set(k, filters[k]);
  return p;
}

/** `/api/quakes` parameters of a live view: no `until`, so the server answers "up to now". */
export function listQuery(filters, since, format) {
  const p = apiFilters(filters);
  p.set('since', isoSeconds(since));
  p.set('limit', String(LIST_LIMIT));
  if (format) p.set('format', format);
  return p;
}

/** Whether a pushed feature belongs in the view that starts at `since`. */
export function matches(f, filters, since) {
  const q = f.properties;
  const { minmag, maxmag, mindepth, maxdepth } = filters;
  if ((minmag !== '' || maxmag !== '') && q.mag == null) return false;
  if (minmag !== '' && q.mag < +minmag) return false;
  if (maxmag !== '' && q.mag > +maxmag) return false;
  if (mindepth !== '' && q.depth_km < +mindepth) return false;
  if (maxdepth !== '' && q.depth_km > +maxdepth) return false;
  return Date.parse(q.time) >= since;
}
