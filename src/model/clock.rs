//! The run's one clock.
//!
//! Request records and cluster lifecycle events must sit on the same axis, or the analysis
//! cannot say what the cluster was doing when a request failed. `RunClock` anchors a monotonic
//! `Instant` to the wall time read at the same moment; everything recorded during a run is an
//! [`At`]: microseconds since that anchor. Wall time is derived from the anchor, never re-read,
//! so a wall-clock step (NTP) during a run cannot reorder events.
//!
//! This module owns only time arithmetic. It does no I/O besides reading the clocks at
//! construction and in [`RunClock::now`].

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A point on the run's axis: microseconds since the run clock's anchor.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct At(pub u64);

impl At {
    pub const ZERO: At = At(0);

    pub fn from_duration(d: Duration) -> At {
        At(d.as_micros().min(u128::from(u64::MAX)) as u64)
    }

    pub fn from_secs_f64(s: f64) -> At {
        At((s.max(0.0) * 1e6).round() as u64)
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_micros(self.0)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Whole seconds since the anchor: the index of the per-second bucket this instant falls in.
    pub fn second(self) -> u64 {
        self.0 / 1_000_000
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_sub(self, earlier: At) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    pub fn plus(self, d: Duration) -> At {
        At(self
            .0
            .saturating_add(d.as_micros().min(u128::from(u64::MAX)) as u64))
    }

    pub fn minus(self, d: Duration) -> At {
        At(self
            .0
            .saturating_sub(d.as_micros().min(u128::from(u64::MAX)) as u64))
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3}s", self.as_secs_f64())
    }
}

/// A monotonic clock anchored to the wall time at which the run began.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    anchor: Instant,
    anchor_wall: jiff::Timestamp,
}

impl RunClock {
    /// Reads both clocks now and anchors the run axis here.
    pub fn start() -> RunClock {
        RunClock {
            anchor: Instant::now(),
            anchor_wall: jiff::Timestamp::now(),
        }
    }

    /// A clock with a given anchor, for tests and for re-rendering saved results.
    pub fn with_anchor(anchor: Instant, anchor_wall: jiff::Timestamp) -> RunClock {
        RunClock {
            anchor,
            anchor_wall,
        }
    }

    pub fn anchor(&self) -> Instant {
        self.anchor
    }

    pub fn anchor_wall(&self) -> jiff::Timestamp {
        self.anchor_wall
    }

    pub fn now(&self) -> At {
        self.at(Instant::now())
    }

    /// The run-axis position of a monotonic instant (zero if it predates the anchor).
    pub fn at(&self, instant: Instant) -> At {
        At::from_duration(instant.saturating_duration_since(self.anchor))
    }

    pub fn instant(&self, at: At) -> Instant {
        self.anchor + at.as_duration()
    }

    /// Wall time of a run-axis position.
    pub fn wall(&self, at: At) -> jiff::Timestamp {
        let micros = i64::try_from(at.0).unwrap_or(i64::MAX);
        self.anchor_wall
            .checked_add(jiff::SignedDuration::from_micros(micros))
            .unwrap_or(self.anchor_wall)
    }

    /// Run-axis position of a wall time (for API-server timestamps); `None` before the anchor.
    pub fn from_wall(&self, wall: jiff::Timestamp) -> Option<At> {
        let d = wall.duration_since(self.anchor_wall);
        if d.is_negative() {
            None
        } else {
            Some(At(d.as_micros().max(0) as u64))
        }
    }
}

/// `Option<Duration>` as fractional seconds (`null` when unknown), for `#[serde(with)]`.
pub mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let v = Option::<f64>::deserialize(d)?;
        Ok(v.filter(|x| x.is_finite() && *x >= 0.0)
            .map(Duration::from_secs_f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_and_run_axis_round_trip() {
        let clock = RunClock::start();
        let at = At(1_234_567);
        let wall = clock.wall(at);
        assert_eq!(clock.from_wall(wall), Some(at));
    }

    #[test]
    fn wall_time_before_anchor_has_no_run_position() {
        let clock = RunClock::start();
        let before = clock
            .anchor_wall()
            .checked_sub(jiff::SignedDuration::from_secs(5))
            .expect("in range");
        assert_eq!(clock.from_wall(before), None);
    }

    #[test]
    fn instants_map_to_microseconds_since_anchor() {
        let clock = RunClock::start();
        let later = clock.anchor() + Duration::from_millis(1500);
        assert_eq!(clock.at(later), At(1_500_000));
        assert_eq!(clock.instant(At(1_500_000)), later);
    }
}
