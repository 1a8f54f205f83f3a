//! The checked-in CRD copies must match what `crdgen` prints.

use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn crd_yaml_is_fresh() {
    let generated = quakestream_operator::crd_yaml().unwrap();
    assert!(
        read("crds/quakestream.yaml") == generated,
        "crds/quakestream.yaml is stale: run `cargo run -p quakestream-operator --bin crdgen > crds/quakestream.yaml`"
    );
}

#[test]
fn chart_crd_is_a_copy() {
    assert!(
        read("charts/quakestream-operator/crds/quakestream.yaml") == read("crds/quakestream.yaml"),
        "charts/quakestream-operator/crds/quakestream.yaml differs: cp crds/quakestream.yaml charts/quakestream-operator/crds/"
    );
}
