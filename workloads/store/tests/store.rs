//! The store against a real DynamoDB API (in-process dynoxide over HTTP, via the AWS SDK).

use chrono::{DateTime, Duration, TimeZone, Utc};
use quakestream_core::model::{Quake, Source};
use quakestream_core::wire::{Action, WireRecord};
use quakestream_store::testkit;
use quakestream_store::{Cursor, MAX_QUERIES_PER_CALL, QueryFilter, Store, StoreError, UpsertOutcome};
use std::collections::BTreeSet;

fn quake(unid: &str, time: DateTime<Utc>, lu: DateTime<Utc>, mag: f64, depth: f64) -> Quake {
    Quake {
        unid: unid.into(),
        time,
        lastupdate: lu,
        lat: 38.0,
        lon: 27.0,
        depth_km: depth,
        mag: Some(mag),
        magtype: Some("ml".into()),
        region: Some("WESTERN TURKEY".into()),
        agency: Some("EMSC".into()),
        evtype: Some("ke".into()),
        source: Source::Emsc,
    }
}

fn rec(q: Quake) -> WireRecord {
    let at = q.lastupdate + Duration::seconds(2);
    WireRecord::new(Action::Update, q, at)
}

#[tokio::test]
async fn create_table_is_idempotent() {
    let store = testkit::fresh_store("idem").await;
    assert!(!store.create_table().await.unwrap(), "second create reports it existed");
    let missing = Store::connect(&testkit::config("missing")).await.unwrap();
    let t = Utc::now();
    let err = missing.upsert(&rec(quake("x1", t, t, 1.0, 5.0))).await.unwrap_err();
    assert!(matches!(err, StoreError::TableNotFound { .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn upsert_keeps_newest_and_every_revision() {
    let store = testkit::fresh_store("rev").await;
    let t0 = Utc.with_ymd_and_hms(2025, 10, 29, 12, 0, 0).unwrap();
    let revs: Vec<WireRecord> = (0..4)
        .map(|i| {
            rec(quake(
                "20251029_0000403",
                t0,
                t0 + Duration::minutes(i * 5),
                3.4 + i as f64,
                1.1,
            ))
        })
        .collect();
    assert_eq!(store.upsert(&revs[2]).await.unwrap(), UpsertOutcome::Applied);
    assert_eq!(store.upsert(&revs[0]).await.unwrap(), UpsertOutcome::Stale);
    assert_eq!(store.upsert(&revs[3]).await.unwrap(), UpsertOutcome::Applied);
    assert_eq!(store.upsert(&revs[1]).await.unwrap(), UpsertOutcome::Stale);
    assert_eq!(store.upsert(&revs[3]).await.unwrap(), UpsertOutcome::Stale);
    let got = store.get("20251029_0000403").await.unwrap().unwrap();
    assert_eq!(got.quake, revs[3].quake);
    assert_eq!(got.revision_count, 4);
    let lus: Vec<_> = got.revisions.iter().map(|r| r.lastupdate).collect();
    assert_eq!(lus, revs.iter().map(|r| r.quake.lastupdate).collect::<Vec<_>>());
    assert_eq!(got.first_seen, revs[0].received_at);
    assert!(store.get("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_writers_of_one_event_lose_nothing() {
    let store = testkit::fresh_store("race").await;
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = store.clone();
            let r = rec(quake("race1", t0, t0 + Duration::seconds(i), i as f64 / 4.0, 10.0));
            tokio::spawn(async move { s.upsert(&r).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let got = store.get("race1").await.unwrap().unwrap();
    assert_eq!(got.revision_count, 16);
    assert_eq!(got.revisions.len(), 16);
    assert_eq!(got.quake.lastupdate, t0 + Duration::seconds(15));
}

#[tokio::test]
async fn window_query_pages_across_days_with_filters() {
    let store = testkit::fresh_store("win").await;
    let start = Utc.with_ymd_and_hms(2024, 4, 28, 0, 0, 0).unwrap();
    // 3 days, one event every 30 minutes: 144 events, mags cycling 0.0..4.7, depths 0..47.
    let mut all = Vec::new();
    for i in 0..144i64 {
        let t = start + Duration::minutes(30 * i);
        let q = quake(&format!("ev{i:03}"), t, t, (i % 48) as f64 / 10.0, (i % 48) as f64);
        store.upsert(&rec(q.clone())).await.unwrap();
        all.push(q);
    }
    let since = start + Duration::hours(6);
    let until = start + Duration::hours(60);
    let page_all = |filter: QueryFilter, limit: usize| {
        let store = store.clone();
        async move {
            let mut out = Vec::new();
            let mut token: Option<Cursor> = None;
            let mut pages = 0;
            loop {
                let mut calls = 0;
                let (items, next) = store
                    .query_window(since, until, &filter, limit, token.as_ref(), &mut calls)
                    .await
                    .unwrap();
                assert!(items.len() <= limit);
                assert!((1..=MAX_QUERIES_PER_CALL).contains(&calls), "{calls} queries");
                out.extend(items);
                pages += 1;
                assert!(pages < 1000);
                match next {
                    Some(t) => token = Some(t),
                    None => return out,
                }
            }
        }
    };
    let expect = |f: &dyn Fn(&Quake) -> bool| -> Vec<String> {
        let mut v: Vec<&Quake> = all
            .iter()
            .filter(|q| q.time >= since && q.time < until && f(q))
            .collect();
        v.sort_by_key(|q| std::cmp::Reverse(q.time));
        v.iter().map(|q| q.unid.clone()).collect()
    };
    let ids = |v: Vec<Quake>| v.into_iter().map(|q| q.unid).collect::<Vec<_>>();
    for limit in [1, 7, 50, 500] {
        assert_eq!(
            ids(page_all(QueryFilter::default(), limit).await),
            expect(&|_| true),
            "limit {limit}"
        );
    }
    let f = QueryFilter {
        minmag: Some(2.0),
        maxmag: Some(3.0),
        mindepth: None,
        maxdepth: Some(25.0),
    };
    let want = expect(&|q| q.mag.unwrap() >= 2.0 && q.mag.unwrap() <= 3.0 && q.depth_km <= 25.0);
    assert!(!want.is_empty());
    for limit in [1, 3, 100] {
        assert_eq!(ids(page_all(f.clone(), limit).await), want, "filtered, limit {limit}");
    }
    let uniq: BTreeSet<_> = want.iter().collect();
    assert_eq!(uniq.len(), want.len());
    let mut calls = 0;
    let (none, next) = store
        .query_window(until, since, &QueryFilter::default(), 5, None, &mut calls)
        .await
        .unwrap();
    assert!(none.is_empty() && next.is_none());
    assert_eq!(calls, 0, "an empty window costs nothing");

    // Any cursor is a place in the window, not only the ones the store returned: one naming an
    // event that does not exist continues just below it; one after the window starts at the
    // top; one before it ends the window.
    let page = |after: Cursor| {
        let store = store.clone();
        async move {
            let mut calls = 0;
            let (items, _) = store
                .query_window(since, until, &QueryFilter::default(), 3, Some(&after), &mut calls)
                .await
                .unwrap();
            items.into_iter().map(|q| q.unid).collect::<Vec<_>>()
        }
    };
    let every = expect(&|_| true);
    let mid = start + Duration::minutes(30 * 50);
    assert_eq!(
        page(Cursor::after(mid, "zzz-not-an-event")).await,
        vec!["ev050", "ev049", "ev048"]
    );
    assert_eq!(page(Cursor::after(mid, "")).await, vec!["ev049", "ev048", "ev047"]);
    assert_eq!(
        page(Cursor::after(until + Duration::days(9), "x")).await,
        every[..3].to_vec()
    );
    assert!(page(Cursor::after(since - Duration::seconds(1), "x")).await.is_empty());
}

#[tokio::test]
async fn one_call_sends_a_bounded_number_of_queries_however_long_the_window() {
    let store = testkit::fresh_store("bounded").await;
    let now = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
    let old = now - Duration::days(700);
    store.upsert(&rec(quake("old-one", old, old, 4.0, 10.0))).await.unwrap();
    store.upsert(&rec(quake("new-one", now, now, 4.0, 10.0))).await.unwrap();
    // Two years, and a magnitude no stored event has: every day is read and nothing matches.
    let (since, until) = (now - Duration::days(731), now + Duration::hours(1));
    let filter = QueryFilter {
        minmag: Some(9.9),
        ..QueryFilter::default()
    };
    let (mut cursor, mut calls_total, mut pages) = (None::<Cursor>, 0u32, 0u32);
    loop {
        let mut calls = 0;
        let (items, next) = store
            .query_window(since, until, &filter, 100, cursor.as_ref(), &mut calls)
            .await
            .unwrap();
        assert!(items.is_empty());
        assert!(calls <= MAX_QUERIES_PER_CALL, "{calls} queries in one call");
        calls_total += calls;
        pages += 1;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // One Query per day, each counted, over pages of at most MAX_QUERIES_PER_CALL.
    let days = (until.date_naive() - since.date_naive()).num_days() as u32 + 1;
    assert_eq!(calls_total, days);
    assert_eq!(pages, days.div_ceil(MAX_QUERIES_PER_CALL));
    // Without the impossible filter the same paging finds both events, in order.
    let (mut cursor, mut found) = (None::<Cursor>, Vec::new());
    loop {
        let mut calls = 0;
        let (items, next) = store
            .query_window(since, until, &QueryFilter::default(), 100, cursor.as_ref(), &mut calls)
            .await
            .unwrap();
        found.extend(items.into_iter().map(|q| q.unid));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(found, vec!["new-one", "old-one"]);
}
