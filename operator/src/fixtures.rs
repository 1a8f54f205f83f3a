//! Shared test fixtures.

use crate::crd::QuakeStream;
use crate::resolve::{Resolved, resolve};

/// Uid of every fixture read "from the API server".
pub const UID: &str = "8b1f6a0e-0000-4000-8000-000000000001";

/// The smallest valid QuakeStream, as a user would write it (defaults filled by serde).
pub fn minimal() -> QuakeStream {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "quakestream.io/v1alpha1",
        "kind": "QuakeStream",
        "metadata": {"name": "demo", "namespace": "quakes"},
        "spec": {"kafka": {"clusterName": "events"}, "storage": {"region": "eu-west-1"}}
    }))
    .expect("fixture parses")
}

/// As if read from the API server: uid and generation set.
pub fn with_uid(mut qs: QuakeStream) -> QuakeStream {
    qs.metadata.uid = Some(UID.to_owned());
    qs.metadata.generation = Some(1);
    qs
}

/// The resolved spec of a fixture that must be valid.
pub fn resolved(qs: &QuakeStream) -> Resolved {
    resolve(qs).unwrap_or_else(|e| panic!("fixture is valid: {e}"))
}
