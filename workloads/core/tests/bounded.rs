//! Bounded reading: inputs far over the item limit cost about the limit, not their size. A
//! counting allocator measures the peak bytes this test's own thread holds while parsing.

use quakestream_core::parse::{self, FileItem, Item};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak bytes allocated (and not yet freed) by this thread while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, (PEAK.with(Cell::get) - base).max(0) as usize)
}

/// A reader producing `head`, then `filler` repeated `n` times, then `tail`, without holding them.
struct Gen {
    parts: Vec<(Vec<u8>, u64)>,
    at: usize,
    pos: u64,
}

fn gen_reader(parts: &[(&[u8], u64)]) -> Gen {
    Gen {
        parts: parts.iter().map(|(b, n)| (b.to_vec(), *n)).collect(),
        at: 0,
        pos: 0,
    }
}

impl Read for Gen {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < buf.len() && self.at < self.parts.len() {
            let (bytes, times) = &self.parts[self.at];
            let total = bytes.len() as u64 * times;
            if self.pos >= total {
                self.at += 1;
                self.pos = 0;
                continue;
            }
            let i = (self.pos % bytes.len() as u64) as usize;
            let n = (bytes.len() - i).min(buf.len() - written);
            buf[written..written + n].copy_from_slice(&bytes[i..i + n]);
            written += n;
            self.pos += n as u64;
        }
        Ok(written)
    }
}

const FIFTY_MB: u64 = 50 << 20;
/// What reading an input of any size may cost: a few times the item limit.
const BUDGET: usize = 8 << 20;

const FEATURE: &str = r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[20.0,38.0,-10.0]},"properties":{"unid":"U1","time":"2025-01-01T00:00:00Z","lastupdate":"2025-01-01T00:01:00Z","lat":38.0,"lon":20.0,"depth":10.0,"mag":3.0}}"#;

fn read_generated(parts: &[(&[u8], u64)]) -> (Vec<FileItem>, usize) {
    let (items, peak) = peak_during(|| {
        let mut items = Vec::new();
        parse::read_file(|| Ok::<_, std::io::Error>(gen_reader(parts)), |it| items.push(it)).unwrap();
        items
    });
    (items, peak)
}

fn events(items: &[FileItem]) -> usize {
    items
        .iter()
        .filter(|i| matches!(i.result, Ok(Item::Event { .. })))
        .count()
}

#[test]
fn a_50_mb_single_feature_is_rejected_within_the_budget() {
    let head = br#"{"type":"Feature","properties":{"unid":"U1","note":""#;
    let (items, peak) = read_generated(&[(head, 1), (b"x", FIFTY_MB), (b"\"}}", 1)]);
    assert!(peak < BUDGET, "peak {peak} bytes");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].position, parse::Position::Document);
    assert_eq!(items[0].result.as_ref().unwrap_err().code(), "too_large");
    let t = items[0].raw.truncated.as_ref().expect("length and hash kept");
    assert_eq!(t.len, head.len() as u64 + FIFTY_MB + 3);
    assert_eq!(items[0].raw.bytes.len(), parse::DLQ_PREFIX_BYTES);
}

#[test]
fn a_50_mb_feature_in_a_collection_ends_the_read_within_the_budget_after_the_ones_before() {
    let head = format!(
        r#"{{"type":"FeatureCollection","features":[{FEATURE},{FEATURE},{{"type":"Feature","properties":{{"note":""#
    );
    let (items, peak) = read_generated(&[(head.as_bytes(), 1), (b"y", FIFTY_MB), (b"\"}}]}", 1)]);
    assert!(peak < BUDGET, "peak {peak} bytes");
    assert_eq!(events(&items), 2);
    let last = items.last().unwrap();
    assert_eq!(last.result.as_ref().unwrap_err().code(), "too_large");
    assert!(last.raw.truncated.as_ref().unwrap().len > FIFTY_MB);
}

#[test]
fn a_50_mb_json_line_is_skipped_within_the_budget_and_the_next_line_read() {
    let head = br#"{"action":"create","data":""#;
    let tail = format!("\"}}\n{FEATURE}\n");
    let (items, peak) = read_generated(&[(head, 1), (b"z", FIFTY_MB), (tail.as_bytes(), 1)]);
    assert!(peak < BUDGET, "peak {peak} bytes");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].result.as_ref().unwrap_err().code(), "too_large");
    assert_eq!(events(&items), 1);
}
