//! What the store spends: DynamoDB's own account of the capacity each request consumed.
//!
//! Every `PutItem`, `GetItem` and `Query` asks for `ReturnConsumedCapacity=TOTAL` (table and
//! indexes together) and adds the units DynamoDB returns here, by table and operation; on-demand
//! tables bill exactly these units (write request units, read request units). A conditional write
//! whose condition fails is billed too (at least one write unit), but the error response carries
//! no capacity, so it is counted as a request with `outcome="condition_failed"` and the cost rules
//! (workloads/cost) price it at the one-unit minimum.
//!
//! The metric names are a contract with the cost rules and the Cost dashboard.

use aws_sdk_dynamodb::types::ConsumedCapacity;
use prometheus::{CounterVec, IntCounterVec, Opts, Registry};

/// Capacity units DynamoDB reported as consumed, by table, operation and kind (`read`/`write`).
pub const CAPACITY_UNITS_METRIC: &str = "quakestream_dynamodb_consumed_capacity_units_total";
/// DynamoDB requests, by table, operation and outcome (`ok`, `condition_failed`, `error`).
pub const REQUESTS_METRIC: &str = "quakestream_dynamodb_requests_total";

/// The DynamoDB operations the store makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PutItem,
    GetItem,
    Query,
}

impl Operation {
    /// The API name, the `operation` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::PutItem => "PutItem",
            Operation::GetItem => "GetItem",
            Operation::Query => "Query",
        }
    }

    /// `write` (billed in write request units) or `read` (read request units), the `kind` label.
    pub fn kind(self) -> &'static str {
        match self {
            Operation::PutItem => "write",
            Operation::GetItem | Operation::Query => "read",
        }
    }
}

/// How a request ended, the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A conditional write whose condition did not hold (billed, but reported without capacity).
    ConditionFailed,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ConditionFailed => "condition_failed",
            Outcome::Error => "error",
        }
    }
}

/// Counters of consumed capacity and requests. Cheap to clone (the counters are shared).
#[derive(Clone)]
pub struct DynamoMeter {
    units: CounterVec,
    requests: IntCounterVec,
}

impl std::fmt::Debug for DynamoMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoMeter").finish_non_exhaustive()
    }
}

impl DynamoMeter {
    /// A meter whose counters are exported through `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let m = Self::unregistered();
        registry.register(Box::new(m.units.clone()))?;
        registry.register(Box::new(m.requests.clone()))?;
        Ok(m)
    }

    /// A meter that counts but exports nothing (a store nobody scrapes).
    pub fn unregistered() -> Self {
        let units = CounterVec::new(
            Opts::new(
                CAPACITY_UNITS_METRIC,
                "Capacity units DynamoDB reported as consumed (ReturnConsumedCapacity=TOTAL: table and indexes), by table, operation and kind",
            ),
            &["table", "operation", "kind"],
        )
        .expect("valid metric definition");
        let requests = IntCounterVec::new(
            Opts::new(REQUESTS_METRIC, "DynamoDB requests, by table, operation and outcome"),
            &["table", "operation", "outcome"],
        )
        .expect("valid metric definition");
        DynamoMeter { units, requests }
    }

    /// Counts one request and the capacity its response reported (if any).
    pub fn record(&self, table: &str, op: Operation, outcome: Outcome, consumed: Option<&ConsumedCapacity>) {
        self.requests
            .with_label_values(&[table, op.as_str(), outcome.as_str()])
            .inc();
        if let Some(units) = consumed.and_then(|c| c.capacity_units()) {
            // Never negative; a malformed figure must not make a counter go backwards.
            if units.is_finite() && units > 0.0 {
                self.units
                    .with_label_values(&[table, op.as_str(), op.kind()])
                    .inc_by(units);
            }
        }
    }

    /// Units counted so far for `table` and `op`.
    pub fn units(&self, table: &str, op: Operation) -> f64 {
        self.units.with_label_values(&[table, op.as_str(), op.kind()]).get()
    }

    /// Requests counted so far for `table`, `op` and `outcome`.
    pub fn requests(&self, table: &str, op: Operation, outcome: Outcome) -> u64 {
        self.requests
            .with_label_values(&[table, op.as_str(), outcome.as_str()])
            .get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_units_and_requests_by_operation() {
        let m = DynamoMeter::unregistered();
        let cc = ConsumedCapacity::builder().table_name("t").capacity_units(2.0).build();
        m.record("t", Operation::PutItem, Outcome::Ok, Some(&cc));
        m.record("t", Operation::PutItem, Outcome::ConditionFailed, None);
        m.record("t", Operation::Query, Outcome::Ok, Some(&cc));
        assert_eq!(m.units("t", Operation::PutItem), 2.0);
        assert_eq!(m.units("t", Operation::Query), 2.0);
        assert_eq!(m.units("t", Operation::GetItem), 0.0);
        assert_eq!(m.requests("t", Operation::PutItem, Outcome::Ok), 1);
        assert_eq!(m.requests("t", Operation::PutItem, Outcome::ConditionFailed), 1);
    }

    #[test]
    fn ignores_negative_and_nan_figures() {
        let m = DynamoMeter::unregistered();
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let cc = ConsumedCapacity::builder().capacity_units(bad).build();
            m.record("t", Operation::GetItem, Outcome::Ok, Some(&cc));
        }
        assert_eq!(m.units("t", Operation::GetItem), 0.0);
        assert_eq!(m.requests("t", Operation::GetItem, Outcome::Ok), 3);
    }

    #[test]
    fn exports_through_the_registry() {
        let r = Registry::new();
        let m = DynamoMeter::new(&r).unwrap();
        m.record("quakes", Operation::GetItem, Outcome::Ok, None);
        let names: Vec<String> = r.gather().iter().map(|f| f.name().to_owned()).collect();
        assert!(names.contains(&REQUESTS_METRIC.to_owned()), "{names:?}");
    }
}
