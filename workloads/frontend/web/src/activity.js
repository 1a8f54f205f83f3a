// The activity view: earthquakes per hour over the shown period, stacked by magnitude band (the
// analytics' hourly windows of the world, /api/stats?window=1h), and the current "last 24 hours"
// of the world and of the selected event's region (window=24h). It follows `stats` events from the
// live stream. The chart library (uPlot) is in a chunk of its own (chart.js), loaded after the
// first frame, and only drawn while the view is open.
import { isoSeconds } from './filters.js';
import { magText, cssVar } from './format.js';

const HOUR = 3600e3;
/** Magnitude bands of the analytics, bottom of the stack first: [key in `bands`, label]. */
export const BANDS = [['lt2', 'M < 2'], ['2-4', 'M 2–4'], ['4-6', 'M 4–6'], ['ge6', 'M ≥ 6']];
/** Redraws of the chart happen at most this often, however many windows change. */
const REDRAW_MS = 500;
/** The cursor must rest on a marker this long before its region is asked for. */
const HOVER_MS = 150;

/** Start of the 24-hour window that ends with the current hour (the analytics' "last day"). */
export function currentDayStart(now = Date.now()) {
  return Math.floor(now / HOUR) * HOUR - 23 * HOUR;
}

/** Hour starts from the hour of `since` to the current hour. */
export function hoursOf(since, now = Date.now()) {
  const out = [];
  for (let t = Math.floor(since / HOUR) * HOUR; t <= now; t += HOUR) out.push(t);
  return out;
}

/**
 * The stacked series uPlot draws: x in seconds, then for each band from the top of the stack down
 * the cumulative count up to it (a bar drawn later covers the lower part of the one before).
 */
export function stacked(hours, byStart) {
  const xs = hours.map((t) => t / 1000);
  const cums = BANDS.map(() => []);
  for (const t of hours) {
    const b = byStart.get(t)?.bands;
    let sum = 0;
    BANDS.forEach(([k], i) => { sum += b ? b[k] : 0; cums[i].push(sum); });
  }
  return [xs, ...cums.reverse()];
}

export function createActivity({ root, $, since, selectedRegion }) {
  const hourly = new Map(); // window start (ms) -> record, world, 1h
  // Records pushed while a request was on its way win over its answer if they came later: each
  // pushed record gets a sequence number, each load remembers the number it started at.
  let pushes = 0;
  const pushedHours = new Map(); // start (ms) -> { rec, n }
  const pushedDay = new Map(); // 'world' or a region's name -> { rec, n }, current day only
  const newer = (entry, since) => (entry && entry.n > since ? entry.rec : null);
  let period = since();
  let dayStart = currentDayStart();
  let world = null;
  let region = null; // { key, at?, record }
  let regionWanted = null; // what is shown: the hovered event's region, else the selected one's
  let selectedWant = null; // what the selection asks for: { name } or { at }
  let hoverTimer = null;
  let chart = null;
  let chartLoading = null;
  let redrawTimer = null;
  let unavailable = false;

  const get = async (q) => {
    const r = await fetch(`/api/stats?${q}`);
    if (r.status === 503) { unavailable = true; return null; }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    unavailable = false;
    return r.json();
  };
  const dayQuery = (extra) => {
    const p = new URLSearchParams({ window: '24h', since: isoSeconds(dayStart), until: isoSeconds(dayStart + HOUR) });
    for (const [k, v] of Object.entries(extra)) p.set(k, v);
    return p;
  };

  function showFigures(prefix, record, label) {
    $(`${prefix}-name`).textContent = label;
    const n = record?.count ?? 0;
    const el = $(`${prefix}-count`);
    el.textContent = String(n);
    el.dataset.count = String(n);
    const big = record?.largest;
    const mw = record?.moment_magnitude;
    $(`${prefix}-sub`).textContent = record && n
      ? `largest M ${magText(big?.mag)}${mw != null ? ` · total moment Mw ${mw.toFixed(1)}` : ''}`
      : 'no earthquakes';
  }
  function showWorld() {
    showFigures('a-world', world, 'World');
    $('a-summary-count').textContent = world ? `${world.count} in 24 h` : '';
  }
  function showRegion() {
    const box = $('a-region');
    box.hidden = !regionWanted;
    if (!regionWanted) return;
    if (!region) { $('a-region-name').textContent = regionWanted.name || 'Region'; $('a-region-count').textContent = '…'; $('a-region-sub').textContent = ''; return; }
    showFigures('a-region', region.record, titleCase(region.key));
  }

  async function loadHourly() {
    const from = Math.floor(period / HOUR) * HOUR;
    const n0 = pushes;
    const body = await get(new URLSearchParams({ window: '1h', since: isoSeconds(from) }));
    hourly.clear();
    for (const w of body?.windows ?? []) hourly.set(Date.parse(w.start), w);
    for (const [t, e] of pushedHours) {
      if (e.n > n0) hourly.set(t, e.rec);
      else pushedHours.delete(t);
    }
    redraw();
  }
  async function loadWorld() {
    const n0 = pushes;
    const body = await get(dayQuery({}));
    world = newer(pushedDay.get('world'), n0) ?? body?.windows?.[0] ?? null;
    showWorld();
  }
  async function loadRegion() {
    const want = regionWanted;
    if (!want) { region = null; showRegion(); return; }
    const n0 = pushes;
    const body = await get(dayQuery(want.name ? { region: want.name } : { at: want.at }));
    if (want !== regionWanted) return;
    region = body ? { key: body.key, record: newer(pushedDay.get(body.key), n0) ?? body.windows[0] ?? null } : null;
    showRegion();
  }
  function showWanted(want) {
    const same = (a, b) => (a?.name ?? a?.at) === (b?.name ?? b?.at);
    if (same(want, regionWanted) && region) return;
    regionWanted = want;
    region = null;
    showRegion();
    loadRegion().catch(() => {});
  }
  const note = () => { $('a-note').textContent = unavailable ? 'Statistics are not available yet.' : ''; };
  const loadAll = () => Promise.all([loadHourly(), loadWorld(), loadRegion()]).then(note)
    .catch(() => { $('a-note').textContent = 'Could not load the statistics.'; });

  function chartData() {
    return stacked(hoursOf(period), hourly);
  }
  function total() {
    let n = 0;
    for (const t of hoursOf(period)) n += hourly.get(t)?.count ?? 0;
    return n;
  }
  function redraw() {
    if (redrawTimer) return;
    redrawTimer = setTimeout(() => {
      redrawTimer = null;
      const n = total();
      const hours = hoursOf(period).length;
      const label = `Earthquakes per hour, last ${hours} hours, by magnitude band: ${n} in all.`;
      $('a-chart').setAttribute('aria-label', label);
      $('a-chart').dataset.total = String(n);
      if (!root.open) return;
      if (chart) chart.setData(chartData());
      else ensureChart();
    }, chart ? REDRAW_MS : 0);
  }
  function ensureChart() {
    if (chart || chartLoading) return chartLoading;
    chartLoading = import('./chart.js').then(({ activityChart }) => {
      chart = activityChart($('a-chart'), chartData(), BANDS.map(([, l]) => l).reverse(), cssVar);
      $('a-chart').dataset.ready = 'true';
    });
    return chartLoading;
  }

  root.addEventListener('toggle', () => { if (root.open) { if (chart) { chart.resize(); chart.setData(chartData()); } else ensureChart(); } });
  addEventListener('resize', () => chart?.resize());

  return {
    /** After the first frame: loads everything, then the chart if the view is open. */
    start: () => loadAll().then(() => { if (root.open) ensureChart(); }),
    /** A `stats` event from the stream. */
    onStats(rec) {
      const start = Date.parse(rec.start);
      const n = ++pushes;
      if (rec.window === '1h' && rec.dimension === 'world') {
        hourly.set(start, rec);
        pushedHours.set(start, { rec, n });
        redraw();
      } else if (rec.window === '24h' && start === dayStart) {
        pushedDay.set(rec.key, { rec, n });
        if (rec.dimension === 'world') { world = rec; showWorld(); }
        else if (rec.dimension === 'region' && region && rec.key === region.key) { region.record = rec; showRegion(); }
      }
    },
    /** The page's period changed (filter, or time passing), or the stream reconnected. */
    refresh({ reload = false } = {}) {
      const p = since();
      const d = currentDayStart();
      const moved = Math.floor(p / HOUR) !== Math.floor(period / HOUR) || d !== dayStart;
      period = p;
      if (d !== dayStart) pushedDay.clear();
      dayStart = d;
      if (reload || moved) loadAll();
      else redraw();
    },
    /** The selected event changed (null: none). */
    select(feature) {
      selectedWant = selectedRegion(feature);
      showWanted(selectedWant);
    },
    /** The cursor is on an event of the map (null: left it): its region, while it stays. */
    hover(feature) {
      clearTimeout(hoverTimer);
      const want = feature ? selectedRegion(feature) : selectedWant;
      hoverTimer = setTimeout(() => showWanted(want), feature ? HOVER_MS : 0);
    },
  };
}

/** "NEAR THE COAST OF WESTERN TURKEY" -> "Near The Coast Of Western Turkey". */
function titleCase(s) {
  return String(s).toLowerCase().replace(/(^|[\s,(/-])(\p{L})/gu, (_, a, b) => a + b.toUpperCase());
}

/**
 * The region the analytics counts an event under: EMSC's `region` (a Flinn-Engdahl name), else
 * (USGS events) the Flinn-Engdahl region of its coordinates, which the server looks up (`at`).
 */
export function regionOf(f) {
  if (!f) return null;
  const q = f.properties;
  if (String(q.source).toLowerCase() === 'emsc' && q.region && q.region.trim()) return { name: q.region.trim().toUpperCase() };
  return { at: `${q.lat.toFixed(4).replace(/\.?0+$/, '')},${q.lon.toFixed(4).replace(/\.?0+$/, '')}` };
}
