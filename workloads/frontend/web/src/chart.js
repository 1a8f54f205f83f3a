// The activity chart (uPlot, in a chunk of its own): stacked hourly bars, one colour per
// magnitude band. `data` is activity.js's stacked(): x, then cumulative counts from the top band
// down; `labels` the bands in that order. `colour(name)` reads a theme colour (format.js's
// cssVar, passed in so this chunk imports nothing of the page's and adds no shared chunk).
import uPlot from 'uplot';

const HEIGHT = 150;
/** Band colours, top of the stack first (CSS variables, light and dark themes). */
const COLOURS = ['--b3', '--b2', '--b1', '--b0'];

export function activityChart(el, data, labels, cssVar) {
  const bars = uPlot.paths.bars({ size: [0.9, 40], align: 1 });
  const width = () => Math.max(200, el.clientWidth);
  const opts = {
    width: width(),
    height: HEIGHT,
    legend: { show: false },
    // Hours in UTC, like every time on the page.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { y: false, points: { show: false }, drag: { x: false, y: false } },
    // Each bar covers its hour, from x to x + 1 h: the axis ends an hour after the last start.
    scales: { x: { time: true, range: (u, min, max) => [min, max + 3600] }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
    axes: [
      { stroke: cssVar('--muted'), grid: { show: false }, ticks: { stroke: cssVar('--line') }, font: '11px system-ui, sans-serif' },
      { stroke: cssVar('--muted'), grid: { stroke: cssVar('--line-soft') }, ticks: { show: false }, size: 34, font: '11px system-ui, sans-serif' },
    ],
    series: [
      { value: (u, v) => (v == null ? '' : new Date(v * 1000).toISOString().slice(0, 13).replace('T', ' ') + ':00 UTC') },
      ...labels.map((label, i) => ({
        label, fill: cssVar(COLOURS[i]), stroke: cssVar(COLOURS[i]), width: 0, paths: bars, points: { show: false },
      })),
    ],
  };
  const u = new uPlot(opts, data, el);
  return {
    setData: (d) => u.setData(d),
    resize: () => u.setSize({ width: width(), height: HEIGHT }),
  };
}
