//! Bundles the page (web/) with esbuild from npm into $OUT_DIR/web, which src/assets.rs embeds.
//! Runs `npm ci` first when web/node_modules is missing or older than web/package-lock.json.
//! Needs Node.js and npm at build time only; the binary fetches nothing at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let web = manifest.join("web");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("web");
    for p in [
        "src",
        "data",
        "build.mjs",
        "plates.mjs",
        "package.json",
        "package-lock.json",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=QS_NPM");

    let npm = std::env::var("QS_NPM").unwrap_or_else(|_| "npm".into());
    let lock = web.join("package-lock.json");
    let stamp = web.join("node_modules/.package-lock.json");
    if !stamp.exists() || mtime(&stamp) < mtime(&lock) {
        run(
            Command::new(&npm)
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&web),
            "npm ci",
        );
    }
    run(
        Command::new("node").arg("build.mjs").arg(&out).current_dir(&web),
        "node build.mjs",
    );
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "{what} failed ({s}); the frontend's page is built with Node.js and npm (see workloads/frontend/README)"
        ),
        Err(e) => panic!("cannot run {what}: {e}; install Node.js (>= 18) and npm to build the frontend's page"),
    }
}
