//! The baseline: the service under the offered load, untouched, for `--baseline`. Nothing is
//! rolled unless it shows the service carries that load — latency not climbing, requests in
//! flight bounded, nothing dropped by the generator, nothing timing out (judged by
//! `analysis::sustain`) — and answers without failing, with at least one ready endpoint.
//! Otherwise the run stops with exit 4 and says why, with the numbers: a rollout judged on an
//! overloaded service blames the rollout for what the load did.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::flow::{Flow, Load, Stop, wait};
use crate::analysis::sustain::{self, Losses, Sample};
use crate::model::clock::At;
use crate::model::request::{LiveSecond, LiveStats};

/// How often requests in flight are sampled during the baseline.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Waits out the baseline, then judges it.
pub(super) async fn baseline(flow: &Flow<'_>, load: &Load) -> Result<(), Stop> {
    let plan = flow.plan;
    let live = &load.engine.live;
    let clock = flow.timeline.clock();
    let start = clock.now();
    let deadline = tokio::time::Instant::now() + plan.flow.baseline;
    // Requests in flight, sampled through the baseline: (second of the run, count).
    let mut in_flight: Vec<(u64, u64)> = Vec::new();
    loop {
        in_flight.push((clock.now().second(), live.in_flight.load(Ordering::Relaxed)));
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        if !wait(&flow.interrupt, left.min(SAMPLE_EVERY)).await {
            return Err(Stop::Interrupted);
        }
    }
    if load.engine.is_finished() {
        return Err(Stop::CouldNotRun(
            "the load engine stopped during the baseline".into(),
        ));
    }
    let end = clock.now();
    if let Some(rate) = plan.traffic.pattern.peak_rate() {
        let samples = samples(&live.seconds(), &in_flight, start, end);
        let losses = Losses {
            dropped_by_generator: live.dropped.load(Ordering::Relaxed),
            timed_out: live.timed_out.load(Ordering::Relaxed),
        };
        if let Some(n) = sustain::judge(rate, &samples, losses) {
            return Err(Stop::CouldNotRun(n.message));
        }
    }
    healthy(flow, live)
}

/// One sample per whole second strictly inside the baseline (the first is partly warm-up, the
/// last still open): what completed in it and the most requests in flight seen in it.
fn samples(seconds: &[LiveSecond], in_flight: &[(u64, u64)], start: At, end: At) -> Vec<Sample> {
    let first = start.second() + 1;
    let last = end.second();
    (first..last)
        .map(|s| {
            let done = seconds.iter().find(|x| x.second == s).copied();
            Sample {
                completed: done.map_or(0, |d| d.completed),
                p50_us: done.map_or(0, |d| d.p50_us),
                in_flight: in_flight
                    .iter()
                    .filter(|(sec, _)| *sec == s)
                    .map(|(_, n)| *n)
                    .max()
                    .unwrap_or(0) as f64,
            }
        })
        .collect()
}

/// Nothing failed, something succeeded, and the Service still has a ready endpoint.
fn healthy(flow: &Flow<'_>, live: &LiveStats) -> Result<(), Stop> {
    let failed = live.failed.load(Ordering::Relaxed);
    let ok = live.ok.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(Stop::CouldNotRun(format!(
            "the baseline was not healthy: {failed} of {} requests failed before anything was rolled; \
             fix the service (or the target) first — see the baseline phase in the report",
            failed + ok
        )));
    }
    if flow.plan.flow.baseline > Duration::ZERO && ok == 0 {
        return Err(Stop::CouldNotRun(
            "no request completed during the baseline".into(),
        ));
    }
    if flow.timeline.ready_endpoints().is_empty() {
        return Err(Stop::CouldNotRun(
            "the service has no ready endpoints at the end of the baseline".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_cover_the_whole_seconds_inside_the_baseline_with_their_peak_in_flight() {
        let seconds = [
            LiveSecond {
                second: 2,
                completed: 90,
                p50_us: 1_000,
            },
            LiveSecond {
                second: 3,
                completed: 100,
                p50_us: 2_000,
            },
            LiveSecond {
                second: 4,
                completed: 100,
                p50_us: 3_000,
            },
        ];
        let in_flight = [(2, 1), (3, 4), (3, 9), (4, 2), (5, 50)];
        let got = samples(&seconds, &in_flight, At(2_400_000), At(5_100_000));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            (got[0].completed, got[0].p50_us, got[0].in_flight),
            (100, 2_000, 9.0)
        );
        assert_eq!(
            (got[1].completed, got[1].p50_us, got[1].in_flight),
            (100, 3_000, 2.0)
        );
    }
}
