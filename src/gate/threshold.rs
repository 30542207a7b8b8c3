//! Threshold expressions in k6's style: the grammar, the parsed [`Threshold`], and the errors
//! that name what is wrong with an expression. Parsing only; measuring is the gate's.
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
//!               | session-count
//! outcome-class ::= "ok" | "http_4xx" | "http_5xx" | "connect_refused" | "connect_timeout"
//!                 | "connection_reset" | "closed_before_response" | "request_timeout"
//!                 | "dns" | "tls" | "other"
//!                 | "grpc_" status-name       ; grpc_unavailable, grpc_deadline_exceeded, …
//!                 | "refused_stream" | "stream_reset" | "goaway_graceful" | "goaway_abrupt"
//!                 | "reset_without_goaway" | "closed_without_goaway" | "client_deadline"
//!                 | "ws_message_lost" | "ws_message_timeout" | "ws_unexpected_reply"
//!                 | "ws_not_sent"
//! session-count ::= "sessions" | "sessions_dropped" | "sessions_failed" | "messages_lost"
//!                 | "reconnects" | session-class
//! session-class ::= "client_close" | "close_1000" | "close_1001" | "close_1012"
//!                 | "close_other" | "abnormal_1006" | "handshake_failed" | "protocol_error"
//! operator    ::= "<" | "<=" | ">" | ">=" | "==" | "===" | "!="
//! value       ::= duration                  ; after a latency-agg
//!               | number                    ; after "rate" or "p99_ratio"
//!               | integer                   ; after a count
//! duration    ::= number unit { number unit } | "0"   ; model::units, as every flag's
//! unit        ::= "us" | "µs" | "ms" | "s" | "m" | "h"
//! ```
//!
//! A latency value needs its unit (`p(99)<500` is refused with the fix, `500ms`): durations
//! follow the one grammar of `model::units`, where a bare number means nothing.
//!
//! Blanks around the operator are allowed. Latency is measured from each request's *due* time
//! (coordinated-omission free); `p(N)` takes 0 < N ≤ 100. `rate` is failed ÷ sent (requests the
//! generator dropped were not sent and are counted by `dropped_by_generator`). `p99_ratio` is the
//! scope's p99 over the baseline's p99; without a phase its scope is `rollout`. Without a phase,
//! every other metric covers the whole run.
//!
//! With `--grpc` every call is a request: `failed`, `rate`, `requests` and the latency
//! aggregates count calls.
//! With `--ws` every message is a request: `failed`, `rate` and the latency aggregates apply to
//! messages. Session counts take a session in the phase in which it *ended*: `sessions_dropped`
//! counts 1006 ends (the connection gone without a close frame), `sessions_failed` every end
//! but our own close and the server's 1000 / 1001 / 1012, `messages_lost` the messages whose
//! session ended before their reply (`ws_message_lost`) or that fell due while the client was
//! reconnecting and were never sent (`ws_not_sent`), `reconnects` the sessions a reconnection
//! opened.

use std::fmt;

use crate::model::outcome::OutcomeClass;
use crate::model::session::SessionClass;
use crate::model::units::{self, DurationError};

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
    /// WebSocket sessions (every one, however it ended).
    Sessions,
    /// Sessions ended by 1006: the connection gone without a close frame.
    SessionsDropped,
    /// Sessions that ended other than gracefully.
    SessionsFailed,
    /// Messages lost: their session ended before the reply, or never sent while reconnecting.
    MessagesLost,
    /// Sessions opened by a reconnection.
    Reconnects,
    /// Sessions that ended in one session class.
    SessionClass(SessionClass),
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
            Metric::Failed
            | Metric::DroppedByGenerator
            | Metric::Requests
            | Metric::Class(_)
            | Metric::Sessions
            | Metric::SessionsDropped
            | Metric::SessionsFailed
            | Metric::MessagesLost
            | Metric::Reconnects
            | Metric::SessionClass(_) => Kind::Count,
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
    pub(super) fn holds(self, actual: f64, bound: f64) -> bool {
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
    pub(super) source: String,
    pub(super) phase: Option<String>,
    pub(super) metric: Metric,
    pub(super) op: Op,
    /// Microseconds for latency metrics, the plain number otherwise.
    pub(super) bound: f64,
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
        "`{expr}`: unknown metric `{metric}`; use p(N), avg, med, min, max, rate, p99_ratio, failed, dropped_by_generator, requests, an outcome class, or (WebSocket) sessions, sessions_dropped, sessions_failed, messages_lost, reconnects or a session class"
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
    /// A latency value without a unit; the message shows the fix.
    #[error("`{expr}`: {reason}")]
    MissingUnit { expr: String, reason: String },
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
        "sessions" => Metric::Sessions,
        "sessions_dropped" => Metric::SessionsDropped,
        "sessions_failed" => Metric::SessionsFailed,
        "messages_lost" => Metric::MessagesLost,
        "reconnects" => Metric::Reconnects,
        other => match (
            OutcomeClass::from_name(other),
            SessionClass::from_name(other),
        ) {
            (Some(OutcomeClass::DroppedByGenerator), _) => Metric::DroppedByGenerator,
            (Some(c), _) => Metric::Class(c),
            (None, Some(s)) => Metric::SessionClass(s),
            (None, None) => {
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
        Kind::Latency => match units::duration(value) {
            Ok(d) => Ok(d.as_nanos() as f64 / 1_000.0),
            Err(e @ DurationError::NoUnit { .. }) => Err(ThresholdError::MissingUnit {
                expr: expr.to_string(),
                reason: e.to_string(),
            }),
            Err(_) => Err(bad("a duration such as 500ms, 1.5s or 800us")),
        },
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
