// Burst benchmark: COUNT events produced to Kafka within about a second into one open page, with
// the page's long tasks (PerformanceObserver 'longtask') and frame times (requestAnimationFrame
// deltas) recorded from just before the first record until every event is on the page.
//
//   node bench/burst.mjs [--fixture PATH] [--count 200] [--spread-ms 1000] [--window 7d] [--runs 3] [--trace]
//
// With --trace it also records a Chromium trace of the burst and reports the renderer main
// thread's CPU time (trace `tdur`): on a loaded machine a long task is mostly the renderer waiting
// for a CPU, and the CPU time says how much work the page itself did. Tracing slows the page down
// (a lot for a page that re-renders everything), so take the timings from runs without it.
//
// Starts the fixture (examples/fixture.rs: mock Kafka + dynoxide + frontend), opens the page in
// Debian's headless Chromium, and prints one JSON line per run plus a summary. Not a test: the
// numbers depend on the machine; docs/benchmarks.md records them with the load at the time.
import { chromium } from 'playwright-core';
import { startFixture, burst } from '../tests/support.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const count = Number(arg('count', 200));
const spreadMs = Number(arg('spread-ms', 1000));
const windowName = arg('window', '7d');
const runs = Number(arg('runs', 3));
const cpuThrottle = Number(arg('cpu-throttle', 1));
const trace = process.argv.includes('--trace');

const fx = await startFixture(arg('fixture'));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'] });
const results = [];
try {
  for (let run = 0; run < runs; run++) {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await ctx.route('**/*', (r) => (r.request().url().startsWith(fx.url) ? r.continue() : r.abort()));
    const page = await ctx.newPage();
    if (cpuThrottle > 1) {
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Emulation.setCPUThrottlingRate', { rate: cpuThrottle });
    }
    await page.goto(`${fx.url}/?window=${windowName}&basemap=offline`);
    await page.waitForFunction(() => document.body.dataset.loaded && document.getElementById('conn').dataset.state === 'live', null, { timeout: 60_000 });
    const before = await page.evaluate(() => document.getElementsByTagName('*').length);
    await page.evaluate(() => {
      window.__bench = { long: [], frames: [], last: performance.now(), on: true };
      new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__bench.long.push(e.duration); }).observe({ type: 'longtask' });
      const tick = (t) => { const b = window.__bench; b.frames.push(t - b.last); b.last = t; if (b.on) requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    });
    const prefix = `qs-burst-${Date.now()}-${run}`;
    if (trace) await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
    const t0 = Date.now();
    const ids = await burst(fx, prefix, count, spreadMs);
    const sent = Date.now() - t0;
    await page.waitForFunction((ids) => ids.every((id) => window.__qs.events.has(id)), ids, { timeout: 120_000, polling: 50 });
    const done = Date.now() - t0;
    const cpu = trace ? mainThreadCpu(JSON.parse(String(await browser.stopTracing())).traceEvents) : {};
    const m = await page.evaluate(() => {
      const b = window.__bench; b.on = false;
      const f = b.frames.slice(1).sort((a, c) => a - c);
      const q = (p) => f[Math.min(f.length - 1, Math.floor(p * f.length))];
      return { long_tasks: b.long.length, long_task_ms_total: Math.round(b.long.reduce((a, c) => a + c, 0)),
        long_task_ms_max: Math.round(Math.max(0, ...b.long)),
        tbt_ms: Math.round(b.long.reduce((a, c) => a + Math.max(0, c - 50), 0)),
        frames: f.length, frame_ms_p50: +q(0.5).toFixed(1), frame_ms_p95: +q(0.95).toFixed(1), frame_ms_max: +f[f.length - 1].toFixed(1),
        frames_over_50ms: f.filter((x) => x > 50).length, dom_elements: document.getElementsByTagName('*').length,
        events: window.__qs.events.size };
    });
    const r = { run, count, spread_ms: spreadMs, cpu_throttle: cpuThrottle, window: windowName, sent_ms: sent, all_shown_ms: done, dom_before: before, ...m, ...cpu };
    console.log(JSON.stringify(r));
    results.push(r);
    await ctx.close();
  }
} finally {
  await browser.close();
  await fx.stop();
}
/** CPU time of the renderer's main thread during the trace: in all tasks, and in its longest one. */
function mainThreadCpu(events) {
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const tasks = events.filter((e) => e.name === 'RunTask' && e.ph === 'X' && e.pid === main?.pid && e.tid === main?.tid);
  const cpu = tasks.map((e) => (e.tdur || 0) / 1000);
  const long = tasks.filter((e) => e.dur > 50000);
  return { main_cpu_ms_total: Math.round(cpu.reduce((a, c) => a + c, 0)), main_cpu_ms_longest_task: Math.round(Math.max(0, ...cpu)),
    long_tasks_cpu_ms: long.map((e) => Math.round((e.tdur || 0) / 1000)).join(' ') };
}
const med = (k) => { const v = results.map((r) => r[k]).sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };
console.log(JSON.stringify({ summary: 'median of runs', ...Object.fromEntries(['all_shown_ms', 'long_tasks', 'long_task_ms_total', 'long_task_ms_max', 'tbt_ms', 'frame_ms_p50', 'frame_ms_p95', 'frame_ms_max', 'frames_over_50ms', 'dom_elements', ...(trace ? ['main_cpu_ms_total', 'main_cpu_ms_longest_task'] : [])].map((k) => [k, med(k)])) }));
