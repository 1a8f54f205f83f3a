//! The repository stands alone: every sample a test reads lives in `testdata/`, unmodified.

use quakestream_core::testkit::{is_sample, testdata, testdata_dir};
use sha2::{Digest, Sha256};

#[test]
fn every_sample_matches_its_recorded_checksum_and_every_sample_is_listed() {
    let sums = std::fs::read_to_string(testdata("SHA256SUMS")).unwrap();
    let mut listed = Vec::new();
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (want, name) = line.split_once("  ").expect("`sha256  name` lines");
        let bytes = std::fs::read(testdata(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, want, "{name} differs from the recorded copy");
        listed.push(name.to_owned());
    }
    for entry in std::fs::read_dir(testdata_dir()).unwrap() {
        let path = entry.unwrap().path();
        if is_sample(&path) {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            assert!(listed.contains(&name), "{name} is not in SHA256SUMS");
        }
    }
    assert!(listed.len() >= 4, "{listed:?}");
}

#[test]
fn every_sample_is_credited_in_the_readme() {
    let readme = std::fs::read_to_string(testdata("README.md")).unwrap();
    for entry in std::fs::read_dir(testdata_dir()).unwrap() {
        let path = entry.unwrap().path();
        if is_sample(&path) {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} has no row in testdata/README.md"
            );
        }
    }
}
