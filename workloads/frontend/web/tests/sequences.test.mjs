// Browser tests of the aftershock sequences on the page, in headless Chromium (playwright-core),
// on a fixture of its own: the bundled EMSC recording (Türkiye and the Aegean, April 2025,
// retimed to end now) on librdkafka's mock cluster, with the real analytics engine grouping it
// and the frontend tailing its quake-sequences. Run by scripts/browser-test.sh with the others.
// Also writes the README's screenshot (docs/img/sequences.png) when QS_README_SHOTS is set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { startFixture, produce, quake } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../../..');
const artifacts = process.env.QS_ARTIFACTS || join(repo, 'artifacts');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const LIMIT = 60_000;
const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };
const EMSC = join(repo, 'testdata/emsc-fdsn-2025-04-turkey-aegean-m2.5.json');
const MAINSHOCK = '20250423_0000104';
const SEQ = `seq-${MAINSHOCK}`;

let info, browser;

before(async () => {
  info = await startFixture(undefined, ['--rate-limit', '0', '--data', EMSC, '--analytics']);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close();
  await info?.stop();
});

/** A page that talks only to the frontend; collects page errors, HTTP errors and CSP violations. */
async function openPage(path, { viewport = DESKTOP, colorScheme = 'light' } = {}) {
  const phone = viewport.width < 700;
  const ctx = await browser.newContext({ viewport, colorScheme, isMobile: phone, hasTouch: phone });
  await ctx.route('**/*', (route) => (route.request().url().startsWith(info.url) ? route.continue() : route.abort()));
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.goto(info.url + path);
  await page.waitForFunction(() => document.body.dataset.loaded && document.body.dataset.sequences, null, { timeout: LIMIT });
  const problems = async () => ({ errors, csp: await page.evaluate(() => window.__csp) });
  return { page, ctx, problems };
}

async function axe(page, label) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const found = r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length}× e.g. ${v.nodes[0].target.join(' ')} — ${v.help}`);
  assert.deepEqual(found, [], `axe-core violations on ${label}`);
}

async function choose(page) {
  await page.click(`#seq-list li[data-id="${SEQ}"] button`);
  await page.waitForFunction((id) => document.body.dataset.sequenceCharts === id, SEQ, { timeout: LIMIT });
}

test('the Marmara Sea sequence is listed, and choosing it shows its members and charts', async () => {
  const { page, ctx, problems } = await openPage('/?window=7d');
  const row = page.locator(`#seq-list li[data-id="${SEQ}"]`);
  assert.match(await row.textContent(), /WESTERN TURKEY M6\.2 \d{4}-\d{2}-\d{2}/);
  assert.match(await row.textContent(), /Mainshock–aftershock/);
  await choose(page);
  assert.equal(await page.getAttribute(`#seq-list li[data-id="${SEQ}"] button`, 'aria-pressed'), 'true');
  assert.match(await page.textContent('#seq-title'), /^WESTERN TURKEY M6\.2 \d{4}-\d{2}-\d{2}$/);
  const facts = await page.textContent('#seq-facts');
  assert.match(facts, /b-value\s*[01]\.\d\d ± 0\.\d\d/);
  assert.match(facts, /Omori–Utsu\s*p = [01]\.\d\d/);
  assert.match(facts, /Mc\s*3\.0/);
  // Every member is ringed on the map, also those outside the list's 7-day window.
  const members = await page.evaluate(() => window.__qs.seqs.state.detail.sequence.members);
  assert.ok(members >= 130, `${members} members`);
  assert.equal(Number(await page.getAttribute('body', 'data-sequence-rings')), members);
  // Three charts, each a drawn canvas with a caption saying what it shows.
  for (const [id, cap] of [['seq-mt', /Magnitude against time/], ['seq-omori', /Omori–Utsu fit/], ['seq-fmd', /b = \d\.\d\d ± \d\.\d\d/]]) {
    assert.match(await page.textContent(`#${id} figcaption`), cap);
    const drawn = await page.$eval(`#${id} canvas`, (c) => c.width > 0 && c.height > 0);
    assert.ok(drawn, `${id} is drawn`);
  }
  // The b-value line is on a log axis: the FMD chart's y scale is logarithmic.
  assert.equal(await page.evaluate(() => document.querySelectorAll('#seq-charts .uplot').length), 3);
  await axe(page, 'desktop, sequence chosen');
  await page.screenshot({ path: join(artifacts, 'frontend-sequence.png') });
  if (process.env.QS_README_SHOTS) {
    // The README's picture: a smaller window, the whole panel in view.
    await page.setViewportSize({ width: 1200, height: 1020 });
    await page.click('#seq-close');
    await choose(page);
    await page.screenshot({ path: join(repo, 'docs/img/sequences.png'), type: 'png' });
  }
  // The chunk with the charts was loaded only now, and nothing broke.
  assert.deepEqual(await problems(), { errors: [], csp: [] });
  // Closing gives the map back and removes the rings.
  await page.click('#seq-close');
  await page.waitForFunction(() => document.getElementById('seq-panel').hidden && document.body.dataset.sequenceRings === '0');
  await ctx.close();
});

test('the event detail says which sequence an event belongs to, and links to it', async () => {
  const { page, ctx } = await openPage(`/?window=7d&event=${MAINSHOCK}`);
  await page.waitForFunction((id) => document.getElementById('d-sequence').dataset.sequence === id, SEQ, { timeout: LIMIT });
  assert.match(await page.textContent('#d-sequence'), /mainshock of the sequence WESTERN TURKEY M6\.2 \d{4}-\d{2}-\d{2}/);
  await axe(page, 'desktop, detail of a sequence member');
  await page.click('#d-sequence button');
  await page.waitForFunction((id) => document.body.dataset.sequenceCharts === id, SEQ, { timeout: LIMIT });
  // An event far from every sequence's window says it is in none.
  const other = await page.evaluate(async () => {
    const ids = new Set();
    for (const s of (await (await fetch('/api/sequences')).json()).sequences) {
      const d = await (await fetch(`/api/sequences/${s.id}`)).json();
      for (const m of d.members) ids.add(m.unid);
    }
    return [...window.__qs.events.keys()].find((u) => !ids.has(u));
  });
  assert.ok(other, 'an event outside every sequence is listed');
  await page.goto(`${info.url}/?window=7d&event=${other}`);
  await page.waitForFunction(() => document.getElementById('d-sequence').dataset.sequence === '', null, { timeout: LIMIT });
  assert.equal(await page.textContent('#d-sequence'), 'Not part of any aftershock sequence.');
  await ctx.close();
});

test('a new aftershock arrives live: the sequence grows on the page without a reload', async () => {
  const { page, ctx } = await openPage('/?window=7d');
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'live', null, { timeout: LIMIT });
  await choose(page);
  const before = await page.evaluate(() => window.__qs.seqs.state.detail.sequence.members);
  // Close to the mainshock (40.83 N, 28.23 E), now: inside its window.
  await produce(info, quake('seqtest-aftershock-1', { lat: 40.85, lon: 28.2, mag: 3.4, magtype: 'ml', region: 'WESTERN TURKEY' }));
  await page.waitForFunction((id) => document.body.dataset.sequenceChange === `grow:${id}`, SEQ, { timeout: LIMIT });
  await page.waitForFunction((n) => window.__qs.seqs.state.detail?.sequence.members === n + 1, before, { timeout: LIMIT });
  assert.match(await page.textContent(`#seq-list li[data-id="${SEQ}"]`), new RegExp(`${before + 1} events`));
  await ctx.close();
});

test('offline, the chosen sequence stays readable; phone layout and dark theme are axe-clean', async () => {
  const { page, ctx } = await openPage('/?window=7d');
  await choose(page);
  await ctx.setOffline(true);
  await page.waitForFunction(() => document.getElementById('conn').dataset.state !== 'live', null, { timeout: LIMIT });
  assert.equal(await page.isVisible('#seq-panel'), true);
  assert.equal(await page.evaluate(() => document.querySelectorAll('#seq-charts canvas').length > 0), true);
  await ctx.close();
  for (const colorScheme of ['light', 'dark']) {
    const phone = await openPage('/?window=7d', { viewport: PHONE, colorScheme });
    await phone.page.click('#v-list');
    assert.equal(await phone.page.isVisible('#seq-box'), true, 'the sequences list is in the phone list view');
    await choose(phone.page);
    const box = await phone.page.locator('#seq-panel').boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width + 1, `the panel fits the phone's width (${JSON.stringify(box)})`);
    const chart = await phone.page.locator('#seq-fmd').boundingBox();
    assert.ok(chart.width <= PHONE.width, `the charts fit (${chart.width}px)`);
    await axe(phone.page, `phone, sequence chosen, ${colorScheme}`);
    await phone.page.screenshot({ path: join(artifacts, `frontend-phone-sequence-${colorScheme}.png`) });
    await phone.ctx.close();
  }
});
