// The charts of a chosen sequence, with uPlot (MIT): magnitude against time; the cumulative
// number of aftershocks used by the Omori–Utsu fit with the fit's expected count; and the
// frequency–magnitude distribution on a log scale with Mc and the Gutenberg–Richter line of
// the fitted b-value, ± σ. Loaded on demand (its own chunk): the page's first load does not
// pay for it. Each chart is a <figure> whose caption says in words what it shows.
import uPlot from 'uplot';

// Imports nothing of the page's own modules, so no extra shared chunk is made (and preloaded).
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

const DAY_S = 86400;
const HEIGHT = 150;
const GRID_POINTS = 120;
const charts = [];

const sec = (iso) => Date.parse(iso) / 1000;
const axisStyle = () => ({ stroke: cssVar('--muted'), grid: { stroke: cssVar('--line-soft'), width: 1 }, ticks: { stroke: cssVar('--line'), width: 1 } });

/** Expected number of events in (0, t] days after the mainshock, modified Omori law. */
export function omoriCumulative({ k, c_days: c, p }, t) {
  if (t <= 0) return 0;
  if (Math.abs(p - 1) < 1e-9) return k * Math.log((t + c) / c);
  return (k * (c ** (1 - p) - (t + c) ** (1 - p))) / (p - 1);
}

/** The fitted events' cumulative count and the Omori curve, on event times and a regular grid. */
export function cumulativeSeries(detail) {
  const s = detail.sequence;
  const o = s.stats.omori.status === 'ok' ? s.stats.omori : null;
  const t0 = sec(s.mainshock.time);
  const type = s.stats.magnitude_type;
  const mc = o ? o.mc : (s.stats.mc.status === 'ok' ? s.stats.mc.mc : -Infinity);
  const scale = (m) => (m.magtype || '').toLowerCase().replace(/^mw.*/, 'mw');
  const times = detail.members
    .filter((m) => m.mag != null && m.mag >= mc - 1e-9 && sec(m.time) > t0 && (!type || scale(m) === type))
    .map((m) => sec(m.time)).sort((a, b) => a - b);
  const end = Math.max(sec(s.last_time), sec(s.as_of), t0 + 60);
  const xs = new Set(times);
  for (let i = 0; i <= GRID_POINTS; i++) xs.add(t0 + ((end - t0) * i) / GRID_POINTS);
  const x = [...xs].sort((a, b) => a - b);
  let j = 0;
  const count = x.map((t) => { while (j < times.length && times[j] <= t) j++; return j; });
  const fit = x.map((t) => (o ? omoriCumulative(o, (t - t0) / DAY_S) : null));
  return { x, count, fit, n: times.length, mc };
}

/** Non-cumulative and cumulative counts per 0.1 bin, and the b-value lines (null below Mc). */
export function fmdSeries(stats) {
  const bins = stats.fmd;
  const x = bins.map((b) => b.mag);
  const nc = bins.map((b) => b.count || null);
  const cum = [];
  let acc = 0;
  for (let i = bins.length - 1; i >= 0; i--) { acc += bins[i].count; cum[i] = acc || null; }
  const b = stats.b_value.status === 'ok' ? stats.b_value : null;
  const line = (bv) => x.map((m) => (b && m >= b.mc - 1e-9 ? b.events * 10 ** (-bv * (m - b.mc)) : null));
  return { x, nc, cum, gr: line(b?.b), lo: line(b ? b.b - b.sigma : 0), hi: line(b ? b.b + b.sigma : 0), b };
}

function vline(value, color) {
  return (u) => {
    if (value == null) return;
    const cx = u.valToPos(value, 'x', true);
    const { ctx, bbox } = u;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.beginPath();
    ctx.moveTo(cx, bbox.top);
    ctx.lineTo(cx, bbox.top + bbox.height);
    ctx.stroke();
    ctx.restore();
  };
}

function figure(root, id, caption) {
  const f = document.createElement('figure');
  f.className = 'seq-chart';
  f.id = id;
  const holder = document.createElement('div');
  holder.setAttribute('role', 'img');
  holder.setAttribute('aria-label', caption);
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  f.append(holder, cap);
  root.append(f);
  return holder;
}

const dots = (stroke, fill) => ({ stroke, fill, paths: () => null, points: { show: true, size: 6, stroke, fill } });

/** Draws the three charts of `detail` (GET /api/sequences/{id}) into `root`, replacing any. */
export function drawCharts(root, detail) {
  for (const c of charts.splice(0)) c.destroy();
  root.textContent = '';
  const s = detail.sequence;
  const width = Math.max(240, Math.min(root.clientWidth || 480, 640));
  const accent = cssVar('--accent');
  const focus = cssVar('--focus');
  const ink = cssVar('--ink');
  const common = { width, height: HEIGHT, legend: { show: false }, cursor: { show: false }, select: { show: false } };

  const members = detail.members.filter((m) => m.mag != null);
  const mt = [members.map((m) => sec(m.time)), members.map((m) => m.mag)];
  const mtCap = `Magnitude against time: ${members.length} events from ${s.first_time.slice(0, 10)} to ${s.last_time.slice(0, 10)}; mainshock M ${s.mainshock.mag.toFixed(1)} (red line).`;
  charts.push(new uPlot({
    ...common,
    scales: { x: { time: true } },
    axes: [axisStyle(), { ...axisStyle(), label: 'Magnitude', size: 44 }],
    series: [{}, dots(focus, `${focus}88`)],
    hooks: { draw: [vline(sec(s.mainshock.time), accent)] },
  }, mt, figure(root, 'seq-mt', mtCap)));

  const cu = cumulativeSeries(detail);
  const o = s.stats.omori.status === 'ok' ? s.stats.omori : null;
  const cuCap = o
    ? `Cumulative number of aftershocks M ≥ ${cu.mc.toFixed(1)} (${cu.n}, blue) and the Omori–Utsu fit (red dashes): p = ${o.p.toFixed(2)}, c = ${o.c_days.toFixed(3)} d, K = ${o.k.toFixed(1)}.`
    : `Cumulative number of aftershocks (${cu.n}); not enough events for an Omori–Utsu fit.`;
  charts.push(new uPlot({
    ...common,
    scales: { x: { time: true } },
    axes: [axisStyle(), { ...axisStyle(), label: 'Events', size: 44 }],
    series: [{}, { stroke: focus, width: 2, paths: uPlot.paths.stepped({ align: 1 }) }, { stroke: accent, width: 2, dash: [6, 4] }],
  }, [cu.x, cu.count, cu.fit], figure(root, 'seq-omori', cuCap)));

  const fm = fmdSeries(s.stats);
  const mc = s.stats.mc.status === 'ok' ? s.stats.mc.mc : null;
  const fmCap = fm.b
    ? `Frequency–magnitude distribution (${s.stats.magnitude_type}, log scale): counts per 0.1 bin (dots) and at or above each magnitude (rings), Mc = ${mc.toFixed(1)} (dashed line) and the Gutenberg–Richter line b = ${fm.b.b.toFixed(2)} ± ${fm.b.sigma.toFixed(2)} (red, ± σ thin).`
    : `Frequency–magnitude distribution (log scale)${mc != null ? `, Mc = ${mc.toFixed(1)}` : ''}; not enough events above Mc for a b-value.`;
  if (fm.x.length) {
    charts.push(new uPlot({
      ...common,
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ ...axisStyle(), label: 'Magnitude' }, { ...axisStyle(), label: 'Events', size: 44 }],
      series: [
        {},
        dots(focus, `${focus}88`),
        { ...dots(ink, 'transparent'), points: { show: true, size: 5, stroke: ink, fill: 'transparent' } },
        { stroke: accent, width: 2 },
        { stroke: accent, width: 1, dash: [3, 3] },
        { stroke: accent, width: 1, dash: [3, 3] },
      ],
      hooks: { draw: [vline(mc, cssVar('--muted'))] },
    }, [fm.x, fm.nc, fm.cum, fm.gr, fm.lo, fm.hi], figure(root, 'seq-fmd', fmCap)));
  }
}
