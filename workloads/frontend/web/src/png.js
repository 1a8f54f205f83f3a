// "Download the map as PNG": the map as it is on screen (tiles, the offline basemap, the plate
// boundaries and the earthquakes, all canvases or CORS images), with a line of attribution.
import { cssVar } from './format.js';

/** Panes in drawing order, bottom to top. */
const PANES = ['tile', 'overlay', 'plates', 'quakes'];
const FOOTER_PX = 22;

export async function mapToPng(map) {
  const el = map.getContainer();
  const box = el.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(box.width * dpr);
  canvas.height = Math.round((box.height + FOOTER_PX) * dpr);
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.fillStyle = cssVar('--ocean');
  ctx.fillRect(0, 0, box.width, box.height);
  const draw = (img) => {
    const r = img.getBoundingClientRect();
    if (r.width && r.height) ctx.drawImage(img, r.left - box.left, r.top - box.top, r.width, r.height);
  };
  for (const pane of PANES) {
    const p = el.querySelector(`.leaflet-${pane}-pane`);
    if (!p) continue;
    // The dark theme darkens the tiles with a CSS filter; the copy gets the same.
    ctx.filter = pane === 'tile' ? getComputedStyle(p).filter || 'none' : 'none';
    for (const img of p.querySelectorAll('img.leaflet-tile-loaded, canvas')) draw(img);
  }
  ctx.filter = 'none';
  ctx.fillStyle = cssVar('--panel');
  ctx.fillRect(0, box.height, box.width, FOOTER_PX);
  ctx.fillStyle = cssVar('--ink');
  ctx.font = '12px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  const credit = el.querySelector('.leaflet-control-attribution')?.textContent || '';
  ctx.fillText(`QuakeStream · ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${credit}`, 6, box.height + FOOTER_PX / 2, box.width - 12);
  return new Promise((ok, fail) => canvas.toBlob((b) => (b ? ok(b) : fail(new Error('PNG encoding failed'))), 'image/png'));
}
