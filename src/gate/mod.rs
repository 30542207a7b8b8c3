//! The gate: threshold expressions in k6's style, the default zero-drop check, and the verdict
//! that maps a run to its exit code.
//!
//! It owns parsing thresholds ([`parse_all`], called at plan time so every bad expression is
//! reported at once), measuring them against a saved [`RunResult`] ([`evaluate`]), and deciding
//! the [`Verdict`] ([`judge`]). It is pure: no I/O, no clock, no printing. Renderers read what it
//! decided and never re-decide.
//!
//! The expression grammar is in [`threshold`]'s documentation (BNF).
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

mod threshold;

use std::collections::BTreeMap;

use crate::model::exit;
use crate::model::numbers::{fmt_us, requests, thousands};
use crate::model::outcome::OutcomeClass;
use crate::model::phase::{BASELINE, ROLLOUT};
use crate::model::result::{RolloutInfo, ThresholdResult, Verdict, ZeroDropCheck};
use crate::record::{Counts, EncodedHist, LatencySummary, SpanStats, TemplateSpan};
use crate::result::RunResult;

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

/// What a threshold is measured on: a phase's or the run's figures, of every template or of
/// one.
struct View<'a> {
    counts: &'a Counts,
    latency: &'a LatencySummary,
    latency_hist: &'a EncodedHist,
    /// (checks passed, checks run), when any check ran.
    checks: Option<(u64, u64)>,
}

/// The run's phases' names, for messages.
fn phase_names(result: &RunResult) -> String {
    let names: Vec<&str> = result
        .recorded
        .phases
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    if names.is_empty() {
        "it has no phases".to_string()
    } else {
        format!("its phases: {}", names.join(", "))
    }
}

/// Checks passed and run over every template in `phase` (or the run).
fn all_checks(result: &RunResult, phase: Option<&str>) -> Option<(u64, u64)> {
    let mut passed = 0;
    let mut ran = 0;
    for t in &result.recorded.templates {
        let span = match phase {
            None => Some(&t.overall),
            Some(p) => t.phase(p),
        };
        if let Some((p, r)) = span.and_then(TemplateSpan::checks_passed_ratio) {
            passed += p;
            ran += r;
        }
    }
    (ran > 0).then_some((passed, ran))
}

fn scope<'a>(result: &'a RunResult, scopes: &Scopes) -> Result<View<'a>, String> {
    let rec = &result.recorded;
    let phase = scopes.phase.as_deref();
    if let Some(name) = &scopes.template {
        let t = rec
            .templates
            .iter()
            .find(|t| &t.info.name == name)
            .ok_or_else(|| format!("the run recorded nothing for template `{name}`"))?;
        let span = match phase {
            None => &t.overall,
            Some(p) => t
                .phase(p)
                .ok_or_else(|| format!("the run has no `{p}` phase ({})", phase_names(result)))?,
        };
        return Ok(View {
            counts: &span.counts,
            latency: &span.latency,
            latency_hist: &span.latency_hist,
            checks: span.checks_passed_ratio(),
        });
    }
    let span = match phase {
        None => &rec.overall,
        Some(name) => rec
            .phase(name)
            .ok_or_else(|| format!("the run has no `{name}` phase ({})", phase_names(result)))?,
    };
    Ok(View {
        counts: &span.counts,
        latency: &span.latency,
        latency_hist: &span.latency_hist,
        checks: all_checks(result, phase),
    })
}

/// The template names of a result, for sorting a threshold's scopes.
fn template_names(result: &RunResult) -> Vec<&str> {
    result
        .recorded
        .templates
        .iter()
        .map(|t| t.info.name.as_str())
        .collect()
}

/// A latency quantile in microseconds from the scope's lossless histogram; falls back to the
/// stored summary for the percentiles it holds if the histogram cannot be decoded.
fn quantile_us(v: &View<'_>, q: f64) -> Option<u64> {
    if v.latency.count == 0 {
        return None;
    }
    match v.latency_hist.decode() {
        Ok(h) if !h.is_empty() => Some(h.quantile(q)),
        _ => {
            let s = v.latency;
            let table = [
                (0.5, s.p50_us),
                (0.9, s.p90_us),
                (0.99, s.p99_us),
                (0.999, s.p999_us),
                (1.0, s.max_us),
            ];
            table
                .iter()
                .find(|(p, _)| (p - q).abs() < 1e-9)
                .map(|(_, v)| *v)
        }
    }
}

fn measure(t: &Threshold, result: &RunResult) -> Measured {
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
        Metric::Checks => match view.checks {
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
        },
        Metric::P99Ratio => p99_ratio(&scopes, result),
        Metric::Failed => count(c.failed()),
        Metric::DroppedByGenerator => count(c.get(OutcomeClass::DroppedByGenerator)),
        Metric::Requests => count(c.total()),
        Metric::Class(class) => count(c.get(class)),
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
    let gate_passed = check.passed && results.iter().all(|r| r.passed);
    let exit_code = exit_code(result, &causes, gate_passed);
    if exit_code == exit::PASSED {
        reasons.insert(0, passed_reason(&check, &results));
    }
    let verdict = Verdict {
        passed: exit_code == exit::PASSED,
        exit_code,
        reasons,
        zero_drop: Some(check),
    };
    (results, verdict)
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
        reasons.push(failed_reason(check));
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
fn passed_reason(check: &ZeroDropCheck, results: &[ThresholdResult]) -> String {
    let mut line = format!(
        "no request failed or was dropped{} ({})",
        if check.has_baseline {
            " outside the baseline"
        } else {
            ""
        },
        requests(check.requests)
    );
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

fn failed_reason(check: &ZeroDropCheck) -> String {
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
