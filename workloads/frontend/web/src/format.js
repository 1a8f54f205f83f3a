// Formatting shared by the list, the map and the detail panel.

/** Depth bands: [minimum depth in km, label]. The colours are CSS variables --d0 … --d4. */
export const DEPTHS = [[0, '0–35 km'], [35, '35–70 km'], [70, '70–150 km'], [150, '150–300 km'], [300, '> 300 km']];

/** Index of the depth band of `depthKm` (0 … 4). */
export function depthBand(depthKm) {
  let band = 0;
  DEPTHS.forEach(([min], i) => { if (depthKm >= min) band = i; });
  return band;
}

/** Marker radius in px for a magnitude. */
export const radius = (m) => (m == null ? 3 : Math.max(3, 1.7 * Math.pow(Math.max(m, 0) + 1, 1.2)));
export const magText = (m) => (m == null ? '–' : m.toFixed(1));
export const utc = (iso) => String(iso).replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');

export function ago(iso, now = Date.now()) {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]);

/**
 * The value of a CSS custom property on the root element (the theme's colours), read once per
 * theme: reading computed style after a DOM change forces a style recalculation, which a burst
 * of marker updates would otherwise pay for each marker.
 */
const themeCache = new Map();
export function cssVar(name) {
  if (!themeCache.has(name)) themeCache.set(name, getComputedStyle(document.documentElement).getPropertyValue(name).trim());
  return themeCache.get(name);
}
/** Forgets the cached theme (the system switched between light and dark). */
export const themeChanged = () => themeCache.clear();
