//! What the load engine says about each request, and the interfaces it says it through: the
//! [`RequestRecord`] of one finished request, the [`Sink`] that receives every record, the
//! [`RevisionSource`] that tells the recorder which revision served a connection, and the
//! [`LiveStats`] a progress display reads while a run goes on.
//!
//! The engine (the producer) and the recorder (the consumer) both speak these words and
//! neither owns them: the engine emits to a `Sink` without knowing what aggregates it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clock::At;
use super::connection::ConnectionLife;
use super::outcome::{ConnId, OutcomeClass};
use super::session::SessionRecord;

/// Everything known about one request when it ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// This generator's sequence number of the request (its schedule index).
    pub seq: u64,
    /// When the schedule said it must go out.
    pub due: At,
    /// When it actually went out (equal to `due` for a generator drop).
    pub sent: At,
    /// When its outcome was known.
    pub end: At,
    pub class: OutcomeClass,
    /// The HTTP status, when a response arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The connection it used, when one was established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<ConnId>,
    /// The address dialled, when no connection was established (connect failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialed: Option<SocketAddr>,
    /// The error chain, for failures that are not HTTP statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The value of the identity header (`--pod-header`) last seen on this connection, before
    /// or with this response: who answered, as the application itself says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Arc<str>>,
    /// Which request template of the mix it was (an index into the result's `templates`; 0
    /// when the run sends one request shape).
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    pub template: u16,
    /// The template's response checks that failed, as a bit set (bit *i*: check *i*),
    /// `warn` checks included. Empty when no check ran or every check passed.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub checks_failed: u64,
    /// The value of the version header (`--version-header`) last seen on this connection,
    /// before or with this response: which version answered, as the application says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Arc<str>>,
    /// For a response that failed a check: its status line, headers and the start of its body
    /// (bounded), the example a breaking-change finding quotes. Reports mask secrets in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

impl RequestRecord {
    /// Latency from the due instant (coordinated-omission free).
    pub fn latency(&self) -> Duration {
        self.end.saturating_sub(self.due)
    }

    /// Service time from the actual send.
    pub fn service_time(&self) -> Duration {
        self.end.saturating_sub(self.sent)
    }

    /// How late the send was behind its due instant.
    pub fn lateness(&self) -> Duration {
        self.sent.saturating_sub(self.due)
    }

    /// Whether check `i` of its template failed on this response.
    pub fn check_failed(&self, i: usize) -> bool {
        i < 64 && self.checks_failed & (1 << i) != 0
    }
}

/// Where the engine reports each finished request, each connection once it has ended, and each
/// ended WebSocket session. Implementations aggregate; the engine never does.
pub trait Sink {
    fn record(&mut self, r: &RequestRecord);
    /// A connection's life, once, when it ends (or when the load ends with it still open).
    fn connection(&mut self, c: &ConnectionLife);

    /// One WebSocket session ended (its messages arrive through [`Sink::record`]). The
    /// recorder aggregates sessions; a sink that only looks at requests keeps this default.
    fn session(&mut self, _s: &SessionRecord) {}
}

/// Which revision of the workload served a request, as a run can tell while it goes on: the
/// local proxy's route of the connection, the pod named by an identity header, or a pod's
/// address. The recorder asks once per connection (never per request) and keeps the answer;
/// the runtime side (the timeline, which sees routes, pods and addresses) answers, so the
/// recorder learns nothing of Kubernetes and the engine nothing of revisions.
pub trait RevisionSource: Send {
    /// The revision (a label: `v1`, a ReplicaSet's pod-template-hash, …) of the pod that
    /// served a request on connection `conn`, carrying `identity` (the identity header's
    /// value, if any), seen at `at`; `None` while it cannot be told (yet).
    fn revision(&self, conn: &ConnId, identity: Option<&str>, at: At) -> Option<Arc<str>>;

    /// How the answers are known, in words for reports ("the local proxy's routes").
    fn describe(&self) -> String;
}

/// Live figures for progress display, updated by the recorder, read from any thread.
#[derive(Debug, Default)]
pub struct LiveStats {
    pub due: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub in_flight: AtomicU64,
    /// p99 latency so far in microseconds (refreshed once per second).
    pub p99_us: AtomicU64,
    /// Requests that timed out so far.
    pub timed_out: AtomicU64,
    /// Completions second by second, by the second they ended in, oldest first (the last
    /// [`LIVE_SECONDS`]): what the run flow reads to tell whether the service keeps up.
    pub seconds: Mutex<VecDeque<LiveSecond>>,
    /// WebSocket sessions open now (the engine's figure).
    pub sessions_open: AtomicU64,
    /// WebSocket sessions that ended other than gracefully (the recorder's figure).
    pub sessions_failed: AtomicU64,
    /// The most the open model's dispatcher handed a request over after its due instant, in
    /// microseconds, since [`LiveStats::take_dispatch_late`] last took it (the engine's
    /// figure): the generator's own delay, short of CPU, as opposed to a request's wait for a
    /// free connection, which is the target's.
    pub dispatch_late_max_us: AtomicU64,
}

/// How many seconds of [`LiveStats::seconds`] are kept.
pub const LIVE_SECONDS: usize = 600;

/// The requests that completed within one second of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveSecond {
    /// Seconds since the run's start.
    pub second: u64,
    pub completed: u64,
    /// Their median latency from the due instant, microseconds.
    pub p50_us: u64,
}

impl LiveStats {
    /// Adds one second's completions, dropping the oldest beyond [`LIVE_SECONDS`].
    pub fn push_second(&self, s: LiveSecond) {
        let mut q = self.seconds.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == LIVE_SECONDS {
            q.pop_front();
        }
        q.push_back(s);
    }

    /// The dispatcher handed a request over `late` after its due instant.
    #[inline]
    pub fn handed_over(&self, late: Duration) {
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        self.dispatch_late_max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The most the dispatcher was late since the last call, in microseconds; starts anew.
    pub fn take_dispatch_late(&self) -> u64 {
        self.dispatch_late_max_us.swap(0, Ordering::Relaxed)
    }

    /// The seconds kept so far.
    pub fn seconds(&self) -> Vec<LiveSecond> {
        self.seconds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }
}
