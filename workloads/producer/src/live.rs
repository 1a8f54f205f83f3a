//! The live EMSC feed: a websocket that is pinged, watched for silence and reconnected with
//! capped exponential backoff and jitter; every gap (the start, and each lost connection) is
//! backfilled from EMSC's FDSN event service, because the websocket has no replay. A backfill
//! runs to completion across reconnections; gaps that open while it runs are backfilled after it.

use super::{Input, Origin, ProducerMetrics, Watermark};
use backon::BackoffBuilder;
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use quakestream_core::model::fmt_time;
use quakestream_core::ops::Health;
use quakestream_core::parse::{self, FileItem, Item, Raw, RejectReason};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::{debug, error, info, warn};

use quakestream_contract::limits::{MAX_FDSN_PAGE_BYTES, MAX_WS_MESSAGE_BYTES};

pub const DEFAULT_EMSC_URL: &str = quakestream_contract::producer::DEFAULT_EMSC_URL;
pub const DEFAULT_FDSN_URL: &str = quakestream_contract::producer::DEFAULT_FDSN_URL;

#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub emsc_url: String,
    pub fdsn_url: String,
    /// FDSN page size.
    pub backfill_limit: u32,
    /// On a fresh start (nothing seen yet), how far back the first backfill reaches.
    pub backfill_max_age: Duration,
    /// Backfill from this much before the newest `lastupdate` seen, for FDSN indexing delay.
    pub backfill_overlap: Duration,
    /// At most this many pages per backfill (a guard against a runaway server).
    pub backfill_max_pages: u32,
    pub ping_interval: Duration,
    /// No frame, ping or pong for this long: the connection is dead.
    pub silence_timeout: Duration,
    /// No data frame for this long (pongs do not count): the feed is stuck; reconnect and backfill.
    pub feed_silence_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub http_timeout: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            emsc_url: DEFAULT_EMSC_URL.into(),
            fdsn_url: DEFAULT_FDSN_URL.into(),
            backfill_limit: 500,
            backfill_max_age: Duration::from_secs(24 * 3600),
            backfill_overlap: Duration::from_secs(120),
            backfill_max_pages: 1000,
            ping_interval: Duration::from_secs(15),
            silence_timeout: Duration::from_secs(60),
            feed_silence_timeout: Duration::from_secs(600),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            http_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("no frame, pong or ping for {0:?}: connection presumed dead")]
    Silence(Duration),
    #[error("no data frame for {0:?} (the peer may still answer pings): feed presumed stuck")]
    FeedSilence(Duration),
    #[error("server closed the connection")]
    Closed,
    #[error("FDSN request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("FDSN answered HTTP {status}: {body}")]
    HttpStatus { status: u16, body: String },
    #[error("FDSN response is not a FeatureCollection: {0}")]
    BadPage(String),
    #[error("FDSN page over the {limit}-byte limit even with {page_size} events a page")]
    PageTooLarge { limit: usize, page_size: u32 },
}

/// Where whatever the live feed reads goes: the pipeline, the metrics, and the watermark the
/// next backfill starts from. Shared by the websocket reader and the backfill.
#[derive(Clone)]
struct Feed {
    tx: mpsc::Sender<Input>,
    metrics: ProducerMetrics,
    watermark: Watermark,
}

impl Feed {
    /// Hands an input to the pipeline; false once the pipeline is gone (shutting down).
    async fn send(&self, input: Input) -> bool {
        if let Ok(Item::Event { quake, .. }) = &input.result {
            self.watermark.observe(quake.lastupdate);
        }
        self.tx.send(input).await.is_ok()
    }
}

/// Why a connection ended.
enum Ended {
    Shutdown,
    Lost(LiveError),
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The FDSN backfill, which outlives the connection it started on: at most one runs at a time,
/// and the gaps that open while it runs wait for the next one. A running backfill cannot be
/// trusted to cover a gap that opened after it started: it pages by origin time with offsets,
/// which that gap's new events and revisions shift.
struct Backfills {
    cfg: LiveConfig,
    http: reqwest::Client,
    feed: Feed,
    running: Option<Running>,
    /// The start of the oldest gap not covered by a backfill started after it.
    pending: Option<DateTime<Utc>>,
}

/// A backfill task, where its gap starts, and whether it completed (false until it does).
struct Running {
    since: DateTime<Utc>,
    task: tokio::task::JoinHandle<()>,
    done: watch::Receiver<bool>,
}

impl Backfills {
    /// Nothing seen yet: the first gap reaches `backfill_max_age` back.
    fn new(cfg: &LiveConfig, http: reqwest::Client, feed: Feed) -> Self {
        Backfills {
            cfg: cfg.clone(),
            http,
            feed,
            running: None,
            pending: Some(max_age_ago(cfg)),
        }
    }

    /// A connection ended, opening a gap from `start`; the oldest pending start is kept.
    fn gap(&mut self, start: DateTime<Utc>) {
        self.pending = Some(self.pending.map_or(start, |p| p.min(start)));
    }

    /// Connected: a backfill that ended meanwhile is settled, and the pending gap's backfill is
    /// started unless one is running. (A gap's backfill waits for the reconnection that closes
    /// the gap: one started before it would miss what is published after it ran.)
    fn connected(&mut self) {
        if self.running.as_ref().is_some_and(|r| r.task.is_finished()) {
            self.settle();
        }
        self.start();
    }

    /// Resolves when the running backfill ends (never while none runs). Cancel-safe.
    async fn ended(&mut self) {
        if let Some(r) = &mut self.running {
            // Err: it ended without completing (its sender is gone).
            let _ = r.done.wait_for(|done| *done).await;
        } else {
            std::future::pending::<()>().await;
        }
    }

    /// Forgets the backfill that ended: true if it completed (its gap is covered); if it did
    /// not, its gap is pending again.
    fn settle(&mut self) -> bool {
        let Some(r) = self.running.take() else {
            return false;
        };
        let completed = *r.done.borrow();
        if !completed {
            if !self.feed.tx.is_closed() {
                error!(since = %fmt_time(&r.since), "backfill ended without completing; its gap is pending again");
            }
            self.gap(r.since);
        }
        completed
    }

    fn start(&mut self) {
        if self.running.is_some() || self.feed.tx.is_closed() {
            return;
        }
        let Some(since) = self.pending.take() else {
            return;
        };
        let (done_tx, done) = watch::channel(false);
        let (cfg, http, feed) = (self.cfg.clone(), self.http.clone(), self.feed.clone());
        let task = tokio::spawn(async move {
            let completed = backfill_until_done(&cfg, &http, since, &feed).await;
            let _ = done_tx.send(completed);
        });
        self.running = Some(Running { since, task, done });
    }

    /// Where the running backfill started, and where the next one will (for the logs).
    fn describe(&self) -> (String, String) {
        let running = self.running.as_ref().map(|r| fmt_time(&r.since));
        (
            running.unwrap_or_default(),
            self.pending.map(|t| fmt_time(&t)).unwrap_or_default(),
        )
    }
}

impl Drop for Backfills {
    /// Shutting down: the running backfill stops.
    fn drop(&mut self) {
        if let Some(r) = &self.running {
            r.task.abort();
        }
    }
}

fn max_age_ago(cfg: &LiveConfig) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(cfg.backfill_max_age).unwrap_or_default()
}

/// Where the gap a lost connection leaves starts: the newest revision seen (a little before,
/// for FDSN's indexing delay), or `backfill_max_age` back if nothing was seen.
fn gap_start(cfg: &LiveConfig, watermark: &Watermark) -> DateTime<Utc> {
    match watermark.get() {
        Some(t) => t - chrono::Duration::from_std(cfg.backfill_overlap).unwrap_or_default(),
        None => max_age_ago(cfg),
    }
}

/// Runs the live feed until `shutdown`. Inputs go to `tx`; `watermark` tracks the newest
/// `lastupdate` the pipeline has seen, from which each backfill starts.
pub async fn run(
    cfg: LiveConfig,
    tx: mpsc::Sender<Input>,
    watermark: Watermark,
    metrics: ProducerMetrics,
    health: Health,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = reqwest::Client::builder()
        .timeout(cfg.http_timeout)
        .user_agent(concat!("quakestream/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("building the HTTP client");
    let feed = Feed {
        tx,
        metrics: metrics.clone(),
        watermark: watermark.clone(),
    };
    let mut backfills = Backfills::new(&cfg, http, feed.clone());
    let mut backoff = new_backoff(&cfg);
    let mut first = true;
    while !*shutdown.borrow() {
        if !first {
            metrics.reconnects.inc();
        }
        first = false;
        let ws = match connect(&cfg, &mut backoff, &mut shutdown).await {
            Attempt::Open(ws) => *ws,
            Attempt::Failed => continue,
            Attempt::Shutdown => break,
        };
        info!(url = %cfg.emsc_url, "websocket connected");
        metrics.connected.set(1);
        health.set_ready(true);
        let connected_at = Instant::now();
        // Backfill the gap while the socket buffers new frames; both feed the same pipeline,
        // whose dedup drops the overlap.
        backfills.connected();
        let ended = read_frames(&cfg, ws, &feed, &mut shutdown, &mut backfills).await;
        metrics.connected.set(0);
        let Ended::Lost(e) = ended else { break };
        backfills.gap(gap_start(&cfg, &watermark));
        if connected_at.elapsed() > Duration::from_secs(30) {
            backoff = new_backoff(&cfg);
        }
        let delay = backoff.next().unwrap_or(cfg.reconnect_max);
        let (running, next) = backfills.describe();
        warn!(error = %e, retry_in_ms = delay.as_millis() as u64, backfill_running_from = %running,
            backfill_from = %next, "websocket lost; reconnecting");
        if sleep_or_shutdown(delay, &mut shutdown).await {
            break;
        }
    }
    drop(backfills);
    info!("live feed stopped");
}

/// The outcome of one connection attempt.
enum Attempt {
    Open(Box<Ws>),
    /// Failed (logged), and the backoff delay has passed.
    Failed,
    Shutdown,
}

async fn connect(
    cfg: &LiveConfig,
    backoff: &mut backon::ExponentialBackoff,
    shutdown: &mut watch::Receiver<bool>,
) -> Attempt {
    // Read messages up to MAX_WS_MESSAGE_BYTES, so one over the item limit is dead-lettered
    // and the connection kept; only a bigger one ends the connection.
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_WS_MESSAGE_BYTES));
    let connect = tokio_tungstenite::connect_async_with_config(&cfg.emsc_url, Some(ws_config), false);
    let attempt = tokio::select! {
        _ = quakestream_core::ops::stopped(shutdown) => return Attempt::Shutdown,
        r = tokio::time::timeout(cfg.http_timeout, connect) => r,
    };
    let error = match attempt {
        Ok(Ok((ws, _))) => return Attempt::Open(Box::new(ws)),
        Ok(Err(e)) => Some(e),
        Err(_) => None,
    };
    let delay = backoff.next().unwrap_or(cfg.reconnect_max);
    match error {
        Some(e) => {
            warn!(url = %cfg.emsc_url, error = %e, retry_in_ms = delay.as_millis() as u64, "websocket connect failed")
        }
        None => warn!(url = %cfg.emsc_url, retry_in_ms = delay.as_millis() as u64, "websocket connect timed out"),
    }
    if sleep_or_shutdown(delay, shutdown).await {
        Attempt::Shutdown
    } else {
        Attempt::Failed
    }
}

fn new_backoff(cfg: &LiveConfig) -> backon::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(cfg.reconnect_min)
        .with_max_delay(cfg.reconnect_max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// True if shutdown was requested during the sleep.
async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    let interrupted = tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = quakestream_core::ops::stopped(shutdown) => true,
    };
    interrupted || *shutdown.borrow()
}

/// Reads the connection until it is lost or shutdown; a backfill that ends meanwhile is settled.
async fn read_frames(
    cfg: &LiveConfig,
    ws: Ws,
    feed: &Feed,
    shutdown: &mut watch::Receiver<bool>,
    backfills: &mut Backfills,
) -> Ended {
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval_at(Instant::now() + cfg.ping_interval, cfg.ping_interval);
    let mut last_heard = Instant::now();
    let mut last_frame = Instant::now();
    loop {
        tokio::select! {
            _ = quakestream_core::ops::stopped(shutdown) => {
                let _ = sink.send(Message::Close(None)).await;
                return Ended::Shutdown;
            }
            () = backfills.ended() => {
                if feed.tx.is_closed() {
                    return Ended::Shutdown;
                }
                if backfills.settle() {
                    backfills.start();
                }
            }
            _ = tokio::time::sleep_until(last_heard + cfg.silence_timeout) => {
                return Ended::Lost(LiveError::Silence(cfg.silence_timeout));
            }
            _ = tokio::time::sleep_until(last_frame + cfg.feed_silence_timeout) => {
                feed.metrics.feed_silences.inc();
                let _ = sink.send(Message::Close(None)).await;
                return Ended::Lost(LiveError::FeedSilence(cfg.feed_silence_timeout));
            }
            _ = ping.tick() => {
                if let Err(e) = sink.send(Message::Ping(Default::default())).await {
                    return Ended::Lost(e.into());
                }
            }
            msg = stream.next() => {
                let msg = match msg {
                    None => return Ended::Lost(LiveError::Closed),
                    Some(Err(e)) => return Ended::Lost(e.into()),
                    Some(Ok(m)) => m,
                };
                last_heard = Instant::now();
                let result = match &msg {
                    Message::Text(t) => parse::parse_frame_bytes(t.as_bytes()),
                    Message::Binary(b) => parse::parse_frame_bytes(b),
                    Message::Close(_) => return Ended::Lost(LiveError::Closed),
                    _ => continue,
                };
                last_frame = last_heard;
                feed.metrics.frame_received();
                let label = match &result {
                    Ok(Item::Event { action, .. }) => action.as_str(),
                    Ok(Item::UnknownAction { .. }) => "unknown",
                    Err(_) => "invalid",
                };
                feed.metrics.frames.with_label_values(&[label]).inc();
                if let Ok(Item::Event { quake, .. }) = &result {
                    debug!(unid = %quake.unid, action = label, "frame received");
                }
                let raw = match (&result, &msg) {
                    (Ok(_), _) => Raw::default(),
                    (Err(_), Message::Text(t)) => Raw::of(t.as_bytes()),
                    (Err(_), Message::Binary(b)) => Raw::of(b),
                    (Err(_), _) => Raw::default(),
                };
                let input = Input { origin: Origin::Live, result, raw, received_at: Utc::now() };
                if !feed.send(input).await {
                    return Ended::Shutdown;
                }
            }
        }
    }
}

/// Backfills from `since`, retrying failed pages with backoff until it completes: true, or false
/// if it stopped because the pipeline is gone.
async fn backfill_until_done(cfg: &LiveConfig, http: &reqwest::Client, since: DateTime<Utc>, feed: &Feed) -> bool {
    let mut backoff = new_backoff(cfg);
    loop {
        match backfill(cfg, http, since, feed).await {
            // The pipeline is gone (shutting down): stopped, not complete.
            Ok(_) if feed.tx.is_closed() => return false,
            Ok(n) => {
                info!(since = %fmt_time(&since), events = n, "backfill complete");
                return true;
            }
            Err(e) => {
                let delay = backoff.next().unwrap_or(cfg.reconnect_max);
                error!(since = %fmt_time(&since), error = %e, retry_in_ms = delay.as_millis() as u64, "backfill failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// One backfill pass: pages of `updatedafter=since`, `limit`/`offset` (1-based, as FDSN says),
/// until a short page. Returns the number of features received.
async fn backfill(
    cfg: &LiveConfig,
    http: &reqwest::Client,
    since: DateTime<Utc>,
    feed: &Feed,
) -> Result<u64, LiveError> {
    let metrics = &feed.metrics;
    let mut limit = cfg.backfill_limit.max(1);
    let mut offset = 1u64;
    let mut total = 0u64;
    for _ in 0..cfg.backfill_max_pages {
        let mut url =
            reqwest::Url::parse(&cfg.fdsn_url).map_err(|e| LiveError::BadPage(format!("bad FDSN URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("format", "json")
            .append_pair("updatedafter", &since.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
            .append_pair("orderby", "time-asc")
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", &offset.to_string());
        let resp = http.get(url.clone()).send().await.inspect_err(|_| {
            metrics.backfill_requests.with_label_values(&["error"]).inc();
        })?;
        let status = resp.status();
        // FDSN answers 204 No Content when nothing matches.
        if status.as_u16() == 204 {
            metrics.backfill_requests.with_label_values(&["ok"]).inc();
            break;
        }
        if !status.is_success() {
            metrics.backfill_requests.with_label_values(&["error"]).inc();
            let body = resp.text().await.unwrap_or_default().chars().take(200).collect();
            return Err(LiveError::HttpStatus {
                status: status.as_u16(),
                body,
            });
        }
        let body = match read_page(resp).await {
            Ok(Some(body)) => body,
            Ok(None) if limit > 1 => {
                // Over MAX_FDSN_PAGE_BYTES: ask for the same events in smaller pages.
                metrics.backfill_requests.with_label_values(&["too_large"]).inc();
                limit = (limit / 2).max(1);
                warn!(url = %url, limit = MAX_FDSN_PAGE_BYTES, page_size = limit, "FDSN page too large; halving the page size");
                continue;
            }
            Ok(None) => {
                metrics.backfill_requests.with_label_values(&["too_large"]).inc();
                return Err(LiveError::PageTooLarge {
                    limit: MAX_FDSN_PAGE_BYTES,
                    page_size: limit,
                });
            }
            Err(e) => {
                metrics.backfill_requests.with_label_values(&["error"]).inc();
                return Err(e.into());
            }
        };
        let mut items: Vec<FileItem> = Vec::new();
        let summary = parse::parse_fdsn_page(&body, |it| items.push(it));
        // A feature over the item limit ends the page's read: it is dead-lettered (with the
        // rest of the page), and the next request starts right after it. Any other
        // document-level error is a bad page, asked again.
        let cut = match items.last() {
            Some(FileItem {
                result: Err(RejectReason::TooLarge(_)),
                position: parse::Position::Document,
                ..
            }) => true,
            Some(FileItem {
                result: Err(e),
                position: parse::Position::Document,
                ..
            }) => {
                metrics.backfill_requests.with_label_values(&["error"]).inc();
                return Err(LiveError::BadPage(e.to_string()));
            }
            _ => false,
        };
        metrics.backfill_requests.with_label_values(&["ok"]).inc();
        let n = summary.items;
        total += n;
        debug!(url = %url, features = n, "backfill page");
        let now = Utc::now();
        for it in items {
            let input = Input {
                origin: Origin::Backfill,
                result: it.result,
                raw: it.raw,
                received_at: now,
            };
            if !feed.send(input).await {
                return Ok(total);
            }
        }
        if !cut && n < u64::from(limit) {
            break;
        }
        offset += n + u64::from(cut);
    }
    Ok(total)
}

/// Reads a page body of at most [`MAX_FDSN_PAGE_BYTES`] (None if it is longer: it is not read on).
async fn read_page(mut resp: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > MAX_FDSN_PAGE_BYTES as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_FDSN_PAGE_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Tries to open the websocket once, within `timeout`: whether the live feed is reachable now.
pub async fn probe(url: &str, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url)).await {
        Ok(Ok((mut ws, _))) => {
            let _ = ws.close(None).await;
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_keeps_the_oldest_pending_start() {
        let registry = prometheus::Registry::new();
        let (tx, _rx) = mpsc::channel(1);
        let feed = Feed {
            tx,
            metrics: ProducerMetrics::new(&registry).unwrap(),
            watermark: Watermark::default(),
        };
        let cfg = LiveConfig::default();
        let mut b = Backfills::new(&cfg, reqwest::Client::new(), feed);
        let first = b.pending.unwrap();
        let later = first + chrono::Duration::hours(1);
        b.gap(later);
        assert_eq!(b.pending, Some(first), "the older start is kept");
        b.pending = None;
        b.gap(later);
        b.gap(later + chrono::Duration::minutes(5));
        assert_eq!(b.pending, Some(later));
        assert!(!b.settle(), "nothing ran");
        assert_eq!(b.pending, Some(later));
    }
}
