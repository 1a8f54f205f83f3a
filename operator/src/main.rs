//! `quakestream-operator`: `run` the controller, or `render` a QuakeStream's children offline.
use std::process::ExitCode;

use clap::Parser;
use quakestream_operator::cli::Cli;

fn main() -> ExitCode {
    quakestream_operator::cli::main(Cli::parse())
}
