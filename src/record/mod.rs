//! The recorder: turns the engine's stream of request records into what the rest of zerodrop
//! reads — per-second buckets, per-phase and overall histograms, and a bounded log of failures.
//!
//! The engine knows nothing of this module's aggregates; it calls [`Sink::record`] once per
//! request. Memory stays flat: a per-second bucket is encoded and its live histogram dropped
//! once no request due in that second can still be in flight, and the failure log is bounded.
//! Everything this module produces ([`Recorded`]) is mergeable without loss, for distributed
//! runs: counts add, histograms are kept in their lossless encoding.
//!
//! Phases (baseline, rollout, settle, or load stages) are marked by whoever orchestrates the run
//! through a [`PhaseMarks`] handle; a request belongs to the phase in force at its *due* time.

mod by_connection;
mod hist;
mod merge;
mod recorded;
mod sessions;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use by_connection::{CONNECTIONS_LIMIT, ConnSecond, ConnectionLoad};
pub use hist::{DecodeError, EncodedHist, Hist, LatencySummary};
pub use merge::MergeError;
pub use recorded::Recorded;
pub use sessions::{PhaseSessions, SessionCounts, SessionSecond, Sessions};

use crate::model::clock::At;
use crate::model::connection::ConnectionLife;
use crate::model::outcome::OutcomeClass;
use crate::model::request::{LiveSecond, LiveStats, RequestRecord, Sink};
use crate::model::session::SessionRecord;

/// Counts by outcome class, indexed by [`OutcomeClass::index`]. Serialised as an object naming
/// every HTTP class (the shape results have always had) and each other protocol's class that
/// counted anything; a class missing from a saved result (one written before it existed) reads
/// as zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts(pub [u64; OutcomeClass::COUNT]);

impl Default for Counts {
    fn default() -> Self {
        Counts([0; OutcomeClass::COUNT])
    }
}

impl Counts {
    #[inline]
    pub fn add(&mut self, class: OutcomeClass) {
        self.0[class.index()] += 1;
    }

    pub fn get(&self, class: OutcomeClass) -> u64 {
        self.0[class.index()]
    }

    pub fn merge(&mut self, other: &Counts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// Every request the schedule asked for, sent or not.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Requests that were sent (everything but generator drops).
    pub fn sent(&self) -> u64 {
        self.total() - self.get(OutcomeClass::DroppedByGenerator)
    }

    pub fn ok(&self) -> u64 {
        self.get(OutcomeClass::Ok)
    }

    /// Sent requests that did not succeed (generator drops are counted apart).
    pub fn failed(&self) -> u64 {
        self.sent() - self.ok()
    }

    pub fn iter(&self) -> impl Iterator<Item = (OutcomeClass, u64)> + '_ {
        OutcomeClass::ALL.into_iter().map(|c| (c, self.get(c)))
    }
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // HTTP's and WebSocket's classes always (saved results have them); gRPC's when seen.
        let shown = |(c, n): &(OutcomeClass, u64)| !matches!(c, OutcomeClass::Grpc(_)) || *n > 0;
        let mut m = s.serialize_map(Some(self.iter().filter(shown).count()))?;
        for (c, n) in self.iter().filter(shown) {
            m.serialize_entry(c.name(), &n)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(d)?;
        let mut out = Counts::default();
        for (k, v) in map {
            let c = OutcomeClass::from_name(&k)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown outcome class `{k}`")))?;
            out.0[c.index()] = v;
        }
        Ok(out)
    }
}

/// Statistics of one span of the run (a phase, or the whole run).
#[derive(Clone, Debug, Default)]
struct SpanAcc {
    counts: Counts,
    statuses: BTreeMap<u16, u64>,
    latency: Hist,
    service: Hist,
    lateness: Hist,
    first_due: Option<At>,
    last_end: Option<At>,
}

impl SpanAcc {
    /// Adds another span's requests to this one (overall = every phase summed).
    fn merge(&mut self, o: &SpanAcc) {
        self.counts.merge(&o.counts);
        for (s, n) in &o.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.latency.add(&o.latency);
        self.service.add(&o.service);
        self.lateness.add(&o.lateness);
        self.first_due = match (self.first_due, o.first_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_end = self.last_end.max(o.last_end);
    }

    #[inline]
    fn add(&mut self, r: &RequestRecord) {
        self.counts.add(r.class);
        if let Some(s) = r.status {
            *self.statuses.entry(s).or_default() += 1;
        }
        if r.class != OutcomeClass::DroppedByGenerator {
            self.latency.record(r.latency().as_micros() as u64);
            self.service.record(r.service_time().as_micros() as u64);
            self.lateness.record(r.lateness().as_micros() as u64);
        }
        if self.first_due.is_none_or(|f| r.due < f) {
            self.first_due = Some(r.due);
        }
        if self.last_end.is_none_or(|l| r.end > l) {
            self.last_end = Some(r.end);
        }
    }

    fn finish(&self, name: String, start: At, end: At) -> SpanStats {
        SpanStats {
            name,
            start,
            end,
            counts: self.counts,
            statuses: self.statuses.clone(),
            latency: self.latency.summary(),
            service_time: self.service.summary(),
            send_lateness: self.lateness.summary(),
            latency_hist: self.latency.encode(),
            service_time_hist: self.service.encode(),
            send_lateness_hist: self.lateness.encode(),
        }
    }
}

/// Statistics of one phase or of the whole run. Latency is measured from the due instant;
/// service time from the actual send; send lateness is how far sends trailed their due instants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanStats {
    pub name: String,
    /// Phase bounds on the run axis (requests are assigned by due time).
    pub start: At,
    pub end: At,
    pub counts: Counts,
    /// Responses by exact HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    pub latency: LatencySummary,
    pub service_time: LatencySummary,
    pub send_lateness: LatencySummary,
    pub latency_hist: EncodedHist,
    pub service_time_hist: EncodedHist,
    pub send_lateness_hist: EncodedHist,
}

/// One second of the run, by due time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the run's start.
    pub second: u64,
    pub counts: Counts,
    pub latency: LatencySummary,
    pub latency_hist: EncodedHist,
    /// Failures in this second that the failure log could not keep.
    #[serde(default)]
    pub failures_not_kept: u64,
}

#[derive(Debug, Default)]
struct SecondAcc {
    counts: Counts,
    latency: Hist,
    failures_not_kept: u64,
}

/// A named phase beginning at an instant; it lasts until the next mark.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseMark {
    pub at: At,
    pub name: String,
}

/// Shared, append-only phase marks. The orchestrator marks phases; the recorder reads them
/// without taking the lock on the hot path unless a mark was added since it last looked.
#[derive(Clone, Debug, Default)]
pub struct PhaseMarks {
    inner: Arc<PhaseMarksInner>,
}

#[derive(Debug, Default)]
struct PhaseMarksInner {
    version: AtomicU64,
    marks: Mutex<Vec<PhaseMark>>,
}

impl PhaseMarks {
    pub fn new() -> PhaseMarks {
        PhaseMarks::default()
    }

    /// Begins phase `name` at the instant `now()` returns, read under the lock so no request
    /// due after the mark can be recorded before the mark is visible.
    pub fn begin(&self, name: &str, now: impl FnOnce() -> At) -> At {
        let mut marks = self.inner.marks.lock().unwrap_or_else(|p| p.into_inner());
        let at = now().max(marks.last().map_or(At::ZERO, |m| m.at));
        marks.push(PhaseMark {
            at,
            name: name.to_string(),
        });
        self.inner.version.fetch_add(1, Ordering::Release);
        at
    }

    pub fn snapshot(&self) -> Vec<PhaseMark> {
        self.inner
            .marks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }
}

/// Connection lives kept at most (a keep-alive pool has a few hundred; a connection per request
/// keeps only the failed ones).
pub const CONNECTION_LOG_LIMIT: usize = 50_000;

/// Settings of the recorder.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    /// Failures kept in full detail; later ones are only counted.
    pub failure_log_limit: usize,
    /// The longest a request can stay open after its due instant (timeouts plus slack), after
    /// which its second is closed and encoded.
    pub max_open: Duration,
}

/// Aggregates request records. Used from one thread (the engine's); see [`Recorder::finish`].
pub struct Recorder {
    config: RecorderConfig,
    marks: PhaseMarks,
    marks_seen: u64,
    mark_cache: Vec<PhaseMark>,
    phases: Vec<SpanAcc>,
    /// Requests due before the first phase mark (none, when the first phase begins at the
    /// schedule's start). `overall` is this plus every phase, summed once at the end, so each
    /// request is recorded in one span only.
    unphased: SpanAcc,
    open: VecDeque<(u64, SecondAcc)>,
    closed: Vec<Second>,
    failures: Vec<RequestRecord>,
    failures_not_kept: u64,
    connections: Vec<ConnectionLife>,
    connections_not_kept: u64,
    /// Requests per connection per second, when asked for ([`Recorder::with_load_by_connection`]).
    by_connection: Option<by_connection::ByConnection>,
    live: Arc<LiveStats>,
    last_live_second: u64,
    /// Histograms of closed seconds, cleared for the next ones: memory stays flat because a
    /// long run reuses the same few buffers instead of allocating one per second.
    spare: Vec<SecondAcc>,
    live_scratch: Hist,
    /// Latencies of the requests completed in the current second (by end time).
    live_window: Hist,
    /// WebSocket sessions (none in an HTTP run).
    sessions: sessions::SessionAcc,
}

impl Recorder {
    pub fn new(config: RecorderConfig, marks: PhaseMarks, live: Arc<LiveStats>) -> Recorder {
        Recorder {
            config,
            marks,
            marks_seen: u64::MAX,
            mark_cache: Vec::new(),
            phases: Vec::new(),
            unphased: SpanAcc::default(),
            open: VecDeque::new(),
            closed: Vec::new(),
            failures: Vec::new(),
            failures_not_kept: 0,
            connections: Vec::new(),
            connections_not_kept: 0,
            by_connection: None,
            live,
            last_live_second: 0,
            spare: Vec::new(),
            live_scratch: Hist::new(),
            live_window: Hist::new(),
            sessions: sessions::SessionAcc::default(),
        }
    }

    /// Also keeps each connection's requests per second (at most [`CONNECTIONS_LIMIT`]
    /// connections), from which the analysis builds each pod's load: for runs over a few
    /// long-lived connections (gRPC), never on the HTTP/1 path.
    pub fn with_load_by_connection(mut self) -> Recorder {
        self.by_connection = Some(by_connection::ByConnection::default());
        self
    }

    pub fn live(&self) -> Arc<LiveStats> {
        self.live.clone()
    }

    fn refresh_marks(&mut self) {
        let v = self.marks.version();
        if v != self.marks_seen {
            self.mark_cache = self.marks.snapshot();
            self.phases
                .resize_with(self.mark_cache.len(), SpanAcc::default);
            self.marks_seen = v;
        }
    }

    /// Index of the phase in force at `due`, if any phase has begun by then.
    fn phase_of(&self, due: At) -> Option<usize> {
        let n = self.mark_cache.partition_point(|m| m.at <= due);
        n.checked_sub(1)
    }

    fn fresh_second(&mut self) -> SecondAcc {
        self.spare.pop().unwrap_or_default()
    }

    fn recycle(&mut self, mut acc: SecondAcc) {
        acc.counts = Counts::default();
        acc.latency.reset();
        acc.failures_not_kept = 0;
        self.spare.push(acc);
    }

    fn second_acc(&mut self, second: u64) -> &mut SecondAcc {
        if self.open.is_empty() {
            let acc = self.fresh_second();
            self.open.push_back((second, acc));
        }
        let front = self.open[0].0;
        if second < front {
            // Only a request that outlived `max_open` lands before the oldest open second; it
            // gets a bucket of its own, merged with its closed twin in `finish`.
            let acc = self.fresh_second();
            self.open.push_front((second, acc));
            return &mut self.open[0].1;
        }
        let idx = (second - front) as usize;
        while self.open.len() <= idx {
            let next = front + self.open.len() as u64;
            let acc = self.fresh_second();
            self.open.push_back((next, acc));
        }
        &mut self.open[idx].1
    }

    /// Closes every second that no in-flight request can still land in, given the newest due time.
    fn close_old_seconds(&mut self, newest_due: At) {
        let horizon = newest_due.minus(self.config.max_open).second();
        while let Some((s, _)) = self.open.front() {
            if *s + 1 >= horizon || self.open.len() == 1 {
                break;
            }
            if let Some((s, acc)) = self.open.pop_front() {
                self.closed.push(close_second(s, &acc));
                self.recycle(acc);
            }
        }
    }

    fn update_live(&mut self, r: &RequestRecord) {
        let live = &self.live;
        match r.class {
            OutcomeClass::Ok => live.ok.fetch_add(1, Ordering::Relaxed),
            OutcomeClass::DroppedByGenerator => live.dropped.fetch_add(1, Ordering::Relaxed),
            OutcomeClass::RequestTimeout => {
                live.timed_out.fetch_add(1, Ordering::Relaxed);
                live.failed.fetch_add(1, Ordering::Relaxed)
            }
            _ => live.failed.fetch_add(1, Ordering::Relaxed),
        };
        let s = r.end.second();
        if s != self.last_live_second {
            // Once a second: the second that just ended, and the p99 of everything so far.
            live.push_second(LiveSecond {
                second: self.last_live_second,
                completed: self.live_window.len(),
                p50_us: self.live_window.quantile(0.5),
            });
            self.live_window.reset();
            self.last_live_second = s;
            // Summed into a histogram kept for the purpose: no allocation once a second.
            let all = &mut self.live_scratch;
            all.reset();
            all.add(&self.unphased.latency);
            for p in &self.phases {
                all.add(&p.latency);
            }
            live.p99_us.store(all.quantile(0.99), Ordering::Relaxed);
        }
        if r.class != OutcomeClass::DroppedByGenerator {
            self.live_window.record(r.latency().as_micros() as u64);
        }
    }

    /// Ends recording: closes every second and phase. `end` is the run's end on the axis.
    pub fn finish(mut self, end: At) -> Recorded {
        self.refresh_marks();
        while let Some((s, acc)) = self.open.pop_front() {
            self.closed.push(close_second(s, &acc));
        }
        self.closed.sort_by_key(|s| s.second);
        self.closed = merge::merge_same_seconds(std::mem::take(&mut self.closed));
        let mut phases = Vec::with_capacity(self.mark_cache.len());
        for (i, mark) in self.mark_cache.iter().enumerate() {
            let phase_end = self.mark_cache.get(i + 1).map_or(end, |m| m.at);
            let acc = self.phases.get(i).cloned().unwrap_or_default();
            phases.push(acc.finish(mark.name.clone(), mark.at, phase_end));
        }
        let mut overall = std::mem::take(&mut self.unphased);
        for p in &self.phases {
            overall.merge(p);
        }
        let start = self
            .mark_cache
            .first()
            .map_or(At::ZERO, |m| m.at.min(overall.first_due.unwrap_or(m.at)));
        self.failures.sort_by_key(|f| (f.due, f.seq));
        self.connections.sort_by_key(|c| (c.opened, c.id));
        let by_connection = self.by_connection.take().unwrap_or_default();
        let load_by_connection_not_kept = by_connection.not_kept;
        Recorded {
            series: self.closed,
            phases,
            overall: overall.finish("overall".to_string(), start, end),
            failures: self.failures,
            failures_not_kept: self.failures_not_kept,
            sessions: self.sessions.finish(),
            connections: self.connections,
            connections_not_kept: self.connections_not_kept,
            load_by_connection: by_connection.finish(),
            load_by_connection_not_kept,
        }
    }
}

fn close_second(second: u64, acc: &SecondAcc) -> Second {
    Second {
        second,
        counts: acc.counts,
        latency: acc.latency.summary(),
        latency_hist: acc.latency.encode(),
        failures_not_kept: acc.failures_not_kept,
    }
}

impl Sink for Recorder {
    #[inline]
    fn record(&mut self, r: &RequestRecord) {
        self.refresh_marks();
        match self.phase_of(r.due) {
            Some(p) => self.phases[p].add(r),
            None => self.unphased.add(r),
        }
        let limit = self.config.failure_log_limit;
        let keep = r.class.is_failure()
            && r.class != OutcomeClass::DroppedByGenerator
            && self.failures.len() < limit;
        let not_kept = r.class.is_failure() && r.class != OutcomeClass::DroppedByGenerator && !keep;
        {
            let acc = self.second_acc(r.due.second());
            acc.counts.add(r.class);
            if r.class != OutcomeClass::DroppedByGenerator {
                acc.latency.record(r.latency().as_micros() as u64);
            }
            if not_kept {
                acc.failures_not_kept += 1;
            }
        }
        if keep {
            self.failures.push(r.clone());
        } else if not_kept {
            self.failures_not_kept += 1;
        }
        if let Some(b) = self.by_connection.as_mut() {
            b.add(r);
        }
        self.update_live(r);
        self.close_old_seconds(r.due);
    }

    /// A session belongs to the phase in force when it *ended*: a drop is the rollout's when
    /// it happened during the rollout, whenever the session opened.
    fn session(&mut self, s: &SessionRecord) {
        self.refresh_marks();
        let phase = self
            .phase_of(s.ended)
            .and_then(|i| self.mark_cache.get(i))
            .map(|m| m.name.clone());
        self.sessions
            .add(s, phase.as_deref(), self.config.failure_log_limit);
        if s.class.is_failure() {
            self.live.sessions_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keeps the lives that can say which pod a connection was on: those that carried a
    /// failure, were ended by the peer, or carried more than one request (a keep-alive pool's
    /// connections, which are few). A connection per request that ended as asked says nothing.
    fn connection(&mut self, c: &ConnectionLife) {
        if c.failures == 0 && !c.end.by_peer() && c.requests <= 1 {
            return;
        }
        if self.connections.len() < CONNECTION_LOG_LIMIT {
            self.connections.push(c.clone());
        } else {
            self.connections_not_kept += 1;
        }
    }
}

#[cfg(test)]
mod tests;
