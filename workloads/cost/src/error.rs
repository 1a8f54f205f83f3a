//! Typed errors of the cost tools, each with a stable code.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: not valid HCL: {message}")]
    Hcl { path: PathBuf, message: String },
    #[error("{what}: {message}")]
    Yaml { what: String, message: String },
    #[error("Terraform variable {name}: {message}")]
    Variable { name: String, message: String },
    #[error("no price table for region {region} (cost/prices/{region}.yaml); supported: {supported}")]
    UnsupportedRegion { region: String, supported: String },
    #[error("region {region}: no price for {key}")]
    MissingPrice { region: String, key: String },
    #[error("region {region}: no price for instance type {instance_type} (add it to cost/prices/{region}.yaml)")]
    MissingInstance { region: String, instance_type: String },
    #[error("usage profile: {0}")]
    Usage(String),
    #[error("metrics from {url}: {message}")]
    Metrics { url: String, message: String },
}

impl CostError {
    /// A stable code for scripts and logs.
    pub fn code(&self) -> &'static str {
        match self {
            CostError::Read { .. } => "read",
            CostError::Hcl { .. } => "bad_hcl",
            CostError::Yaml { .. } => "bad_yaml",
            CostError::Variable { .. } => "bad_variable",
            CostError::UnsupportedRegion { .. } => "unsupported_region",
            CostError::MissingPrice { .. } => "missing_price",
            CostError::MissingInstance { .. } => "missing_instance",
            CostError::Usage(_) => "bad_usage",
            CostError::Metrics { .. } => "metrics",
        }
    }
}

pub type Result<T> = std::result::Result<T, CostError>;
