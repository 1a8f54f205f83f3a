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

use axum::extract::ConnectInfo;
use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus::IntCounter;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tower::Service;

/// How long requests in progress may take to finish after shutdown is asked for. Open streams
/// end at once (`api::stream` watches the same signal); this bounds everything else.
pub const DRAIN: Duration = Duration::from_secs(10);

pub struct GuardedStream {
    inner: TcpStream,
    limit: Duration,
    /// Started when a write first returns Pending; cleared by any progress.
    stall: Option<Pin<Box<Sleep>>>,
    stalls: IntCounter,
}

impl GuardedStream {
    pub fn new(inner: TcpStream, limit: Duration, stalls: IntCounter) -> Self {
        GuardedStream {
            inner,
            limit,
            stall: None,
            stalls,
        }
    }

    fn on_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let limit = self.limit;
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
}

impl AsyncRead for GuardedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
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
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Binds `addr` and serves `router` until `shutdown` says stop; then stops accepting, lets
/// requests in progress finish (at most [`DRAIN`]) and closes every connection.
pub async fn serve(
    addr: SocketAddr,
    router: axum::Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    stall_limit: Duration,
    stalls: IntCounter,
) -> io::Result<(SocketAddr, tokio::task::JoinHandle<io::Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let http = hyper::server::conn::http1::Builder::new();
        let graceful = GracefulShutdown::new();
        let mut conns = JoinSet::new();
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
            let _ = tcp.set_nodelay(true);
            let io = TokioIo::new(GuardedStream::new(tcp, stall_limit, stalls.clone()));
            let router = router.clone();
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut router = router.clone();
                // Boxed: hyper keeps a slot of the future's size (320 bytes) for every connection.
                let fut: BoxFuture<'static, Result<axum::response::Response, Infallible>> = Box::pin(router.call(req));
                fut
            });
            let conn = graceful.watch(http.serve_connection(io, svc));
            conns.spawn(async move {
                if let Err(e) = conn.await {
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
