//! The durable archive behind the in-memory window (DynamoDB through `quakestream-store`), seen
//! through a small trait so the frontend also runs without one.

use crate::index::{Cursor, Filter, RevisionView};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use quakestream_core::model::Quake;

/// An event as the archive holds it.
#[derive(Debug, Clone)]
pub struct Archived {
    pub quake: Quake,
    pub first_seen: Option<DateTime<Utc>>,
    pub revisions: Vec<RevisionView>,
    /// Distinct revisions ever stored (the list keeps the first and the newest only).
    pub revision_count: u32,
}

/// Why the archive did not answer.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive cannot be reached or failed (throttling, 5xx, timeouts, access): try again.
    #[error("archive unavailable ({label}): {message}")]
    Unavailable { label: &'static str, message: String },
}

impl From<quakestream_store::StoreError> for ArchiveError {
    fn from(e: quakestream_store::StoreError) -> Self {
        ArchiveError::Unavailable {
            label: e.label(),
            message: e.to_string(),
        }
    }
}

/// One page of a window query.
pub struct WindowPage {
    pub quakes: Vec<Quake>,
    pub next: Option<Cursor>,
}

pub trait Archive: Send + Sync + 'static {
    /// Events with `since <= time <= until`, newest first, after `after`, filtered by magnitude
    /// and depth (the caller applies the bbox), at most `limit`, and the cursor of the next page.
    /// `calls` is incremented for every request sent to the archive, whatever the outcome.
    #[allow(clippy::too_many_arguments)]
    fn query_window<'a>(
        &'a self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        filter: &'a Filter,
        limit: usize,
        after: Option<&'a Cursor>,
        calls: &'a mut u32,
    ) -> BoxFuture<'a, Result<WindowPage, ArchiveError>>;

    /// One event with its history (one request).
    fn get<'a>(&'a self, unid: &'a str) -> BoxFuture<'a, Result<Option<Archived>, ArchiveError>>;

    /// A cheap request that succeeds when the archive is reachable and its table exists (for
    /// readiness).
    fn probe(&self) -> BoxFuture<'_, Result<(), ArchiveError>>;
}

/// DynamoDB, through the store crate.
impl Archive for quakestream_store::Store {
    fn query_window<'a>(
        &'a self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        filter: &'a Filter,
        limit: usize,
        after: Option<&'a Cursor>,
        calls: &'a mut u32,
    ) -> BoxFuture<'a, Result<WindowPage, ArchiveError>> {
        Box::pin(async move {
            let f = quakestream_store::QueryFilter {
                minmag: filter.minmag,
                maxmag: filter.maxmag,
                mindepth: filter.mindepth,
                maxdepth: filter.maxdepth,
            };
            // The store's window is half-open; ours includes `until`.
            let until = until + chrono::Duration::microseconds(1);
            let limit = limit.min(quakestream_store::MAX_PAGE);
            let (quakes, next) =
                quakestream_store::Store::query_window(self, since, until, &f, limit, after, calls).await?;
            Ok(WindowPage { quakes, next })
        })
    }

    fn get<'a>(&'a self, unid: &'a str) -> BoxFuture<'a, Result<Option<Archived>, ArchiveError>> {
        Box::pin(async move {
            Ok(quakestream_store::Store::get(self, unid).await?.map(|s| Archived {
                first_seen: Some(s.first_seen),
                revision_count: s.revision_count,
                revisions: s
                    .revisions
                    .iter()
                    .map(|r| RevisionView {
                        lastupdate: r.lastupdate,
                        time: s.quake.time,
                        mag: r.mag,
                        magtype: r.magtype.clone(),
                        lat: r.lat,
                        lon: r.lon,
                        depth_km: r.depth_km,
                        region: r.region.clone(),
                        agency: r.agency.clone(),
                    })
                    .collect(),
                quake: s.quake,
            }))
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ArchiveError>> {
        Box::pin(async move { Ok(quakestream_store::Store::probe(self).await?) })
    }
}

/// The archive for a store handle (what `quakestream dev` and `run` pass to the frontend).
pub fn from_store(store: quakestream_store::Store) -> std::sync::Arc<dyn Archive> {
    std::sync::Arc::new(store)
}
