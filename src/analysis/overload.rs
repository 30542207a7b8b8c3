//! Overload during the rollout: seconds in which requests queued — latency and requests in
//! flight both well above the baseline's — while the Service had every endpoint it should.
//! Failures sent then follow from the load, not from how pods were replaced, so they get an
//! `overload` finding instead of a shutdown one.
//!
//! Requests in flight are not recorded per second; they follow from what is (Little's law):
//! the requests due in a second times their mean latency.

use crate::analysis::endpoints::Window;
use crate::analysis::sustain::{CLIMB_FACTOR, CLIMB_MIN, QUEUE_FACTOR, QUEUE_MIN};
use crate::model::clock::At;
use crate::model::phase::BASELINE;
use crate::record::{Recorded, Second};

/// Fewer requests than this in a second say nothing about its latency.
const MIN_REQUESTS: u64 = 10;

/// A stretch in which the service queued, with the figures that show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Overload {
    pub start: At,
    pub end: At,
    /// Baseline median latency and requests in flight, and the highest seen in the stretch.
    pub base_p50_us: u64,
    pub peak_p50_us: u64,
    pub base_in_flight: f64,
    pub peak_in_flight: f64,
}

impl Overload {
    pub fn contains(&self, at: At) -> bool {
        self.start <= at && at < self.end
    }
}

/// Requests in flight on average over a second (Little's law).
fn in_flight(s: &Second) -> f64 {
    s.latency.count as f64 * s.latency.mean_us / 1e6
}

/// The stretches after `trigger` in which the service queued while no capacity dip or
/// endpoint-less window (`dips`) explains it.
pub fn windows(recorded: &Recorded, trigger: Option<At>, dips: &[Window]) -> Vec<Overload> {
    let (Some(trigger), Some(base)) = (trigger, recorded.phase(BASELINE)) else {
        return Vec::new();
    };
    let base_p50 = base.latency.p50_us;
    let base_seconds: Vec<&Second> = recorded
        .series
        .iter()
        .filter(|s| {
            At(s.second * 1_000_000) >= base.start && At((s.second + 1) * 1_000_000) <= base.end
        })
        .collect();
    if base_seconds.is_empty() {
        return Vec::new();
    }
    let base_q = base_seconds.iter().map(|s| in_flight(s)).sum::<f64>() / base_seconds.len() as f64;
    let queued = |s: &Second| {
        let p50 = s.latency.p50_us as f64;
        let q = in_flight(s);
        let start = At(s.second * 1_000_000);
        let end = At((s.second + 1) * 1_000_000);
        s.latency.count >= MIN_REQUESTS
            && start >= trigger
            && p50 >= base_p50 as f64 * CLIMB_FACTOR
            && p50 - base_p50 as f64 >= CLIMB_MIN.as_micros() as f64
            && q >= base_q * QUEUE_FACTOR
            && q - base_q >= QUEUE_MIN
            && !dips.iter().any(|w| w.start < end && start < w.end)
    };
    let mut out: Vec<Overload> = Vec::new();
    for s in recorded.series.iter().filter(|s| queued(s)) {
        let start = At(s.second * 1_000_000);
        let end = At((s.second + 1) * 1_000_000);
        match out.last_mut() {
            Some(w) if w.end == start => {
                w.end = end;
                w.peak_p50_us = w.peak_p50_us.max(s.latency.p50_us);
                w.peak_in_flight = w.peak_in_flight.max(in_flight(s));
            }
            _ => out.push(Overload {
                start,
                end,
                base_p50_us: base_p50,
                peak_p50_us: s.latency.p50_us,
                base_in_flight: base_q,
                peak_in_flight: in_flight(s),
            }),
        }
    }
    out
}
