// Lighthouse scores of the page, desktop and mobile, against the fixture (examples/fixture.rs).
//
//   (cd workloads/frontend/web/bench && npm ci) && node workloads/frontend/web/bench/lighthouse.mjs [--path /?window=24h] [--runs 3]
//
// Uses Debian's Chromium (CHROMIUM, default /usr/bin/chromium) headless. The machine has no
// internet, so OpenStreetMap tiles cannot load; pass a path with basemap=offline to measure the
// page as it is offline, or leave it to see the fallback (the failed tile requests count as console
// errors against best practices). Prints one JSON line per run and form factor, then the medians.
import lighthouse from 'lighthouse';
import * as chromeLauncher from 'chrome-launcher';
import { writeFileSync, mkdirSync } from 'node:fs';
import { startFixture } from '../tests/support.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const path = arg('path', '/');
const runs = Number(arg('runs', 3));
const out = arg('out', '');

const fx = await startFixture(arg('fixture'));
const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROMIUM || '/usr/bin/chromium',
  chromeFlags: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const all = [];
try {
  for (let run = 0; run < runs; run++) {
    for (const formFactor of ['mobile', 'desktop']) {
      const config = formFactor === 'desktop'
        ? (await import('lighthouse/core/config/desktop-config.js')).default
        : undefined;
      const r = await lighthouse(`${fx.url}${path}`, { port: chrome.port, output: 'html', logLevel: 'error' }, config);
      const lhr = r.lhr;
      const score = (c) => Math.round(lhr.categories[c].score * 100);
      const a = lhr.audits;
      const row = {
        run, formFactor, path,
        performance: score('performance'), accessibility: score('accessibility'),
        'best-practices': score('best-practices'), seo: score('seo'),
        fcp_ms: Math.round(a['first-contentful-paint'].numericValue), lcp_ms: Math.round(a['largest-contentful-paint'].numericValue),
        tbt_ms: Math.round(a['total-blocking-time'].numericValue), cls: +a['cumulative-layout-shift'].numericValue.toFixed(3),
        si_ms: Math.round(a['speed-index'].numericValue), dom: a['dom-size']?.numericValue,
        failed: Object.values(lhr.categories).flatMap((c) => c.auditRefs).filter((ref) => ref.weight > 0 && a[ref.id].score !== null && a[ref.id].score < 0.9).map((ref) => `${ref.id}:${a[ref.id].score}`),
      };
      console.log(JSON.stringify(row));
      all.push(row);
      if (out && run === 0) { mkdirSync(out, { recursive: true }); writeFileSync(`${out}/lighthouse-${formFactor}.html`, r.report); writeFileSync(`${out}/lighthouse-${formFactor}.json`, JSON.stringify(lhr)); }
    }
  }
} finally {
  await chrome.kill();
  await fx.stop();
}
for (const formFactor of ['mobile', 'desktop']) {
  const rows = all.filter((r) => r.formFactor === formFactor);
  const med = (k) => { const v = rows.map((r) => r[k]).sort((x, y) => x - y); return v[Math.floor(v.length / 2)]; };
  console.log(JSON.stringify({ summary: `median of ${rows.length}`, formFactor, ...Object.fromEntries(['performance', 'accessibility', 'best-practices', 'seo', 'fcp_ms', 'lcp_ms', 'tbt_ms', 'cls', 'si_ms', 'dom'].map((k) => [k, med(k)])) }));
}
