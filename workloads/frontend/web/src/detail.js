// The detail panel: every field of one event, its revisions and a link to the agency's page.
import { magText, utc, ago, esc } from './format.js';

const $ = (id) => document.getElementById(id);
const agencyName = (q) => (q.source === 'emsc' ? 'EMSC' : 'USGS');

function rows(q) {
  return [
    ['Origin time', `${utc(q.time)} (${ago(q.time)})`], ['Magnitude', `${magText(q.mag)} ${q.magtype || ''}`],
    ['Depth', `${q.depth_km} km`], ['Latitude', q.lat], ['Longitude', q.lon], ['Region', q.region],
    ['Agency', q.agency], ['Event type', q.evtype], ['Source', agencyName(q)],
    ['Last update', utc(q.lastupdate)], ['Event id', q.unid],
  ].filter(([, v]) => v != null && v !== '');
}

function revisionsTable(revs) {
  const body = revs.slice().reverse().map((r) => `<tr><td>${esc(utc(r.lastupdate).replace(' UTC', ''))}</td>`
    + `<td>${esc(magText(r.mag))} ${esc(r.magtype || '')}</td><td>${esc(r.depth_km)} km</td><td>${esc(r.lat)}, ${esc(r.lon)}</td></tr>`).join('');
  return `<h3>Revisions (${revs.length})</h3><table id="d-revisions"><thead><tr><th scope="col">Updated (UTC)</th>`
    + `<th scope="col">Mag</th><th scope="col">Depth</th><th scope="col">Lat, Lon</th></tr></thead><tbody>${body}</tbody></table>`;
}

/** Loads and shows event `unid`; `current()` says whether it is still the selected one. */
export async function showDetail(unid, current) {
  let f;
  try {
    const r = await fetch(`/api/quakes/${encodeURIComponent(unid)}`);
    if (!r.ok) throw new Error(String(r.status));
    f = await r.json();
  } catch {
    if (!current()) return;
    $('d-title').textContent = 'Event not available';
    $('d-body').textContent = `Could not load ${unid}.`;
    $('detail').hidden = false;
    return;
  }
  if (!current()) return;
  const q = f.properties;
  $('d-title').textContent = `M ${magText(q.mag)} ${q.magtype ? `(${q.magtype})` : ''} — ${q.region || 'Unknown region'}`;
  $('d-body').innerHTML = `<dl>${rows(q).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`
    + revisionsTable(f.revisions || [])
    + `<a class="ext" href="${esc(q.url)}" target="_blank" rel="noopener">View on ${agencyName(q)} ↗</a>`;
  $('detail').hidden = false;
}
