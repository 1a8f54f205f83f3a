// Browser tests of the live map in Debian's headless Chromium, driven by playwright-core.
// The page is served by the real frontend (examples/fixture.rs) on librdkafka's mock cluster
// loaded with the USGS week recording; records are produced to Kafka during the tests.
//
//   QS_FIXTURE=target/debug/examples/fixture node --test workloads/frontend/web/tests/
// (scripts/browser-test.sh builds the fixture, installs Chromium and the npm packages, and runs this.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../../..');
const fixturePath = process.env.QS_FIXTURE || join(repo, 'target/debug/examples/fixture');
const artifacts = process.env.QS_ARTIFACTS || join(repo, 'artifacts');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
// Upper bound for a failure to show up; passing tests never wait for it.
const LIMIT = 30_000;

let fixture, info, browser;
const external = [];

before(async () => {
  fixture = spawn(fixturePath, ['--rate-limit', '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: fixture.stdout });
  info = await new Promise((ok, fail) => {
    fixture.once('exit', (code) => fail(new Error(`fixture exited with ${code}`)));
    lines.on('line', (l) => { try { const v = JSON.parse(l); if (v.url) ok(v); } catch { /* log line */ } });
  });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    // playwright gives every launch a fresh, empty --user-data-dir of its own (it refuses the flag).
  });
});

after(async () => {
  await browser?.close();
  fixture?.stdin.end();
  if (fixture && fixture.exitCode === null) await new Promise((r) => fixture.once('exit', r));
});

/** A page that may talk only to the frontend: anything else is recorded and refused. */
async function openPage(path, viewport = { width: 1440, height: 900 }) {
  const ctx = await browser.newContext({ viewport });
  await ctx.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(info.url)) return route.continue();
    external.push(url);
    return route.abort();
  });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(info.url + path);
  await page.waitForFunction(() => document.body.dataset.loaded, null, { timeout: LIMIT });
  return { page, ctx, errors };
}

async function produce(body) {
  const r = await fetch(`${info.control}/produce`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200, await r.text());
}

function quake(unid, over = {}) {
  const now = new Date().toISOString();
  return { unid, time: now, lastupdate: now, lat: 38.1, lon: 21.4, depth_km: 12, mag: 5.6, magtype: 'mw',
    region: 'SOUTHERN GREECE', agency: 'EMSC', evtype: 'ke', source: 'emsc', ...over };
}

async function waitForStreamLive(page) {
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'live', null, { timeout: LIMIT });
}

test('the page loads with no internet and shows the events of the window', async () => {
  const { page, ctx, errors } = await openPage('/?window=7d');
  const shown = Number(await page.getAttribute('#count', 'data-count'));
  assert.equal(shown, info.indexed, 'a 7-day window shows every indexed event');
  await waitForStreamLive(page);
  // The header says where the data comes from (quakestream dev: the live feed or a replay).
  await page.waitForSelector('#source:not([hidden])', { timeout: LIMIT });
  assert.equal(await page.textContent('#source'), 'Replay of the USGS week (test fixture)');
  // The basemap is bundled: the countries layer is drawn without any outside request.
  await page.waitForFunction(() => Object.keys(window.__qs).length && document.querySelectorAll('.leaflet-overlay-pane canvas').length > 0);
  // The plate boundaries (PB2002, bundled) are drawn as SVG paths in their own pane, under the quakes.
  await page.waitForFunction(() => document.querySelectorAll('.leaflet-plates-pane path').length > 0, null, { timeout: LIMIT });
  const platePaths = await page.locator('.leaflet-plates-pane path').count();
  assert.ok(platePaths >= 229, `every PB2002 segment is drawn (${platePaths} paths)`);
  const z = await page.evaluate(() => ['plates', 'quakes'].map((p) => Number(getComputedStyle(document.querySelector(`.leaflet-${p}-pane`)).zIndex)));
  assert.ok(z[0] < z[1], `plates pane (${z[0]}) is under the quakes pane (${z[1]})`);
  assert.deepEqual(external, [], 'no request left the frontend');
  assert.deepEqual(errors, []);
  const credits = await page.textContent('footer');
  assert.match(credits, /EMSC/);
  assert.match(credits, /CC BY 4\.0/);
  assert.match(credits, /U\.S\. Geological Survey/);
  assert.match(credits, /Bird \(2003\), PB2002/);
  assert.match(await page.textContent('.leaflet-control-attribution'), /Bird \(2003\)/);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'frontend-map.png') });
  // The layer control switches the plate boundaries off and on again.
  await page.hover('.leaflet-control-layers');
  const toggle = page.getByLabel('Plate boundaries (PB2002)');
  assert.equal(await toggle.isChecked(), true, 'on by default');
  await toggle.uncheck();
  await page.waitForFunction(() => document.querySelectorAll('.leaflet-plates-pane path').length === 0, null, { timeout: LIMIT });
  await toggle.check();
  await page.waitForFunction(() => document.querySelectorAll('.leaflet-plates-pane path').length > 0, null, { timeout: LIMIT });
  await ctx.close();
});

test('a magnitude and depth filter shows exactly the matching events', async () => {
  const { page, ctx } = await openPage('/?window=7d&minmag=2.5&maxdepth=70');
  const shown = Number(await page.getAttribute('#count', 'data-count'));
  const since = await page.evaluate(() => new Date(Date.now() - 7 * 86400e3).toISOString());
  const r = await fetch(`${info.url}/api/quakes?minmag=2.5&maxdepth=70&limit=20000&since=${encodeURIComponent(since)}`);
  const fc = await r.json();
  const expected = fc.features.filter((f) => f.properties.mag >= 2.5 && f.properties.depth_km <= 70).length;
  assert.ok(expected > 0 && expected < info.indexed, `filter should select a strict subset (${expected})`);
  assert.equal(shown, expected);
  assert.equal(await page.locator('#list li[data-unid]').count(), Math.min(expected, 2000));
  for (const mag of await page.locator('#list li[data-unid] .mag').allTextContents()) assert.ok(Number(mag) >= 2.5, mag);
  await ctx.close();
});

test('a record produced to Kafka appears without a reload', async () => {
  const { page, ctx } = await openPage('/?sort=time');
  await waitForStreamLive(page);
  const before = Number(await page.getAttribute('#count', 'data-count'));
  const unid = `qs-browser-${Date.now()}`;
  await produce(quake(unid, { region: 'LIVE TEST REGION' }));
  const item = page.locator(`#list li[data-unid="${unid}"]`);
  await item.waitFor({ timeout: LIMIT });
  assert.match(await item.textContent(), /LIVE TEST REGION/);
  assert.equal(Number(await page.getAttribute('#count', 'data-count')), before + 1);
  // Newest first: the new event heads the list and is highlighted.
  assert.equal(await page.locator('#list li[data-unid]').first().getAttribute('data-unid'), unid);
  assert.match(await item.getAttribute('class'), /flash/);
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
  // Sorted by magnitude, largest first.
  const mags = (await second.page.locator('#list li[data-unid] .mag').allTextContents()).map(Number);
  assert.ok(mags.length > 0);
  assert.deepEqual(mags, [...mags].sort((a, b) => b - a));
  await second.ctx.close();
  await ctx.close();
});

test('the detail panel lists every revision', async () => {
  const { page, ctx } = await openPage('/');
  await waitForStreamLive(page);
  const unid = `qs-revised-${Date.now()}`;
  const t0 = Date.now() - 120_000;
  const time = new Date(t0).toISOString();
  for (const [i, mag] of [3.4, 4.8, 5.1].entries()) {
    await produce({ action: i === 0 ? 'create' : 'update', quake: quake(unid, { time, lastupdate: new Date(t0 + i * 30_000).toISOString(), mag, region: 'ICELAND' }) });
  }
  const item = page.locator(`#list li[data-unid="${unid}"]`);
  await item.locator('.mag', { hasText: '5.1' }).waitFor({ timeout: LIMIT });
  await item.locator('button').click();
  await page.waitForFunction(() => document.querySelectorAll('#d-revisions tbody tr').length === 3, null, { timeout: LIMIT });
  const rows = await page.locator('#d-revisions tbody tr').allTextContents();
  assert.match(rows[0], /5\.1/);
  assert.match(rows[2], /3\.4/);
  assert.match(await page.textContent('#d-title'), /ICELAND/);
  assert.equal(await page.getAttribute('#detail a.ext', 'href'), `https://www.seismicportal.eu/eventdetails.html?unid=${unid}`);
  assert.ok(page.url().includes(`event=${unid}`), 'the selection is in the URL');
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'frontend-detail.png') });
  // Phone-sized view of the same page, for the record.
  const phone = await openPage(`/?event=${unid}`, { width: 390, height: 844 });
  await phone.page.waitForFunction(() => !document.getElementById('detail').hidden, null, { timeout: LIMIT });
  await phone.page.screenshot({ path: join(artifacts, 'frontend-phone.png') });
  await phone.ctx.close();
  await ctx.close();
});
