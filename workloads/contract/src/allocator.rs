//! The allocators a `quakestream` process can run on, named by [`crate::env::ALLOCATOR`]. The
//! process chooses when it starts, before its flags are read (`quakestream_core::alloc`).

/// glibc's malloc: what a process runs on unless told otherwise. The frontend holds the least
/// memory per open stream on it.
pub const SYSTEM: &str = "system";
/// mimalloc: faster for the analytics' many small, short-lived allocations.
pub const MIMALLOC: &str = "mimalloc";
/// Every name, in the order error messages list them.
pub const ALL: &[&str] = &[SYSTEM, MIMALLOC];
