//! WebSocket sessions as the recorder keeps them: counts by how they ended (overall, per phase
//! by the instant they ended, per second), reconnections and the time each took, and a bounded
//! log of the sessions themselves (each with its connection and its answered messages per
//! second, which the analysis ties to pods). Everything merges losslessly across generators.
//!
//! Messages are not counted here: they are request records and go through the same
//! per-second, per-phase and overall aggregates as requests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::MergeError;
use super::hist::{EncodedHist, Hist, LatencySummary};
use super::merge::add_hist;
use crate::model::session::{SessionClass, SessionRecord};

/// Sessions by how they ended, serialised as an object with every class name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounts(pub [u64; SessionClass::COUNT]);

impl SessionCounts {
    pub fn add(&mut self, class: SessionClass) {
        self.0[class.index()] += 1;
    }

    pub fn get(&self, class: SessionClass) -> u64 {
        self.0[class.index()]
    }

    pub fn merge(&mut self, other: &SessionCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Sessions that ended other than gracefully (drops, error codes, failed handshakes).
    pub fn failed(&self) -> u64 {
        self.iter()
            .filter(|(c, _)| c.is_failure())
            .map(|(_, n)| n)
            .sum()
    }

    /// Sessions that ended by 1006: the connection gone without a close frame.
    pub fn dropped(&self) -> u64 {
        self.get(SessionClass::Abnormal1006)
    }

    pub fn iter(&self) -> impl Iterator<Item = (SessionClass, u64)> + '_ {
        SessionClass::ALL.into_iter().map(|c| (c, self.get(c)))
    }
}

impl Serialize for SessionCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(SessionClass::COUNT))?;
        for (c, n) in self.iter() {
            m.serialize_entry(c.name(), &n)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for SessionCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(d)?;
        let mut out = SessionCounts::default();
        for (k, v) in map {
            let c = SessionClass::from_name(&k)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown session class `{k}`")))?;
            out.0[c.index()] = v;
        }
        Ok(out)
    }
}

/// Sessions that ended in one phase (by the instant they ended).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseSessions {
    pub name: String,
    pub counts: SessionCounts,
}

/// One second of the run: sessions opened in it and sessions that ended in it, by class.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionSecond {
    pub second: u64,
    pub opened: u64,
    pub ended: SessionCounts,
}

/// What the recorder kept of a run's WebSocket sessions (empty for an HTTP run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    /// Every session of the run, by how it ended.
    pub counts: SessionCounts,
    /// Sessions ended in each phase (phases with none are left out).
    #[serde(default)]
    pub by_phase: Vec<PhaseSessions>,
    /// Seconds in which a session opened or ended.
    #[serde(default)]
    pub series: Vec<SessionSecond>,
    /// Sessions that were reconnections (attempt > 0) and opened.
    pub reconnects: u64,
    /// Time from a session's end to its client's next open session.
    pub reconnect_time: LatencySummary,
    pub reconnect_time_hist: EncodedHist,
    /// Sessions in full detail, in due order, up to the log's limit.
    #[serde(default)]
    pub log: Vec<SessionRecord>,
    /// Sessions beyond the log's limit: counted, not kept.
    #[serde(default)]
    pub not_kept: u64,
}

impl Sessions {
    /// True when the run had no WebSocket session at all.
    pub fn is_empty(&self) -> bool {
        self.counts.total() == 0
    }

    pub fn phase(&self, name: &str) -> Option<&SessionCounts> {
        self.by_phase
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.counts)
    }

    /// Adds another generator's sessions (their clients are distinct by construction).
    pub(super) fn merge_from(&mut self, other: Sessions) -> Result<(), MergeError> {
        self.counts.merge(&other.counts);
        for p in other.by_phase {
            match self.by_phase.iter_mut().find(|q| q.name == p.name) {
                Some(q) => q.counts.merge(&p.counts),
                None => self.by_phase.push(p),
            }
        }
        let mut seconds: BTreeMap<u64, SessionSecond> =
            self.series.drain(..).map(|s| (s.second, s)).collect();
        for s in other.series {
            let e = seconds.entry(s.second).or_insert_with(|| SessionSecond {
                second: s.second,
                ..SessionSecond::default()
            });
            e.opened += s.opened;
            e.ended.merge(&s.ended);
        }
        self.series = seconds.into_values().collect();
        self.reconnects += other.reconnects;
        self.reconnect_time_hist = add_hist(
            &self.reconnect_time_hist,
            &other.reconnect_time_hist,
            "session reconnect times",
        )?;
        self.reconnect_time = self
            .reconnect_time_hist
            .decode()
            .map(|h| h.summary())
            .unwrap_or(self.reconnect_time);
        self.log.extend(other.log);
        self.log.sort_by_key(|s| (s.due, s.client, s.attempt));
        self.not_kept += other.not_kept;
        Ok(())
    }
}

/// The recorder's running aggregate of sessions.
#[derive(Debug, Default)]
pub(super) struct SessionAcc {
    counts: SessionCounts,
    by_phase: BTreeMap<String, SessionCounts>,
    phase_order: Vec<String>,
    series: BTreeMap<u64, SessionSecond>,
    reconnects: u64,
    reconnect_time: Hist,
    log: Vec<SessionRecord>,
    not_kept: u64,
}

impl SessionAcc {
    /// Adds one ended session; `phase` is the phase in force when it ended.
    pub(super) fn add(&mut self, s: &SessionRecord, phase: Option<&str>, limit: usize) {
        self.counts.add(s.class);
        if let Some(name) = phase {
            if !self.by_phase.contains_key(name) {
                self.phase_order.push(name.to_string());
            }
            self.by_phase
                .entry(name.to_string())
                .or_default()
                .add(s.class);
        }
        if let Some(opened) = s.opened {
            self.second(opened.second()).opened += 1;
        }
        self.second(s.ended.second()).ended.add(s.class);
        if let Some(t) = s.reconnect_time() {
            self.reconnects += 1;
            self.reconnect_time.record(t.as_micros() as u64);
        }
        if self.log.len() < limit {
            self.log.push(s.clone());
        } else {
            self.not_kept += 1;
        }
    }

    fn second(&mut self, second: u64) -> &mut SessionSecond {
        self.series.entry(second).or_insert_with(|| SessionSecond {
            second,
            ..SessionSecond::default()
        })
    }

    pub(super) fn finish(mut self) -> Sessions {
        if self.counts.total() == 0 {
            // An HTTP run: exactly what a saved result without sessions reads back as.
            return Sessions::default();
        }
        self.log.sort_by_key(|s| (s.due, s.client, s.attempt));
        let by_phase = self
            .phase_order
            .iter()
            .filter_map(|name| {
                self.by_phase.get(name).map(|c| PhaseSessions {
                    name: name.clone(),
                    counts: *c,
                })
            })
            .collect();
        Sessions {
            counts: self.counts,
            by_phase,
            series: self.series.into_values().collect(),
            reconnects: self.reconnects,
            reconnect_time: self.reconnect_time.summary(),
            reconnect_time_hist: self.reconnect_time.encode(),
            log: self.log,
            not_kept: self.not_kept,
        }
    }
}
