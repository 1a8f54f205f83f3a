// Browser tests of the live map in Debian's headless Chromium, driven by playwright-core.
// The page is served by the real frontend (examples/fixture.rs) on librdkafka's mock cluster
// loaded with the USGS week recording; records are produced to Kafka during the tests.
//
//   QS_FIXTURE=target/debug/examples/fixture node --test workloads/frontend/web/tests/
// (scripts/browser-test.sh builds the fixture, installs Chromium and the npm packages, and runs this.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { startFixture, produce, quake, burst, solidPng, pngSize } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../../..');
const artifacts = process.env.QS_ARTIFACTS || join(repo, 'artifacts');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// Upper bound for a failure to show up; passing tests never wait for it.
const LIMIT = 30_000;
const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };
const TILES = 'https://tile.openstreetmap.org/';

let info, browser;

before(async () => {
  info = await startFixture();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    // playwright gives every launch a fresh, empty --user-data-dir of its own (it refuses the flag).
  });
  mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close();
  await info?.stop();
});

/**
 * A page that may talk only to the frontend (and, if `tiles` is given, get that PNG for every
 * OpenStreetMap tile): anything else is recorded and refused. Collects page errors, console
 * errors, HTTP errors and Content-Security-Policy violations.
 */
async function openPage(path, { viewport = DESKTOP, colorScheme = 'light', tiles = null, wait = true, setup = null } = {}) {
  const phone = viewport.width < 700;
  const ctx = await browser.newContext({ viewport, colorScheme, isMobile: phone, hasTouch: phone, acceptDownloads: true });
  const external = [];
  await ctx.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(info.url)) return route.continue();
    if (tiles && url.startsWith(TILES)) {
      return route.fulfill({ status: 200, contentType: 'image/png', body: tiles, headers: { 'access-control-allow-origin': '*' } });
    }
    external.push(url);
    return route.abort();
  });
  const page = await ctx.newPage();
  const errors = [];
  const consoleErrors = [];
  const httpErrors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${m.text()} @ ${m.location().url}`); });
  page.on('response', (r) => { if (r.status() >= 400) httpErrors.push(`${r.status()} ${r.url()}`); });
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  if (setup) await setup(page);
  await page.goto(info.url + path);
  if (wait) await page.waitForFunction(() => document.body.dataset.loaded, null, { timeout: LIMIT });
  const problems = async () => ({
    errors, httpErrors, csp: await page.evaluate(() => window.__csp),
    // Refused tile requests are the only expected console errors (the test has no internet).
    console: consoleErrors.filter((e) => !(e.includes('net::ERR_FAILED') && e.includes(TILES))),
  });
  return { page, ctx, external, problems };
}

async function waitForStreamLive(page) {
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'live', null, { timeout: LIMIT });
}

/** Waits for a condition of the test's own (not the page's), up to LIMIT. */
async function until(cond, what) {
  const end = Date.now() + LIMIT;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const rect = (page, sel) => page.locator(sel).first().evaluate((e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
const domSize = (page) => page.evaluate(() => document.getElementsByTagName('*').length);

/** axe-core on the page as it is now; fails with the list of violations. */
async function axe(page, label) {
  await page.evaluate(axeSource); // evaluated through the DevTools protocol, so the page's CSP does not apply
  const r = await page.evaluate(() => window.axe.run(document, {
    resultTypes: ['violations'],
    // Also the (experimental) rule that found list buttons whose names did not match their text.
    rules: { 'label-content-name-mismatch': { enabled: true } },
  }));
  const found = r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length}× e.g. ${v.nodes[0].target.join(' ')} — ${v.help}`);
  assert.deepEqual(found, [], `axe-core violations on ${label}`);
}

/** Most elements the page may hold, whatever the number of events (it held 1,822 before the list was virtualised). */
const DOM_BUDGET = 700;

test('the page loads with no internet, falls back to the offline basemap and shows the events', async () => {
  const { page, ctx, external, problems } = await openPage('/?window=7d');
  const shown = Number(await page.getAttribute('#count', 'data-count'));
  assert.equal(shown, info.indexed, 'a 7-day window shows every indexed event');
  await waitForStreamLive(page);
  // The header says where the data comes from (quakestream dev: the live feed or a replay).
  await page.waitForSelector('#source:not([hidden])', { timeout: LIMIT });
  assert.equal(await page.textContent('#source'), 'Replay of the USGS week (test fixture)');
  // OpenStreetMap is the default basemap online; its tiles fail here, so the bundled one takes over.
  await page.waitForFunction(() => document.body.dataset.offlineBasemap === 'drawn', null, { timeout: LIMIT });
  assert.equal(await page.getAttribute('body', 'data-basemap'), 'offline');
  assert.match(await page.textContent('#note'), /OpenStreetMap tiles could not be loaded/);
  assert.ok(external.length > 0 && external.every((u) => u.startsWith(TILES)), `only tiles were asked for outside: ${external[0]}`);
  // The plate boundaries (PB2002, bundled) are drawn in their own pane, under the quakes.
  await page.waitForFunction(() => Number(document.body.dataset.plates) >= 229, null, { timeout: LIMIT });
  const z = await page.evaluate(() => ['plates', 'quakes'].map((p) => Number(getComputedStyle(document.querySelector(`.leaflet-${p}-pane`)).zIndex)));
  assert.ok(z[0] < z[1], `plates pane (${z[0]}) is under the quakes pane (${z[1]})`);
  assert.deepEqual(await problems(), { errors: [], httpErrors: [], csp: [], console: [] });
  const credits = await page.textContent('footer');
  for (const c of [/EMSC/, /CC BY 4\.0/, /U\.S\. Geological Survey/, /Bird \(2003\), PB2002/, /OpenStreetMap/]) assert.match(credits, c);
  assert.match(await page.textContent('.leaflet-control-attribution'), /Bird \(2003\)/);
  // A virtualised list: the DOM stays small however many events the window holds.
  const dom = await domSize(page);
  // A budget independent of the number of events (the list renders only what is in view); the
  // sequences and activity panels hold most of it.
  assert.ok(dom < DOM_BUDGET, `${dom} elements for ${shown} events`);
  const rows = await page.locator('#list li[data-unid]').count();
  assert.ok(rows > 5 && rows < 60, `${rows} rows rendered`);
  assert.equal(await page.getAttribute('#list li[data-unid] >> nth=0', 'aria-setsize'), String(shown));
  await page.screenshot({ path: join(artifacts, 'frontend-map.png') });
  // The layer control switches the plate boundaries off and on again.
  await page.hover('.leaflet-control-layers');
  const toggle = page.getByLabel('Plate boundaries (PB2002)');
  assert.equal(await toggle.isChecked(), true, 'on by default');
  await toggle.uncheck();
  await page.waitForFunction(() => !window.__qs.view.map.hasLayer(window.__qs.view.plates));
  await toggle.check();
  await page.waitForFunction(() => window.__qs.view.map.hasLayer(window.__qs.view.plates));
  await ctx.close();
});

test('online, OpenStreetMap tiles are the basemap and the offline one is not drawn', async () => {
  const { page, ctx, external, problems } = await openPage('/', { tiles: solidPng(170, 211, 223) });
  await page.waitForFunction(() => document.querySelectorAll('.osm-tiles img.leaflet-tile-loaded').length > 0, null, { timeout: LIMIT });
  assert.equal(await page.getAttribute('body', 'data-basemap'), 'osm');
  assert.equal(await page.textContent('#note'), '');
  assert.equal(await page.getAttribute('body', 'data-offline-basemap'), null, 'the bundled countries were not even fetched');
  assert.match(await page.textContent('.leaflet-control-attribution'), /OpenStreetMap/);
  assert.deepEqual(external, []);
  assert.deepEqual(await problems(), { errors: [], httpErrors: [], csp: [], console: [] });
  // Choosing the offline basemap by hand puts it in the URL, and a reload keeps it.
  await page.hover('.leaflet-control-layers');
  await page.getByLabel('Offline basemap (Natural Earth)').check();
  await page.waitForFunction(() => location.search.includes('basemap=offline'));
  await page.waitForFunction(() => document.body.dataset.offlineBasemap === 'drawn', null, { timeout: LIMIT });
  await ctx.close();
});

test('the page is served precompressed, with hashed immutable assets and a strict CSP', async () => {
  const seen = [];
  const { page, ctx } = await openPage('/', { setup: (p) => p.on('response', (r) => seen.push(r)) });
  await page.waitForFunction(() => document.body.dataset.plates, null, { timeout: LIMIT }); // loaded after the events
  const doc = seen.find((r) => r.url() === `${info.url}/`);
  const h = await doc.allHeaders();
  assert.match(h['content-security-policy'], /script-src 'self'; style-src 'self'/);
  assert.doesNotMatch(h['content-security-policy'], /unsafe-inline/);
  assert.equal(h['cache-control'], 'no-cache');
  assert.match(h.etag, /^"[0-9a-f]{24}\.br"$/);
  // Hashed names: ours (12 hex digits) and esbuild's for the chunks (8 base32 characters).
  const assets = seen.filter((r) => /\/assets\/[a-z]+-([0-9a-f]{12}|[A-Z2-7]{8})\.(js|css|json|svg)$/.test(r.url()));
  const kinds = new Set(assets.map((r) => new URL(r.url()).pathname.split('/').pop().split('-')[0]));
  for (const k of ['app', 'mapview', 'plates', 'icon']) assert.ok(kinds.has(k), `${k} loaded under a hashed name: ${[...kinds]}`);
  for (const r of assets) {
    const ah = await r.allHeaders();
    assert.equal(ah['cache-control'], 'public, max-age=31536000, immutable', r.url());
    assert.equal(ah['content-encoding'], 'br', r.url());
  }
  // A browser revalidating the page gets a 304 without a body.
  const again = await fetch(`${info.url}/`, { headers: { 'if-none-match': h.etag, 'accept-encoding': 'br' } });
  assert.equal(again.status, 304);
  await ctx.close();
});

test('list requests ask for whole minutes and no `until`, so views share the server cache', async () => {
  for (const [win, span] of [['24h', 86400e3], ['7d', 7 * 86400e3]]) {
    const requests = [];
    const { ctx } = await openPage(`/?window=${win}`, { setup: (p) => p.on('request', (r) => requests.push(r.url())) });
    const lists = requests.filter((u) => u.includes('/api/quakes?'));
    assert.equal(lists.length, 1, lists.join(' '));
    const req = { url: () => lists[0] };
    const p = new URL(req.url()).searchParams;
    assert.equal(p.get('until'), null);
    const since = Date.parse(p.get('since'));
    assert.match(p.get('since'), /T\d\d:\d\d:00Z$/, 'whole minutes, no milliseconds');
    const expected = Math.floor((Date.now() - span) / 60e3) * 60e3;
    assert.ok(Math.abs(since - expected) <= 60e3, `${p.get('since')} is the window's start rounded down`);
    await ctx.close();
  }
});

test('a magnitude and depth filter shows exactly the matching events', async () => {
  const { page, ctx } = await openPage('/?window=7d&minmag=2.5&maxdepth=70');
  const shown = Number(await page.getAttribute('#count', 'data-count'));
  const since = await page.evaluate(() => new Date(window.__qs.state.since).toISOString());
  const r = await fetch(`${info.url}/api/quakes?minmag=2.5&maxdepth=70&limit=20000&since=${encodeURIComponent(since)}`);
  const fc = await r.json();
  const expected = fc.features.filter((f) => f.properties.mag >= 2.5 && f.properties.depth_km <= 70).length;
  assert.ok(expected > 0 && expected < info.indexed, `filter should select a strict subset (${expected})`);
  assert.equal(shown, expected);
  assert.equal(await page.evaluate(() => window.__qs.view.markers.size), expected);
  for (const mag of await page.locator('#list li[data-unid] .mag').allTextContents()) assert.ok(Number(mag.replace('Magnitude ', '')) >= 2.5, mag);
  await ctx.close();
});

test('a record produced to Kafka appears without a reload', async () => {
  const { page, ctx } = await openPage('/?sort=time');
  await waitForStreamLive(page);
  const before = Number(await page.getAttribute('#count', 'data-count'));
  const unid = `qs-browser-${Date.now()}`;
  await produce(info, quake(unid, { region: 'LIVE TEST REGION' }));
  const item = page.locator(`#list li[data-unid="${unid}"]`);
  await item.waitFor({ timeout: LIMIT });
  assert.match(await item.textContent(), /LIVE TEST REGION/);
  assert.equal(Number(await page.getAttribute('#count', 'data-count')), before + 1);
  // Newest first: the new event heads the list and is highlighted.
  assert.equal(await item.getAttribute('aria-posinset'), '1');
  assert.match(await item.getAttribute('class'), /flash/);
  assert.match(await page.textContent('#last'), /Last event \d\d:\d\d:\d\d UTC/);
  await ctx.close();
});

test('a burst of 200 events in a second all appear, counted once, and the DOM stays small', async () => {
  const { page, ctx } = await openPage('/?window=7d');
  await waitForStreamLive(page);
  const before = Number(await page.getAttribute('#count', 'data-count'));
  await page.evaluate(() => {
    window.__bench = { long: [], frames: [], last: performance.now(), on: true };
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__bench.long.push(e.duration); }).observe({ type: 'longtask' });
    const tick = (t) => { const b = window.__bench; b.frames.push(t - b.last); b.last = t; if (b.on) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });
  const ids = await burst(info, `qs-burst-${Date.now()}`, 200, 1000);
  await page.waitForFunction((ids) => ids.every((id) => window.__qs.events.has(id)), ids, { timeout: LIMIT });
  await page.waitForFunction((n) => Number(document.getElementById('count').dataset.count) === n, before + 200, { timeout: LIMIT });
  const m = await page.evaluate(() => {
    const b = window.__bench; b.on = false;
    const f = b.frames.slice(1).sort((x, y) => x - y);
    return { longTasks: b.long.length, longestTaskMs: Math.round(Math.max(0, ...b.long)), frames: f.length,
      frameP95Ms: f[Math.floor(0.95 * (f.length - 1))], dom: document.getElementsByTagName('*').length };
  });
  // Timings depend on the machine: recorded, not asserted (docs/benchmarks.md has measured runs).
  writeFileSync(join(artifacts, 'frontend-burst.json'), JSON.stringify(m, null, 1));
  assert.ok(m.dom < DOM_BUDGET, `${m.dom} elements after the burst`);
  assert.ok(await page.locator('#list li[data-unid]').count() < 60);
  await ctx.close();
});

const HOUR_MS = 3600e3;
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** /api/stats, as the test reads it (not through the page). */
const stats = async (q) => (await fetch(`${info.url}/api/stats?${q}`)).json();
/** The world's current "last 24 hours" count and the sum of its hourly windows since `since`. */
async function worldNow(since) {
  const start = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
  const day = await stats(`window=24h&since=${iso(start)}&until=${iso(start + HOUR_MS)}`);
  const hours = await stats(`window=1h&since=${iso(Math.floor(since / HOUR_MS) * HOUR_MS)}`);
  return { day: day.windows[0]?.count ?? 0, hours: hours.windows.reduce((n, w) => n + w.count, 0) };
}
/** What the activity view shows now. */
const shown = (page) => page.evaluate(() => ({
  day: Number(document.getElementById('a-world-count').dataset.count),
  hours: Number(document.getElementById('a-chart').dataset.total),
}));
/**
 * Waits until /api/stats has at least `atLeast` and the page shows what /api/stats says (both
 * read again each time: the analytics runs on).
 */
async function agrees(page, since, atLeast = { day: 0, hours: 0 }) {
  const end = Date.now() + LIMIT;
  let want, got;
  do {
    [want, got] = [await worldNow(since), await shown(page)];
    const enough = want.day >= atLeast.day && want.hours >= atLeast.hours;
    if (enough && want.day === got.day && want.hours === got.hours) return want;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < end);
  assert.deepEqual(got, want, 'the activity view shows what /api/stats says');
  return want;
}

test('the activity view: hourly bars by band and the last 24 hours of the world and a region, live', async () => {
  const { page, ctx, problems } = await openPage('/?window=7d');
  await waitForStreamLive(page);
  // The chart (uPlot) comes in a chunk of its own, after the first frame, and draws on a canvas.
  await page.waitForSelector('#a-chart[data-ready="true"] canvas', { timeout: LIMIT });
  const since = await page.evaluate(() => window.__qs.state.since);
  const before = await agrees(page, since);
  assert.ok(before.day > 0 && before.hours >= before.day, `the USGS week has a last day: ${JSON.stringify(before)}`);
  assert.match(await page.textContent('#a-summary-count'), new RegExp(`^${before.day} in 24 h$`));
  // An event now, in a region of its own: the world's figures and the bars follow without a reload.
  const region = `ACTIVITY TEST ${Date.now()}`;
  const unid = `qs-activity-${Date.now()}`;
  await produce(info, quake(unid, { region, mag: 6.4 }));
  // The analytics counts it (at its next commit), and the page shows that through the stream.
  await agrees(page, since, { day: before.day + 1, hours: before.hours + 1 });
  // Selecting it shows its region's last 24 hours: one event, M 6.4; a second one arrives live.
  const item = page.locator(`#list li[data-unid="${unid}"] button`);
  await item.waitFor({ timeout: LIMIT });
  await item.click();
  await page.waitForFunction(() => document.getElementById('a-region-count').dataset.count === '1', null, { timeout: LIMIT });
  assert.equal(await page.isVisible('#a-region'), true);
  assert.match(await page.textContent('#a-region-name'), /^Activity Test \d+$/);
  assert.match(await page.textContent('#a-region-sub'), /largest M 6\.4/);
  await produce(info, quake(`${unid}-2`, { region, mag: 3.1 }));
  await page.waitForFunction(() => document.getElementById('a-region-count').dataset.count === '2', null, { timeout: LIMIT });
  // A USGS event: its region is the Flinn-Engdahl region of its coordinates (asked for with at=).
  const usgs = `us-activity-${Date.now()}`;
  await produce(info, quake(usgs, { source: 'usgs', region: null, agency: 'us', evtype: 'earthquake', lat: 19.4, lon: -155.28 }));
  const usgsItem = page.locator(`#list li[data-unid="${usgs}"] button`);
  await usgsItem.waitFor({ timeout: LIMIT });
  await usgsItem.click();
  await page.waitForFunction(() => document.getElementById('a-region-name').textContent === 'Hawaii', null, { timeout: LIMIT });
  const hawaii = await stats(`window=24h&region=HAWAII&since=${iso(Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 23 * HOUR_MS)}`);
  assert.ok(hawaii.windows[0].count >= 1);
  await page.click('#d-close');
  assert.equal(await page.isVisible('#a-region'), false, 'no selection, no region figures');
  // The region under the cursor: resting on an event of the map shows its region (the one its
  // tooltip names; events produced by other tests share the spot), leaving it hides it again.
  const spot = await page.evaluate((id) => {
    const { map } = window.__qs.view;
    const [lon, lat] = window.__qs.events.get(id).f.geometry.coordinates;
    const p = map.latLngToContainerPoint([lat, lon]);
    const r = document.getElementById('map').getBoundingClientRect();
    return { x: r.x + p.x, y: r.y + p.y };
  }, unid);
  await page.mouse.move(spot.x, spot.y);
  const tip = page.locator('.leaflet-tooltip');
  await tip.waitFor({ timeout: LIMIT });
  const under = (await tip.textContent()).split(' · ')[1].toUpperCase();
  await page.waitForFunction((r) => !document.getElementById('a-region').hidden
    && document.getElementById('a-region-name').textContent.toUpperCase() === r, under, { timeout: LIMIT });
  await page.mouse.move(5, 5);
  await page.waitForFunction(() => document.getElementById('a-region').hidden, null, { timeout: LIMIT });
  await page.screenshot({ path: join(artifacts, 'frontend-activity.png') });
  await axe(page, 'desktop, activity view');
  assert.deepEqual(await problems(), { errors: [], httpErrors: [], csp: [], console: [] });
  await ctx.close();
});

test('phone: the activity view folds away and opens to a chart that fits', async () => {
  const { page, ctx, problems } = await openPage('/?window=24h', { viewport: PHONE });
  await waitForStreamLive(page);
  await page.click('#v-list');
  assert.equal(await page.locator('#activity').evaluate((d) => d.open), false, 'folded on a phone');
  await page.waitForFunction(() => Number(document.getElementById('a-world-count').dataset.count) > 0, null, { timeout: LIMIT });
  await page.click('#activity summary');
  await page.waitForSelector('#a-chart[data-ready="true"] canvas', { timeout: LIMIT });
  const chart = await rect(page, '#a-chart canvas');
  assert.ok(chart.x >= 0 && chart.x + chart.w <= PHONE.width + 0.5, `the chart fits the screen: ${JSON.stringify(chart)}`);
  assert.ok(await page.locator('#list li[data-unid]').count() > 0, 'the list is still there below it');
  await page.screenshot({ path: join(artifacts, 'frontend-phone-activity.png') });
  await axe(page, 'phone, activity open');
  assert.deepEqual(await problems(), { errors: [], httpErrors: [], csp: [], console: [] });
  await ctx.close();
});

test('the URL round-trips the filters', async () => {
  const { page, ctx } = await openPage('/?window=3d&minmag=3.5&maxdepth=100&sort=mag');
  assert.equal(await page.inputValue('#f-window'), '3d');
  assert.equal(await page.inputValue('#f-minmag'), '3.5');
  assert.equal(await page.inputValue('#f-maxdepth'), '100');
  assert.equal(await page.inputValue('#f-sort'), 'mag');
  await page.fill('#f-minmag', '4.5');
  await page.locator('#f-minmag').dispatchEvent('change');
  await page.selectOption('#f-window', '7d');
  await page.waitForFunction(() => location.search.includes('minmag=4.5') && location.search.includes('window=7d'));
  const url = page.url();
  const second = await openPage(url.slice(info.url.length));
  assert.equal(await second.page.inputValue('#f-minmag'), '4.5');
  assert.equal(await second.page.inputValue('#f-window'), '7d');
  assert.equal(await second.page.inputValue('#f-maxdepth'), '100');
  assert.equal(await second.page.inputValue('#f-sort'), 'mag');
  // Sorted by magnitude, largest first, in the rows' own order.
  const mags = await second.page.evaluate(() => [...document.querySelectorAll('#list li[data-unid]')]
    .sort((a, b) => a.dataset.index - b.dataset.index).map((li) => Number(li.querySelector('.mag').textContent.replace('Magnitude ', ''))));
  assert.ok(mags.length > 0);
  assert.deepEqual(mags, [...mags].sort((a, b) => b - a));
  await second.ctx.close();
  await ctx.close();
});

test('the detail panel lists every revision and stays clear of the map controls', async () => {
  const { page, ctx } = await openPage('/');
  await waitForStreamLive(page);
  const unid = `qs-revised-${Date.now()}`;
  const t0 = Date.now() - 120_000;
  const time = new Date(t0).toISOString();
  for (const [i, mag] of [3.4, 4.8, 5.1].entries()) {
    await produce(info, { action: i === 0 ? 'create' : 'update', quake: quake(unid, { time, lastupdate: new Date(t0 + i * 30_000).toISOString(), mag, region: 'ICELAND' }) });
  }
  // Earlier tests pushed newer events: bring the row into view (the list renders only what is in view).
  await page.waitForFunction((id) => window.__qs.events.get(id)?.f.properties.mag === 5.1, unid, { timeout: LIMIT });
  await page.evaluate((id) => window.__qs.list.revealId(id), unid);
  const item = page.locator(`#list li[data-unid="${unid}"]`);
  assert.match(await item.locator('.mag').textContent(), /5\.1/);
  await item.locator('button').click();
  await page.waitForFunction(() => document.querySelectorAll('#d-revisions tbody tr').length === 3, null, { timeout: LIMIT });
  const rows = await page.locator('#d-revisions tbody tr').allTextContents();
  assert.match(rows[0], /5\.1/);
  assert.match(rows[2], /3\.4/);
  assert.match(await page.textContent('#d-title'), /ICELAND/);
  assert.equal(await page.getAttribute('#detail a.ext', 'href'), `https://www.seismicportal.eu/eventdetails.html?unid=${unid}`);
  assert.ok(page.url().includes(`event=${unid}`), 'the selection is in the URL');
  // Keyboard users land in the panel; Escape closes it and returns to the row.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'd-title');
  const detail = await rect(page, '#detail');
  for (const c of ['.leaflet-control-layers', '.leaflet-control-zoom', '.tools']) {
    assert.ok(!overlaps(detail, await rect(page, c)), `the detail panel does not cover ${c}`);
  }
  await axe(page, 'desktop, detail open');
  await page.screenshot({ path: join(artifacts, 'frontend-detail.png') });
  await page.keyboard.press('Escape');
  assert.equal(await page.isHidden('#detail'), true);
  assert.equal(await page.evaluate(() => document.activeElement.closest('li')?.dataset.unid), unid);
  // Phone-sized view of the same event: a bottom sheet; "Show on the map" switches to the map.
  const phone = await openPage(`/?event=${unid}`, { viewport: PHONE });
  await phone.page.waitForFunction(() => !document.getElementById('detail').hidden, null, { timeout: LIMIT });
  await phone.page.screenshot({ path: join(artifacts, 'frontend-phone-detail.png') });
  await axe(phone.page, 'phone, detail open');
  await phone.page.click('#v-list');
  await phone.page.click('#d-onmap');
  assert.equal(await phone.page.getAttribute('body', 'data-view'), 'map');
  await phone.ctx.close();
  await ctx.close();
});

test('axe-core finds no violations on desktop and phone, light and dark', async () => {
  for (const colorScheme of ['light', 'dark']) {
    const desk = await openPage('/?window=7d', { colorScheme });
    await waitForStreamLive(desk.page);
    await desk.page.waitForSelector('#source:not([hidden])', { timeout: LIMIT });
    await axe(desk.page, `desktop ${colorScheme}`);
    await desk.page.screenshot({ path: join(artifacts, `frontend-desktop-${colorScheme}.png`) });
    assert.deepEqual(await desk.problems(), { errors: [], httpErrors: [], csp: [], console: [] });
    await desk.ctx.close();
    const phone = await openPage('/?window=7d', { viewport: PHONE, colorScheme });
    await waitForStreamLive(phone.page);
    await axe(phone.page, `phone map ${colorScheme}`);
    await phone.page.screenshot({ path: join(artifacts, `frontend-phone-map-${colorScheme}.png`) });
    await phone.page.click('#v-list');
    await axe(phone.page, `phone list ${colorScheme}`);
    await phone.page.screenshot({ path: join(artifacts, `frontend-phone-list-${colorScheme}.png`) });
    assert.deepEqual(await phone.problems(), { errors: [], httpErrors: [], csp: [], console: [] });
    await phone.ctx.close();
  }
});

test('the dark theme follows the system setting, map included', async () => {
  const colours = {};
  for (const colorScheme of ['light', 'dark']) {
    const { page, ctx } = await openPage('/?basemap=offline', { colorScheme });
    await page.waitForFunction(() => document.body.dataset.offlineBasemap === 'drawn', null, { timeout: LIMIT });
    colours[colorScheme] = await page.evaluate(() => ({
      bg: getComputedStyle(document.querySelector('.side')).backgroundColor,
      ocean: getComputedStyle(document.getElementById('map')).backgroundColor,
      land: window.__qs.view.base.offline.land.getLayers()[0].options.fillColor,
    }));
    await ctx.close();
  }
  assert.equal(colours.light.bg, 'rgb(255, 255, 255)');
  for (const k of ['bg', 'ocean', 'land']) assert.notEqual(colours.dark[k], colours.light[k], k);
});

test('phone: compact header, map or list, a folded legend, credits that overlap nothing', async () => {
  const { page, ctx } = await openPage('/?window=7d', { viewport: PHONE });
  await waitForStreamLive(page);
  await page.waitForSelector('#source:not([hidden])', { timeout: LIMIT });
  const bar = await rect(page, 'header');
  assert.ok(bar.h <= 0.1 * PHONE.height, `header and replay note take ${bar.h}px`);
  assert.equal(await page.isVisible('#map'), true);
  assert.equal(await page.isVisible('#side'), false);
  assert.equal(await page.locator('#legend').evaluate((d) => d.open), false, 'the legend starts folded');
  const legend = await rect(page, '#legend');
  const attribution = await rect(page, '.leaflet-control-attribution');
  assert.ok(!overlaps(legend, attribution), 'legend and attribution side by side');
  await page.click('#legend summary');
  assert.equal(await page.locator('#legend').evaluate((d) => d.open), true);
  await page.click('#v-list');
  assert.equal(await page.getAttribute('#v-list', 'aria-pressed'), 'true');
  assert.equal(await page.isVisible('#side'), true);
  const list = await rect(page, '#list-scroll');
  const footer = await rect(page, 'footer');
  assert.ok(list.y + list.h <= footer.y + 0.5, 'the credits are below the list, not over it');
  assert.ok(footer.y + footer.h <= PHONE.height + 0.5, 'the credits are on screen');
  assert.equal(await page.locator('#filters-box').evaluate((d) => d.open), false, 'filters fold away on a phone');
  await page.click('#v-map');
  assert.equal(await page.isVisible('#side'), false);
  await ctx.close();
});

test('desktop: the legend leaves the SW Pacific visible', async () => {
  const { page, ctx } = await openPage('/?window=7d');
  const legend = await rect(page, '#legend');
  const map = await rect(page, '#map');
  // Tonga, Fiji, Kermadec and New Zealand, on the world copy that is in view.
  const points = await page.evaluate(() => {
    const m = window.__qs.view.map;
    return [[-21, -175], [-18, 178], [-30, -178], [-41, 174]].flatMap(([lat, lon]) => [lon, lon + 360, lon - 360]
      .map((x) => m.latLngToContainerPoint([lat, x])));
  });
  const inView = points.filter((p) => p.x >= 0 && p.x <= map.w && p.y >= 0 && p.y <= map.h);
  assert.ok(inView.length >= 4, 'the SW Pacific is in the first view');
  for (const p of inView) {
    assert.ok(!overlaps(legend, { x: map.x + p.x, y: map.y + p.y, w: 1, h: 1 }), `legend covers ${JSON.stringify(p)}`);
  }
  await ctx.close();
});

test('fullscreen, reset view, and the map as a PNG', async () => {
  const { page, ctx } = await openPage('/?window=7d&basemap=offline');
  await page.waitForFunction(() => document.body.dataset.offlineBasemap === 'drawn', null, { timeout: LIMIT });
  const home = await page.evaluate(() => ({ z: window.__qs.view.map.getZoom(), c: window.__qs.view.map.getCenter() }));
  await page.evaluate(() => { window.__qs.view.map.setView([35, 139], 6, { animate: false }); });
  await page.click('#t-reset');
  await page.waitForFunction((h) => { const m = window.__qs.view.map; const c = m.getCenter(); return m.getZoom() === h.z && Math.abs(c.lng - h.c.lng) < 0.5 && Math.abs(c.lat - h.c.lat) < 0.5; }, home, { timeout: LIMIT });

  await page.click('#t-fullscreen');
  await page.waitForFunction(() => document.body.dataset.fullscreen === 'on', null, { timeout: LIMIT });
  assert.equal(await page.isVisible('#side'), false);
  assert.equal(await page.getAttribute('#t-fullscreen', 'aria-pressed'), 'true');
  const map = await rect(page, '#map');
  assert.ok(map.w >= DESKTOP.width - 1, `the map fills the width (${map.w})`);
  await page.click('#t-fullscreen');
  await page.waitForFunction(() => document.body.dataset.fullscreen === 'off', null, { timeout: LIMIT });
  assert.equal(await page.isVisible('#side'), true);

  const [download] = await Promise.all([page.waitForEvent('download', { timeout: LIMIT }), page.click('#t-png')]);
  assert.match(download.suggestedFilename(), /^quakestream-map-.*\.png$/);
  const png = readFileSync(await download.path());
  const size = pngSize(png);
  const shown = await rect(page, '#map');
  assert.equal(size.width, Math.round(shown.w));
  assert.equal(size.height, Math.round(shown.h) + 22, 'the map and a line of attribution');
  assert.ok(png.length > 20_000, `a drawn map, not a blank canvas (${png.length} bytes)`);
  writeFileSync(join(artifacts, 'frontend-export.png'), png);
  await ctx.close();
});

test('the shown events download as CSV and GeoJSON', async () => {
  const { page, ctx } = await openPage('/?window=3d&minmag=1.5');
  const shown = Number(await page.getAttribute('#count', 'data-count'));
  assert.ok(shown > 0);
  const [csv] = await Promise.all([page.waitForEvent('download', { timeout: LIMIT }), page.click('#dl-csv')]);
  assert.match(csv.suggestedFilename(), /^quakes-3d-from-.*\.csv$/);
  const lines = readFileSync(await csv.path(), 'utf8').trim().split('\n');
  assert.match(lines[0], /unid/);
  assert.equal(lines.length - 1, shown);
  const [gj] = await Promise.all([page.waitForEvent('download', { timeout: LIMIT }), page.click('#dl-geojson')]);
  assert.match(gj.suggestedFilename(), /\.geojson$/);
  const fc = JSON.parse(readFileSync(await gj.path(), 'utf8'));
  assert.equal(fc.type, 'FeatureCollection');
  assert.equal(fc.features.length, shown);
  assert.ok(fc.features.every((f) => f.properties.mag >= 1.5));
  await ctx.close();
});

test('a stream that is refused says so, backs off, and comes back by itself', async () => {
  let attempts = 0;
  const refuse = (route) => { attempts++; return route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"unavailable"}' }); };
  const { page, ctx } = await openPage('/', { setup: (p) => p.route('**/api/stream*', refuse) });
  // The first wait is about a second: read the header in the same task that sees it waiting, so a
  // slow test machine cannot see the next attempt's state instead.
  const waiting = await (await page.waitForFunction(() => {
    const conn = document.getElementById('conn');
    if (conn.dataset.state !== 'waiting') return null;
    const retry = document.getElementById('retry');
    return { text: conn.textContent, retryShown: !retry.hidden && retry.getClientRects().length > 0,
      announce: document.getElementById('announce').textContent };
  }, null, { timeout: LIMIT })).jsonValue();
  assert.match(waiting.text, /^Disconnected · retrying in \d+ s$/);
  assert.equal(waiting.retryShown, true);
  assert.match(waiting.announce, /retrying/);
  // It tries again by itself, after a delay, and says so again: never "Reconnecting…" forever.
  const first = attempts;
  await until(() => attempts > first, 'a second attempt');
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'waiting', null, { timeout: LIMIT });
  // "Retry now" tries at once.
  const second = attempts;
  await page.click('#retry');
  await until(() => attempts > second, 'the attempt "Retry now" asked for');
  await page.unroute('**/api/stream*', refuse);
  await waitForStreamLive(page);
  assert.equal(await page.isVisible('#retry'), false);
  await ctx.close();
});
