//! The HTTP server: HTTP/1.1 connections served by hyper, with a write-stall guard on each.
//!
//! A client that stops reading (a frozen phone, a tab in a suspended laptop, a hostile client)
//! fills its TCP window; hyper then stops polling the response body, so the SSE stream never
//! sees that it is behind and the connection would sit there forever. The guard fails a write
//! that has made no progress for `limit`: hyper closes the connection, the stream is dropped
//! (its `sse_clients` count goes down) and `quakestream_frontend_write_stalls_total` counts it.
//! Progress of any size resets the clock, so a slow but moving link is never cut, and an idle
//! keep-alive connection (nothing to write) is not affected.
//!
//! Why not `axum::serve`: every open `/api/stream` is a connection that lives for hours, so its
//! fixed cost decides how many browsers one replica holds. `axum::serve` sniffs each connection
//! for HTTP/2 first and replays the sniffed bytes to hyper, which makes hyper grow its read
//! buffer from 8 to 16 kB on the second read. Here connections are HTTP/1.1 only (the Ingress
//! terminates TLS and HTTP/2 and speaks HTTP/1.1 to the pods), which took an open stream from
//! about 20 to 13 kB of RSS (docs/benchmarks.md). What is left is mostly hyper's own 8 kB read
//! and 8 kB header write buffers, of which only the touched pages count.
//!
//! What one connection may hold is bounded too (slowloris and friends):
//! - a request head must arrive within `header_read_timeout` of its first byte (the guard below
//!   counts parsed heads, so a slow head is told apart from an idle keep-alive connection), and
//!   be at most [`MAX_HEAD_BYTES`] (else 431) with a URI of at most [`MAX_URI_BYTES`] (else 414);
//! - a connection with no request in progress is closed after `keep_alive_timeout` (hyper's
//!   header-read timer, which starts when hyper begins waiting for a head);
//! - at most `max_connections` are open; the next ones get a 503 and are closed, except that
//!   [`PROBE_RESERVE`] more are taken for the health probes and metrics only.
//!
//! hyper answers a head it cannot parse with a bodyless 400, 414 or 431; the guard replaces that
//! response with the API's JSON error, so every error has a body.

use crate::api::ApiError;
use crate::metrics::FrontendMetrics;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus::{IntCounter, IntCounterVec};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tower::Service;

/// How long requests in progress may take to finish after shutdown is asked for. Open streams
/// end at once (`api::stream` watches the same signal); this bounds everything else.
pub const DRAIN: Duration = Duration::from_secs(10);
/// The largest request head (request line and headers) hyper buffers; a bigger one is a 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most header fields in one request; more is a 431.
pub const MAX_HEADERS: usize = 64;
/// The longest request target (path and query); a longer one is a 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Connections taken beyond `max_connections` for `/healthz`, `/readyz` and `/metrics` only.
pub const PROBE_RESERVE: usize = 32;
/// At most this many refused connections are being answered (503) at once; beyond that they
/// are closed without an answer.
const REFUSING_AT_ONCE: usize = 64;
/// How long a refused connection is given to take its 503 before it is closed.
const REFUSE_LINGER: Duration = Duration::from_secs(1);

/// What one connection may hold and for how long.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// From the first byte of a request head to its end.
    pub header_read_timeout: Duration,
    /// An open connection with no request in progress is closed after this.
    pub keep_alive_timeout: Duration,
    /// Open connections at most (SSE streams included); the next ones get a 503.
    pub max_connections: usize,
    /// A connection whose writes make no progress for this long is closed.
    pub write_stall_timeout: Duration,
}

/// Shared by a connection's stream guard and its service: how many request heads hyper parsed.
#[derive(Default)]
struct Heads(AtomicU64);

/// The request head being read: the parsed-head count when its first byte came (`None`: no
/// head in progress), and its deadline (one timer per connection, re-armed for each head).
struct PendingHead {
    heads_at_start: Option<u64>,
    deadline: Option<Pin<Box<Sleep>>>,
}

pub struct GuardedStream {
    inner: TcpStream,
    limits: ConnLimits,
    /// The counters a connection may need (not all of `FrontendMetrics`: an open stream's
    /// fixed cost decides how many one replica holds).
    stalls: IntCounter,
    closed: IntCounterVec,
    heads: Arc<Heads>,
    head: PendingHead,
    /// Started when a write first returns Pending; cleared by any progress.
    stall: Option<Pin<Box<Sleep>>>,
    /// hyper's bodyless parse-error response, replaced by ours: (bytes, how many are written).
    rewrite: Option<(Vec<u8>, usize)>,
}

impl GuardedStream {
    fn new(inner: TcpStream, limits: ConnLimits, metrics: &FrontendMetrics, heads: Arc<Heads>) -> Self {
        GuardedStream {
            inner,
            limits,
            stalls: metrics.write_stalls.clone(),
            closed: metrics.connections_closed.clone(),
            heads,
            head: PendingHead {
                heads_at_start: None,
                deadline: None,
            },
            stall: None,
            rewrite: None,
        }
    }

    fn on_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let limit = self.limits.write_stall_timeout;
        let timer = self.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_ready() {
            self.stall = None;
            self.stalls.inc();
            tracing::info!(
                limit_ms = limit.as_millis() as u64,
                "closing a connection whose client stopped reading"
            );
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")));
        }
        Poll::Pending
    }

    /// Tracks the request head in progress after a read that returned `got` bytes; fails once
    /// a head has taken longer than the header timeout.
    fn check_head(&mut self, cx: &mut Context<'_>, got: bool) -> io::Result<()> {
        let heads = self.heads.0.load(Ordering::Acquire);
        let h = &mut self.head;
        if h.heads_at_start.is_some_and(|n| n != heads) {
            h.heads_at_start = None; // that head was parsed
        }
        if got && h.heads_at_start.is_none() {
            h.heads_at_start = Some(heads);
            let at = tokio::time::Instant::now() + self.limits.header_read_timeout;
            match &mut h.deadline {
                Some(d) => d.as_mut().reset(at),
                None => h.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        if h.heads_at_start.is_some()
            && let Some(d) = &mut h.deadline
            && d.as_mut().poll(cx).is_ready()
        {
            h.heads_at_start = None;
            self.closed.with_label_values(&["header_timeout"]).inc();
            tracing::info!(
                limit_ms = self.limits.header_read_timeout.as_millis() as u64,
                "closing a connection whose request head did not arrive in time"
            );
            return Err(io::Error::new(io::ErrorKind::TimedOut, "request head too slow"));
        }
        Ok(())
    }

    /// Writes what is left of a rewritten response; `Ready(Ok(()))` once all of it is out.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.rewrite {
            if *done == bytes.len() {
                self.rewrite = None;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// If `buf` is hyper's bodyless answer to an unparsable head, writes ours instead.
    fn poll_write_error(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        if self.rewrite.is_none() {
            let status = parse_error_status(buf)?;
            self.closed.with_label_values(&["bad_request"]).inc();
            self.rewrite = Some((error_response(status, &parse_error(status), true), 0));
        }
        Some(self.poll_rewrite(cx).map_ok(|()| buf.len()))
    }
}

/// The status of hyper's automatic response to a head it could not parse (400, 414 or 431, no
/// body), if `buf` is one. The API never sends those statuses without a body.
fn parse_error_status(buf: &[u8]) -> Option<StatusCode> {
    let status = match buf.get(..13)? {
        b"HTTP/1.1 400 " => StatusCode::BAD_REQUEST,
        b"HTTP/1.1 414 " => StatusCode::URI_TOO_LONG,
        b"HTTP/1.1 431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let empty = buf
        .windows(19)
        .any(|w| w.eq_ignore_ascii_case(b"\r\ncontent-length: 0"));
    (empty && buf.ends_with(b"\r\n\r\n")).then_some(status)
}

/// The API error for a head hyper could not parse.
pub fn parse_error(status: StatusCode) -> ApiError {
    match status {
        StatusCode::URI_TOO_LONG => ApiError::new(
            status,
            "uri_too_long",
            format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::new(
            status,
            "headers_too_large",
            format!("the request head is larger than {MAX_HEAD_BYTES} bytes or has more than {MAX_HEADERS} fields"),
        ),
        _ => ApiError::bad_request("the request is not valid HTTP/1.1"),
    }
}

/// A complete HTTP/1.1 response carrying `err`'s JSON body.
fn error_response(status: StatusCode, err: &ApiError, close: bool) -> Vec<u8> {
    let body = err.body();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        head.push_str("retry-after: 1\r\n");
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

impl AsyncRead for GuardedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let got = matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before;
        if let Err(e) = self.check_head(cx, got) {
            return Poll::Ready(Err(e));
        }
        res
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(p) = self.poll_write_error(cx, buf) {
            return p;
        }
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.on_pending(cx),
            done => {
                self.stall = None;
                done
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(p) = self.poll_write_error(cx, first)
        {
            return p;
        }
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.on_pending(cx),
            done => {
                self.stall = None;
                done
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_rewrite(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_rewrite(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_connections",
        "this server holds as many connections as it may; try again",
    )
}

/// The answer to a request (other than a probe) on a connection taken over the cap; the
/// connection is closed after it.
fn over_capacity() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut resp = too_many().into_response();
    resp.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    resp
}

/// Answers a connection far over the cap with a 503 and closes it, reading what the client sent
/// meanwhile so that the close does not reset the answer away.
async fn refuse(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(REFUSE_LINGER, async {
        tcp.write_all(&error_response(StatusCode::SERVICE_UNAVAILABLE, &too_many(), true))
            .await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 1024];
        while tcp.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// Keeps the open-connection gauge honest however the connection ends.
struct OpenGuard(prometheus::IntGauge);
impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Binds `addr` and serves `router` until `shutdown` says stop; then stops accepting, lets
/// requests in progress finish (at most [`DRAIN`]) and closes every connection.
pub async fn serve(
    addr: SocketAddr,
    router: axum::Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    limits: ConnLimits,
    metrics: FrontendMetrics,
) -> io::Result<(SocketAddr, tokio::task::JoinHandle<io::Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.keep_alive_timeout)
            .max_buf_size(MAX_HEAD_BYTES)
            .max_headers(MAX_HEADERS);
        let graceful = GracefulShutdown::new();
        let mut conns = JoinSet::new();
        let refusing = Arc::new(tokio::sync::Semaphore::new(REFUSING_AT_ONCE));
        loop {
            let accepted = tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: back off a little instead of spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while conns.try_join_next().is_some() {}
            // At the cap a few more connections are taken, for the probes only (a kubelet whose
            // liveness probe is refused would restart a busy replica); beyond that, refused.
            let probes_only = conns.len() >= limits.max_connections;
            if conns.len() >= limits.max_connections + PROBE_RESERVE {
                metrics.connections_closed.with_label_values(&["over_capacity"]).inc();
                tracing::debug!(%peer, open = conns.len(), "refusing a connection over the cap");
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(tcp).await;
                        drop(permit);
                    });
                }
                continue;
            }
            let _ = tcp.set_nodelay(true);
            let heads = Arc::new(Heads::default());
            let io = TokioIo::new(GuardedStream::new(tcp, limits, &metrics, heads.clone()));
            let router = router.clone();
            let refused = metrics.connections_closed.clone();
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                heads.0.fetch_add(1, Ordering::AcqRel);
                if probes_only && !matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
                    refused.with_label_values(&["over_capacity"]).inc();
                    let fut: BoxFuture<'static, Result<axum::response::Response, Infallible>> =
                        Box::pin(async { Ok(over_capacity()) });
                    return fut;
                }
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut router = router.clone();
                // Boxed: hyper keeps a slot of the future's size (320 bytes) for every connection.
                let fut: BoxFuture<'static, Result<axum::response::Response, Infallible>> = Box::pin(router.call(req));
                fut
            });
            let conn = graceful.watch(http.serve_connection(io, svc));
            metrics.connections.inc();
            let open = OpenGuard(metrics.connections.clone());
            let closed = metrics.connections_closed.clone();
            conns.spawn(async move {
                let _open = open;
                if let Err(e) = conn.await {
                    if e.is_timeout() {
                        closed.with_label_values(&["idle_timeout"]).inc();
                    }
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        let open = conns.len();
        if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
            tracing::warn!(
                open,
                drain_s = DRAIN.as_secs(),
                "connections still busy after the drain time; closing them"
            );
        }
        conns.abort_all();
        Ok(())
    });
    Ok((local, task))
}

/// Middleware: a request target longer than [`MAX_URI_BYTES`] is a 414 with the API's body.
pub async fn limit_uri(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > MAX_URI_BYTES {
        return parse_error(StatusCode::URI_TOO_LONG).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bodyless_parse_errors_are_recognised_and_nothing_else() {
        let hyper431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 22 Nov 2026 18:00:00 GMT\r\n\r\n";
        assert_eq!(
            parse_error_status(hyper431),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let hyper400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(parse_error_status(hyper400), Some(StatusCode::BAD_REQUEST));
        let ours = error_response(StatusCode::BAD_REQUEST, &ApiError::bad_request("x"), false);
        assert_eq!(parse_error_status(&ours), None, "a response with a body is left alone");
        assert_eq!(
            parse_error_status(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        let text = String::from_utf8(error_response(
            StatusCode::URI_TOO_LONG,
            &parse_error(StatusCode::URI_TOO_LONG),
            true,
        ))
        .unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "uri_too_long");
    }
}
