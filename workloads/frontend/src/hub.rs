//! Live fan-out to the browsers: one broadcast of pre-rendered events, a ring buffer for
//! `Last-Event-ID` resume, and per-client filters. The broadcast never waits for a client: one
//! that falls more than the channel's capacity behind is dropped (its EventSource reconnects and
//! resumes from the ring), so a slow phone never slows anyone else. A client that stops reading
//! altogether is closed by the connection's write-stall guard (see `conn`).

use crate::index::{Current, Filter};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;

/// One pushed event.
#[derive(Debug)]
pub struct Pushed {
    pub seq: u64,
    /// `new` or `update` (SSE event `quake`), or the kind of another event (its SSE event name,
    /// e.g. `stats`; pages ignore event names they do not know).
    pub kind: &'static str,
    /// The event, for kinds about one earthquake; `None` for the others, which every client gets.
    pub current: Option<Arc<Current>>,
    /// `{"kind":…,"feature":…}` (or the other kind's body), rendered once for every client.
    pub data: Arc<str>,
}

impl Pushed {
    /// The SSE event name: `quake` for earthquakes, else the kind.
    pub fn event(&self) -> &'static str {
        if self.current.is_some() { "quake" } else { self.kind }
    }
}

pub struct Hub {
    tx: broadcast::Sender<Arc<Pushed>>,
    ring: Mutex<Ring>,
    ring_cap: usize,
    /// Identifies this process's sequence numbers: a `Last-Event-ID` from another replica (or an
    /// earlier life of this one) cannot be resumed and gets a `reset` instead.
    epoch: String,
}

struct Ring {
    next_seq: u64,
    items: VecDeque<Arc<Pushed>>,
}

/// Where a (re)connecting client starts.
pub enum Resume {
    /// Nothing to replay (new client, or already up to date).
    Fresh,
    /// These events were missed.
    Replay(Vec<Arc<Pushed>>),
    /// The id is unknown or too old: the client must reload its list.
    Reset,
}

impl Hub {
    pub fn new(channel_cap: usize, ring_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(channel_cap.max(1));
        let epoch = format!("{:x}", chrono::Utc::now().timestamp_micros());
        Hub {
            tx,
            ring: Mutex::new(Ring {
                next_seq: 1,
                items: VecDeque::with_capacity(ring_cap),
            }),
            ring_cap,
            epoch,
        }
    }

    pub fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    pub fn publish(&self, kind: &'static str, current: Arc<Current>) -> u64 {
        let data: Arc<str> = format!("{{\"kind\":\"{kind}\",\"feature\":{}}}", current.json).into();
        self.push(kind, Some(current), data)
    }

    /// Publishes an event that is not about one earthquake (SSE event name `kind`, body `data`).
    pub fn publish_other(&self, kind: &'static str, data: Arc<str>) -> u64 {
        self.push(kind, None, data)
    }

    fn push(&self, kind: &'static str, current: Option<Arc<Current>>, data: Arc<str>) -> u64 {
        let mut ring = self.ring.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        let p = Arc::new(Pushed {
            seq,
            kind,
            current,
            data,
        });
        if ring.items.len() == self.ring_cap {
            ring.items.pop_front();
        }
        ring.items.push_back(p.clone());
        // Sent under the lock, so a subscriber sees each event exactly once: either in its
        // replay or on its receiver.
        let _ = self.tx.send(p);
        seq
    }

    /// Subscribes, resolving `last_event_id` against the ring.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> (broadcast::Receiver<Arc<Pushed>>, Resume) {
        let ring = self.ring.lock();
        let rx = self.tx.subscribe();
        let resume = match last_event_id.map(str::trim).filter(|s| !s.is_empty()) {
            None => Resume::Fresh,
            Some(id) => match id
                .rsplit_once('-')
                .filter(|(e, _)| *e == self.epoch)
                .and_then(|(_, s)| s.parse::<u64>().ok())
            {
                None => Resume::Reset,
                Some(last) if last + 1 >= ring.next_seq => Resume::Fresh,
                Some(last) => {
                    let oldest = ring.items.front().map_or(ring.next_seq, |p| p.seq);
                    if last + 1 < oldest {
                        Resume::Reset
                    } else {
                        Resume::Replay(ring.items.iter().filter(|p| p.seq > last).cloned().collect())
                    }
                }
            },
        };
        (rx, resume)
    }

    pub fn receivers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// Whether a client with this filter gets the event (events not about one earthquake: always).
pub fn wants(filter: &Filter, p: &Pushed) -> bool {
    p.current.as_ref().is_none_or(|c| filter.matches(&c.quake))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::render;
    use quakestream_core::model::{Quake, Source};

    fn cur(unid: &str) -> Arc<Current> {
        let now = chrono::Utc::now();
        Arc::new(render(&Quake {
            unid: unid.into(),
            time: now,
            lastupdate: now,
            lat: 0.0,
            lon: 0.0,
            depth_km: 5.0,
            mag: Some(4.0),
            magtype: None,
            region: None,
            agency: None,
            evtype: None,
            source: Source::Emsc,
        }))
    }

    #[test]
    fn resumes_from_the_ring_or_resets() {
        let hub = Hub::new(16, 3);
        for i in 0..5 {
            hub.publish("new", cur(&format!("e{i}")));
        }
        // Ring holds seq 3, 4, 5.
        let (_, r) = hub.subscribe(Some(&hub.event_id(3)));
        match r {
            Resume::Replay(v) => assert_eq!(v.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![4, 5]),
            _ => panic!("expected a replay"),
        }
        assert!(matches!(hub.subscribe(Some(&hub.event_id(5))).1, Resume::Fresh));
        assert!(matches!(hub.subscribe(Some(&hub.event_id(1))).1, Resume::Reset));
        assert!(matches!(hub.subscribe(Some("otherepoch-4")).1, Resume::Reset));
        assert!(matches!(hub.subscribe(None).1, Resume::Fresh));
    }
}
