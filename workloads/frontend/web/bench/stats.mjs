// /api/stats under load, on the fixture (the USGS week through the analytics): the page's three
// questions (the world's hourly windows of the last 7 days, the world's and a region's current
// 24 hours), each asked by `--clients` loops for `--seconds`. Prints requests/s and latency
// percentiles per question.
//
//   node bench/stats.mjs [--fixture PATH] [--clients 32] [--seconds 10]
import { startFixture } from '../tests/support.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const clients = Number(arg('clients', 32));
const seconds = Number(arg('seconds', 10));
const HOUR = 3600e3;
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
const fx = await startFixture(arg('fixture'));
try {
  const day = Math.floor(Date.now() / HOUR) * HOUR - 23 * HOUR;
  const week = Math.floor((Date.now() - 7 * 86400e3) / HOUR) * HOUR;
  const questions = {
    'hourly, 7 days (world)': `window=1h&since=${iso(week)}`,
    'current 24 h (world)': `window=24h&since=${iso(day)}&until=${iso(day + HOUR)}`,
    'current 24 h (at=61.2,-150.0)': `window=24h&at=61.2,-150.0&since=${iso(day)}&until=${iso(day + HOUR)}`,
  };
  for (const [name, q] of Object.entries(questions)) {
    const url = `${fx.url}/api/stats?${q}`;
    const body = await (await fetch(url)).text();
    const first = JSON.parse(body);
    const times = [];
    const end = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const r = await fetch(url);
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`${r.status} for ${url}`);
        times.push(performance.now() - t0);
      }
    }));
    times.sort((a, b) => a - b);
    const p = (q) => times[Math.floor(q * (times.length - 1))].toFixed(1);
    console.log(JSON.stringify({ question: name, windows: first.count, clients, requests_per_s: Math.round(times.length / seconds),
      p50_ms: p(0.5), p99_ms: p(0.99), body_bytes: body.length }));
  }
} finally {
  await fx.stop();
}
