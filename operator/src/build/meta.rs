//! Object metadata and the hashes that roll pods when what they read changes.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use crate::resolve::Resolved;

/// Metadata of a child: name, namespace, labels and, when `owned`, the controller owner
/// reference (absent while the QuakeStream has no uid, as in `render`).
pub fn object(r: &Resolved, name: &str, labels: &BTreeMap<String, String>, owned: bool) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(r.namespace.clone()),
        labels: Some(labels.clone()),
        owner_references: r.owner.clone().filter(|_| owned).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// Stable hash of a string map (sorted keys), 16 hex digits.
pub fn hash(map: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in map {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_sensitive() {
        let a = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
        let b = BTreeMap::from([("k".to_owned(), "w".to_owned())]);
        let c = BTreeMap::from([("kv".to_owned(), String::new())]);
        assert_eq!(hash(&a), hash(&a.clone()));
        assert_ne!(hash(&a), hash(&b));
        assert_ne!(hash(&a), hash(&c), "separators keep key and value apart");
        assert_eq!(hash(&a).len(), 16);
    }
}
