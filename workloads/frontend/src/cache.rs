//! The response cache of `/api/quakes`: rendered bodies (and their gzip copies) keyed by the
//! parsed request, bounded in bytes.
//!
//! An entry is valid while the index version it was built from is current (and, for a window
//! that ends "now", for [`OPEN_ENDED_TTL`]). Every byte an entry holds counts against the
//! budget: the body, the gzip copy once some client asked for it, the key and a fixed overhead.
//! When an insert goes over the budget the least recently used entries go; an entry bigger than
//! a quarter of the budget is served but never cached. So however many distinct requests arrive
//! (distinct filters, limits, windows), the cache never holds more than its budget.

use crate::params::{Format, ListKey};
use bytes::Bytes;
use hashlink::LruCache;
use parking_lot::Mutex;
use prometheus::{IntCounterVec, IntGauge};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long an answer for a window that ends "now" is reused while the index is unchanged.
pub const OPEN_ENDED_TTL: Duration = Duration::from_secs(1);
/// The default byte budget (`--cache-bytes`).
pub use quakestream_contract::frontend::DEFAULT_CACHE_BYTES;
/// What an entry costs besides its bodies and key (map slot, LRU links, header values).
const ENTRY_OVERHEAD: usize = 256;

/// A rendered list response. Cheap to clone: the bodies are shared.
#[derive(Clone)]
pub struct Cached {
    pub version: u64,
    pub built: Instant,
    pub body: Bytes,
    gzip: Arc<OnceLock<Bytes>>,
    pub etag: axum::http::HeaderValue,
    pub next: Option<String>,
    pub format: Format,
}

impl Cached {
    pub fn new(body: String, next: Option<String>, format: Format, version: u64) -> Cached {
        let etag = axum::http::HeaderValue::from_str(&format!("W/\"{:016x}\"", fnv1a(body.as_bytes())))
            .expect("hex is a valid header");
        Cached {
            version,
            built: Instant::now(),
            body: Bytes::from(body),
            gzip: Arc::default(),
            etag,
            next,
            format,
        }
    }

    /// Whether it may still be served for a request built at index version `version`.
    pub fn fresh(&self, version: u64, open_ended: bool) -> bool {
        self.version == version && (!open_ended || self.built.elapsed() < OPEN_ENDED_TTL)
    }

    pub fn has_gzip(&self) -> bool {
        self.gzip.get().is_some()
    }

    /// The gzipped body, made once (by the first client that accepts gzip) and shared by every
    /// clone of the entry.
    pub fn gzipped(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            use std::io::Write as _;
            // Level 6 (zlib's default): about 12x smaller GeoJSON for a few ms, paid once per version.
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(self.body.len() / 8 + 64),
                flate2::Compression::default(),
            );
            enc.write_all(&self.body).expect("writing to a Vec cannot fail");
            Bytes::from(enc.finish().expect("writing to a Vec cannot fail"))
        })
    }

    fn bytes(&self) -> usize {
        self.body.len() + self.gzip.get().map_or(0, Bytes::len) + self.next.as_ref().map_or(0, String::len)
    }
}

/// FNV-1a, 64 bit: stable across processes, so replicas give the same ETag for the same body.
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

struct Slot {
    entry: Cached,
    weight: usize,
}

struct Inner {
    map: LruCache<ListKey, Slot>,
    bytes: usize,
}

/// Gauges and counters of the cache (`quakestream_frontend_response_cache_*`).
#[derive(Clone)]
pub struct CacheMetrics {
    pub bytes: IntGauge,
    pub entries: IntGauge,
    /// `outcome`: hit, miss, evicted, too_large.
    pub events: IntCounterVec,
}

pub struct ResponseCache {
    inner: Mutex<Inner>,
    budget: usize,
    metrics: CacheMetrics,
}

impl ResponseCache {
    pub fn new(budget: usize, metrics: CacheMetrics) -> Self {
        ResponseCache {
            inner: Mutex::new(Inner {
                map: LruCache::new_unbounded(),
                bytes: 0,
            }),
            budget,
            metrics,
        }
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes held now (what the `bytes` gauge shows).
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// The entry for `key` if it is still fresh.
    pub fn get(&self, key: &ListKey, version: u64, open_ended: bool) -> Option<Cached> {
        let hit = self
            .inner
            .lock()
            .map
            .get(key)
            .filter(|s| s.entry.fresh(version, open_ended))
            .map(|s| s.entry.clone());
        let outcome = if hit.is_some() { "hit" } else { "miss" };
        self.metrics.events.with_label_values(&[outcome]).inc();
        hit
    }

    /// Stores `entry` under `key` (replacing what was there), then evicts down to the budget.
    pub fn insert(&self, key: ListKey, entry: Cached) {
        let weight = key.size() + ENTRY_OVERHEAD + entry.bytes();
        let mut inner = self.inner.lock();
        if let Some(old) = inner.map.remove(&key) {
            inner.bytes -= old.weight;
        }
        if weight > self.budget / 4 {
            self.metrics.events.with_label_values(&["too_large"]).inc();
        } else {
            inner.bytes += weight;
            inner.map.insert(key, Slot { entry, weight });
            self.evict(&mut inner);
        }
        self.publish(&inner);
    }

    /// Counts the gzip copy that `entry` (served from `key`) just made, if it is still the one
    /// cached there.
    pub fn grew(&self, key: &ListKey, entry: &Cached) {
        let mut inner = self.inner.lock();
        let Some(slot) = inner.map.peek_mut(key) else { return };
        if !Arc::ptr_eq(&slot.entry.gzip, &entry.gzip) {
            return;
        }
        let weight = key.size() + ENTRY_OVERHEAD + slot.entry.bytes();
        let added = weight - slot.weight;
        slot.weight = weight;
        inner.bytes += added;
        if weight > self.budget / 4 {
            if let Some(s) = inner.map.remove(key) {
                inner.bytes -= s.weight;
            }
            self.metrics.events.with_label_values(&["too_large"]).inc();
        }
        self.evict(&mut inner);
        self.publish(&inner);
    }

    fn evict(&self, inner: &mut Inner) {
        while inner.bytes > self.budget {
            let Some((_, s)) = inner.map.remove_lru() else { break };
            inner.bytes -= s.weight;
            self.metrics.events.with_label_values(&["evicted"]).inc();
        }
    }

    fn publish(&self, inner: &Inner) {
        self.metrics.bytes.set(inner.bytes as i64);
        self.metrics.entries.set(inner.map.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{LIST_PARAMS, ListQuery, Params};
    use chrono::Utc;

    fn metrics() -> CacheMetrics {
        CacheMetrics {
            bytes: IntGauge::new("b", "b").unwrap(),
            entries: IntGauge::new("e", "e").unwrap(),
            events: IntCounterVec::new(prometheus::Opts::new("c", "c"), &["outcome"]).unwrap(),
        }
    }

    fn key(q: &str) -> ListKey {
        ListQuery::parse(&Params::parse(Some(q), LIST_PARAMS).unwrap(), Utc::now())
            .unwrap()
            .key()
    }

    #[test]
    fn the_gzipped_body_is_made_once_and_shared_by_clones() {
        let c = Cached::new("{\"type\":\"FeatureCollection\"}".repeat(50), None, Format::GeoJson, 1);
        let clone = c.clone();
        let a = c.gzipped().clone();
        assert_eq!(clone.gzipped().as_ptr(), a.as_ptr(), "one compression per cache entry");
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a[..]), &mut out).unwrap();
        assert_eq!(out, c.body);
    }

    #[test]
    fn bytes_stay_within_the_budget_and_the_recent_entries_stay() {
        let cache = ResponseCache::new(64 * 1024, metrics());
        for i in 0..200 {
            let k = key(&format!("minmag={}", f64::from(i) / 100.0));
            cache.insert(k, Cached::new("x".repeat(3000), None, Format::GeoJson, 1));
            assert!(cache.bytes() <= cache.budget(), "{} after {i}", cache.bytes());
        }
        assert!(cache.get(&key("minmag=1.99"), 1, false).is_some(), "the newest is kept");
        assert!(cache.get(&key("minmag=0"), 1, false).is_none(), "the oldest went");
        assert!(
            cache.get(&key("minmag=1.99"), 2, false).is_none(),
            "another version is a miss"
        );
        // The gzip copy counts once made; too big an entry is never kept.
        let k = key("minmag=1.98");
        let c = cache.get(&k, 1, false).unwrap();
        let before = cache.bytes();
        c.gzipped();
        cache.grew(&k, &c);
        assert!(cache.bytes() > before);
        assert!(cache.bytes() <= cache.budget());
        cache.insert(
            key("maxmag=9"),
            Cached::new("y".repeat(20_000), None, Format::GeoJson, 1),
        );
        assert!(cache.get(&key("maxmag=9"), 1, false).is_none());
    }
}
