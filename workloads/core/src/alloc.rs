//! The process's allocator, chosen when it starts: the system allocator (glibc's malloc) or
//! mimalloc, from `QS_ALLOCATOR` ([`contract::env::ALLOCATOR`]).
//!
//! One binary runs every workload, and they want different allocators: the analytics is about a
//! tenth faster on mimalloc, while the frontend holds less memory per open stream on glibc
//! (docs/benchmarks.md, Analytics). The allocator is fixed at the process's first allocation,
//! before `main` parses its arguments, so the choice comes from the environment (read with
//! `getenv`, which does not allocate) and never changes afterwards: every block is freed by the
//! allocator that allocated it. A value that names no allocator selects the system allocator and
//! is reported by [`check`], which the binary calls first.

use quakestream_contract as contract;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

/// Which allocator serves the process (its discriminant is what [`CHOICE`] holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Allocator {
    System = 1,
    Mimalloc = 2,
}

impl Allocator {
    /// The name `QS_ALLOCATOR` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Allocator::System => contract::allocator::SYSTEM,
            Allocator::Mimalloc => contract::allocator::MIMALLOC,
        }
    }
}

/// What a `QS_ALLOCATOR` value selects: `None` when it names no allocator. Unset or empty is
/// the system allocator.
pub fn parse(value: Option<&[u8]>) -> Option<Allocator> {
    match value {
        None | Some(b"") => Some(Allocator::System),
        Some(v) if v == contract::allocator::SYSTEM.as_bytes() => Some(Allocator::System),
        Some(v) if v == contract::allocator::MIMALLOC.as_bytes() => Some(Allocator::Mimalloc),
        Some(_) => None,
    }
}

const UNSET: u8 = 0;
const MIMALLOC: u8 = Allocator::Mimalloc as u8;
/// `QS_ALLOCATOR` named no allocator: served by the system allocator, reported by [`check`].
const INVALID: u8 = 3;

/// [`contract::env::ALLOCATOR`], NUL-terminated for `getenv` (a test holds the two equal).
const NAME: &std::ffi::CStr = c"QS_ALLOCATOR";

static CHOICE: AtomicU8 = AtomicU8::new(UNSET);

/// The choice, made on the first call. The first allocation happens on the main thread before
/// any other thread exists, so the environment is read once and never raced.
fn choice() -> u8 {
    let c = CHOICE.load(Ordering::Relaxed);
    if c != UNSET {
        return c;
    }
    let c = parse(env_bytes()).map_or(INVALID, |a| a as u8);
    CHOICE.store(c, Ordering::Relaxed);
    c
}

/// `QS_ALLOCATOR`'s bytes without allocating.
fn env_bytes() -> Option<&'static [u8]> {
    // SAFETY: NAME is NUL-terminated; getenv returns NULL or a pointer into the environment,
    // which lives for the process. Nothing in the binary sets variables: it is called at the
    // first allocation (one thread) and by `check` at the start of `main`.
    let p = unsafe { libc::getenv(NAME.as_ptr()) };
    // SAFETY: a non-NULL result of getenv is a NUL-terminated string.
    (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes())
}

/// The allocator [`WorkloadAllocator`] serves with: the process's when it is the global
/// allocator, as in the `quakestream` binary.
pub fn active() -> Allocator {
    if choice() == MIMALLOC {
        Allocator::Mimalloc
    } else {
        Allocator::System
    }
}

/// An error when `QS_ALLOCATOR` names no allocator (the process then runs on the system
/// allocator, but should not start on a setting it ignored).
pub fn check() -> Result<Allocator, String> {
    if choice() == INVALID {
        let got = env_bytes().map(String::from_utf8_lossy).unwrap_or_default();
        return Err(format!(
            "{}={got:?} names no allocator; expected one of: {}",
            contract::env::ALLOCATOR,
            contract::allocator::ALL.join(", ")
        ));
    }
    Ok(active())
}

/// The global allocator of the `quakestream` binary (and the benchmarks that measure it).
pub struct WorkloadAllocator;

// SAFETY: every call goes to the one allocator chosen at the first call, which never changes, so
// a block is always resized and freed by the allocator that allocated it; both are sound
// `GlobalAlloc`s.
unsafe impl GlobalAlloc for WorkloadAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if choice() == MIMALLOC {
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        } else {
            unsafe { System.alloc(layout) }
        }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if choice() == MIMALLOC {
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if choice() == MIMALLOC {
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if choice() == MIMALLOC {
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        } else {
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_select_their_allocator_and_unset_is_the_system_one() {
        assert_eq!(parse(None), Some(Allocator::System));
        assert_eq!(parse(Some(b"")), Some(Allocator::System));
        assert_eq!(parse(Some(b"system")), Some(Allocator::System));
        assert_eq!(parse(Some(b"mimalloc")), Some(Allocator::Mimalloc));
        for bad in [&b"MiMalloc"[..], b"jemalloc", b"mimalloc ", b"glibc"] {
            assert_eq!(parse(Some(bad)), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn reads_the_variable_the_contract_names() {
        assert_eq!(NAME.to_str(), Ok(contract::env::ALLOCATOR));
    }

    #[test]
    fn every_contract_name_round_trips() {
        for name in contract::allocator::ALL {
            assert_eq!(parse(Some(name.as_bytes())).map(Allocator::as_str), Some(*name));
        }
    }
}
