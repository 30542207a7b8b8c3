//! Counts of requests by outcome class: the one tally every span, second, template and
//! revision cell keeps, serialised as an object naming every HTTP and WebSocket class (the
//! shape results have always had) and each gRPC class that counted anything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::outcome::OutcomeClass;

/// Counts by outcome class, indexed by [`OutcomeClass::index`]. A class missing from a saved
/// result (one written before it existed) reads as zero.
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
