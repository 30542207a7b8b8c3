//! The Service's endpoints as the data plane sees them: every change takes effect only after
//! the propagation delay (a real cluster's endpoint de-registration lag), in the order it was
//! made, and is recorded as an `endpoint_*` lifecycle event at the instant it takes effect —
//! so the lag the analysis measures is the lag the proxy really had.
//!
//! This module owns the table and its delayed application. It does not choose a backend for a
//! connection (the proxy does) nor decide conditions (the pod lifecycle does).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::model::clock::At;
use crate::model::event::{EndpointConditions, EventKind};
use crate::timeline::TimelineRecorder;

/// One backend in the data plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub pod: Arc<str>,
    pub addr: SocketAddr,
}

/// What the proxy routes to right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Ready endpoints: new connections go here.
    pub ready: Vec<Backend>,
    /// Serving but terminating endpoints: used only when no endpoint is ready.
    pub serving_terminating: Vec<Backend>,
}

impl Snapshot {
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.serving_terminating.is_empty()
    }
}

struct Change {
    due: Instant,
    pod: Arc<str>,
    addr: SocketAddr,
    /// `None` removes the endpoint.
    conditions: Option<EndpointConditions>,
}

/// The endpoint table. Cheap to share; the proxy reads [`EndpointTable::snapshot`] per
/// connection from its own thread.
pub struct EndpointTable {
    delay: Duration,
    tx: mpsc::UnboundedSender<Change>,
    snapshot: RwLock<Arc<Snapshot>>,
    entries: Mutex<Entries>,
    /// The endpoints as proposed, ahead of the data plane (kept only when changes are
    /// recorded as they are made).
    proposed: Mutex<Entries>,
    record: RecordAt,
    recorder: TimelineRecorder,
    version: watch::Sender<u64>,
    quiet: AtomicBool,
}

type Entries = BTreeMap<Arc<str>, (SocketAddr, EndpointConditions)>;

/// When an endpoint change is recorded on the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordAt {
    /// When the data plane acts on it: the lag the analysis measures is the lag the proxy had.
    Effect,
    /// When it is made, as an EndpointSlice shows it before kube-proxy follows: the data
    /// plane's lag goes unobserved, as on a cluster.
    Proposal,
}

impl EndpointTable {
    /// A table whose changes take effect `delay` after they are made. Spawns the task that
    /// applies them on the current runtime; it ends when the table is dropped.
    pub fn start(
        delay: Duration,
        recorder: TimelineRecorder,
        record: RecordAt,
    ) -> Arc<EndpointTable> {
        let (tx, rx) = mpsc::unbounded_channel();
        let table = Arc::new(EndpointTable {
            delay,
            tx,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            entries: Mutex::new(BTreeMap::new()),
            proposed: Mutex::new(BTreeMap::new()),
            record,
            recorder,
            version: watch::channel(0).0,
            quiet: AtomicBool::new(false),
        });
        tokio::spawn(apply_changes(Arc::downgrade(&table), rx));
        table
    }

    /// Proposes the endpoint of `pod` with `conditions` (`None`: removed); it takes effect
    /// after the propagation delay.
    pub fn propose(&self, pod: &str, addr: SocketAddr, conditions: Option<EndpointConditions>) {
        let change = Change {
            due: Instant::now() + self.delay,
            pod: Arc::from(pod),
            addr,
            conditions,
        };
        if self.record == RecordAt::Proposal {
            let mut proposed = self.proposed.lock().unwrap_or_else(|p| p.into_inner());
            // Recorded under the lock, so events are in the order the changes were made.
            if let Some(event) = diff(&mut proposed, &change) {
                self.note(&change.pod, event);
            }
        }
        // The receiver lives as long as the table's applier; if it is gone the run is over.
        let _ = self.tx.send(change);
    }

    fn note(&self, pod: &str, event: EventKind) {
        self.note_at(self.recorder.clock().now(), pod, event);
    }

    fn note_at(&self, at: At, pod: &str, event: EventKind) {
        if !self.quiet.load(Ordering::Relaxed) {
            self.recorder.at(at, Some(pod), event);
        }
    }

    /// Stops recording changes (they still take effect): the run is over.
    pub fn silence(&self) {
        self.quiet.store(true, Ordering::Relaxed);
    }

    /// What the data plane routes to now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Notified whenever the snapshot changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Ready endpoints in the data plane now.
    pub fn ready_count(&self) -> usize {
        self.snapshot().ready.len()
    }

    fn apply(&self, c: &Change) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let event = diff(&mut entries, c);
        let Some(event) = event else { return };
        let mut snap = Snapshot::default();
        for (pod, (addr, cond)) in entries.iter() {
            let b = Backend {
                pod: pod.clone(),
                addr: *addr,
            };
            if cond.ready {
                snap.ready.push(b);
            } else if cond.serving && cond.terminating {
                snap.serving_terminating.push(b);
            }
        }
        // The instant is read before the proxy can see the change, so no connection routed by
        // it is recorded as opened before it; recorded while holding the entries lock, so
        // events are in the order they took effect.
        let at = self.recorder.clock().now();
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snap);
        if self.record == RecordAt::Effect {
            self.note_at(at, &c.pod, event);
        }
        drop(entries);
        self.version.send_modify(|v| *v += 1);
    }
}

/// Applies `c` to `entries`; the event it makes, if it changes anything.
fn diff(entries: &mut Entries, c: &Change) -> Option<EventKind> {
    let address = c.addr.to_string();
    match (entries.get(&c.pod).copied(), c.conditions) {
        (None, Some(conditions)) => {
            entries.insert(c.pod.clone(), (c.addr, conditions));
            Some(EventKind::EndpointAdded {
                address,
                conditions,
            })
        }
        (Some((_, old)), Some(conditions)) if old != conditions => {
            entries.insert(c.pod.clone(), (c.addr, conditions));
            Some(EventKind::EndpointChanged {
                address,
                conditions,
            })
        }
        (Some(_), None) => {
            entries.remove(&c.pod);
            Some(EventKind::EndpointRemoved { address })
        }
        _ => None,
    }
}

async fn apply_changes(
    table: std::sync::Weak<EndpointTable>,
    mut rx: mpsc::UnboundedReceiver<Change>,
) {
    while let Some(change) = rx.recv().await {
        // Every change has the same delay, so the queue is already in due order.
        tokio::time::sleep_until(change.due).await;
        let Some(t) = table.upgrade() else { return };
        t.apply(&change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::RunClock;

    fn cond(ready: bool, serving: bool, terminating: bool) -> Option<EndpointConditions> {
        Some(EndpointConditions {
            ready,
            serving,
            terminating,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn changes_take_effect_only_after_the_propagation_delay() {
        let rec = TimelineRecorder::new(RunClock::start());
        let t = EndpointTable::start(Duration::from_secs(1), rec.clone(), RecordAt::Effect);
        let addr: SocketAddr = "127.0.0.1:20001".parse().expect("addr");
        t.propose("a", addr, cond(true, true, false));
        tokio::time::sleep(Duration::from_millis(999)).await;
        assert_eq!(t.ready_count(), 0);
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(t.ready_count(), 1);
        // Terminating: out of the ready set after the delay, kept as a serving fallback.
        t.propose("a", addr, cond(false, true, true));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(t.ready_count(), 1);
        tokio::time::sleep(Duration::from_millis(501)).await;
        let s = t.snapshot();
        assert!(s.ready.is_empty());
        assert_eq!(s.serving_terminating.len(), 1);
        t.propose("a", addr, None);
        tokio::time::sleep(Duration::from_millis(1001)).await;
        assert!(t.snapshot().is_empty());
        let names: Vec<_> = rec.events().iter().map(|e| e.kind.name()).collect();
        assert_eq!(
            names,
            vec!["endpoint_added", "endpoint_changed", "endpoint_removed"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unchanged_proposal_records_nothing() {
        let rec = TimelineRecorder::new(RunClock::start());
        let t = EndpointTable::start(Duration::ZERO, rec.clone(), RecordAt::Effect);
        let addr: SocketAddr = "127.0.0.1:20002".parse().expect("addr");
        t.propose("a", addr, cond(false, false, false));
        t.propose("a", addr, cond(false, false, false));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(rec.events().len(), 1);
        // Not ready and not terminating: neither routed nor a fallback.
        assert!(t.snapshot().is_empty());
    }
}
