/// mimalloc instead of glibc's malloc: the analytics' whole loop ran 68k records/s with glibc's
/// and 101k with mimalloc on the same machine and input (docs/benchmarks.md, Analytics); the
/// per-event state, its JSON and the Kafka records are many small, short-lived allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    quakestream::main()
}
