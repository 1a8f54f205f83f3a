//! The checked-in generated files (the cost rules, their Helm values and the promtool tests) are
//! what `quakestream cost generate` writes now, and promtool accepts and passes them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn generated_files_are_fresh() {
    let files = quakestream_cost::cli::generated(&root().join("eks")).unwrap();
    assert_eq!(files.len(), 4);
    for (rel, want) in files {
        let have = std::fs::read_to_string(root().join(rel)).unwrap_or_default();
        assert!(
            have == want,
            "{rel} is stale: run `quakestream cost generate` (from the repository root) and commit the result"
        );
    }
}

fn promtool(args: &[&str]) -> std::process::Output {
    Command::new("promtool")
        .args(args)
        .current_dir(root())
        .output()
        .expect("promtool runs (scripts/setup.sh installs Debian's prometheus package)")
}

#[test]
fn promtool_checks_the_rules() {
    let out = promtool(&["check", "rules", quakestream_cost::rules::RULES_FILE]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_tests_pass() {
    for file in [
        quakestream_cost::promtool::METERED_FILE,
        quakestream_cost::promtool::MONTH_FILE,
    ] {
        let out = promtool(&["test", "rules", file]);
        assert!(
            out.status.success(),
            "{file}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn promtool_catches_a_wrong_price() {
    // The same rules with one price changed must fail the generated tests: they are not vacuous.
    let dir = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(root().join(quakestream_cost::rules::RULES_FILE)).unwrap();
    let price = quakestream_cost::prices::PriceBook::bundled()
        .unwrap()
        .region("eu-west-1")
        .unwrap()
        .usd("waf_requests")
        .unwrap();
    let per_request = format!(" * {}", price / 1e6);
    assert!(
        rules.contains(&per_request),
        "the WAF price per request ({per_request}) is in the rules"
    );
    std::fs::write(
        dir.path().join("quakestream-cost.rules.yml"),
        rules.replace(&per_request, " * 0.000001"),
    )
    .unwrap();
    let tests = std::fs::read_to_string(root().join(quakestream_cost::promtool::METERED_FILE)).unwrap();
    std::fs::write(dir.path().join("t.yml"), tests).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules", "t.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "a wrong price passed the promtool tests");
}
