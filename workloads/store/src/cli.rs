//! Command-line arguments of the store (`quakestream table create`), shared with the consumer.

use crate::{Store, StoreConfig};
use anyhow::Context;
use clap::{Args, Subcommand};
use quakestream_contract::{self as contract, env};
use std::time::Duration;

/// Where the DynamoDB table is. Every flag also reads the environment variable in brackets.
#[derive(Args, Debug, Clone)]
pub struct DynamoArgs {
    /// DynamoDB table name.
    #[arg(long, env = env::TABLE, default_value = contract::names::DEFAULT_TABLE)]
    pub table: String,
    /// AWS region (default: the standard AWS chain; `us-east-1` with --dynamodb-endpoint).
    #[arg(long, env = env::AWS_REGION)]
    pub region: Option<String>,
    /// A DynamoDB-API endpoint instead of AWS (e.g. dynoxide: http://127.0.0.1:8000).
    #[arg(long = "dynamodb-endpoint", env = env::DYNAMODB_ENDPOINT)]
    pub dynamodb_endpoint: Option<String>,
    /// Items expire this long after their origin time (DynamoDB TTL on `expires_at`; e.g. 365d).
    #[arg(long, env = env::RETENTION, value_parser = contract::consumer::RETENTION.parser())]
    pub retention: Option<Duration>,
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
