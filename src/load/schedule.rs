//! The arrival schedule: when request *i* is due. Pure arithmetic, no clock, no I/O.
//!
//! The arrival rate is piecewise linear between stage points (`--stages 0s:100,30s:1000`), or
//! constant (`--rate`). Request *g* is due at the instant where the integral of the rate
//! reaches *g*, solved in closed form from the fixed start for every *g* — never from the
//! previous request's time — so there is no drift however long the run.
//!
//! A schedule can be sharded for distributed runs: worker *k* of *n* takes the global indices
//! `k, k+n, k+2n, …`, so the union of all workers' sends is exactly the unsharded schedule.

use std::time::Duration;

/// One linear piece of the rate curve.
#[derive(Clone, Debug, PartialEq)]
struct Segment {
    /// Start of the piece, seconds from the schedule's start.
    t0: f64,
    /// End of the piece, seconds; `f64::INFINITY` for an open-ended tail.
    t1: f64,
    /// Rate at `t0`, requests per second.
    r0: f64,
    /// Rate slope over the piece, requests per second per second.
    slope: f64,
    /// Requests due before `t0` (the integral of the rate up to `t0`).
    n0: f64,
}

impl Segment {
    fn count_at(&self, t: f64) -> f64 {
        let tau = t - self.t0;
        self.n0 + self.r0 * tau + 0.5 * self.slope * tau * tau
    }

    /// Seconds after `t0` at which the cumulative count reaches `n` (`n >= n0`).
    fn solve(&self, n: f64) -> f64 {
        let dn = n - self.n0;
        if dn <= 0.0 {
            return 0.0;
        }
        // Stable root of r0·τ + ½·slope·τ² = dn for either sign of the slope.
        let disc = (self.r0 * self.r0 + 2.0 * self.slope * dn).max(0.0);
        let denom = self.r0 + disc.sqrt();
        if denom <= 0.0 {
            f64::INFINITY
        } else {
            2.0 * dn / denom
        }
    }
}

/// When each request is due, relative to the run's start.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    segments: Vec<Segment>,
    /// Total length; `None` runs until stopped (holding the last rate).
    end: Option<f64>,
    stride: u64,
    offset: u64,
}

impl Schedule {
    /// A constant rate, for `duration` or until stopped.
    pub fn constant(rate: f64, duration: Option<Duration>) -> Schedule {
        Schedule {
            segments: vec![Segment {
                t0: 0.0,
                t1: f64::INFINITY,
                r0: rate.max(0.0),
                slope: 0.0,
                n0: 0.0,
            }],
            end: duration.map(|d| d.as_secs_f64()),
            stride: 1,
            offset: 0,
        }
    }

    /// A ramping rate through `points` (time from start, rate), linear between points.
    /// The caller validates the points (first at zero, strictly increasing times, rates ≥ 0);
    /// after the last point the last rate holds if `hold_last` is set, otherwise the schedule ends.
    pub fn stages(points: &[(Duration, f64)], hold_last: bool) -> Schedule {
        let mut segments = Vec::with_capacity(points.len());
        let mut n0 = 0.0;
        for pair in points.windows(2) {
            let (t0, r0) = (pair[0].0.as_secs_f64(), pair[0].1.max(0.0));
            let (t1, r1) = (pair[1].0.as_secs_f64(), pair[1].1.max(0.0));
            let span = t1 - t0;
            let slope = if span > 0.0 { (r1 - r0) / span } else { 0.0 };
            let seg = Segment {
                t0,
                t1,
                r0,
                slope,
                n0,
            };
            n0 = seg.count_at(t1);
            segments.push(seg);
        }
        let (last_t, last_r) = points
            .last()
            .map(|(t, r)| (t.as_secs_f64(), r.max(0.0)))
            .unwrap_or((0.0, 0.0));
        segments.push(Segment {
            t0: last_t,
            t1: f64::INFINITY,
            r0: last_r,
            slope: 0.0,
            n0,
        });
        Schedule {
            segments,
            end: if hold_last { None } else { Some(last_t) },
            stride: 1,
            offset: 0,
        }
    }

    /// This schedule as worker `index` of `count` sees it (global indices `index + j·count`).
    pub fn sharded(mut self, index: u64, count: u64) -> Schedule {
        let count = count.max(1);
        self.offset += index.min(count - 1) * self.stride;
        self.stride *= count;
        self
    }

    /// Length of the schedule, if it has one.
    pub fn duration(&self) -> Option<Duration> {
        self.end.map(Duration::from_secs_f64)
    }

    /// Ends the schedule at `at` (used when a stop is requested), keeping whatever came before.
    pub fn truncated(mut self, at: Duration) -> Schedule {
        let at = at.as_secs_f64();
        self.end = Some(self.end.map_or(at, |e| e.min(at)));
        self
    }

    /// The global index of this worker's `i`-th request: the number every generator of a
    /// sharded run agrees on (a mix picks templates by it).
    #[inline]
    pub fn global(&self, i: u64) -> u64 {
        self.offset + i * self.stride
    }

    /// When this worker's `i`-th request is due, or `None` if it falls after the end.
    pub fn due(&self, i: u64) -> Option<Duration> {
        let g = self.global(i) as f64;
        let idx = self
            .segments
            .partition_point(|s| s.n0 <= g)
            .saturating_sub(1);
        let seg = self.segments.get(idx)?;
        let t = seg.t0 + seg.solve(g);
        if !t.is_finite() || self.end.is_some_and(|end| t >= end) {
            return None;
        }
        Some(Duration::from_secs_f64(t))
    }

    /// Requests this worker sends in total, if the schedule has an end.
    pub fn total(&self) -> Option<u64> {
        let end = self.end?;
        let n = self.count_before(end);
        // Global indices g = offset + i·stride with g < n.
        let n = n.ceil() as u64;
        Some(if n <= self.offset {
            0
        } else {
            (n - self.offset).div_ceil(self.stride)
        })
    }

    /// The segment in force at `t` seconds: the last one starting at or before `t` (the first
    /// one before the start).
    fn segment_at(&self, t: f64) -> Option<&Segment> {
        let idx = self
            .segments
            .partition_point(|s| s.t0 <= t)
            .saturating_sub(1);
        self.segments.get(idx)
    }

    /// The (unsharded) integral of the rate from the start to `t` seconds.
    fn count_before(&self, t: f64) -> f64 {
        self.segment_at(t).map_or(0.0, |s| s.count_at(t.min(s.t1)))
    }

    /// The (unsharded) arrival rate at `t`, requests per second.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        self.segment_at(t)
            .map_or(0.0, |s| s.r0 + s.slope * (t - s.t0))
    }

    /// Requests per second this worker sends at `t`.
    pub fn own_rate_at(&self, t: Duration) -> f64 {
        self.rate_at(t) / self.stride as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn constant_rate_spaces_requests_evenly_from_the_fixed_start() {
        let s = Schedule::constant(1000.0, Some(secs(1.0)));
        assert_eq!(s.due(0), Some(Duration::ZERO));
        assert_eq!(s.due(1), Some(Duration::from_millis(1)));
        assert_eq!(s.due(999), Some(Duration::from_millis(999)));
        assert_eq!(s.due(1000), None);
        assert_eq!(s.total(), Some(1000));
    }

    #[test]
    fn no_drift_after_millions_of_requests() {
        let s = Schedule::constant(20_000.0, None);
        // 20k/s for 10 hours: request 720M is due at exactly 36,000 s.
        let due = s.due(720_000_000).expect("open-ended");
        assert!((due.as_secs_f64() - 36_000.0).abs() < 1e-6, "{due:?}");
    }

    #[test]
    fn ramp_integrates_the_rate() {
        // 0 → 100/s over 10 s: 500 requests in the ramp, then 100/s held.
        let s = Schedule::stages(
            &[(secs(0.0), 0.0), (secs(10.0), 100.0), (secs(20.0), 100.0)],
            false,
        );
        assert_eq!(s.total(), Some(1500));
        // Request 500 is due exactly at the end of the ramp.
        let t = s.due(500).expect("in range").as_secs_f64();
        assert!((t - 10.0).abs() < 1e-9, "{t}");
        // Request 50 at sqrt(2·50/10) = sqrt(10) s.
        let t = s.due(50).expect("in range").as_secs_f64();
        assert!((t - 10f64.sqrt()).abs() < 1e-9, "{t}");
        assert!((s.rate_at(secs(5.0)) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn ramp_down_is_solved_with_the_stable_root() {
        let s = Schedule::stages(&[(secs(0.0), 100.0), (secs(10.0), 0.0)], false);
        assert_eq!(s.total(), Some(500));
        let mut last = Duration::ZERO;
        for i in 0..500 {
            let d = s.due(i).expect("in range");
            assert!(d >= last, "due times must not go backwards at {i}");
            last = d;
        }
        assert_eq!(s.due(500), None);
    }

    #[test]
    fn a_zero_rate_stage_sends_nothing_and_then_resumes() {
        let s = Schedule::stages(
            &[
                (secs(0.0), 10.0),
                (secs(1.0), 10.0),
                (secs(1.0), 0.0),
                (secs(3.0), 0.0),
                (secs(3.0), 10.0),
                (secs(4.0), 10.0),
            ],
            false,
        );
        let dues: Vec<f64> = (0..)
            .map_while(|i| s.due(i))
            .map(|d| d.as_secs_f64())
            .collect();
        assert_eq!(dues.len(), 20);
        assert!(dues.iter().all(|&t| !(1.0..3.0).contains(&t)), "{dues:?}");
    }

    #[test]
    fn shards_union_to_the_whole_schedule() {
        let whole = Schedule::constant(300.0, Some(secs(2.0)));
        let mut union: Vec<Duration> = Vec::new();
        for k in 0..3 {
            let shard = whole.clone().sharded(k, 3);
            assert_eq!(shard.total(), Some(200));
            union.extend((0..).map_while(|i| shard.due(i)));
        }
        union.sort();
        let all: Vec<Duration> = (0..).map_while(|i| whole.due(i)).collect();
        assert_eq!(union, all);
    }

    #[test]
    fn uneven_shards_still_cover_every_request_once() {
        let whole = Schedule::constant(10.0, Some(secs(1.0)));
        let totals: Vec<u64> = (0..3)
            .map(|k| whole.clone().sharded(k, 3).total().unwrap_or(0))
            .collect();
        assert_eq!(totals, vec![4, 3, 3]);
    }

    #[test]
    fn truncation_ends_an_open_schedule() {
        let s = Schedule::constant(100.0, None).truncated(secs(0.5));
        assert_eq!(s.total(), Some(50));
    }
}
