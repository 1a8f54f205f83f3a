//! Which Terraform blocks cost money (`cost/resources.yaml`), and the check that every block the
//! Terraform declares is accounted for and every price it names exists.

use crate::error::{CostError, Result};
use crate::prices::PriceBook;
use crate::terraform::Declared;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const BUNDLED: &str = include_str!("../../../cost/resources.yaml");

/// The price key that means "the node group's instance type" (priced from `instances`).
pub const INSTANCE_PRICE: &str = "instance";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Billable {
    pub what: String,
    pub prices: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceMap {
    pub billable: BTreeMap<String, Billable>,
    pub in_cluster: BTreeMap<String, String>,
    pub free: BTreeMap<String, String>,
    pub free_types: BTreeMap<String, String>,
}

impl ResourceMap {
    pub fn bundled() -> Result<ResourceMap> {
        ResourceMap::parse(BUNDLED)
    }

    pub fn parse(text: &str) -> Result<ResourceMap> {
        serde_saphyr::from_str(text).map_err(|e| CostError::Yaml {
            what: "cost/resources.yaml".into(),
            message: e.to_string(),
        })
    }

    /// Why `d` is accounted for, or `None` if it is not.
    pub fn account(&self, d: &Declared) -> Option<String> {
        if let Some(b) = self.billable.get(&d.address) {
            return Some(format!("billable: {}", b.prices.join(", ")));
        }
        self.in_cluster
            .get(&d.address)
            .or_else(|| self.free.get(&d.address))
            .or_else(|| self.free_types.get(&d.kind))
            .cloned()
    }

    /// Every problem: declared blocks nobody priced or declared free, and prices that a region's
    /// table lacks. Empty when the map covers the Terraform.
    pub fn problems(&self, declared: &[Declared], book: &PriceBook) -> Vec<String> {
        let mut out: Vec<String> = declared
            .iter()
            .filter(|d| self.account(d).is_none())
            .map(|d| {
                format!(
                    "{} ({}) has no price: add it to cost/resources.yaml under billable (with its prices) or, if AWS does not bill it, under in_cluster, free or free_types",
                    d.address, d.file
                )
            })
            .collect();
        for (address, b) in &self.billable {
            for key in &b.prices {
                for t in book.tables.values() {
                    if key != INSTANCE_PRICE && !t.prices.contains_key(key) {
                        out.push(format!(
                            "{address}: price {key} is missing from cost/prices/{}.yaml",
                            t.region
                        ));
                    }
                }
            }
        }
        out
    }
}
