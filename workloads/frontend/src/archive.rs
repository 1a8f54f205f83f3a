//! The durable archive behind the in-memory window (DynamoDB through `quakestream-store`), seen
//! through a small trait so the frontend also runs without one.

use crate::index::{Filter, RevisionView};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use quakestream_core::model::Quake;

/// An event as the archive holds it.
#[derive(Debug, Clone)]
pub struct Archived {
    pub quake: Quake,
    pub first_seen: Option<DateTime<Utc>>,
    pub revisions: Vec<RevisionView>,
}

pub trait Archive: Send + Sync + 'static {
    /// Events with `since <= time <= until`, newest first, filtered by magnitude and depth (the
    /// caller applies the bbox), at most `limit`, and a token for the next page.
    fn query_window<'a>(
        &'a self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        filter: &'a Filter,
        limit: usize,
        page_token: Option<String>,
    ) -> BoxFuture<'a, anyhow::Result<(Vec<Quake>, Option<String>)>>;

    fn get<'a>(&'a self, unid: &'a str) -> BoxFuture<'a, anyhow::Result<Option<Archived>>>;
}
