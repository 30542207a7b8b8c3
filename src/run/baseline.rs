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
    // Sampled through the baseline: requests in flight, and how late the dispatcher was.
    let mut taken: Vec<Taken> = Vec::new();
    loop {
        taken.push(Taken {
            second: clock.now().second(),
            in_flight: live.in_flight.load(Ordering::Relaxed),
            dispatch_late_us: live.take_dispatch_late(),
        });
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
        let samples = samples(&live.seconds(), &taken, start, end);
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

/// What the baseline read of the engine every [`SAMPLE_EVERY`].
#[derive(Clone, Copy, Debug)]
struct Taken {
    /// The second of the run it was read in.
    second: u64,
    in_flight: u64,
    /// The most the dispatcher was late since the last reading.
    dispatch_late_us: u64,
}

/// One sample per whole second strictly inside the baseline (the first is partly warm-up, the
/// last still open): what completed in it, the most requests in flight seen in it and the most
/// the dispatcher was late in it.
fn samples(seconds: &[LiveSecond], taken: &[Taken], start: At, end: At) -> Vec<Sample> {
    let first = start.second() + 1;
    let last = end.second();
    (first..last)
        .map(|s| {
            let done = seconds.iter().find(|x| x.second == s).copied();
            let most = |of: fn(&Taken) -> u64| {
                taken
                    .iter()
                    .filter(|t| t.second == s)
                    .map(of)
                    .max()
                    .unwrap_or(0)
            };
            Sample {
                completed: done.map_or(0, |d| d.completed),
                p50_us: done.map_or(0, |d| d.p50_us),
                in_flight: most(|t| t.in_flight) as f64,
                dispatch_late_us: most(|t| t.dispatch_late_us),
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
    fn samples_cover_the_whole_seconds_inside_the_baseline_with_their_peak_in_flight_and_lateness()
    {
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
        let taken: Vec<Taken> = [(2, 1, 0), (3, 4, 900), (3, 9, 100), (4, 2, 40), (5, 50, 7)]
            .into_iter()
            .map(|(second, in_flight, dispatch_late_us)| Taken {
                second,
                in_flight,
                dispatch_late_us,
            })
            .collect();
        let got = samples(&seconds, &taken, At(2_400_000), At(5_100_000));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            (got[0].completed, got[0].p50_us, got[0].in_flight),
            (100, 2_000, 9.0)
        );
        assert_eq!(
            (got[1].completed, got[1].p50_us, got[1].in_flight),
            (100, 3_000, 2.0)
        );
        assert_eq!(
            (got[0].dispatch_late_us, got[1].dispatch_late_us),
            (900, 40)
        );
    }
}
