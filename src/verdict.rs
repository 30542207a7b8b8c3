//! The default gate for `load` and a plain-text summary of a result. The full gate (k6-style
//! thresholds) and the rich terminal report live in `gate` and `report`; this module keeps the
//! `load` command self-sufficient.

use std::fmt::Write as _;

use crate::exit;
use crate::load::outcome::OutcomeClass;
use crate::record::{LatencySummary, Recorded};
use crate::result::{RunResult, Verdict};

/// `load` passes when every request the schedule made due was sent and succeeded.
pub fn load_verdict(recorded: &Recorded, interrupted: bool) -> Verdict {
    let c = &recorded.overall.counts;
    let mut reasons = Vec::new();
    if c.failed() > 0 {
        let classes: Vec<String> = c
            .iter()
            .filter(|(k, n)| *n > 0 && k.is_failure() && *k != OutcomeClass::DroppedByGenerator)
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        reasons.push(format!(
            "{} of {} requests failed ({})",
            c.failed(),
            c.sent(),
            classes.join(", ")
        ));
    }
    let dropped = c.get(OutcomeClass::DroppedByGenerator);
    if dropped > 0 {
        reasons.push(format!(
            "{dropped} requests were never sent: the in-flight cap was reached (dropped_by_generator)"
        ));
    }
    if interrupted {
        reasons.insert(0, "interrupted: the result is partial".to_string());
        return Verdict {
            passed: false,
            exit_code: exit::INTERRUPTED,
            reasons,
        };
    }
    if reasons.is_empty() {
        Verdict {
            passed: true,
            exit_code: exit::PASSED,
            reasons: vec![format!("all {} requests succeeded", c.sent())],
        }
    } else {
        Verdict {
            passed: false,
            exit_code: exit::GATE_FAILED,
            reasons,
        }
    }
}

fn ms(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else {
        format!("{:.2}ms", us as f64 / 1e3)
    }
}

fn row(out: &mut String, name: &str, s: &LatencySummary) {
    let _ = writeln!(
        out,
        "  {name:<16} p50 {:>9}  p90 {:>9}  p99 {:>9}  p99.9 {:>9}  max {:>9}",
        ms(s.p50_us),
        ms(s.p90_us),
        ms(s.p99_us),
        ms(s.p999_us),
        ms(s.max_us)
    );
}

/// A plain summary: verdict first, then rate, outcomes and percentiles.
pub fn summary(r: &RunResult) -> String {
    let mut out = String::new();
    let v = &r.verdict;
    let _ = writeln!(
        out,
        "{} — {}",
        if v.passed { "PASS" } else { "FAIL" },
        v.reasons.join("; ")
    );
    let o = &r.recorded.overall;
    let secs = r
        .load
        .end
        .saturating_sub(r.load.start)
        .as_secs_f64()
        .max(1e-9);
    let _ = writeln!(
        out,
        "  {} requests due in {:.2}s: {:.1}/s achieved, {} connections opened",
        o.counts.total(),
        secs,
        o.counts.sent() as f64 / secs,
        r.load.connections_opened
    );
    let _ = writeln!(out, "  outcomes:");
    for (class, n) in o.counts.iter().filter(|(_, n)| *n > 0) {
        let _ = writeln!(out, "    {:<24} {n}", class.name());
    }
    for (status, n) in &o.statuses {
        let _ = writeln!(out, "    status {status:<17} {n}");
    }
    row(&mut out, "latency", &o.latency);
    row(&mut out, "service time", &o.service_time);
    row(&mut out, "send lateness", &o.send_lateness);
    if r.recorded.phases.len() > 1 {
        for p in &r.recorded.phases {
            row(&mut out, &p.name, &p.latency);
        }
    }
    if r.recorded.failures_not_kept > 0 {
        let _ = writeln!(
            out,
            "  {} failures beyond the failure log's limit were counted, not kept",
            r.recorded.failures_not_kept
        );
    }
    out
}

/// The default gate of a rollout run: zero failed requests from the trigger on (and none
/// dropped by the generator), a rollout that completed, a run that was not interrupted.
///
/// The flow stops with exit 4 if anything failed before the trigger, so every failure counted
/// here ended after it — including requests *due* in the baseline that the rollout cut.
pub fn rollout_verdict(r: &RunResult, stop: &crate::runner::Stop) -> Verdict {
    use crate::runner::{BASELINE, Stop};
    let mut reasons = Vec::new();
    let failed = r.recorded.overall.counts.failed();
    let sent = r.recorded.overall.counts.sent();
    let dropped = r
        .recorded
        .overall
        .counts
        .get(OutcomeClass::DroppedByGenerator);
    if failed > 0 && !matches!(stop, Stop::CouldNotRun(_)) {
        let per_phase: Vec<String> = r
            .recorded
            .phases
            .iter()
            .filter(|p| p.counts.failed() > 0)
            .map(|p| {
                if p.name == BASELINE {
                    format!(
                        "{} due in the baseline, cut once the rollout began",
                        p.counts.failed()
                    )
                } else {
                    format!("{} in {}", p.counts.failed(), p.name)
                }
            })
            .collect();
        reasons.push(format!(
            "{failed} of {sent} requests failed during the rollout ({})",
            per_phase.join(", ")
        ));
    }
    if dropped > 0 {
        reasons.push(format!("{dropped} requests were never sent: the in-flight cap was reached (dropped_by_generator)"));
    }
    let exit_code = match stop {
        Stop::Interrupted => {
            reasons.insert(0, "interrupted: the result is partial".into());
            exit::INTERRUPTED
        }
        Stop::BadInput(m) => {
            reasons.insert(0, m.clone());
            exit::BAD_INPUT
        }
        Stop::CouldNotRun(m) => {
            reasons.insert(0, format!("could not run: {m}"));
            exit::COULD_NOT_RUN
        }
        Stop::RolloutFailed(m) => {
            reasons.insert(0, format!("the rollout failed: {m}"));
            exit::ROLLOUT_FAILED
        }
        Stop::Completed if reasons.is_empty() => {
            let total: u64 = r.recorded.overall.counts.sent();
            return Verdict {
                passed: true,
                exit_code: exit::PASSED,
                reasons: vec![format!(
                    "no request dropped: all {total} requests succeeded through the rollout"
                )],
            };
        }
        Stop::Completed => exit::GATE_FAILED,
    };
    Verdict {
        passed: false,
        exit_code,
        reasons,
    }
}
