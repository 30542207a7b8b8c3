//! The gate: threshold expressions in k6's style, the default zero-drop check, and the verdict
//! that maps a run to its exit code.
//!
//! It owns parsing thresholds ([`parse_all`], called at plan time so every bad expression is
//! reported at once), measuring them against a saved [`RunResult`] ([`evaluate`]), and deciding
//! the [`Verdict`] ([`judge`]). It is pure: no I/O, no clock, no printing. Renderers read what it
//! decided and never re-decide.
//!
//! The expression grammar is in the `threshold` module's documentation (BNF).
//!
//! A threshold the run could not measure (no such phase, no request sent) fails: a CI gate must
//! not pass on evidence it does not have.
//!
//! # The default gate
//!
//! Always on, whatever thresholds are given: no request may fail outside the baseline phase, and
//! the generator may drop none (a dropped request means the requested load did not happen).
//! Failures during the baseline do not fail it: they happened before the rollout began and are
//! reported as not caused by it.

mod scope;
mod sessions;
mod threshold;

use std::collections::BTreeMap;

use crate::model::exit;
use crate::model::numbers::{fmt_us, messages, requests, thousands};
use crate::model::outcome::OutcomeClass;
use crate::model::phase::{BASELINE, ROLLOUT};
use crate::model::result::{RolloutInfo, ThresholdResult, Verdict, ZeroDropCheck};
use crate::record::SpanStats;
use crate::result::RunResult;
use scope::{quantile_us, scope, template_names};

pub use threshold::{Metric, Op, Scopes, Threshold, ThresholdError, parse, parse_all};

/// A measured value, or why it could not be measured.
enum Measured {
    Value { value: f64, shown: String },
    Missing(String),
}

/// Measures every threshold against the run's recorded data.
pub fn evaluate(thresholds: &[Threshold], result: &RunResult) -> Vec<ThresholdResult> {
    thresholds
        .iter()
        .map(|t| match measure(t, result) {
            Measured::Value { value, shown } => ThresholdResult {
                expression: t.source.clone(),
                passed: t.op.holds(value, t.bound),
                actual: shown,
            },
            Measured::Missing(why) => ThresholdResult {
                expression: t.source.clone(),
                passed: false,
                actual: format!("not measured: {why}"),
            },
        })
        .collect()
}

fn measure(t: &Threshold, result: &RunResult) -> Measured {
    if let Some(m) = sessions::measure(t, result) {
        return m;
    }
    let scopes = match t.scopes_in(&template_names(result)) {
        Ok(s) => s,
        Err(why) => return Measured::Missing(why),
    };
    let view = match scope(result, &scopes) {
        Ok(v) => v,
        Err(why) => return Measured::Missing(why),
    };
    let mut where_ = scopes
        .phase
        .as_deref()
        .map_or_else(|| "in the run".to_string(), |p| format!("in {p}"));
    if let Some(name) = &scopes.template {
        where_.push_str(&format!(" of template {name}"));
    }
    let latency = |us: Option<u64>| match us {
        Some(us) => Measured::Value {
            value: us as f64,
            shown: fmt_us(us),
        },
        None => Measured::Missing(format!("no request was sent {where_}")),
    };
    let count = |n: u64| Measured::Value {
        value: n as f64,
        shown: n.to_string(),
    };
    let c = view.counts;
    let lat = view.latency;
    match t.metric {
        Metric::Percentile(p) => latency(quantile_us(&view, p / 100.0)),
        Metric::Med => latency(quantile_us(&view, 0.5)),
        Metric::Max => latency((lat.count > 0).then_some(lat.max_us)),
        Metric::Min => latency((lat.count > 0).then_some(lat.min_us)),
        Metric::Avg if lat.count == 0 => latency(None),
        Metric::Avg => Measured::Value {
            value: lat.mean_us,
            shown: fmt_us(lat.mean_us.round() as u64),
        },
        Metric::Rate if c.sent() == 0 => Measured::Missing(format!("no request was sent {where_}")),
        Metric::Rate => {
            let r = c.failed() as f64 / c.sent() as f64;
            Measured::Value {
                value: r,
                shown: format!(
                    "{} ({} of {} failed)",
                    fmt_ratio(r),
                    thousands(c.failed()),
                    thousands(c.sent())
                ),
            }
        }
        Metric::Checks => checks(view.checks, &where_),
        Metric::P99Ratio => p99_ratio(&scopes, result),
        Metric::Failed => count(c.failed()),
        Metric::DroppedByGenerator => count(c.get(OutcomeClass::DroppedByGenerator)),
        Metric::Requests => count(c.total()),
        Metric::Class(class) => count(c.get(class)),
        // Measured by `sessions::measure` above.
        Metric::Sessions
        | Metric::SessionsDropped
        | Metric::SessionsFailed
        | Metric::MessagesLost
        | Metric::Reconnects
        | Metric::SessionClass(_) => Measured::Missing("not a request metric".into()),
    }
}

/// The share of response checks that passed, as k6's `checks`.
fn checks(checks: Option<(u64, u64)>, where_: &str) -> Measured {
    match checks {
        None => Measured::Missing(format!("no response check ran {where_}")),
        Some((passed, ran)) => {
            let r = passed as f64 / ran as f64;
            Measured::Value {
                value: r,
                shown: format!(
                    "{} ({} of {} checks passed)",
                    fmt_share(r),
                    thousands(passed),
                    thousands(ran)
                ),
            }
        }
    }
}

fn p99_ratio(scopes: &Scopes, result: &RunResult) -> Measured {
    let phase = scopes.phase.as_deref().unwrap_or(ROLLOUT);
    let at = |p: &str| Scopes {
        template: scopes.template.clone(),
        phase: Some(p.to_string()),
    };
    let (base, this) = match (scope(result, &at(BASELINE)), scope(result, &at(phase))) {
        (Ok(b), Ok(t)) => (b, t),
        (Err(why), _) | (_, Err(why)) => return Measured::Missing(why),
    };
    let (Some(b), Some(t)) = (quantile_us(&base, 0.99), quantile_us(&this, 0.99)) else {
        return Measured::Missing(format!("no request was sent in {BASELINE} or {phase}"));
    };
    // A zero baseline p99 (sub-microsecond) would divide by zero; one microsecond is the
    // histogram's resolution, so it is the honest floor.
    let r = t as f64 / b.max(1) as f64;
    Measured::Value {
        value: r,
        shown: format!(
            "{r:.2}× ({phase} p99 {} / {BASELINE} p99 {})",
            fmt_us(t),
            fmt_us(b)
        ),
    }
}

/// The default zero-drop check, measured from the recorded counts.
///
/// A failure of a request *due* in the baseline is excused only when the failure log shows it
/// ended before the baseline did (before the trigger): a request the rollout cut is the
/// rollout's, whenever it was due. Baseline failures the log did not keep are not excused —
/// the gate does not pass on evidence it does not have.
pub fn zero_drop(result: &RunResult) -> ZeroDropCheck {
    let rec = &result.recorded;
    let overall = &rec.overall.counts;
    let baseline = rec.phase(BASELINE);
    let mut excused: BTreeMap<OutcomeClass, u64> = BTreeMap::new();
    if let Some(b) = baseline {
        for f in rec
            .failures
            .iter()
            .filter(|f| f.due >= b.start && f.due < b.end && f.end <= b.end)
        {
            *excused.entry(f.class).or_default() += 1;
        }
    }
    let baseline_failures: u64 = excused.values().sum();
    let mut failed_by_phase = BTreeMap::new();
    for p in &rec.phases {
        let n = if p.name == BASELINE {
            p.counts.failed().saturating_sub(baseline_failures)
        } else {
            p.counts.failed()
        };
        if n > 0 {
            failed_by_phase.insert(p.name.clone(), n);
        }
    }
    let mut classes_outside_baseline = BTreeMap::new();
    for (class, n) in overall.iter() {
        if class == OutcomeClass::Ok || class == OutcomeClass::DroppedByGenerator {
            continue;
        }
        let n = n.saturating_sub(excused.get(&class).copied().unwrap_or(0));
        if n > 0 {
            classes_outside_baseline.insert(class, n);
        }
    }
    let failed_outside_baseline = overall.failed().saturating_sub(baseline_failures);
    let dropped_by_generator = overall.get(OutcomeClass::DroppedByGenerator);
    ZeroDropCheck {
        passed: failed_outside_baseline == 0 && dropped_by_generator == 0,
        requests: overall.total(),
        failed_outside_baseline,
        failed_by_phase,
        classes_outside_baseline,
        dropped_by_generator,
        baseline_failures,
        has_baseline: baseline.is_some(),
    }
}

/// A run that stopped before its end, as the run flow knows it: the exit code it maps to
/// (2, 3, 4 or 130) and why, in words. It decides the exit code; the gate is still measured
/// and reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    pub exit_code: u8,
    pub reason: String,
}

/// Evaluates the thresholds and the default gate and decides the verdict of a run that went
/// to its end; see [`judge_stopped`].
pub fn judge(thresholds: &[Threshold], result: &RunResult) -> (Vec<ThresholdResult>, Verdict) {
    judge_stopped(thresholds, result, None)
}

/// Evaluates the thresholds and the default gate and decides the verdict.
///
/// The exit code follows the README's table. A run the flow stopped early takes `stopped`'s
/// code. Else, from what the result itself shows: 130 when it was interrupted (its data is
/// partial), 3 when the rollout failed or timed out, 4 when no request succeeded during the
/// baseline (nothing to compare the rollout with), 1 when the default gate or a threshold
/// failed, 0 otherwise. Reasons list every cause, most important first.
pub fn judge_stopped(
    thresholds: &[Threshold],
    result: &RunResult,
    stopped: Option<&Stopped>,
) -> (Vec<ThresholdResult>, Verdict) {
    let results = evaluate(thresholds, result);
    let check = zero_drop(result);
    let session_check = sessions::check(result);
    let rollout_failed = result
        .rollout
        .as_ref()
        .filter(|r| r.outcome.starts_with("failed") || r.outcome.starts_with("timed out"))
        .filter(|_| stopped.is_none());
    let dead_baseline = result
        .recorded
        .phase(BASELINE)
        .filter(|b| b.counts.sent() > 0 && b.counts.ok() == 0);
    let causes = Causes {
        stopped,
        rollout_failed,
        dead_baseline,
    };
    let mut reasons = reasons(result, &causes, &check, &results);
    if let Some(c) = &session_check {
        session_reasons(c, check.has_baseline, &mut reasons);
    }
    let gate_passed = check.passed
        && session_check.as_ref().is_none_or(|c| c.passed)
        && results.iter().all(|r| r.passed);
    let exit_code = exit_code(result, &causes, gate_passed);
    if exit_code == exit::PASSED {
        reasons.insert(0, passed_reason(result, &check, &results));
    }
    let verdict = Verdict {
        passed: exit_code == exit::PASSED,
        exit_code,
        reasons,
        zero_drop: Some(check),
        sessions: session_check,
    };
    (results, verdict)
}

/// The session check's reasons, placed after the request reasons: failed sessions first, then
/// the baseline's (not blamed on the rollout).
fn session_reasons(
    c: &crate::model::result::SessionCheck,
    has_baseline: bool,
    out: &mut Vec<String>,
) {
    if c.failed_outside_baseline > 0 {
        let at = out
            .iter()
            .position(|r| r.starts_with("threshold") || r.contains("during the baseline"))
            .unwrap_or(out.len());
        out.insert(at, sessions::failed_reason(c, has_baseline));
    }
    if c.baseline_failures > 0 {
        out.push(format!(
            "{} ended without a goodbye during the baseline, before the rollout began: not \
             caused by the rollout",
            sessions::sessions(c.baseline_failures)
        ));
    }
}

/// Requests, or messages for a WebSocket run: the unit the reasons count.
fn unit(result: &RunResult) -> fn(u64) -> String {
    if result.recorded.sessions.is_empty() {
        requests
    } else {
        messages
    }
}

/// What can end a run before the gate judges it, as [`judge_stopped`] found them.
#[derive(Clone, Copy)]
struct Causes<'a> {
    stopped: Option<&'a Stopped>,
    /// The rollout failed or timed out (when the flow did not stop the run for it).
    rollout_failed: Option<&'a RolloutInfo>,
    /// The baseline sent requests and not one succeeded.
    dead_baseline: Option<&'a SpanStats>,
}

/// Every cause of the verdict, most important first.
fn reasons(
    result: &RunResult,
    causes: &Causes<'_>,
    check: &ZeroDropCheck,
    results: &[ThresholdResult],
) -> Vec<String> {
    let Causes {
        stopped,
        rollout_failed,
        dead_baseline,
    } = *causes;
    let mut reasons = Vec::new();
    let requests = unit(result);

    if let Some(s) = stopped {
        reasons.push(s.reason.clone());
    }
    if result.interrupted && stopped.is_none_or(|s| s.exit_code != exit::INTERRUPTED) {
        reasons.push("the run was interrupted: its data is partial".to_string());
    }
    if let Some(r) = rollout_failed {
        reasons.push(format!("the rollout {}", r.outcome));
    }
    if let Some(b) = dead_baseline.filter(|_| stopped.is_none()) {
        reasons.push(format!(
            "all {} requests failed during the baseline, before the rollout began: the target \
             was not healthy enough to test",
            b.counts.sent()
        ));
    }
    if check.failed_outside_baseline > 0 {
        reasons.push(failed_reason(check, requests));
    }
    if check.dropped_by_generator > 0 {
        reasons.push(format!(
            "{} never sent: the generator reached its in-flight cap, so the requested load \
             did not happen",
            requests(check.dropped_by_generator)
        ));
    }
    for r in results.iter().filter(|r| !r.passed) {
        reasons.push(format!("threshold `{}` failed: {}", r.expression, r.actual));
    }
    if check.baseline_failures > 0 && dead_baseline.is_none() {
        reasons.push(format!(
            "{} failed during the baseline, before the rollout began: not caused by the rollout",
            requests(check.baseline_failures)
        ));
    }
    reasons
}

/// The exit code, the most serious cause first.
fn exit_code(result: &RunResult, causes: &Causes<'_>, gate_passed: bool) -> u8 {
    if let Some(s) = causes.stopped {
        s.exit_code
    } else if result.interrupted {
        exit::INTERRUPTED
    } else if causes.rollout_failed.is_some() {
        exit::ROLLOUT_FAILED
    } else if causes.dead_baseline.is_some() {
        exit::COULD_NOT_RUN
    } else if !gate_passed {
        exit::GATE_FAILED
    } else {
        exit::PASSED
    }
}

/// The first reason of a passing verdict: what was checked, and that it held.
fn passed_reason(result: &RunResult, check: &ZeroDropCheck, results: &[ThresholdResult]) -> String {
    let requests = unit(result);
    let outside = if check.has_baseline {
        " outside the baseline"
    } else {
        ""
    };
    let mut line = if result.recorded.sessions.is_empty() {
        format!(
            "no request failed or was dropped{outside} ({})",
            requests(check.requests)
        )
    } else {
        let s = &result.recorded.sessions;
        format!(
            "no message failed or was dropped and no session ended without a goodbye{outside} \
             ({}, {}{})",
            requests(check.requests),
            sessions::sessions(s.counts.total()),
            if s.reconnects > 0 {
                format!(", {} reconnected", thousands(s.reconnects))
            } else {
                String::new()
            }
        )
    };
    if !results.is_empty() {
        line.push_str(&if results.len() == 1 {
            "; the threshold passed".to_string()
        } else {
            format!("; all {} thresholds passed", results.len())
        });
    }
    line
}

/// Runs [`judge_stopped`] and stores its thresholds and verdict in the result.
pub fn apply_stopped(thresholds: &[Threshold], result: &mut RunResult, stopped: Option<&Stopped>) {
    let (results, verdict) = judge_stopped(thresholds, result, stopped);
    result.thresholds = results;
    result.verdict = verdict;
}

/// Runs [`judge`] and stores its thresholds and verdict in the result.
pub fn apply(thresholds: &[Threshold], result: &mut RunResult) {
    let (results, verdict) = judge(thresholds, result);
    result.thresholds = results;
    result.verdict = verdict;
}

fn failed_reason(check: &ZeroDropCheck, requests: fn(u64) -> String) -> String {
    // In a rollout run every counted failure is the rollout's; say so in the words CI logs show.
    let mut s = format!(
        "{} failed{}",
        requests(check.failed_outside_baseline),
        if check.has_baseline {
            " during the rollout"
        } else {
            ""
        }
    );
    let phases: Vec<String> = check
        .failed_by_phase
        .iter()
        .map(|(p, n)| {
            if p == BASELINE {
                format!("{n} due in the baseline and cut after the trigger")
            } else {
                format!("{n} in {p}")
            }
        })
        .collect();
    if !phases.is_empty() {
        s.push_str(&format!(" ({})", phases.join(", ")));
    }
    let classes: Vec<String> = check
        .classes_outside_baseline
        .iter()
        .map(|(c, n)| format!("{n} {c}"))
        .collect();
    if !classes.is_empty() {
        s.push_str(&format!(": {}", classes.join(", ")));
    }
    s
}

/// A share close to 1 with enough digits that 0.9995 does not print as 1.
fn fmt_share(r: f64) -> String {
    if r == 1.0 {
        "1".to_string()
    } else if r >= 0.99 {
        format!("{r:.5}")
    } else {
        format!("{r:.3}")
    }
}

/// A ratio with enough digits that small failure rates do not print as zero.
fn fmt_ratio(r: f64) -> String {
    if r == 0.0 {
        "0".to_string()
    } else if r >= 0.01 {
        format!("{r:.3}")
    } else {
        format!("{r:.2e}")
    }
}

#[cfg(test)]
mod tests;
