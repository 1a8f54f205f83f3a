/// The system allocator or mimalloc, as `QS_ALLOCATOR` chooses when the process starts.
#[global_allocator]
static ALLOCATOR: quakestream_core::alloc::WorkloadAllocator = quakestream_core::alloc::WorkloadAllocator;

fn main() -> std::process::ExitCode {
    quakestream::main()
}
