//! Measured endpoint de-registration lag: for each pod whose termination began while it was a
//! ready endpoint, how long until its endpoint stopped being ready, and until it was removed.
//!
//! This is the number the "traffic to a terminating pod" fix quotes: a preStop sleep shorter
//! than it leaves a window where the Service still sends traffic to a pod that is going away.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::analysis::pods::PodLife;
use crate::analysis::{LagStats, PodLag};

/// Lag per terminated pod, with median and max.
pub fn deregistration(pods: &BTreeMap<String, PodLife>, extra: Duration) -> LagStats {
    let mut out = LagStats::default();
    for p in pods.values() {
        let Some(t) = p.terminating else { continue };
        // A pod that was not a ready endpoint when termination began gives no measurement of
        // how fast a ready one is taken out.
        let to_not_ready = p
            .endpoint_not_ready
            .filter(|_| p.ready_at_termination)
            .map(|at| at.saturating_sub(t) + extra);
        let to_removed = p.endpoint_removed.map(|at| at.saturating_sub(t) + extra);
        if to_not_ready.is_none() && to_removed.is_none() {
            continue;
        }
        out.pods.push(PodLag {
            pod: p.name.clone(),
            to_not_ready,
            to_removed,
        });
    }
    let not_ready: Vec<Duration> = out.pods.iter().filter_map(|l| l.to_not_ready).collect();
    let removed: Vec<Duration> = out.pods.iter().filter_map(|l| l.to_removed).collect();
    out.median_to_not_ready = median(&not_ready);
    out.max_to_not_ready = not_ready.iter().max().copied();
    out.median_to_removed = median(&removed);
    out.max_to_removed = removed.iter().max().copied();
    out
}

fn median(xs: &[Duration]) -> Option<Duration> {
    let mut v = xs.to_vec();
    v.sort();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// The slowest de-registration: to not-ready where measured, else to removal.
pub fn slowest(stats: &LagStats) -> Option<Duration> {
    stats.max_to_not_ready.or(stats.max_to_removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let ms = |v: u64| Duration::from_millis(v);
        assert_eq!(median(&[ms(400), ms(100), ms(300), ms(200)]), Some(ms(250)));
        assert_eq!(median(&[ms(5), ms(1), ms(3)]), Some(ms(3)));
        assert_eq!(median(&[]), None);
    }
}
