//! QuakeStream FinOps: what the EKS deployment costs, estimated from its own Terraform and a
//! checked-in price table, and measured from the workloads' meters through Prometheus rules
//! generated from the same prices. docs/cost.md explains the model.
//!
//! - [`prices`]: the price tables (`cost/prices/<region>.yaml`), the only source of prices.
//! - [`terraform`]: eks/*.tf and terraform.tfvars, parsed with an HCL parser, into a [`terraform::Deployment`].
//! - [`usage`]: the usage profile and modelling assumptions (`cost/usage.yaml`).
//! - [`estimate`]: the breakdown, one row per billable resource; [`render`] prints it.
//! - [`coverage`]: which Terraform blocks are billable (`cost/resources.yaml`) and the check.
//! - [`rules`]: the Prometheus recording rules (usage x price) and their Helm values.
//! - [`measured`]: the same formulas over a running instance's `/metrics`.
//! - [`cli`]: `quakestream cost estimate|rules|measured`.

pub mod cli;
pub mod coverage;
pub mod error;
pub mod estimate;
pub mod measured;
pub mod meters;
pub mod prices;
pub mod promtool;
pub mod render;
pub mod rules;
pub mod terraform;
pub mod usage;

pub use error::CostError;
