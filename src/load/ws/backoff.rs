//! Reconnection backoff as well-behaved WebSocket clients do it: exponential growth from a
//! first delay, capped, with jitter so that clients dropped together (every session of one
//! pod) do not all come back in the same instant, and a bound on consecutive attempts.
//!
//! The field's reference client (a `RobustWebSocketClient`: 1 s × 1.5^(attempt−1), at most 10
//! attempts, the count reset once a session opens) has no jitter; ours adds "equal jitter"
//! (half the delay fixed, half random), which keeps the expected delay's order while spreading
//! a herd. Pure: the random source is passed in.

use std::time::Duration;

/// Growth factor between consecutive attempts (the reference client's 1.5).
pub const FACTOR: f64 = 1.5;

/// How a client waits between reconnection attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The wait before the first attempt after a session ended.
    pub initial: Duration,
    /// No wait is longer than this.
    pub max: Duration,
    /// Consecutive attempts without an open session before the client gives up.
    pub attempts: u32,
}

impl Backoff {
    /// The wait before consecutive attempt `attempt` (1-based), before jitter:
    /// `initial × 1.5^(attempt−1)`, capped at `max`.
    pub fn base(&self, attempt: u32) -> Duration {
        let exp = FACTOR.powi(attempt.saturating_sub(1).min(64) as i32);
        let secs = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The jittered wait before attempt `attempt`: uniformly within [base/2, base], `unit`
    /// being a uniform draw in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.base(attempt).as_secs_f64();
        Duration::from_secs_f64(base / 2.0 + base / 2.0 * unit.clamp(0.0, 1.0))
    }
}

/// A small deterministic random source (SplitMix64), one per client: jitter needs spread,
/// not cryptographic quality, and a seed per client keeps runs reproducible in tests.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter(seed)
    }

    /// A uniform draw in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            attempts: 10,
        }
    }

    #[test]
    fn the_wait_grows_by_half_each_attempt_up_to_the_cap() {
        let b = backoff();
        assert_eq!(b.base(1), Duration::from_millis(100));
        assert_eq!(b.base(2), Duration::from_millis(150));
        assert_eq!(b.base(3), Duration::from_millis(225));
        assert_eq!(b.base(7), Duration::from_secs(1));
        assert_eq!(b.base(500), Duration::from_secs(1));
    }

    #[test]
    fn jitter_keeps_the_wait_between_half_and_all_of_the_base() {
        let b = backoff();
        assert_eq!(b.delay(2, 0.0), Duration::from_millis(75));
        assert_eq!(b.delay(2, 1.0), Duration::from_millis(150));
        let mut j = Jitter::new(7);
        let draws: Vec<f64> = (0..1000).map(|_| j.unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        // Spread, not a constant: a herd dropped together comes back over the whole window.
        let low = draws.iter().filter(|u| **u < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 draws below 0.5");
    }
}
