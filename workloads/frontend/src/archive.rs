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

/// DynamoDB, through the store crate.
impl Archive for quakestream_store::Store {
    fn query_window<'a>(
        &'a self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        filter: &'a Filter,
        limit: usize,
        page_token: Option<String>,
    ) -> BoxFuture<'a, anyhow::Result<(Vec<Quake>, Option<String>)>> {
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
            Ok(quakestream_store::Store::query_window(self, since, until, &f, limit, page_token).await?)
        })
    }

    fn get<'a>(&'a self, unid: &'a str) -> BoxFuture<'a, anyhow::Result<Option<Archived>>> {
        Box::pin(async move {
            Ok(quakestream_store::Store::get(self, unid).await?.map(|s| Archived {
                first_seen: Some(s.first_seen),
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
}

/// The archive for a store handle (what `quakestream dev` and `run` pass to the frontend).
pub fn from_store(store: quakestream_store::Store) -> std::sync::Arc<dyn Archive> {
    std::sync::Arc::new(store)
}
