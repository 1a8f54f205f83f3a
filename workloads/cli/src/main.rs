fn main() -> std::process::ExitCode {
    quakestream::main()
}
