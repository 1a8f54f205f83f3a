//! `render`: print every object the operator would apply for a QuakeStream, with no cluster.

use kube::ResourceExt;

use crate::build::build_all;
use crate::crd::QuakeStream;
use crate::resolve::{SpecErrors, resolve};

/// Why a file could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Not YAML, or not a QuakeStream.
    #[error("not a QuakeStream manifest: {0}")]
    Parse(String),
    /// The manifest has another apiVersion or kind.
    #[error("expected apiVersion quakestream.io/v1alpha1 and kind QuakeStream, got {api_version} {kind}")]
    WrongKind {
        /// apiVersion found.
        api_version: String,
        /// kind found.
        kind: String,
    },
    /// The spec breaks a rule.
    #[error("invalid spec: {0}")]
    Invalid(#[from] SpecErrors),
    /// Serialisation failed (a bug).
    #[error("serialising: {0}")]
    Serialize(String),
}

/// Parse a QuakeStream manifest; `namespace` is used when the manifest has none (as
/// `kubectl apply -n` would).
pub fn parse(manifest: &str, namespace: &str) -> Result<QuakeStream, RenderError> {
    let value: serde_json::Value = serde_saphyr::from_str(manifest).map_err(|e| RenderError::Parse(e.to_string()))?;
    let api_version = value["apiVersion"].as_str().unwrap_or_default();
    let kind = value["kind"].as_str().unwrap_or_default();
    if api_version != "quakestream.io/v1alpha1" || kind != "QuakeStream" {
        return Err(RenderError::WrongKind {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        });
    }
    let mut qs: QuakeStream = serde_json::from_value(value).map_err(|e| RenderError::Parse(e.to_string()))?;
    if qs.namespace().is_none() {
        qs.metadata.namespace = Some(namespace.to_owned());
    }
    Ok(qs)
}

/// Render the children of the QuakeStream in `manifest` (YAML) as a multi-document YAML stream.
pub fn render(manifest: &str, namespace: &str) -> Result<String, RenderError> {
    let qs = parse(manifest, namespace)?;
    let resolved = resolve(&qs)?;
    let mut out = format!(
        "# Rendered by quakestream-operator {} for QuakeStream {}/{}\n",
        env!("CARGO_PKG_VERSION"),
        resolved.namespace,
        resolved.name
    );
    for v in build_all(&resolved)
        .to_values()
        .map_err(|e| RenderError::Serialize(e.to_string()))?
    {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&v).map_err(|e| RenderError::Serialize(e.to_string()))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::resolved;

    const MANIFEST: &str = "apiVersion: quakestream.io/v1alpha1
kind: QuakeStream
metadata:
  name: demo
spec:
  kafka:
    clusterName: events
  storage:
    region: us-east-1
    endpoint: http://dynoxide:8000
  frontend:
    ingress:
      className: traefik
      host: quakes.localtest.me
";

    #[test]
    fn renders_every_child_and_round_trips() {
        let out = render(MANIFEST, "quakes").unwrap();
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&out).unwrap();
        assert_eq!(
            docs.len(),
            34,
            "4 workloads (ServiceAccount, ConfigMap, Deployment, NetworkPolicy, KafkaUser each), 9 topics, \
             the frontend's Service, HPA, PDB and Ingress, and the default-deny"
        );
        assert!(docs.iter().all(|d| d["metadata"]["namespace"] == "quakes"));
        assert!(docs.iter().all(|d| d["metadata"].get("ownerReferences").is_none()));
        // YAML round trip is lossless (string-typed numbers stay strings, etc.).
        let qs = parse(MANIFEST, "quakes").unwrap();
        assert_eq!(docs, build_all(&resolved(&qs)).to_values().unwrap());
        let cm = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "demo-producer")
            .unwrap();
        assert_eq!(cm["data"]["QS_BACKFILL_LIMIT"], "500");
        assert_eq!(cm["data"]["QS_TOPIC"], "demo-quakes");
    }

    #[test]
    fn rejects_other_kinds_and_invalid_specs() {
        assert!(matches!(
            render("apiVersion: v1\nkind: ConfigMap\n", "x"),
            Err(RenderError::WrongKind { .. })
        ));
        assert!(matches!(render(": : :\n", "x"), Err(RenderError::Parse(_))));
        let bad = MANIFEST.replace(
            "    ingress:",
            "    autoscaling:\n      minReplicas: 9\n      maxReplicas: 2\n    ingress:",
        );
        let err = render(&bad, "x").unwrap_err();
        assert!(err.to_string().contains("minReplicas (9)"), "{err}");
    }
}
