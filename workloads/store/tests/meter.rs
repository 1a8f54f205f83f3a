//! The capacity meter against a real DynamoDB API (dynoxide): a known number of writes and reads
//! and the capacity units DynamoDB itself reported for them (ReturnConsumedCapacity=TOTAL).

use chrono::{Duration, TimeZone, Utc};
use quakestream_core::model::{Quake, Source};
use quakestream_core::wire::{Action, WireRecord};
use quakestream_store::meter::{CAPACITY_UNITS_METRIC, Operation, Outcome, REQUESTS_METRIC};
use quakestream_store::{DynamoMeter, QueryFilter, UpsertOutcome, testkit};

fn rec(unid: &str, minutes: i64) -> WireRecord {
    let t0 = Utc.with_ymd_and_hms(2025, 10, 29, 12, 0, 0).unwrap();
    let q = Quake {
        unid: unid.into(),
        time: t0,
        lastupdate: t0 + Duration::minutes(minutes),
        lat: 38.0,
        lon: 27.0,
        depth_km: 7.0,
        mag: Some(3.1),
        magtype: Some("ml".into()),
        region: Some("WESTERN TURKEY".into()),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    };
    WireRecord::new(Action::Update, q, t0 + Duration::minutes(minutes + 1))
}

#[tokio::test]
async fn every_request_is_metered_with_the_capacity_dynamodb_reports() {
    let registry = prometheus::Registry::new();
    let meter = DynamoMeter::new(&registry).unwrap();
    let store = testkit::fresh_store("meter").await.with_meter(meter.clone());
    let table = store.table().to_owned();

    // 5 new events: one PutItem each (attribute_not_exists holds).
    const NEW: u64 = 5;
    for i in 0..NEW {
        assert_eq!(
            store.upsert(&rec(&format!("ev{i}"), 0)).await.unwrap(),
            UpsertOutcome::Applied
        );
    }
    let after_new = meter.units(&table, Operation::PutItem);
    // Each item is well under 1 KB: 1 write unit for the table and 1 for the by_day index.
    assert_eq!(
        after_new,
        2.0 * NEW as f64,
        "write units DynamoDB reported for {NEW} new small items"
    );

    // 3 revisions of ev0: each is a PutItem whose condition fails (the item exists; DynamoDB
    // returns it, without capacity) and the merged item written back conditionally.
    const REVISIONS: u64 = 3;
    for m in 1..=REVISIONS as i64 {
        assert_eq!(store.upsert(&rec("ev0", m)).await.unwrap(), UpsertOutcome::Applied);
    }
    assert_eq!(meter.requests(&table, Operation::PutItem, Outcome::Ok), NEW + REVISIONS);
    assert_eq!(
        meter.requests(&table, Operation::PutItem, Outcome::ConditionFailed),
        REVISIONS
    );
    let revision_units = meter.units(&table, Operation::PutItem) - after_new;
    // Rewriting a small item updates the table (1 unit) and the index entry (the key is
    // unchanged, its projected lastupdate changed: 1 unit).
    assert_eq!(revision_units, 2.0 * REVISIONS as f64);

    // 4 strongly consistent reads of small items: 1 read unit each.
    const GETS: u64 = 4;
    for i in 0..GETS {
        assert!(store.get(&format!("ev{i}")).await.unwrap().is_some());
    }
    assert_eq!(meter.requests(&table, Operation::GetItem, Outcome::Ok), GETS);
    assert_eq!(meter.units(&table, Operation::GetItem), GETS as f64);

    // One window of one day: one Query on the index, eventually consistent (0.5 unit per 4 KB).
    let t0 = Utc.with_ymd_and_hms(2025, 10, 29, 0, 0, 0).unwrap();
    let mut queries = 0;
    let (found, next) = store
        .query_window(
            t0,
            t0 + Duration::days(1),
            &QueryFilter::default(),
            100,
            None,
            &mut queries,
        )
        .await
        .unwrap();
    assert_eq!(found.len(), NEW as usize);
    assert!(next.is_none());
    assert_eq!(queries, 1, "the store's own count agrees with the meter");
    assert_eq!(meter.requests(&table, Operation::Query, Outcome::Ok), 1);
    assert_eq!(meter.units(&table, Operation::Query), 0.5);

    // The same figures reach /metrics.
    let text = quakestream_core::ops::render_metrics(&registry);
    let line = format!("{CAPACITY_UNITS_METRIC}{{kind=\"write\",operation=\"PutItem\",table=\"{table}\"}} 16");
    assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    assert!(text.contains(&format!(
        "{REQUESTS_METRIC}{{operation=\"PutItem\",outcome=\"condition_failed\",table=\"{table}\"}} 3"
    )));
}

#[tokio::test]
async fn failed_requests_are_counted_as_errors() {
    let meter = DynamoMeter::unregistered();
    // A table that does not exist: DynamoDB answers ResourceNotFoundException.
    let store = quakestream_store::Store::connect(&testkit::config("absent"))
        .await
        .unwrap()
        .with_meter(meter.clone());
    let table = store.table().to_owned();
    assert!(store.get("x").await.is_err());
    assert!(store.upsert(&rec("x", 0)).await.is_err());
    assert_eq!(meter.requests(&table, Operation::GetItem, Outcome::Error), 1);
    assert_eq!(meter.requests(&table, Operation::PutItem, Outcome::Error), 1);
    assert_eq!(meter.units(&table, Operation::PutItem), 0.0);
}
