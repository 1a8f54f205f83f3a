//! Test fixtures: one in-process dynoxide per test binary (on 127.0.0.1:0, shared by every test
//! in it, on a thread of its own so it outlives each test's runtime), unique tables, and a TCP
//! proxy that can be cut to make DynamoDB unreachable. Used by tests and benchmarks; not part of
//! the product.
#![doc(hidden)]

use crate::embedded::EmbeddedDynamo;
use crate::{Store, StoreConfig};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

static DYNAMO: OnceLock<EmbeddedDynamo> = OnceLock::new();
static TABLE_SEQ: AtomicU32 = AtomicU32::new(0);

/// The dynoxide of this test process, started on first use.
pub fn dynamo() -> &'static EmbeddedDynamo {
    DYNAMO.get_or_init(|| {
        EmbeddedDynamo::start("127.0.0.1:0".parse().unwrap(), None).expect("starting the embedded DynamoDB")
    })
}

/// A table name no other test uses.
pub fn unique_table(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        TABLE_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A config for a fresh table on the shared dynoxide (the table is not created).
pub fn config(prefix: &str) -> StoreConfig {
    StoreConfig::local(unique_table(prefix), dynamo().endpoint())
}

/// A store on a freshly created table of the shared dynoxide.
pub async fn fresh_store(prefix: &str) -> Store {
    fresh_store_at(&dynamo().endpoint(), prefix).await
}

/// A dynoxide of this caller's own (empty, in memory; it stops when dropped) and a store on a
/// freshly created table in it: for benchmarks whose phases must not share a database.
pub async fn own_store(prefix: &str) -> (EmbeddedDynamo, Store) {
    let own = EmbeddedDynamo::start("127.0.0.1:0".parse().unwrap(), None).expect("starting the embedded DynamoDB");
    let store = fresh_store_at(&own.endpoint(), prefix).await;
    (own, store)
}

async fn fresh_store_at(endpoint: &str, prefix: &str) -> Store {
    let store = Store::connect(&StoreConfig::local(unique_table(prefix), endpoint))
        .await
        .expect("connecting to the embedded DynamoDB");
    assert!(
        store.create_table().await.expect("creating the table"),
        "the table name is unique"
    );
    store
}

/// A loopback TCP proxy in front of `target` that can be cut (every connection, open or new, is
/// dropped) and restored, to make a server unreachable for a while.
pub struct CuttableProxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    pub async fn start(target: SocketAddr) -> std::io::Result<CuttableProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (up, up_rx) = watch::channel(true);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*up_rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut up_rx = up_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up_rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Ok(CuttableProxy { addr, up, task })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
