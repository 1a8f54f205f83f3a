// Main-thread CPU time of a page load, from a Chromium trace (`tdur`, the thread's CPU time, not
// wall time), so it can be compared across runs on a busy machine where wall-clock figures such as
// Lighthouse's total blocking time mostly measure the wait for a CPU. Reports every main-thread
// task's CPU time from navigation until the page is loaded (list, markers, plates, basemap) and
// idle, and what Lighthouse's mobile 4x slowdown would make of them: sum of max(0, 4 x cpu - 50 ms).
//
//   node bench/startup.mjs [--fixture PATH] [--path '/?basemap=offline'] [--runs 3] [--phone]
import { chromium } from 'playwright-core';
import { startFixture } from '../tests/support.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const path = arg('path', '/?basemap=offline');
const runs = Number(arg('runs', 3));
const phone = process.argv.includes('--phone');
const fx = await startFixture(arg('fixture'));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'] });
const rows = [];
try {
  for (let run = 0; run < runs; run++) {
    const ctx = await browser.newContext(phone ? { viewport: { width: 412, height: 823 }, isMobile: true, hasTouch: true } : { viewport: { width: 1350, height: 940 } });
    await ctx.route('**/*', (r) => (r.request().url().startsWith(fx.url) ? r.continue() : r.abort()));
    const page = await ctx.newPage();
    await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
    await page.goto(fx.url + path);
    await page.waitForFunction(() => document.body.dataset.loaded && document.body.dataset.plates
      && (document.body.dataset.basemap !== 'offline' || document.body.dataset.offlineBasemap === 'drawn'), null, { timeout: 60_000 });
    await page.waitForTimeout(1000);
    const events = JSON.parse(String(await browser.stopTracing())).traceEvents;
    const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
    const cpu = events.filter((e) => e.name === 'RunTask' && e.ph === 'X' && e.pid === main?.pid && e.tid === main?.tid)
      .map((e) => (e.tdur || 0) / 1000);
    const row = { run, path, phone, main_cpu_ms: Math.round(cpu.reduce((a, c) => a + c, 0)),
      tasks_over_12_5ms_cpu: cpu.filter((c) => c > 12.5).map(Math.round).join(' '),
      longest_task_cpu_ms: Math.round(Math.max(0, ...cpu)),
      tbt_at_4x_estimate_ms: Math.round(cpu.reduce((a, c) => a + Math.max(0, 4 * c - 50), 0)) };
    console.log(JSON.stringify(row));
    rows.push(row);
    await ctx.close();
  }
} finally {
  await browser.close();
  await fx.stop();
}
const med = (k) => { const v = rows.map((r) => r[k]).sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };
console.log(JSON.stringify({ summary: `median of ${rows.length}`, main_cpu_ms: med('main_cpu_ms'), longest_task_cpu_ms: med('longest_task_cpu_ms'), tbt_at_4x_estimate_ms: med('tbt_at_4x_estimate_ms') }));
