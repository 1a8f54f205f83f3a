// Aftershock sequences (docs/sequences.md): the list beside the events list, the chosen
// sequence's members on the map and its panel (facts and charts), the event detail's "part of"
// line, and live changes (SSE `sequence` events: a sequence starts, grows, changes state or ends).
// The charts (uPlot) are a chunk of their own, loaded when a sequence is first chosen.
import { magText, utc, esc } from './format.js';

const $ = (id) => document.getElementById(id);
/** Sequences listed at most (the API's default window: active in the last 30 days). */
const LIST_LIMIT = 50;
/** A chosen sequence that changes is reloaded at most this often. */
const RELOAD_MS = 2000;
const KIND = { mainshock_aftershock: 'Mainshock–aftershock', swarm: 'Swarm', multiplet: 'Multiplet' };
const BATH = { typical: 'typical', large_aftershock: 'large aftershock', small_aftershocks: 'small aftershocks' };

const fixed = (x, n = 2) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(n));
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const day = (iso) => String(iso).slice(0, 16).replace('T', ' ');
function notEnough(e) { return `not enough events (${e.events} of ${e.required})`; }

/** The facts of a sequence's panel, as [label, text] rows. */
export function facts(s) {
  const st = s.stats;
  const rows = [
    ['Type', `${KIND[s.kind] || s.kind}, ${s.state === 'open' ? 'open (new aftershocks may join)' : 'closed'}`],
    ['Mainshock', `M ${magText(s.mainshock.mag)} ${s.mainshock.magtype || ''} · ${utc(s.mainshock.time)}`],
    ['Events', `${s.members} (${s.foreshocks} before, ${s.aftershocks} after the mainshock)`],
    ['Span', `${day(s.first_time)} – ${day(s.last_time)} UTC (${fixed(s.duration_days, 1)} d)`],
    ['Last hour / day', `${s.last_hour} / ${s.last_day}`],
  ];
  if (s.largest_aftershock) rows.push(['Largest aftershock', `M ${magText(s.largest_aftershock.mag)} ${s.largest_aftershock.magtype || ''} · ${utc(s.largest_aftershock.time)}`]);
  rows.push(['Extent', `${fixed(s.extent.radius_km, 0)} km around ${fixed(s.centroid.lat, 2)}, ${fixed(s.centroid.lon, 2)}`]);
  rows.push(['Statistics on', `${st.magnitude_type || 'unknown'} (${st.events} events; ${st.excluded_events} of other scales left out)`]);
  rows.push(['Mc', st.mc.status === 'ok' ? `${fixed(st.mc.mc, 1)} (maximum curvature ${fixed(st.mc.max_curvature, 1)} + 0.2)` : notEnough(st.mc)]);
  rows.push(['b-value', st.b_value.status === 'ok' ? `${fixed(st.b_value.b)} ± ${fixed(st.b_value.sigma)} (${st.b_value.events} events ≥ Mc)` : notEnough(st.b_value)]);
  if (st.omori.status === 'ok') {
    const o = st.omori;
    rows.push(['Omori–Utsu', `p = ${fixed(o.p)}${o.sigma_p != null ? ` ± ${fixed(o.sigma_p)}` : ''}, c = ${fixed(o.c_days, 3)} d, K = ${fixed(o.k, 1)}${o.at_bound ? ' (at a bound)' : ''}`]);
    rows.push(['Next 24 h', `${fixed(o.expected_next_24h, 1)} events M ≥ ${fixed(o.mc, 1)} expected${o.expected_next_24h_sigma != null ? ` (± ${fixed(o.expected_next_24h_sigma, 1)})` : ''}`]);
  } else rows.push(['Omori–Utsu', notEnough(st.omori)]);
  if (st.bath) rows.push(["Båth's law", `ΔM = ${fixed(st.bath.delta_m, 1)} (expected ${fixed(st.bath.expected, 1)}): ${BATH[st.bath.verdict] || st.bath.verdict}${st.bath.same_magnitude_type ? '' : '; mixes magnitude scales'}`]);
  return rows;
}

function rowHtml(s, chosen) {
  const meta = `${KIND[s.kind] || s.kind} · ${plural(s.members, 'event')} · ${s.state}${s.last_day ? ` · ${s.last_day} in 24 h` : ''}`;
  return `<li data-id="${esc(s.id)}"${chosen ? ' class="selected"' : ''}><button type="button" aria-pressed="${chosen}">`
    + `<span class="mag"><span class="vh">Mainshock magnitude </span>${magText(s.mainshock.mag)}</span>`
    + `<span class="region">${esc(s.name)}</span><span class="meta">${esc(meta)}</span></button></li>`;
}

/**
 * The sequences of the page. `getView()`: a promise of the map (mapview.js); `onPickEvent(unid)`
 * selects an event (the mainshock link); `announce(text)` speaks to screen readers.
 */
export function initSequences({ getView, onPickEvent, announce }) {
  const st = { list: [], chosen: null, detail: null, seq: 0, reloadTimer: null };
  const ul = $('seq-list');

  function render() {
    const n = st.list.length;
    $('seq-count').textContent = `(${n})`;
    $('seq-box').dataset.count = String(n);
    ul.innerHTML = n ? st.list.map((s) => rowHtml(s, s.id === st.chosen)).join('')
      : '<li class="empty">No aftershock sequence in the last 30 days.</li>';
  }
  const note = (t) => { $('seq-note').textContent = t; };

  async function load() {
    try {
      const r = await fetch(`/api/sequences?limit=${LIST_LIMIT}`);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const j = await r.json();
      st.list = j.sequences;
      note(j.metadata.truncated ? `Showing the ${j.sequences.length} most recently active.` : '');
      render();
      document.body.dataset.sequences = String(st.list.length);
    } catch {
      note('Could not load the sequences; retrying on the next update.');
    }
  }

  async function choose(id, { fit = true } = {}) {
    const seq = ++st.seq;
    st.chosen = id;
    render();
    let j;
    try {
      const r = await fetch(`/api/sequences/${encodeURIComponent(id)}`);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      j = await r.json();
    } catch {
      if (seq === st.seq) note('Could not load that sequence.');
      return;
    }
    if (seq !== st.seq) return;
    st.detail = j;
    showFacts(j);
    const view = await getView();
    view?.showSequence(j.members, fit, cover(view));
    await showCharts(j, seq);
  }

  /** The pixels of the map the panel hides: on its left (wide screens) or bottom (phones). */
  function cover(view) {
    const p = $('seq-panel').getBoundingClientRect();
    const m = view.map.getContainer().getBoundingClientRect();
    if (p.width >= m.width * 0.9) return [0, Math.max(0, m.bottom - p.top)];
    return [Math.max(0, p.right - m.left), 0];
  }

  function showFacts(j) {
    const s = j.sequence;
    $('seq-title').textContent = s.name;
    $('seq-facts').innerHTML = `<dl>${facts(s).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`
      + (j.members_missing ? `<p class="note">${plural(j.members_missing, 'member')} could not be loaded.</p>` : '');
    $('seq-main').dataset.unid = s.mainshock.unid;
    $('seq-panel').hidden = false;
    document.body.dataset.sequence = s.id;
  }

  async function showCharts(j, seq) {
    const s = j.sequence;
    const { drawCharts } = await import('./seqcharts.js');
    if (seq !== st.seq) return;
    drawCharts($('seq-charts'), j);
    document.body.dataset.sequenceCharts = s.id;
  }

  function close() {
    st.seq++;
    st.chosen = null;
    st.detail = null;
    $('seq-panel').hidden = true;
    delete document.body.dataset.sequence;
    getView().then((v) => v?.showSequence([], false));
    render();
    const b = ul.querySelector('li button');
    b?.focus();
  }

  /** An SSE `sequence` event: {change: start|grow|state|end, id, sequence}. */
  function onEvent({ change, id, sequence }) {
    const i = st.list.findIndex((s) => s.id === id);
    if (change === 'end') { if (i >= 0) st.list.splice(i, 1); } else if (i >= 0) st.list[i] = sequence;
    else st.list.push(sequence);
    st.list.sort((a, b) => (a.last_time < b.last_time ? 1 : a.last_time > b.last_time ? -1 : a.id < b.id ? -1 : 1));
    if (st.list.length > LIST_LIMIT) st.list.length = LIST_LIMIT;
    render();
    document.body.dataset.sequenceChange = `${change}:${id}`;
    if (change === 'start') announce(`New aftershock sequence: ${sequence.name}`);
    if (id === st.chosen) {
      if (change === 'end') { close(); return; }
      clearTimeout(st.reloadTimer);
      st.reloadTimer = setTimeout(() => { if (st.chosen === id) choose(id, { fit: false }); }, RELOAD_MS);
    }
  }

  /** Fills the event detail's line: which sequence `unid` belongs to. */
  async function eventLine(unid, current) {
    const el = $('d-sequence');
    el.hidden = true;
    let s = null;
    try {
      const r = await fetch(`/api/sequences?event=${encodeURIComponent(unid)}&limit=1`);
      if (r.ok) s = (await r.json()).sequences[0] || null;
    } catch { /* offline: no line */ }
    if (!current()) return;
    if (!s) { el.textContent = 'Not part of any aftershock sequence.'; el.hidden = false; el.dataset.sequence = ''; return; }
    const role = s.mainshock.unid === unid ? 'the mainshock of' : 'part of';
    el.innerHTML = `This event is ${role} the sequence <button type="button" class="link" data-id="${esc(s.id)}">${esc(s.name)}</button> (${esc(plural(s.members, 'event'))}).`;
    el.dataset.sequence = s.id;
    el.hidden = false;
  }

  ul.addEventListener('click', (e) => {
    const li = e.target.closest('li[data-id]');
    if (!li) return;
    if (li.dataset.id === st.chosen) close(); else choose(li.dataset.id);
  });
  $('d-sequence').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-id]');
    if (b) choose(b.dataset.id).then(() => $('seq-title').focus());
  });
  $('seq-close').addEventListener('click', close);
  $('seq-main').addEventListener('click', () => { const u = $('seq-main').dataset.unid; if (u) onPickEvent(u); });
  return { load, choose, close, onEvent, eventLine, get state() { return st; } };
}
