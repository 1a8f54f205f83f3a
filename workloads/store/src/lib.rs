//! QuakeStream's store: the DynamoDB table of events, written by the consumer and read by the
//! frontend. The same code runs against AWS and against dynoxide (the local DynamoDB).
//!
//! - Base table keyed by `unid`; GSI `by_day` keyed by the UTC day of the origin time
//!   (`YYYY-MM-DD`) with the origin time string as the sort key, so a time window is one `Query`
//!   per day, never a `Scan`. Layout: [`item`].
//! - [`Store::upsert`] is a conditional write: newest `lastupdate` wins, and every distinct
//!   `lastupdate` is kept in the item's revision history (even one that arrives late). It is one
//!   round trip for a new event (`PutItem` if `attribute_not_exists(unid)`); when the item exists,
//!   the failed condition returns it (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), the history
//!   is merged here and written back with an optimistic check on the version read
//!   (`lastupdate = :old AND revision_count = :n`), so concurrent writers never lose a revision.
//!   Duplicates and replays cost one conditional write and change nothing.

pub mod cli;
pub mod embedded;
mod error;
pub mod item;
pub mod meter;
mod page;
pub mod testkit;

pub use error::StoreError;
pub use item::{MAX_REVISIONS, Revision, StoredQuake};
pub use meter::DynamoMeter;
pub use page::Cursor;

use aws_config::BehaviorVersion;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
    TimeToLiveSpecification,
};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use item::{ItemState, Merge, attr};
use meter::{Operation, Outcome};
use quakestream_core::model::{Quake, fmt_time};
use quakestream_core::wire::WireRecord;
use std::sync::Arc;
use std::time::Duration;

/// Where the table is. `region`: `None` takes the standard AWS chain (`AWS_REGION`, profile, IMDS);
/// with an `endpoint` and no region, `us-east-1` (local emulators ignore it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub table: String,
    pub region: Option<String>,
    /// A DynamoDB-API endpoint other than AWS's (dynoxide: `http://127.0.0.1:8000`).
    pub endpoint: Option<String>,
}

impl StoreConfig {
    pub fn local(table: impl Into<String>, endpoint: impl Into<String>) -> Self {
        StoreConfig {
            table: table.into(),
            region: None,
            endpoint: Some(endpoint.into()),
        }
    }
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// The record is now the event's current revision (new event, or newer `lastupdate`).
    Applied,
    /// The item already had this or a newer revision; the record is at most added to the history.
    Stale,
}

/// Magnitude and depth filters of a window query (inclusive; `None` = unbounded). Events without
/// a magnitude are left out as soon as a magnitude bound is given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryFilter {
    pub minmag: Option<f64>,
    pub maxmag: Option<f64>,
    pub mindepth: Option<f64>,
    pub maxdepth: Option<f64>,
}

/// The most DynamoDB `Query` calls one `query_window` call sends (one per UTC day of the window,
/// more for a day with more than one DynamoDB page); the rest of the window is the next page's.
pub const MAX_QUERIES_PER_CALL: u32 = 32;
/// The largest page `query_window` returns.
pub const MAX_PAGE: usize = 10_000;

/// A handle on the table. Cheap to clone (one SDK client, one connection pool).
#[derive(Clone)]
pub struct Store {
    client: Client,
    table: Arc<str>,
    retention: Option<Duration>,
    meter: DynamoMeter,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("table", &self.table)
            .field("retention", &self.retention)
            .finish()
    }
}

impl Store {
    /// Builds the client. Credentials come only from the standard AWS chain (env, profile, web
    /// identity/IRSA, ECS/Pod Identity, IMDS). With an `endpoint`, IMDS is skipped and, when the
    /// chain has nothing, static dummy credentials are used (local emulators ignore them); without
    /// an endpoint there is no such fallback. Nothing is sent until the first call.
    pub async fn connect(cfg: &StoreConfig) -> Result<Store, StoreError> {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(20))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        let region = cfg
            .region
            .clone()
            .or_else(|| cfg.endpoint.as_ref().map(|_| "us-east-1".to_owned()));
        if let Some(r) = &region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(ep) = &cfg.endpoint {
            loader = loader
                .endpoint_url(ep)
                .credentials_provider(local_credentials(region.clone()));
            if ep.starts_with("http://") {
                // Plain HTTP: don't build (or load trust roots for) a TLS connector.
                loader = loader.http_client(aws_smithy_http_client::Builder::new().build_http());
            }
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(StoreError::InvalidArgument(
                "no AWS region: set --region or AWS_REGION (or give --dynamodb-endpoint)".into(),
            ));
        }
        Ok(Store {
            client: Client::new(&sdk),
            table: cfg.table.as_str().into(),
            retention: None,
            meter: DynamoMeter::unregistered(),
        })
    }

    /// Items get `expires_at` = origin time + `retention` (DynamoDB's TTL then deletes them).
    pub fn with_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Counts the capacity every request consumes in `meter` (see [`meter`]).
    pub fn with_meter(mut self, meter: DynamoMeter) -> Self {
        self.meter = meter;
        self
    }

    /// The capacity meter (for tools and tests).
    pub fn meter(&self) -> &DynamoMeter {
        &self.meter
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client (for tools and benchmarks).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn err<E>(&self, e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> StoreError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        StoreError::from_sdk(&self.table, e)
    }

    /// Creates the table with its GSI (on-demand billing) and enables TTL on `expires_at`.
    /// Returns `true` if it was created, `false` if it already existed. Waits until it is active.
    pub async fn create_table(&self) -> Result<bool, StoreError> {
        let key = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
                .expect("complete key schema")
        };
        let def = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("complete attribute definition")
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(attr::BY_DAY_INDEX)
            .key_schema(key(attr::DAY, KeyType::Hash))
            .key_schema(key(attr::TIME, KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::Include)
                    .set_non_key_attributes(Some(attr::BY_DAY_PROJECTION.iter().map(|s| s.to_string()).collect()))
                    .build(),
            )
            .build()
            .expect("complete GSI");
        let res = self
            .client
            .create_table()
            .table_name(&*self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(def(attr::UNID))
            .attribute_definitions(def(attr::DAY))
            .attribute_definitions(def(attr::TIME))
            .key_schema(key(attr::UNID, KeyType::Hash))
            .global_secondary_indexes(gsi)
            .send()
            .await;
        let created = match res {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => false,
            Err(e) => return Err(self.err(e)),
        };
        self.client
            .wait_until_table_exists()
            .table_name(&*self.table)
            .wait(Duration::from_secs(300))
            .await
            .map_err(|e| {
                StoreError::Other(format!(
                    "waiting for table {}: {}",
                    self.table,
                    error::display_chain(&e)
                ))
            })?;
        if created {
            self.client
                .update_time_to_live()
                .table_name(&*self.table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attr::EXPIRES_AT)
                        .enabled(true)
                        .build()
                        .expect("complete TTL spec"),
                )
                .send()
                .await
                .map_err(|e| self.err(e))?;
            tracing::info!(table = %self.table, "table created");
        }
        Ok(created)
    }

    fn expires_at(&self, q: &Quake) -> Option<i64> {
        let r = self.retention?;
        Some((q.time + ChronoDuration::from_std(r).ok()?).timestamp())
    }

    /// Conditional upsert: the newest `lastupdate` wins; every distinct revision is kept in the
    /// history. Duplicates, replays and out-of-order updates are harmless.
    pub async fn upsert(&self, rec: &WireRecord) -> Result<UpsertOutcome, StoreError> {
        let first = ItemState::first(rec);
        let mut next = self.put(&first, None).await?;
        let mut current = true;
        // Each loop is a lost race with another writer of the same event; it always converges.
        for _ in 0..32 {
            let old = match next {
                None => {
                    return Ok(if current {
                        UpsertOutcome::Applied
                    } else {
                        UpsertOutcome::Stale
                    });
                }
                Some(Some(old)) => item::decode(&old)?,
                // The endpoint did not return the item with the failed condition: read it.
                Some(None) => match self.get_state(&rec.quake.unid).await? {
                    Some(old) => old,
                    None => {
                        next = self.put(&first, None).await?;
                        current = true;
                        continue;
                    }
                },
            };
            match item::merge(&old, rec, MAX_REVISIONS) {
                Merge::Unchanged => return Ok(UpsertOutcome::Stale),
                Merge::Write { state, current: c } => {
                    current = c;
                    next = self.put(&state, Some(&old)).await?;
                }
            }
        }
        Err(StoreError::Other(format!(
            "upsert of {} kept losing races",
            rec.quake.unid
        )))
    }

    /// Writes `state` if the item is absent (`expected` = None) or still at `expected`'s version.
    /// `Ok(None)`: written. `Ok(Some(old))`: the condition failed, with the current item if returned.
    async fn put(
        &self,
        state: &ItemState,
        expected: Option<&ItemState>,
    ) -> Result<Option<Option<item::Item>>, StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item::encode(state, self.expires_at(&state.stored.quake))))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .expression_attribute_names("#u", attr::UNID);
        req = match expected {
            None => req.condition_expression("attribute_not_exists(#u)"),
            Some(old) => req
                .condition_expression("attribute_exists(#u) AND #lu = :lu AND #rc = :rc")
                .expression_attribute_names("#lu", attr::LASTUPDATE)
                .expression_attribute_names("#rc", attr::REVISION_COUNT)
                .expression_attribute_values(":lu", AttributeValue::S(fmt_time(&old.stored.quake.lastupdate)))
                .expression_attribute_values(":rc", AttributeValue::N(old.stored.revision_count.to_string())),
        };
        let res = req.send().await;
        let (outcome, consumed) = match &res {
            Ok(out) => (Outcome::Ok, out.consumed_capacity()),
            Err(SdkError::ServiceError(se)) if matches!(se.err(), PutItemError::ConditionalCheckFailedException(_)) => {
                (Outcome::ConditionFailed, None)
            }
            Err(_) => (Outcome::Error, None),
        };
        self.meter.record(&self.table, Operation::PutItem, outcome, consumed);
        match res {
            Ok(_) => Ok(None),
            Err(SdkError::ServiceError(se)) if matches!(se.err(), PutItemError::ConditionalCheckFailedException(_)) => {
                match se.into_err() {
                    PutItemError::ConditionalCheckFailedException(c) => Ok(Some(c.item)),
                    _ => unreachable!(),
                }
            }
            Err(e) => Err(self.err(e)),
        }
    }

    async fn get_state(&self, unid: &str) -> Result<Option<ItemState>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key(attr::UNID, AttributeValue::S(unid.to_owned()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        self.meter.record(
            &self.table,
            Operation::GetItem,
            if out.is_ok() { Outcome::Ok } else { Outcome::Error },
            out.as_ref().ok().and_then(|o| o.consumed_capacity()),
        );
        let out = out.map_err(|e| self.err(e))?;
        out.item.as_ref().map(item::decode).transpose()
    }

    /// One `DescribeTable` (free of read capacity): succeeds when DynamoDB is reachable, the
    /// credentials work and the table exists. For readiness checks.
    pub async fn probe(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&*self.table)
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The event with its revision history (strongly consistent read).
    pub async fn get(&self, unid: &str) -> Result<Option<StoredQuake>, StoreError> {
        Ok(self.get_state(unid).await?.map(|s| s.stored))
    }

    /// Events whose origin time is in `[since, until)`, newest first, filtered by magnitude and
    /// depth, at most `limit` (capped at [`MAX_PAGE`]) per call, continuing after `after`. Returns
    /// the page and the cursor of the next one; `None` means the window is exhausted. One `Query`
    /// on `by_day` per UTC day (more when a day holds more than one DynamoDB page), never a
    /// `Scan`, and at most [`MAX_QUERIES_PER_CALL`] per call: a long, sparse window comes back as
    /// short (even empty) pages with a cursor, so one call's work is bounded whatever the window.
    /// `queries` is incremented for every `Query` sent, whether it succeeds or not.
    pub async fn query_window(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        filter: &QueryFilter,
        limit: usize,
        after: Option<&Cursor>,
        queries: &mut u32,
    ) -> Result<(Vec<Quake>, Option<Cursor>), StoreError> {
        let limit = limit.min(MAX_PAGE);
        if until <= since || limit == 0 {
            return Ok((Vec::new(), None));
        }
        let last = until - ChronoDuration::microseconds(1);
        let first_day = since.date_naive();
        let Some(mut pos) = page::Position::start(since, last, after) else {
            return Ok((Vec::new(), None));
        };
        let lo = fmt_time(&since);
        let (filter_expr, names, values) = filter_expression(filter);
        let mut out: Vec<Quake> = Vec::new();
        let mut sent = 0u32;
        loop {
            let remaining = limit - out.len();
            // Without a filter, DynamoDB's Limit is exact; with one it counts evaluated items,
            // so ask for more and cut (the cursor then points at the last item returned).
            let page = if filter_expr.is_some() {
                remaining.clamp(100, 1000)
            } else {
                remaining.min(1000)
            };
            let mut q = self
                .client
                .query()
                .table_name(&*self.table)
                .index_name(attr::BY_DAY_INDEX)
                .key_condition_expression("#d = :d AND #t BETWEEN :lo AND :hi")
                .expression_attribute_values(":d", AttributeValue::S(pos.day.format("%Y-%m-%d").to_string()))
                .expression_attribute_values(":lo", AttributeValue::S(lo.clone()))
                .expression_attribute_values(":hi", AttributeValue::S(fmt_time(&pos.hi)))
                .scan_index_forward(false)
                .limit(page as i32)
                .set_filter_expression(filter_expr.clone())
                .set_exclusive_start_key(pos.start_key())
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            for (k, v) in &names {
                q = q.expression_attribute_names(*k, *v);
            }
            for (k, v) in &values {
                q = q.expression_attribute_values(*k, v.clone());
            }
            *queries += 1;
            sent += 1;
            let res = q.send().await;
            self.meter.record(
                &self.table,
                Operation::Query,
                if res.is_ok() { Outcome::Ok } else { Outcome::Error },
                res.as_ref().ok().and_then(|o| o.consumed_capacity()),
            );
            let res = res.map_err(|e| self.err(e))?;
            let items = res.items.unwrap_or_default();
            let take = items.len().min(remaining);
            for it in &items[..take] {
                out.push(item::decode_quake(it)?);
            }
            if take < items.len() {
                let q = out.last().expect("limit > 0");
                let next = Cursor::after(q.time, &q.unid);
                return Ok((out, Some(next)));
            }
            let Some(next) = next_position(&pos, res.last_evaluated_key, first_day, last) else {
                return Ok((out, None));
            };
            if out.len() >= limit || sent >= MAX_QUERIES_PER_CALL {
                return Ok((out, Some(next.cursor)));
            }
            pos = next.position;
        }
    }
}

/// The filter expression of the magnitude and depth bounds, with its names and values.
type Expr = (
    Option<String>,
    Vec<(&'static str, &'static str)>,
    Vec<(&'static str, AttributeValue)>,
);

fn filter_expression(filter: &QueryFilter) -> Expr {
    let mut filter_expr = Vec::new();
    let mut values = vec![];
    let mut names = vec![("#d", attr::DAY), ("#t", attr::TIME)];
    let mut bound = |expr: &str, name: (&'static str, &'static str), key: &'static str, v: Option<f64>| {
        if let Some(v) = v {
            filter_expr.push(expr.replace("K", name.0).replace("V", key));
            values.push((key, AttributeValue::N(v.to_string())));
            if !names.contains(&name) {
                names.push(name);
            }
        }
    };
    bound("K >= V", ("#m", attr::MAG), ":minmag", filter.minmag);
    bound("K <= V", ("#m", attr::MAG), ":maxmag", filter.maxmag);
    bound("K >= V", ("#z", attr::DEPTH_KM), ":mindepth", filter.mindepth);
    bound("K <= V", ("#z", attr::DEPTH_KM), ":maxdepth", filter.maxdepth);
    (
        (!filter_expr.is_empty()).then(|| filter_expr.join(" AND ")),
        names,
        values,
    )
}

/// Where reading continues after a `Query` at `pos`: the same day after DynamoDB's page, or the
/// day before (`None` when the window is exhausted), as a position and as the caller's cursor.
struct Next {
    position: page::Position,
    cursor: Cursor,
}

fn next_position(
    pos: &page::Position,
    lek: Option<std::collections::HashMap<String, AttributeValue>>,
    first_day: chrono::NaiveDate,
    last: DateTime<Utc>,
) -> Option<Next> {
    if let Some((t, u)) = lek.as_ref().and_then(page::Position::after_of) {
        let time = quakestream_core::model::parse_time("time", &t).ok()?;
        return Some(Next {
            cursor: Cursor::after(time, &u),
            position: page::Position {
                day: pos.day,
                after: Some((t, u)),
                hi: pos.hi,
            },
        });
    }
    let prev = pos.day.pred_opt()?;
    (prev >= first_day).then(|| Next {
        position: page::Position {
            day: prev,
            after: None,
            hi: last,
        },
        cursor: Cursor::before_day(pos.day),
    })
}

/// The standard chain without IMDS, then dummy credentials: for a non-AWS endpoint only.
fn local_credentials(region: Option<String>) -> CredentialsProviderChain {
    use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::provider_config::ProviderConfig;
    use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
    let conf = ProviderConfig::default().with_region(region.map(Region::new));
    CredentialsProviderChain::first_try("Environment", EnvironmentVariableCredentialsProvider::new())
        .or_else(
            "Profile",
            ProfileFileCredentialsProvider::builder().configure(&conf).build(),
        )
        .or_else(
            "WebIdentityToken",
            WebIdentityTokenCredentialsProvider::builder().configure(&conf).build(),
        )
        .or_else(
            "EcsContainer",
            aws_config::ecs::EcsCredentialsProvider::builder()
                .configure(&conf)
                .build(),
        )
        .or_else(
            "LocalEndpointDummy",
            Credentials::new("local", "local", None, None, "quakestream-local-endpoint"),
        )
}
