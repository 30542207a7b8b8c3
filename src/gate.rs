//! The gate: threshold expressions in k6's style, the default zero-drop check, and the verdict
//! that maps a run to its exit code.
//!
//! It owns parsing thresholds ([`parse_all`], called at plan time so every bad expression is
//! reported at once), measuring them against a saved [`RunResult`] ([`evaluate`]), and deciding
//! the [`Verdict`] ([`judge`]). It is pure: no I/O, no clock, no printing. Renderers read what it
//! decided and never re-decide.
//!
//! # Grammar
//!
//! ```text
//! threshold   ::= [ phase ":" ] metric operator value
//! phase       ::= name                      ; a phase of the run: baseline, rollout, settle, …
//! name        ::= ( letter | digit | "_" | "-" | "." )+
//! metric      ::= latency-agg | "rate" | "p99_ratio" | count
//! latency-agg ::= "p(" number ")" | "avg" | "med" | "min" | "max"
//! count       ::= "failed" | "dropped_by_generator" | "requests" | outcome-class
//! outcome-class ::= "ok" | "http_4xx" | "http_5xx" | "connect_refused" | "connect_timeout"
//!                 | "connection_reset" | "closed_before_response" | "request_timeout"
//!                 | "dns" | "tls" | "other"
//! operator    ::= "<" | "<=" | ">" | ">=" | "==" | "===" | "!="
//! value       ::= duration                  ; after a latency-agg
//!               | number                    ; after "rate" or "p99_ratio"
//!               | integer                   ; after a count
//! duration    ::= number [ "us" | "µs" | "ms" | "s" | "m" ]   ; no unit means milliseconds, as in k6
//! ```
//!
//! Blanks around the operator are allowed. Latency is measured from each request's *due* time
//! (coordinated-omission free); `p(N)` takes 0 < N ≤ 100. `rate` is failed ÷ sent (requests the
//! generator dropped were not sent and are counted by `dropped_by_generator`). `p99_ratio` is the
//! scope's p99 over the baseline's p99; without a phase its scope is `rollout`. Without a phase,
//! every other metric covers the whole run.
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

use std::collections::BTreeMap;
use std::fmt;

use crate::exit;
use crate::load::outcome::OutcomeClass;
use crate::record::SpanStats;
use crate::result::{RunResult, ThresholdResult, Verdict, ZeroDropCheck};

/// The phase before the rollout is triggered; failures in it are not the rollout's.
pub const BASELINE: &str = "baseline";
/// The phase `p99_ratio` compares against the baseline when no phase is named.
pub const ROLLOUT: &str = "rollout";

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// A latency percentile, 0 < p ≤ 100.
    Percentile(f64),
    /// Mean latency.
    Avg,
    /// Median latency.
    Med,
    /// Smallest latency.
    Min,
    /// Largest latency.
    Max,
    /// Failed ÷ sent.
    Rate,
    /// The scope's p99 over the baseline's p99.
    P99Ratio,
    /// Sent requests that did not succeed.
    Failed,
    /// Requests never sent because the in-flight cap was reached.
    DroppedByGenerator,
    /// Requests the schedule made due (sent or dropped).
    Requests,
    /// Requests that ended in one outcome class.
    Class(OutcomeClass),
}

/// What kind of value a metric is compared with; decides how the value is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Latency,
    Ratio,
    Count,
}

impl Metric {
    fn kind(self) -> Kind {
        match self {
            Metric::Percentile(_) | Metric::Avg | Metric::Med | Metric::Min | Metric::Max => {
                Kind::Latency
            }
            Metric::Rate | Metric::P99Ratio => Kind::Ratio,
            Metric::Failed | Metric::DroppedByGenerator | Metric::Requests | Metric::Class(_) => {
                Kind::Count
            }
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            Op::Lt => actual < bound,
            Op::Le => actual <= bound,
            Op::Gt => actual > bound,
            Op::Ge => actual >= bound,
            Op::Eq => actual == bound,
            Op::Ne => actual != bound,
        }
    }
}

/// One parsed threshold. Serialises as the expression it was written as.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    source: String,
    phase: Option<String>,
    metric: Metric,
    op: Op,
    /// Microseconds for latency metrics, the plain number otherwise.
    bound: f64,
}

impl Threshold {
    /// The expression as written, trimmed.
    pub fn expression(&self) -> &str {
        &self.source
    }

    /// The phase it is scoped to, if any (the plan may check it names a known phase).
    pub fn phase(&self) -> Option<&str> {
        self.phase.as_deref()
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    pub fn op(&self) -> Op {
        self.op
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Threshold {
    type Err = ThresholdError;
    fn from_str(s: &str) -> Result<Threshold, ThresholdError> {
        parse(s)
    }
}

impl serde::Serialize for Threshold {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Threshold, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why an expression is not a threshold. Every message names the expression.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    /// The expression is blank.
    #[error("threshold is empty: write one like `p(99)<500ms`")]
    Empty,
    /// The phase before `:` is blank or has characters a phase name cannot have.
    #[error("`{expr}`: `{phase}` is not a phase name (letters, digits, `_`, `-`, `.`)")]
    BadPhase { expr: String, phase: String },
    /// No comparison operator was found.
    #[error("`{expr}`: no operator; compare with one of <, <=, >, >=, ==, !=")]
    MissingOperator { expr: String },
    /// A run of operator characters that is not an operator.
    #[error("`{expr}`: unknown operator `{op}`; use one of <, <=, >, >=, ==, !=")]
    UnknownOperator { expr: String, op: String },
    /// Nothing before the operator.
    #[error(
        "`{expr}`: nothing to compare before `{op}`; start with a metric such as p(99), rate or failed"
    )]
    MissingMetric { expr: String, op: String },
    /// The metric is not one zerodrop measures.
    #[error(
        "`{expr}`: unknown metric `{metric}`; use p(N), avg, med, min, max, rate, p99_ratio, failed, dropped_by_generator, requests or an outcome class"
    )]
    UnknownMetric { expr: String, metric: String },
    /// `p(N)` with N not a number in (0, 100].
    #[error("`{expr}`: percentile `{percentile}` must be a number above 0 and at most 100")]
    BadPercentile { expr: String, percentile: String },
    /// Nothing after the operator.
    #[error("`{expr}`: no value after `{op}`")]
    MissingValue { expr: String, op: String },
    /// The value is not a number (with a unit where one is allowed).
    #[error("`{expr}`: `{value}` is not {expected}")]
    BadValue {
        expr: String,
        value: String,
        expected: &'static str,
    },
    /// A unit on a value that has none (rate, ratios, counts), or an unknown unit.
    #[error("`{expr}`: `{value}` has a unit, but {metric} is {what}")]
    UnexpectedUnit {
        expr: String,
        value: String,
        metric: String,
        what: &'static str,
    },
}

/// Parses every expression, reporting every bad one at once.
pub fn parse_all(exprs: &[String]) -> Result<Vec<Threshold>, Vec<ThresholdError>> {
    let mut ok = Vec::with_capacity(exprs.len());
    let mut errors = Vec::new();
    for e in exprs {
        match parse(e) {
            Ok(t) => ok.push(t),
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(errors)
    }
}

const OP_CHARS: &[char] = &['<', '>', '=', '!'];

/// Parses one expression.
pub fn parse(raw: &str) -> Result<Threshold, ThresholdError> {
    let expr = raw.trim();
    if expr.is_empty() {
        return Err(ThresholdError::Empty);
    }
    let e = || expr.to_string();
    let Some(op_start) = expr.find(OP_CHARS) else {
        return Err(ThresholdError::MissingOperator { expr: e() });
    };
    let op_len = expr[op_start..]
        .find(|c: char| !OP_CHARS.contains(&c))
        .unwrap_or(expr.len() - op_start);
    let op_text = &expr[op_start..op_start + op_len];
    let op = match op_text {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "==" | "===" => Op::Eq,
        "!=" => Op::Ne,
        _ => {
            return Err(ThresholdError::UnknownOperator {
                expr: e(),
                op: op_text.to_string(),
            });
        }
    };
    let left = expr[..op_start].trim();
    let value = expr[op_start + op_len..].trim();

    // A phase prefix is whatever precedes the first `:` on the left-hand side.
    let (phase, metric_text) = match left.split_once(':') {
        Some((p, m)) => {
            let p = p.trim();
            let valid = !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid {
                return Err(ThresholdError::BadPhase {
                    expr: e(),
                    phase: p.to_string(),
                });
            }
            (Some(p.to_string()), m.trim())
        }
        None => (None, left),
    };
    if metric_text.is_empty() {
        return Err(ThresholdError::MissingMetric {
            expr: e(),
            op: op_text.to_string(),
        });
    }
    let metric = parse_metric(expr, metric_text)?;
    if value.is_empty() {
        return Err(ThresholdError::MissingValue {
            expr: e(),
            op: op_text.to_string(),
        });
    }
    let bound = parse_value(expr, metric_text, metric.kind(), value)?;
    Ok(Threshold {
        source: expr.to_string(),
        phase,
        metric,
        op,
        bound,
    })
}

fn parse_metric(expr: &str, text: &str) -> Result<Metric, ThresholdError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(inner) = compact
        .strip_prefix("p(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return match inner.parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Ok(Metric::Percentile(p)),
            _ => Err(ThresholdError::BadPercentile {
                expr: expr.to_string(),
                percentile: inner.to_string(),
            }),
        };
    }
    let metric = match compact.as_str() {
        "avg" => Metric::Avg,
        "med" => Metric::Med,
        "min" => Metric::Min,
        "max" => Metric::Max,
        "rate" => Metric::Rate,
        "p99_ratio" => Metric::P99Ratio,
        "failed" => Metric::Failed,
        "requests" => Metric::Requests,
        other => match OutcomeClass::from_name(other) {
            Some(OutcomeClass::DroppedByGenerator) => Metric::DroppedByGenerator,
            Some(c) => Metric::Class(c),
            None => {
                return Err(ThresholdError::UnknownMetric {
                    expr: expr.to_string(),
                    metric: text.to_string(),
                });
            }
        },
    };
    Ok(metric)
}

fn parse_value(expr: &str, metric: &str, kind: Kind, value: &str) -> Result<f64, ThresholdError> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num_text, unit) = (&value[..split], value[split..].trim());
    let bad = |expected| ThresholdError::BadValue {
        expr: expr.to_string(),
        value: value.to_string(),
        expected,
    };
    match kind {
        Kind::Latency => {
            let n: f64 = num_text
                .parse()
                .map_err(|_| bad("a duration such as 500ms, 1.5s or 800us"))?;
            let scale = match unit {
                "" | "ms" => 1_000.0,
                "us" | "µs" => 1.0,
                "s" => 1_000_000.0,
                "m" => 60_000_000.0,
                _ => return Err(bad("a duration such as 500ms, 1.5s or 800us")),
            };
            Ok(n * scale)
        }
        Kind::Ratio | Kind::Count => {
            let (expected, what) = if kind == Kind::Ratio {
                ("a plain number such as 0.001", "a ratio")
            } else {
                ("a whole number such as 0", "a count")
            };
            let n: f64 = num_text.parse().map_err(|_| bad(expected))?;
            if !unit.is_empty() {
                return Err(ThresholdError::UnexpectedUnit {
                    expr: expr.to_string(),
                    value: value.to_string(),
                    metric: metric.to_string(),
                    what,
                });
            }
            if kind == Kind::Count && n.fract() != 0.0 {
                return Err(bad(expected));
            }
            Ok(n)
        }
    }
}

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

fn scope<'a>(result: &'a RunResult, phase: Option<&str>) -> Result<&'a SpanStats, String> {
    match phase {
        None => Ok(&result.recorded.overall),
        Some(name) => result.recorded.phase(name).ok_or_else(|| {
            let names: Vec<&str> = result
                .recorded
                .phases
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            if names.is_empty() {
                format!("the run has no `{name}` phase (it has no phases)")
            } else {
                format!(
                    "the run has no `{name}` phase (its phases: {})",
                    names.join(", ")
                )
            }
        }),
    }
}

/// A latency quantile in microseconds from the span's lossless histogram; falls back to the
/// stored summary for the percentiles it holds if the histogram cannot be decoded.
fn quantile_us(span: &SpanStats, q: f64) -> Option<u64> {
    if span.latency.count == 0 {
        return None;
    }
    match span.latency_hist.decode() {
        Ok(h) if !h.is_empty() => Some(h.quantile(q)),
        _ => {
            let s = &span.latency;
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
    let span = match scope(result, t.phase.as_deref()) {
        Ok(s) => s,
        Err(why) => return Measured::Missing(why),
    };
    let where_ = t
        .phase
        .as_deref()
        .map_or_else(|| "in the run".to_string(), |p| format!("in {p}"));
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
    let c = &span.counts;
    match t.metric {
        Metric::Percentile(p) => latency(quantile_us(span, p / 100.0)),
        Metric::Med => latency(quantile_us(span, 0.5)),
        Metric::Max => latency((span.latency.count > 0).then_some(span.latency.max_us)),
        Metric::Min => latency((span.latency.count > 0).then_some(span.latency.min_us)),
        Metric::Avg => {
            if span.latency.count == 0 {
                latency(None)
            } else {
                Measured::Value {
                    value: span.latency.mean_us,
                    shown: fmt_us(span.latency.mean_us.round() as u64),
                }
            }
        }
        Metric::Rate => {
            if c.sent() == 0 {
                Measured::Missing(format!("no request was sent {where_}"))
            } else {
                let r = c.failed() as f64 / c.sent() as f64;
                Measured::Value {
                    value: r,
                    shown: format!("{} ({} of {} failed)", fmt_ratio(r), c.failed(), c.sent()),
                }
            }
        }
        Metric::P99Ratio => p99_ratio(t.phase.as_deref(), result),
        Metric::Failed => count(c.failed()),
        Metric::DroppedByGenerator => count(c.get(OutcomeClass::DroppedByGenerator)),
        Metric::Requests => count(c.total()),
        Metric::Class(class) => count(c.get(class)),
    }
}

fn p99_ratio(phase: Option<&str>, result: &RunResult) -> Measured {
    let phase = phase.unwrap_or(ROLLOUT);
    let (base, this) = match (scope(result, Some(BASELINE)), scope(result, Some(phase))) {
        (Ok(b), Ok(t)) => (b, t),
        (Err(why), _) | (_, Err(why)) => return Measured::Missing(why),
    };
    let (Some(b), Some(t)) = (quantile_us(base, 0.99), quantile_us(this, 0.99)) else {
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
pub fn zero_drop(result: &RunResult) -> ZeroDropCheck {
    let overall = &result.recorded.overall.counts;
    let baseline = result.recorded.phase(BASELINE).map(|p| p.counts);
    let baseline_failures = baseline.map_or(0, |b| b.failed());
    let mut outside_by_phase = BTreeMap::new();
    for p in &result.recorded.phases {
        if p.name != BASELINE && p.counts.failed() > 0 {
            outside_by_phase.insert(p.name.clone(), p.counts.failed());
        }
    }
    let failed_outside_baseline = overall.failed().saturating_sub(baseline_failures);
    let mut classes_outside_baseline = BTreeMap::new();
    for (class, n) in overall.iter() {
        if class == OutcomeClass::Ok || class == OutcomeClass::DroppedByGenerator {
            continue;
        }
        let n = n.saturating_sub(baseline.map_or(0, |b| b.get(class)));
        if n > 0 {
            classes_outside_baseline.insert(class, n);
        }
    }
    let dropped_by_generator = overall.get(OutcomeClass::DroppedByGenerator);
    ZeroDropCheck {
        passed: failed_outside_baseline == 0 && dropped_by_generator == 0,
        requests: overall.total(),
        failed_outside_baseline,
        failed_by_phase: outside_by_phase,
        classes_outside_baseline,
        dropped_by_generator,
        baseline_failures,
        has_baseline: baseline.is_some(),
    }
}

/// Evaluates the thresholds and the default gate and decides the verdict.
///
/// The exit code follows PRODUCT.md: 130 when the run was interrupted (its data is partial),
/// 3 when the rollout failed or timed out, 4 when the target never answered successfully during
/// the baseline (nothing to compare the rollout with), 1 when the default gate or a threshold
/// failed, 0 otherwise. Reasons list every cause, most important first.
pub fn judge(thresholds: &[Threshold], result: &RunResult) -> (Vec<ThresholdResult>, Verdict) {
    let results = evaluate(thresholds, result);
    let check = zero_drop(result);
    let mut reasons = Vec::new();

    if result.interrupted {
        reasons.push("the run was interrupted: its data is partial".to_string());
    }
    let rollout_failed = result
        .rollout
        .as_ref()
        .filter(|r| r.outcome.starts_with("failed") || r.outcome.starts_with("timed out"));
    if let Some(r) = rollout_failed {
        reasons.push(format!("the rollout {}", r.outcome));
    }
    let dead_baseline = result
        .recorded
        .phase(BASELINE)
        .filter(|b| b.counts.sent() > 0 && b.counts.ok() == 0);
    if let Some(b) = dead_baseline {
        reasons.push(format!(
            "all {} requests failed during the baseline, before the rollout began: the target \
             was not healthy enough to test",
            b.counts.sent()
        ));
    }
    if check.failed_outside_baseline > 0 {
        reasons.push(failed_reason(&check));
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
    let gate_passed = check.passed && results.iter().all(|r| r.passed);
    let exit_code = if result.interrupted {
        exit::INTERRUPTED
    } else if rollout_failed.is_some() {
        exit::ROLLOUT_FAILED
    } else if dead_baseline.is_some() {
        exit::COULD_NOT_RUN
    } else if !gate_passed {
        exit::GATE_FAILED
    } else {
        exit::PASSED
    };
    if exit_code == exit::PASSED {
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
        reasons.insert(0, line);
    }
    let verdict = Verdict {
        passed: exit_code == exit::PASSED,
        exit_code,
        reasons,
        zero_drop: Some(check),
    };
    (results, verdict)
}

/// Runs [`judge`] and stores its thresholds and verdict in the result.
pub fn apply(thresholds: &[Threshold], result: &mut RunResult) {
    let (results, verdict) = judge(thresholds, result);
    result.thresholds = results;
    result.verdict = verdict;
}

fn failed_reason(check: &ZeroDropCheck) -> String {
    let mut s = format!("{} failed", requests(check.failed_outside_baseline));
    let phases: Vec<String> = check
        .failed_by_phase
        .iter()
        .map(|(p, n)| format!("{n} during {p}"))
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

/// "1 request", "3 requests".
pub fn requests(n: u64) -> String {
    if n == 1 {
        "1 request".to_string()
    } else {
        format!("{n} requests")
    }
}

/// A duration in microseconds with a unit that keeps three significant figures readable.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 10_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else if us < 1_000_000 {
        format!("{:.0}ms", us as f64 / 1e3)
    } else if us < 60_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else {
        format!("{:.1}m", us as f64 / 6e7)
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
