//! Keeping the QuakeStream CRD current: at start-up the operator server-side applies the CRD it
//! was built with, so a `helm upgrade` (Helm never upgrades `crds/`), a Terraform apply or a
//! new image brings the schema along. It never downgrades: a CRD installed by a newer operator
//! (its `quakestream.io/operator-version` annotation) is left as it is.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use tracing::info;

use crate::MANAGER;
use crate::crd::QuakeStream;

/// Annotation on the CRD naming the operator version that wrote it.
pub const VERSION_ANNOTATION: &str = "quakestream.io/operator-version";
/// How many times to look for the CRD's `Established` condition after applying it.
pub const ESTABLISHED_ATTEMPTS: u32 = 30;

/// What `ensure_crd` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrdOutcome {
    /// Applied; `previous` is the version that had written the CRD before (none: created, or
    /// written without the annotation).
    Applied {
        /// The version found before.
        previous: Option<String>,
    },
    /// A newer operator wrote the CRD; left alone.
    NewerInstalled(String),
}

/// The CRD this operator serves, with its version annotation.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = QuakeStream::crd();
    crd.annotations_mut()
        .insert(VERSION_ANNOTATION.to_owned(), env!("CARGO_PKG_VERSION").to_owned());
    crd
}

/// `x.y.z` as numbers; anything after the third number (a pre-release) is ignored.
fn version(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split(['.', '-', '+']).map(str::parse::<u64>);
    Some((it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?))
}

/// Whether `installed` is newer than `ours`.
pub fn is_newer(installed: &str, ours: &str) -> bool {
    matches!((version(installed), version(ours)), (Some(a), Some(b)) if a > b)
}

fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
}

/// Apply the CRD unless a newer operator's is installed, then wait (up to
/// [`ESTABLISHED_ATTEMPTS`] looks, `poll` apart) for the API server to serve it.
pub async fn ensure_crd(client: &Client, poll: Duration) -> Result<CrdOutcome, kube::Error> {
    let ours = crd();
    let name = ours.name_any();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let previous = api
        .get_opt(&name)
        .await?
        .and_then(|c| c.annotations().get(VERSION_ANNOTATION).cloned());
    if let Some(p) = previous.as_deref().filter(|p| is_newer(p, env!("CARGO_PKG_VERSION"))) {
        info!(
            installed = p,
            ours = env!("CARGO_PKG_VERSION"),
            "a newer operator's CRD is installed; not downgrading it"
        );
        return Ok(CrdOutcome::NewerInstalled(p.to_owned()));
    }
    let params = PatchParams::apply(MANAGER).force();
    let mut applied = api.patch(&name, &params, &Patch::Apply(&ours)).await?;
    for _ in 0..ESTABLISHED_ATTEMPTS {
        if established(&applied) {
            break;
        }
        tokio::time::sleep(poll).await;
        applied = api.get(&name).await?;
    }
    info!(crd = %name, previous = previous.as_deref().unwrap_or("none"), version = env!("CARGO_PKG_VERSION"), established = established(&applied), "CRD applied");
    Ok(CrdOutcome::Applied { previous })
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
