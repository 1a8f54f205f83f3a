// The events of the view, kept in display order. A pushed event moves one entry (binary search
// and a splice) instead of re-sorting everything, so a burst of pushes stays cheap.

const byTime = (a, b) => b.t - a.t || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byMag = (a, b) => b.m - a.m || byTime(a, b);

export class EventSet {
  constructor(sort) {
    /** unid -> entry {id, f, t, m, rev} */
    this.entries = new Map();
    /** entries in display order */
    this.order = [];
    this.setSort(sort);
  }

  get size() { return this.order.length; }

  setSort(sort) {
    this.cmp = sort === 'mag' ? byMag : byTime;
    this.order.sort(this.cmp);
  }

  replaceAll(features) {
    this.entries = new Map(features.map((f) => [f.id, entry(f)]));
    this.order = [...this.entries.values()].sort(this.cmp);
  }

  /** Adds or replaces one event; returns true when it is new. */
  upsert(f) {
    const old = this.entries.get(f.id);
    if (old) {
      this.order.splice(this.indexOfEntry(old), 1);
      Object.assign(old, entry(f), { rev: old.rev + 1 });
      this.insert(old);
      return false;
    }
    const e = entry(f);
    this.entries.set(f.id, e);
    this.insert(e);
    return true;
  }

  remove(id) {
    const e = this.entries.get(id);
    if (!e) return false;
    this.order.splice(this.indexOfEntry(e), 1);
    this.entries.delete(id);
    return true;
  }

  /** Removes events whose origin time is before `since`; returns their ids. */
  pruneBefore(since) {
    const gone = this.order.filter((e) => e.t < since).map((e) => e.id);
    for (const id of gone) this.remove(id);
    return gone;
  }

  indexOf(id) {
    const e = this.entries.get(id);
    return e ? this.indexOfEntry(e) : -1;
  }

  indexOfEntry(e) {
    const i = this.lowerBound(e);
    return this.order[i] === e ? i : this.order.indexOf(e);
  }

  lowerBound(e) {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(this.order[mid], e) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(e) { this.order.splice(this.lowerBound(e), 0, e); }
}

function entry(f) {
  return { id: f.id, f, t: Date.parse(f.properties.time), m: f.properties.mag ?? -99, rev: 0 };
}
