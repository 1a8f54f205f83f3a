//! `quakestream cost`: the subcommands and their flags (each also read from the `QS_COST_*`
//! environment variable in its help).

use crate::error::{CostError, Result};
use crate::estimate::estimate;
use crate::prices::PriceBook;
use crate::terraform::Deployment;
use crate::usage::Usage;
use clap::{Args, Subcommand, ValueEnum};
use quakestream_contract as contract;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum CostCommand {
    /// Estimate the monthly cost of the EKS deployment from its Terraform and a usage profile.
    Estimate(EstimateArgs),
    /// Print the Prometheus recording rules that turn the meters into cost (generated file).
    Rules(RulesArgs),
    /// Project the cost from a running instance's /metrics (two scrapes, rates between them).
    Measured(MeasuredArgs),
    /// Write the generated files (rules, Helm values, promtool tests) from the Terraform defaults.
    Generate(GenerateArgs),
}

#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// The repository root (the files are written under it).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Only compare: exit non-zero if a checked-in file differs from what would be written.
    #[arg(long)]
    pub check: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Where the deployment and the prices come from.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// The EKS Terraform directory (its *.tf files, and terraform.tfvars if present).
    #[arg(long, env = contract::env::COST_TERRAFORM, default_value = "eks")]
    pub terraform: PathBuf,
    /// A tfvars file to use instead of <terraform>/terraform.tfvars.
    #[arg(long, env = contract::env::COST_TFVARS)]
    pub tfvars: Option<PathBuf>,
    /// A directory of price tables (<region>.yaml) instead of the ones built in (cost/prices).
    #[arg(long, env = contract::env::COST_PRICES)]
    pub prices: Option<PathBuf>,
    /// A usage profile (YAML, keys of cost/usage.yaml) overriding the built-in one.
    #[arg(long, env = contract::env::COST_USAGE)]
    pub usage: Option<PathBuf>,
}

impl SourceArgs {
    pub fn load(&self) -> Result<(Deployment, Usage, PriceBook)> {
        if !self.terraform.is_dir() {
            return Err(CostError::Read {
                path: self.terraform.clone(),
                message: "no such directory (run from the repository root, or give --terraform DIR)".into(),
            });
        }
        let d = Deployment::from_dir(&self.terraform, self.tfvars.as_deref())?;
        let u = match &self.usage {
            Some(p) => Usage::from_file(p)?,
            None => Usage::bundled(),
        };
        let book = match &self.prices {
            Some(dir) => PriceBook::from_dir(dir)?,
            None => PriceBook::bundled()?,
        };
        Ok((d, u, book))
    }
}

#[derive(Args, Debug, Clone)]
pub struct EstimateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Wire records ingested a day (creates, updates, snapshots).
    #[arg(long, env = contract::env::COST_EVENTS_PER_DAY)]
    pub events_per_day: Option<f64>,
    /// Loads of the map page a day.
    #[arg(long, env = contract::env::COST_PAGE_VIEWS_PER_DAY)]
    pub page_views_per_day: Option<f64>,
    /// Browsers with the live stream open, on average.
    #[arg(long, env = contract::env::COST_OPEN_BROWSERS)]
    pub open_browsers: Option<f64>,
    /// GB of EKS control-plane logs a month (CloudWatch).
    #[arg(long, env = contract::env::COST_LOG_GB)]
    pub log_gb: Option<f64>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

impl EstimateArgs {
    /// The usage profile with the flags applied.
    pub fn usage(&self, mut u: Usage) -> Result<Usage> {
        let set = |dst: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut u.events_per_day, self.events_per_day);
        set(&mut u.page_views_per_day, self.page_views_per_day);
        set(&mut u.open_browsers, self.open_browsers);
        set(&mut u.log_gb_per_month, self.log_gb);
        u.validate()?;
        Ok(u)
    }
}

#[derive(Args, Debug, Clone)]
pub struct RulesArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print Helm values for the prometheus chart (serverFiles.recording_rules.yml) instead of a
    /// plain rules file.
    #[arg(long)]
    pub helm_values: bool,
}

#[derive(Args, Debug, Clone)]
pub struct MeasuredArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// /metrics URLs of the running workloads (repeat, or comma-separate); `quakestream dev`
    /// serves every meter on one, e.g. http://127.0.0.1:8080/metrics.
    #[arg(long, env = contract::env::COST_METRICS, value_delimiter = ',', required = true)]
    pub metrics: Vec<String>,
    /// Time between the two scrapes the rates are computed over.
    #[arg(long, env = contract::env::COST_OVER, default_value = "60s", value_parser = contract::duration::parser)]
    pub over: Duration,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Runs a `cost` subcommand, printing to stdout.
pub async fn run(cmd: CostCommand) -> anyhow::Result<()> {
    match cmd {
        CostCommand::Estimate(a) => {
            let (d, u, book) = a.source.load()?;
            let b = estimate(&d, &a.usage(u)?, &book)?;
            print!(
                "{}",
                match a.format {
                    Format::Table => crate::render::table(&b),
                    Format::Json => crate::render::json(&b) + "\n",
                }
            );
        }
        CostCommand::Rules(a) => {
            let (d, u, book) = a.source.load()?;
            let rules = crate::rules::generate(&d, &u, &book)?;
            print!(
                "{}",
                if a.helm_values {
                    crate::rules::helm_values(&rules)
                } else {
                    crate::rules::rules_file(&rules)
                }
            );
        }
        CostCommand::Generate(a) => {
            let files = generated(&a.root.join("eks"))?;
            let mut stale = Vec::new();
            for (rel, text) in &files {
                let path = a.root.join(rel);
                if a.check {
                    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                        stale.push(rel.to_string());
                    }
                } else {
                    std::fs::write(&path, text).map_err(|e| CostError::Read {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                    println!("wrote {}", path.display());
                }
            }
            anyhow::ensure!(
                stale.is_empty(),
                "stale (run `quakestream cost generate`): {}",
                stale.join(", ")
            );
        }
        CostCommand::Measured(a) => {
            let (d, u, book) = a.source.load()?;
            let m = crate::measured::measure(&a.metrics, a.over, &d, &u, &book).await?;
            print!(
                "{}",
                match a.format {
                    Format::Table => crate::measured::table(&m),
                    Format::Json => serde_json::to_string_pretty(&m)? + "\n",
                }
            );
        }
    }
    Ok(())
}

/// Every generated file (repository-relative path, contents), from the Terraform's defaults in
/// `eks` (never a local terraform.tfvars), the built-in usage profile and price tables.
pub fn generated(eks: &Path) -> Result<Vec<(&'static str, String)>> {
    use crate::terraform::{TerraformDir, Variables};
    let tf = TerraformDir::load(eks)?;
    let d = Deployment::resolve(&tf, &Variables::new(tf.defaults(), None)?)?;
    let (u, book) = (Usage::bundled(), PriceBook::bundled()?);
    let rules = crate::rules::generate(&d, &u, &book)?;
    Ok(vec![
        (crate::rules::RULES_FILE, crate::rules::rules_file(&rules)),
        (crate::rules::HELM_VALUES_FILE, crate::rules::helm_values(&rules)),
        (
            crate::promtool::METERED_FILE,
            crate::promtool::metered_tests(&d, &u, &book)?,
        ),
        (
            crate::promtool::MONTH_FILE,
            crate::promtool::month_tests(&d, &u, &book)?,
        ),
    ])
}

/// The repository's eks/ directory, for tests and tools that run inside the checkout.
pub fn repo_eks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eks")
}
