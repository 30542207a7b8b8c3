//! Whether a service sustains the offered rate: the check a baseline must pass before anything
//! is rolled, and the test that tells an overload from a shutdown problem during the rollout.
//!
//! An open-model load above a service's capacity queues: requests wait longer and longer, the
//! number in flight grows without bound, and eventually requests time out or the generator's
//! in-flight cap drops them. A rollout judged on such a service blames the rollout for what
//! the load did. So the baseline is split in thirds and its last third compared with its first:
//! the median latency must not climb, requests in flight must stay bounded, and nothing may be
//! dropped by the generator or time out.
//!
//! Latency counts from the due instant, so it also climbs when the generator falls behind its
//! own schedule (short of CPU) while the service answers as fast as ever. The engine reports
//! how late its dispatcher handed requests over, apart from any wait for a free connection
//! (which an overloaded service causes). When the dispatcher's own delay grew by half the climb
//! or more, the message says the generator fell behind and names its fixes, not the service's:
//! the run still stops (its load was not the planned one), but nobody is sent to scale a
//! service that kept up.
//!
//! Pure: it judges samples, whoever took them (the run flow live, or the analysis from the
//! recorded per-second series).

use std::time::Duration;

/// One stretch of the baseline (about a second): what completed in it and what was in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Requests that completed in it.
    pub completed: u64,
    /// Their median latency (from the due instant), microseconds.
    pub p50_us: u64,
    /// Requests in flight (sent or queued, not yet answered): the largest seen in it.
    pub in_flight: f64,
    /// The most the generator's dispatcher handed a request over after its due instant in it,
    /// microseconds (not counting waits for a free connection).
    pub dispatch_late_us: u64,
}

/// What else counts against a baseline: requests the generator dropped at its in-flight cap,
/// and requests that timed out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    pub dropped_by_generator: u64,
    pub timed_out: u64,
}

/// Why a service does not sustain the rate, with the numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct NotSustained {
    /// One sentence for the user, ending with what to do.
    pub message: String,
}

/// Latency must rise by at least this factor between the thirds to count as climbing …
pub const CLIMB_FACTOR: f64 = 2.0;
/// … and by at least this much, so that sub-millisecond jitter of a fast service never does.
pub const CLIMB_MIN: Duration = Duration::from_millis(25);
/// In flight must grow by this factor and this many requests to count as unbounded.
pub const QUEUE_FACTOR: f64 = 2.0;
pub const QUEUE_MIN: f64 = 10.0;

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Completion-weighted median latency of a stretch, microseconds.
fn p50_of(s: &[Sample]) -> f64 {
    let n: u64 = s.iter().map(|x| x.completed).sum();
    if n == 0 {
        return 0.0;
    }
    s.iter()
        .map(|x| x.p50_us as f64 * x.completed as f64)
        .sum::<f64>()
        / n as f64
}

/// The dispatcher's own delay grew with the climb: the generator fell behind its schedule
/// (short of CPU), and the service, which was sent its requests late, was not judged.
fn generator_behind(rate: f64, p_first: f64, p_last: f64, late: f64) -> NotSustained {
    NotSustained {
        message: format!(
            "zerodrop could not send {rate:.0} req/s on schedule during the baseline: p50 rose \
             from {} to {} while its dispatcher handed requests over up to {} late, so the \
             service was not judged; give zerodrop more CPU (in-cluster: the Job's CPU request, \
             or more generators with --workers) or lower --rate",
            fmt_ms(p_first),
            fmt_ms(p_last),
            fmt_ms(late)
        ),
    }
}

fn requests(n: u64) -> String {
    if n == 1 {
        "1 request".into()
    } else {
        format!("{n} requests")
    }
}

fn fmt_ms(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.1} s", us / 1e6)
    } else if us >= 10_000.0 {
        format!("{:.0} ms", us / 1e3)
    } else {
        format!("{:.1} ms", us / 1e3)
    }
}

/// The samples from the second after the first completions on: before requests start coming
/// back, requests in flight only ramp up to their steady number (the rate times the latency),
/// which is no queue.
fn settled(samples: &[Sample]) -> &[Sample] {
    match samples.iter().position(|s| s.completed > 0) {
        Some(i) => &samples[(i + 1).min(samples.len())..],
        None => &[],
    }
}

/// Judges a baseline at `rate` requests per second from its samples in order (at least three
/// once requests come back).
pub fn judge(rate: f64, samples: &[Sample], losses: Losses) -> Option<NotSustained> {
    let fix = "lower --rate or add capacity";
    let head = format!("the service does not sustain {rate:.0} req/s before any rollout");
    if losses.dropped_by_generator > 0 {
        return Some(NotSustained {
            message: format!(
                "{head}: the generator dropped {} at its in-flight cap (--max-in-flight); {fix}",
                requests(losses.dropped_by_generator)
            ),
        });
    }
    if losses.timed_out > 0 {
        return Some(NotSustained {
            message: format!(
                "{head}: {} timed out during the baseline; {fix}",
                requests(losses.timed_out)
            ),
        });
    }
    let samples = settled(samples);
    let third = samples.len() / 3;
    if third == 0 {
        return None;
    }
    let first = &samples[..third];
    let last = &samples[samples.len() - third..];
    let (p_first, p_last) = (p50_of(first), p50_of(last));
    if p_last >= p_first * CLIMB_FACTOR && p_last - p_first >= CLIMB_MIN.as_micros() as f64 {
        let late = |s: &[Sample]| {
            mean(
                &s.iter()
                    .map(|x| x.dispatch_late_us as f64)
                    .collect::<Vec<_>>(),
            )
        };
        let behind = late(last) - late(first);
        if behind * 2.0 >= p_last - p_first {
            return Some(generator_behind(rate, p_first, p_last, late(last)));
        }
        return Some(NotSustained {
            message: format!(
                "{head}: p50 rose from {} to {} over the baseline; {fix}",
                fmt_ms(p_first),
                fmt_ms(p_last)
            ),
        });
    }
    let q_first = mean(&first.iter().map(|s| s.in_flight).collect::<Vec<_>>());
    let q_last = mean(&last.iter().map(|s| s.in_flight).collect::<Vec<_>>());
    if q_last >= q_first * QUEUE_FACTOR && q_last - q_first >= QUEUE_MIN {
        return Some(NotSustained {
            message: format!(
                "{head}: requests in flight grew from {q_first:.0} to {q_last:.0} over the baseline (they queue); {fix}"
            ),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(n: usize, p50_us: u64, in_flight: f64) -> Vec<Sample> {
        vec![
            Sample {
                completed: 200,
                p50_us,
                in_flight,
                dispatch_late_us: 0,
            };
            n
        ]
    }

    #[test]
    fn a_steady_baseline_is_sustained() {
        assert_eq!(
            judge(200.0, &steady(10, 50_000, 10.0), Losses::default()),
            None
        );
    }

    #[test]
    fn climbing_latency_names_the_rate_and_both_medians() {
        let s: Vec<Sample> = (0..9)
            .map(|i| Sample {
                completed: 120,
                p50_us: 52_000 + i * 220_000,
                in_flight: 20.0,
                dispatch_late_us: 0,
            })
            .collect();
        let got = judge(200.0, &s, Losses::default()).expect("overloaded");
        assert!(
            got.message.starts_with(
                "the service does not sustain 200 req/s before any rollout: p50 rose from"
            ),
            "{}",
            got.message
        );
        assert!(
            got.message.ends_with("lower --rate or add capacity"),
            "{}",
            got.message
        );
    }

    #[test]
    fn jitter_of_a_fast_service_is_not_a_climb() {
        // 0.2 ms to 0.9 ms: more than twice, far less than the minimum rise.
        let mut s = steady(3, 200, 4.0);
        s.extend(steady(3, 500, 4.0));
        s.extend(steady(3, 900, 4.0));
        assert_eq!(judge(20_000.0, &s, Losses::default()), None);
    }

    /// A generator short of CPU hands requests over later and later: latency from the due
    /// instant climbs while the service answers as fast as ever. That is not the service
    /// failing to sustain the rate, and the message must not send the user to scale it.
    #[test]
    fn a_climb_made_of_the_dispatchers_own_delay_is_the_generators_not_the_services() {
        let behind: Vec<Sample> = (0..9)
            .map(|i| Sample {
                completed: 1_000,
                p50_us: 2_000 + i * 30_000,
                in_flight: 10.0,
                dispatch_late_us: 5_000 + i * 31_000,
            })
            .collect();
        let got = judge(1_000.0, &behind, Losses::default()).expect("behind schedule");
        assert!(
            got.message.starts_with(
                "zerodrop could not send 1000 req/s on schedule during the baseline: p50 rose from"
            ),
            "{}",
            got.message
        );
        assert!(
            got.message.contains("give zerodrop more CPU"),
            "{}",
            got.message
        );
        assert!(!got.message.contains("add capacity"), "{}", got.message);
        // The same climb with the dispatcher on time (the requests waited for a connection,
        // or at the service) is the service's, even with a dispatcher that hiccups now and
        // then as much as the climb.
        for late in [0, 40_000] {
            let on_time: Vec<Sample> = behind
                .iter()
                .map(|x| Sample {
                    dispatch_late_us: late,
                    ..*x
                })
                .collect();
            let got = judge(1_000.0, &on_time, Losses::default()).expect("overloaded");
            assert!(
                got.message.starts_with("the service does not sustain"),
                "{}",
                got.message
            );
        }
    }

    #[test]
    fn a_growing_queue_is_not_sustained_even_before_latency_shows_it() {
        let s: Vec<Sample> = (0..9)
            .map(|i| Sample {
                completed: 100,
                p50_us: 40_000,
                in_flight: 5.0 + i as f64 * 10.0,
                dispatch_late_us: 0,
            })
            .collect();
        let got = judge(150.0, &s, Losses::default()).expect("queueing");
        assert!(
            got.message.contains("requests in flight grew from"),
            "{}",
            got.message
        );
    }

    #[test]
    fn generator_drops_and_timeouts_each_fail_the_baseline() {
        let ok = steady(9, 1_000, 2.0);
        let dropped = judge(
            500.0,
            &ok,
            Losses {
                dropped_by_generator: 3,
                timed_out: 0,
            },
        );
        assert!(
            dropped
                .expect("drops")
                .message
                .contains("dropped 3 requests")
        );
        let timed_out = judge(
            500.0,
            &ok,
            Losses {
                dropped_by_generator: 0,
                timed_out: 1,
            },
        );
        assert!(
            timed_out
                .expect("timeouts")
                .message
                .contains("1 request timed out")
        );
    }

    #[test]
    fn slow_requests_ramping_up_before_the_first_answers_are_no_queue() {
        // 4 s requests at 20 req/s: nothing comes back for 4 s while 80 go in flight, then
        // the service keeps pace.
        let mut s: Vec<Sample> = (0..4)
            .map(|i| Sample {
                completed: 0,
                p50_us: 0,
                in_flight: 20.0 * (i + 1) as f64,
                dispatch_late_us: 0,
            })
            .collect();
        s.extend(steady(6, 4_000_000, 80.0));
        assert_eq!(judge(20.0, &s, Losses::default()), None);
    }

    #[test]
    fn too_few_samples_to_compare_say_nothing() {
        assert_eq!(
            judge(100.0, &steady(2, 1_000_000, 500.0), Losses::default()),
            None
        );
    }
}
