//! Command-line arguments of the store (`quakestream table create`), shared with the consumer.

use crate::{Store, StoreConfig};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::time::Duration;

/// Where the DynamoDB table is. Every flag also reads the environment variable in brackets.
#[derive(Args, Debug, Clone)]
pub struct DynamoArgs {
    /// DynamoDB table name.
    #[arg(long, env = "QS_TABLE", default_value = "quakes")]
    pub table: String,
    /// AWS region (default: the standard AWS chain; `us-east-1` with --dynamodb-endpoint).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// A DynamoDB-API endpoint instead of AWS (e.g. dynoxide: http://127.0.0.1:8000).
    #[arg(long = "dynamodb-endpoint", env = "QS_DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,
    /// Items expire this long after their origin time (DynamoDB TTL on `expires_at`; e.g. 365d).
    #[arg(long, env = "QS_RETENTION", value_parser = humantime_duration)]
    pub retention: Option<Duration>,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    // Accepts `30d`, `12h`, `90m`, `3600s` (no extra dependency).
    let (num, unit) = s
        .trim()
        .split_at(s.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(s.trim().len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 365d, 12h)"))?;
    let secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(format!("invalid duration unit in {s:?} (d, h, m or s)")),
    };
    Ok(Duration::from_secs(n * secs))
}

impl DynamoArgs {
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            table: self.table.clone(),
            region: self.region.clone(),
            endpoint: self.dynamodb_endpoint.clone(),
        }
    }

    pub async fn connect(&self) -> Result<Store, crate::StoreError> {
        Ok(Store::connect(&self.store_config())
            .await?
            .with_retention(self.retention))
    }
}

/// `quakestream table ...`
#[derive(Subcommand, Debug, Clone)]
pub enum TableCommand {
    /// Create the table and its GSI if they don't exist (idempotent).
    Create(TableCreateArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TableCreateArgs {
    #[command(flatten)]
    pub dynamo: DynamoArgs,
}

pub async fn run(cmd: TableCommand) -> anyhow::Result<()> {
    match cmd {
        TableCommand::Create(args) => {
            let store = args.dynamo.connect().await?;
            let created = store
                .create_table()
                .await
                .with_context(|| format!("creating table {}", store.table()))?;
            println!(
                "table {} {}",
                store.table(),
                if created { "created" } else { "already exists" }
            );
            Ok(())
        }
    }
}
