// The event list, virtualised: only the rows in view (plus a few either side) are in the DOM, so
// a 20,000-event window costs a few dozen elements and a pushed event re-renders only those rows.
// Rows have one fixed height (--row-h in app.css); each says where it sits (aria-posinset/setsize).
import { depthBand, magText, utc, esc } from './format.js';

/** Rows rendered above and below the visible ones. */
const OVERSCAN = 6;
/** How long a new event's row stays highlighted (the CSS animation's length). */
export const FLASH_MS = 4000;
const KEYS = ['ArrowDown', 'ArrowUp', 'Home', 'End', 'PageDown', 'PageUp'];

function rowHtml(f) {
  const q = f.properties;
  const region = q.region || 'Unknown region';
  return `<button type="button"><span class="mag d${depthBand(q.depth_km)}"><span class="vh">Magnitude </span>${magText(q.mag)}</span>`
    + `<span class="region">${esc(region)}</span>`
    + `<span class="meta">${esc(utc(q.time))} · ${Math.round(q.depth_km)} km · ${esc(q.agency || q.source)}</span></button>`;
}

export class VirtualList {
  constructor(scroller, ul, { onSelect }) {
    this.scroller = scroller;
    this.ul = ul;
    this.onSelect = onSelect;
    this.set = null;
    this.rows = new Map(); // unid -> li
    this.flash = new Map(); // unid -> time the highlight ends
    this.selected = null;
    this.queued = false;
    this.rowH = parseFloat(getComputedStyle(ul).getPropertyValue('--row-h')) || 58;
    scroller.addEventListener('scroll', () => this.refresh(), { passive: true });
    ul.addEventListener('click', (e) => {
      const li = e.target.closest('li[data-unid]');
      if (li) this.onSelect(li.dataset.unid);
    });
    ul.addEventListener('keydown', (e) => this.key(e));
    new ResizeObserver(() => this.refresh()).observe(scroller);
  }

  setData(set) { this.set = set; this.refresh(); }

  markNew(id) { this.flash.set(id, Date.now() + FLASH_MS); }

  setSelected(id) { this.selected = id; this.refresh(); }

  /** Renders on the next frame; many calls in one frame render once. */
  refresh() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => { this.queued = false; this.render(); });
  }

  range() {
    const n = this.set ? this.set.size : 0;
    const top = this.scroller.scrollTop;
    const first = Math.max(0, Math.floor(top / this.rowH) - OVERSCAN);
    const last = Math.min(n - 1, Math.ceil((top + this.scroller.clientHeight) / this.rowH) + OVERSCAN);
    return [first, last, n];
  }

  render() {
    const [first, last, n] = this.range();
    const now = Date.now();
    for (const [id, until] of this.flash) if (until < now) this.flash.delete(id);
    this.ul.style.height = `${Math.max(n, 1) * this.rowH}px`;
    const keep = new Set();
    for (let i = first; i <= last; i++) {
      const e = this.set.order[i];
      keep.add(e.id);
      this.row(e, i, n);
    }
    for (const [id, li] of this.rows) {
      if (!keep.has(id) && !li.contains(document.activeElement)) { li.remove(); this.rows.delete(id); }
    }
    this.empty(n === 0);
  }

  row(e, i, n) {
    let li = this.rows.get(e.id);
    if (!li) {
      li = document.createElement('li');
      li.dataset.unid = e.id;
      this.rows.set(e.id, li);
      this.ul.appendChild(li);
    }
    if (li.dataset.rev !== String(e.rev) || !li.firstChild) {
      const focused = li.contains(document.activeElement);
      li.innerHTML = rowHtml(e.f);
      li.dataset.rev = String(e.rev);
      if (focused) li.firstChild.focus();
    }
    li.dataset.index = String(i);
    li.style.transform = `translateY(${i * this.rowH}px)`;
    li.setAttribute('aria-posinset', String(i + 1));
    li.setAttribute('aria-setsize', String(n));
    li.classList.toggle('selected', e.id === this.selected);
    li.classList.toggle('flash', this.flash.has(e.id));
  }

  empty(on) {
    let li = this.ul.querySelector('li.empty');
    if (on && !li) {
      li = document.createElement('li');
      li.className = 'empty';
      li.textContent = 'No earthquakes match these filters.';
      this.ul.appendChild(li);
    } else if (!on && li) li.remove();
  }

  /** Scrolls so row `i` is in view. */
  reveal(i) {
    const top = i * this.rowH;
    const s = this.scroller;
    if (top < s.scrollTop) s.scrollTop = top;
    else if (top + this.rowH > s.scrollTop + s.clientHeight) s.scrollTop = top + this.rowH - s.clientHeight;
  }

  revealId(id) {
    const i = this.set ? this.set.indexOf(id) : -1;
    if (i >= 0) { this.reveal(i); this.render(); }
  }

  focusIndex(i) {
    this.reveal(i);
    this.render();
    this.rows.get(this.set.order[i].id)?.querySelector('button')?.focus();
  }

  key(e) {
    if (!KEYS.includes(e.key) || !this.set?.size) return;
    const li = document.activeElement?.closest('li[data-unid]');
    const i = li ? Number(li.dataset.index) : -1;
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / this.rowH) - 1);
    const step = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page }[e.key];
    const n = this.set.size;
    const j = e.key === 'Home' ? 0 : e.key === 'End' ? n - 1 : Math.min(Math.max(i + step, 0), n - 1);
    e.preventDefault();
    this.focusIndex(j);
  }
}
