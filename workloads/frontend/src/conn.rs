//! The HTTP listener, with a write-stall guard on every connection.
//!
//! A client that stops reading (a frozen phone, a tab in a suspended laptop, a hostile client)
//! fills its TCP window; hyper then stops polling the response body, so the SSE stream never
//! sees that it is behind and the connection would sit there forever. The guard fails a write
//! that has made no progress for `limit`: hyper closes the connection, the stream is dropped
//! (its `sse_clients` count goes down) and `quakestream_frontend_write_stalls_total` counts it.
//! Progress of any size resets the clock, so a slow but moving link is never cut, and an idle
//! keep-alive connection (nothing to write) is not affected.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use prometheus::IntCounter;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// The TCP peer, as `ConnectInfo<ClientAddr>` (copied to `ConnectInfo<SocketAddr>` by the router).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, GuardedListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

pub struct GuardedListener {
    inner: TcpListener,
    limit: Duration,
    stalls: IntCounter,
}

impl GuardedListener {
    pub fn new(inner: TcpListener, limit: Duration, stalls: IntCounter) -> Self {
        GuardedListener { inner, limit, stalls }
    }
}

impl Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((s, addr)) => {
                    let _ = s.set_nodelay(true);
                    return (
                        GuardedStream {
                            inner: s,
                            limit: self.limit,
                            stall: None,
                            stalls: self.stalls.clone(),
                        },
                        addr,
                    );
                }
                // Out of file descriptors and the like: back off a little instead of spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

pub struct GuardedStream {
    inner: TcpStream,
    limit: Duration,
    /// Started when a write first returns Pending; cleared by any progress.
    stall: Option<Pin<Box<Sleep>>>,
    stalls: IntCounter,
}

impl GuardedStream {
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

/// `ConnectInfo<SocketAddr>` for the handlers and middleware that expect it (the rate limit).
pub async fn peer_addr(mut req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::extract::ConnectInfo;
    if let Some(ConnectInfo(ClientAddr(a))) = req.extensions().get::<ConnectInfo<ClientAddr>>().copied() {
        req.extensions_mut().insert(ConnectInfo(a));
    }
    next.run(req).await
}

/// Binds `addr` and serves `router` with the write-stall guard until `shutdown` says stop.
pub async fn serve(
    addr: SocketAddr,
    router: axum::Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    stall_limit: Duration,
    stalls: IntCounter,
) -> io::Result<(SocketAddr, tokio::task::JoinHandle<io::Result<()>>)> {
    let listener = GuardedListener::new(TcpListener::bind(addr).await?, stall_limit, stalls);
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router
                .layer(axum::middleware::from_fn(peer_addr))
                .into_make_service_with_connect_info::<ClientAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
    });
    Ok((local, task))
}
