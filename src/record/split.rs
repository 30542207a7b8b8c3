//! Which revision served each request, and the figures per second, template and revision that
//! an old-versus-new comparison reads.
//!
//! A request's revision is, in order of evidence: the value of the version header the
//! application sent (`--version-header`); else the answer of the run's [`RevisionSource`] for
//! the pod its identity header named, or for its connection (the local proxy's route: exact).
//! The source is asked once per identity value or per connection, never per request, and a
//! "not known yet" is asked again at most every 250 ms. Revisions are kept as labels (`v1`,
//! `7d9f8c6b5`, `1.4.0`); which one is old and which is new is the analysis's call.
//!
//! Cells (one per second, template and revision that had requests) hold counts, check
//! failures and a 2-digit histogram of the answered requests' latency (a failure's time to fail
//! is not a response time): enough for a Mann–Whitney test and p50/p99 over
//! any stretch of whole seconds — in particular the window in which both revisions served,
//! which only the analysis can see. Nothing is kept when no revision is known: a run with
//! neither a version header nor a source costs nothing here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Counts, EncodedHist, Hist};
use crate::model::clock::At;
use crate::model::outcome::ConnId;
use crate::model::request::{RequestRecord, RevisionSource};

/// One second's figures for one template served by one revision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitCell {
    pub template: u16,
    /// Index into the result's `revisions`.
    pub revision: u16,
    pub counts: Counts,
    /// Responses the template's checks ran on.
    #[serde(default)]
    pub checked: u64,
    /// Failures of each of the template's checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks_failed: Vec<u64>,
    /// Latency from the due instant of the requests that got an answer (see
    /// [`OutcomeClass::got_response`](crate::model::outcome::OutcomeClass::got_response)), 2
    /// significant digits: a revision's requests cut in a millisecond are not a faster one.
    pub latency_hist: EncodedHist,
}

/// A cell while its second is open.
#[derive(Debug)]
pub(super) struct CellAcc {
    template: u16,
    revision: u16,
    counts: Counts,
    checked: u64,
    checks_failed: Vec<u64>,
    latency: Hist,
}

impl CellAcc {
    fn new() -> CellAcc {
        CellAcc {
            template: 0,
            revision: 0,
            counts: Counts::default(),
            checked: 0,
            checks_failed: Vec::new(),
            latency: Hist::coarse(),
        }
    }

    fn reset(&mut self, template: u16, revision: u16) {
        self.template = template;
        self.revision = revision;
        self.counts = Counts::default();
        self.checked = 0;
        self.checks_failed.clear();
        self.latency.reset();
    }

    fn add(&mut self, r: &RequestRecord) {
        self.counts.add(r.class);
        if r.class.got_response() {
            self.latency.record(r.latency().as_micros() as u64);
        }
        if r.status.is_some() {
            self.checked += 1;
        }
        let mut bits = r.checks_failed;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            if self.checks_failed.len() <= i {
                self.checks_failed.resize(i + 1, 0);
            }
            self.checks_failed[i] += 1;
            bits &= bits - 1;
        }
    }

    fn finish(&self) -> SplitCell {
        SplitCell {
            template: self.template,
            revision: self.revision,
            counts: self.counts,
            checked: self.checked,
            checks_failed: self.checks_failed.clone(),
            latency_hist: self.latency.encode(),
        }
    }
}

/// The cells of one open second.
#[derive(Debug, Default)]
pub(super) struct Cells(Vec<CellAcc>);

impl Cells {
    pub(super) fn add(&mut self, r: &RequestRecord, revision: u16, spare: &mut Vec<CellAcc>) {
        let found = self
            .0
            .iter_mut()
            .find(|c| c.template == r.template && c.revision == revision);
        let cell = match found {
            Some(c) => c,
            None => {
                let mut c = spare.pop().unwrap_or_else(CellAcc::new);
                c.reset(r.template, revision);
                self.0.push(c);
                let last = self.0.len() - 1;
                &mut self.0[last]
            }
        };
        cell.add(r);
    }

    pub(super) fn finish(&self) -> Vec<SplitCell> {
        self.0.iter().map(CellAcc::finish).collect()
    }

    /// Empties the second, handing its cells back for reuse.
    pub(super) fn recycle(&mut self, spare: &mut Vec<CellAcc>) {
        spare.append(&mut self.0);
    }
}

/// How long a "not known yet" from the source stands before it is asked again.
const RETRY: Duration = Duration::from_millis(250);

/// Connection answers kept before old ones are forgotten.
const CONN_LIMIT: usize = 4_096;

/// How long an answer for a connection not used since is kept past the limit.
const FORGET: Duration = Duration::from_secs(30);

/// A cached answer: the label, or when the source last had none.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Known(u16),
    Unknown(At),
}

impl Answer {
    fn known(self) -> Option<u16> {
        match self {
            Answer::Known(i) => Some(i),
            Answer::Unknown(_) => None,
        }
    }
}

/// The revision of each request, from its version header or the source.
pub(super) struct Revisions {
    source: Option<Box<dyn RevisionSource>>,
    /// Labels in the order first seen; a cell's `revision` indexes this.
    labels: Vec<Arc<str>>,
    /// Answers per connection id, with when each was last used.
    by_conn: HashMap<u64, (Answer, At)>,
    conn_limit: usize,
    /// Answers per identity value.
    by_identity: Vec<(Arc<str>, Answer)>,
    /// Whether any revision was told by the version header.
    by_header: bool,
}

impl Revisions {
    pub(super) fn new(source: Option<Box<dyn RevisionSource>>) -> Revisions {
        Revisions {
            source,
            labels: Vec::new(),
            by_conn: HashMap::new(),
            conn_limit: CONN_LIMIT,
            by_identity: Vec::new(),
            by_header: false,
        }
    }

    /// Whether a revision can be told at all (no work per request otherwise).
    pub(super) fn active(&self, r: &RequestRecord) -> bool {
        r.version.is_some() || self.source.is_some()
    }

    fn intern(&mut self, label: &Arc<str>) -> u16 {
        if let Some(i) = self
            .labels
            .iter()
            .position(|l| Arc::ptr_eq(l, label) || **l == **label)
        {
            return i as u16;
        }
        self.labels.push(label.clone());
        (self.labels.len() - 1) as u16
    }

    /// The revision (label index) of `r`, if it can be told: its version header, else the
    /// pod its identity header names, else its connection's.
    pub(super) fn of(&mut self, r: &RequestRecord) -> Option<u16> {
        if let Some(v) = &r.version {
            self.by_header = true;
            return Some(self.intern(v));
        }
        self.source.as_ref()?;
        let conn = r.conn.as_ref()?;
        if let Some(identity) = &r.identity
            && let Some(i) = self.of_identity(conn, identity, r.end)
        {
            return Some(i);
        }
        self.of_connection(conn, r.end)
    }

    /// An answer from the source, interned; `Unknown` (to ask again later) when it has none.
    fn ask(&mut self, conn: &ConnId, identity: Option<&str>, at: At) -> Answer {
        let found = self
            .source
            .as_ref()
            .and_then(|s| s.revision(conn, identity, at));
        match found {
            Some(label) => Answer::Known(self.intern(&label)),
            None => Answer::Unknown(at),
        }
    }

    fn of_identity(&mut self, conn: &ConnId, identity: &Arc<str>, at: At) -> Option<u16> {
        let slot = self
            .by_identity
            .iter()
            .position(|(v, _)| Arc::ptr_eq(v, identity) || **v == **identity);
        let cached = slot.map(|s| self.by_identity[s].1);
        let answer = match cached {
            Some(Answer::Known(i)) => return Some(i),
            Some(Answer::Unknown(when)) if at.saturating_sub(when) < RETRY => return None,
            _ => self.ask(conn, Some(identity), at),
        };
        match slot {
            Some(s) => self.by_identity[s].1 = answer,
            None => self.by_identity.push((identity.clone(), answer)),
        }
        answer.known()
    }

    fn of_connection(&mut self, conn: &ConnId, at: At) -> Option<u16> {
        let answer = match self.by_conn.get_mut(&conn.id) {
            Some((Answer::Known(i), used)) => {
                *used = at;
                return Some(*i);
            }
            Some((Answer::Unknown(when), _)) if at.saturating_sub(*when) < RETRY => return None,
            _ => self.ask(conn, None, at),
        };
        self.by_conn.insert(conn.id, (answer, at));
        self.forget_old_connections(at);
        answer.known()
    }

    /// Keeps the connection answers bounded (a run without keep-alive opens a connection per
    /// request): past a limit, answers unused for [`FORGET`] are dropped — a connection used
    /// again after that is simply asked again.
    fn forget_old_connections(&mut self, now: At) {
        if self.by_conn.len() <= self.conn_limit {
            return;
        }
        self.by_conn
            .retain(|_, (_, used)| now.saturating_sub(*used) < FORGET);
        self.conn_limit = (2 * self.by_conn.len()).max(CONN_LIMIT);
    }

    /// The labels, in index order.
    pub(super) fn labels(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.to_string()).collect()
    }

    /// How the revisions were told, in words, when any was.
    pub(super) fn describe(&self, header: Option<&str>) -> Option<String> {
        if self.labels.is_empty() {
            return None;
        }
        let mut ways = Vec::new();
        if self.by_header {
            ways.push(match header {
                Some(h) => format!("the version header {h}"),
                None => "the version header".to_string(),
            });
        }
        if let Some(s) = &self.source {
            ways.push(s.describe());
        }
        Some(ways.join("; "))
    }
}
