//! dynoxide, the local DynamoDB (SQLite-backed), served in-process on a thread of its own:
//! what `quakestream dev` and the tests use. The SDK talks to it over HTTP exactly as to AWS.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

pub struct EmbeddedDynamo {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedDynamo {
    /// Starts an in-memory (`path` = None) or file-backed store listening on `addr`
    /// (port 0 picks a free port). Runs on its own thread and Tokio runtime, so it outlives
    /// the caller's runtime; it stops when dropped.
    pub fn start(addr: SocketAddr, path: Option<&Path>) -> std::io::Result<EmbeddedDynamo> {
        let db = match path {
            None => dynoxide::Database::memory(),
            Some(p) => dynoxide::Database::new(&p.to_string_lossy()),
        }
        .map_err(|e| std::io::Error::other(format!("opening dynoxide: {e}")))?;
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("embedded-dynamodb".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    if let Err(e) = dynoxide::server::serve_with_shutdown(listener, db, async {
                        let _ = stop_rx.await;
                    })
                    .await
                    {
                        tracing::error!(error = %e, "embedded DynamoDB stopped");
                    }
                });
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("embedded DynamoDB thread died"))??;
        Ok(EmbeddedDynamo {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `StoreConfig::endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for EmbeddedDynamo {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
