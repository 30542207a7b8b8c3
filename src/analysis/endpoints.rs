//! How many ready endpoints the Service had at each moment, and the stretches where that was
//! below the desired replica count (a capacity dip) or zero (no endpoints).
//!
//! Built only from endpoint events; when the timeline has none (a plain load run, or a watch
//! that saw no slices) there is no step function and no window is claimed.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::clock::At;
use crate::model::event::EventKind;
use crate::timeline::Timeline;

/// A stretch of the run, `[start, end)`, with the lowest ready count seen in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub start: At,
    pub end: At,
    pub min_ready: u32,
    pub desired: u32,
}

impl Window {
    pub fn contains(&self, at: At) -> bool {
        self.start <= at && at < self.end
    }
}

/// The ready-endpoint count over the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadySteps {
    /// (instant, ready endpoints from then on, desired replicas then), in order.
    steps: Vec<(At, u32, Option<u32>)>,
}

impl ReadySteps {
    /// Reads endpoint events; `shift` moves every change later by the data path's delay.
    pub fn from_timeline(timeline: &Timeline, shift: Duration) -> ReadySteps {
        let mut ready: BTreeMap<String, bool> = BTreeMap::new();
        let mut desired = timeline.desired_replicas;
        let mut steps: Vec<(At, u32, Option<u32>)> = Vec::new();
        for e in &timeline.events {
            if let EventKind::WorkloadStatus { desired: d, .. } = &e.kind {
                // The plan's replica count wins over a status read mid-rollout.
                if timeline.desired_replicas.is_none() {
                    desired = Some(*d);
                }
                continue;
            }
            let Some((address, conditions)) = e.kind.endpoint() else {
                continue;
            };
            // Keyed by pod where known, else by address, so an address change of one pod
            // never counts it twice.
            let key = e.pod.clone().unwrap_or_else(|| address.to_string());
            match conditions {
                Some(c) => ready.insert(key, c.ready),
                None => ready.remove(&key),
            };
            let n = ready.values().filter(|r| **r).count() as u32;
            let at = e.at.plus(shift);
            match steps.last_mut() {
                Some(last) if last.0 == at => *last = (at, n, desired),
                _ => steps.push((at, n, desired)),
            }
        }
        ReadySteps { steps }
    }

    /// Stretches after the Service first had a ready endpoint where `pred(ready, desired)`
    /// held, up to `end`.
    fn windows(&self, end: At, pred: impl Fn(u32, Option<u32>) -> bool) -> Vec<Window> {
        let mut out: Vec<Window> = Vec::new();
        let Some(first_ready) = self.steps.iter().position(|s| s.1 > 0) else {
            return out;
        };
        let mut open: Option<Window> = None;
        for (i, &(at, n, desired)) in self.steps.iter().enumerate().skip(first_ready) {
            let next = self.steps.get(i + 1).map_or(end, |s| s.0).max(at);
            if pred(n, desired) {
                let w = open.get_or_insert(Window {
                    start: at,
                    end: next,
                    min_ready: n,
                    desired: desired.unwrap_or(0),
                });
                w.end = next;
                w.min_ready = w.min_ready.min(n);
                w.desired = w.desired.max(desired.unwrap_or(0));
            } else if let Some(w) = open.take() {
                out.push(w);
            }
        }
        out.extend(open);
        out.retain(|w| w.end > w.start);
        out
    }

    /// Where the Service had no ready endpoint at all.
    pub fn zero_windows(&self, end: At) -> Vec<Window> {
        self.windows(end, |n, _| n == 0)
    }

    /// Where it had some, but fewer than desired.
    pub fn dip_windows(&self, end: At) -> Vec<Window> {
        self.windows(end, |n, d| n > 0 && d.is_some_and(|d| n < d))
    }
}
