//! The gate's WebSocket part: the default session check and the session thresholds
//! (`sessions`, `sessions_dropped`, `sessions_failed`, `messages_lost`, `reconnects`, and each
//! session class by name). Messages are requests to the rest of the gate; only how sessions
//! ended is judged here.

use std::collections::BTreeMap;

use super::Measured;
use super::threshold::{Metric, Scopes, Threshold};
use crate::model::numbers::thousands;
use crate::model::outcome::OutcomeClass;
use crate::model::phase::BASELINE;
use crate::model::result::SessionCheck;
use crate::model::session::SessionClass;
use crate::record::SessionCounts;
use crate::result::RunResult;

/// The default session check; `None` for a run without WebSocket sessions.
pub(super) fn check(result: &RunResult) -> Option<SessionCheck> {
    let s = &result.recorded.sessions;
    if s.is_empty() {
        return None;
    }
    let baseline = s.phase(BASELINE).copied().unwrap_or_default();
    let mut classes_outside_baseline = BTreeMap::new();
    for (class, n) in s.counts.iter().filter(|(c, _)| c.is_failure()) {
        let n = n.saturating_sub(baseline.get(class));
        if n > 0 {
            classes_outside_baseline.insert(class, n);
        }
    }
    let failed_outside_baseline = classes_outside_baseline.values().sum();
    let overall = &result.recorded.overall.counts;
    Some(SessionCheck {
        passed: failed_outside_baseline == 0,
        sessions: s.counts.total(),
        failed_outside_baseline,
        dropped: classes_outside_baseline
            .get(&SessionClass::Abnormal1006)
            .copied()
            .unwrap_or(0),
        classes_outside_baseline,
        baseline_failures: baseline.failed(),
        reconnects: s.reconnects,
        messages_lost: overall.get(OutcomeClass::WsMessageLost)
            + overall.get(OutcomeClass::WsNotSent),
    })
}

/// Measures a session threshold; `None` when `t` is not one.
pub(super) fn measure(t: &Threshold, result: &RunResult) -> Option<Measured> {
    let metric = t.metric();
    let session_metric = matches!(
        metric,
        Metric::Sessions
            | Metric::SessionsDropped
            | Metric::SessionsFailed
            | Metric::Reconnects
            | Metric::SessionClass(_)
    );
    if metric == Metric::MessagesLost {
        return Some(messages_lost(t, result));
    }
    if !session_metric {
        return None;
    }
    let s = &result.recorded.sessions;
    if s.is_empty() {
        return Some(Measured::Missing(
            "the run opened no WebSocket session (sessions are measured with --ws)".into(),
        ));
    }
    let counts: SessionCounts = match t.phase() {
        None => s.counts,
        Some(_) if metric == Metric::Reconnects => {
            return Some(Measured::Missing(
                "reconnects are counted over the whole run: drop the phase".into(),
            ));
        }
        Some(name) => match super::scope(result, &phase_scope(Some(name))) {
            Err(why) => return Some(Measured::Missing(why)),
            Ok(_) => s.phase(name).copied().unwrap_or_default(),
        },
    };
    let n = match metric {
        Metric::Sessions => counts.total(),
        Metric::SessionsDropped => counts.dropped(),
        Metric::SessionsFailed => counts.failed(),
        Metric::Reconnects => s.reconnects,
        Metric::SessionClass(c) => counts.get(c),
        _ => 0,
    };
    Some(count(n))
}

/// Messages lost in the scope: their session ended before the reply, or never sent while the
/// client reconnected.
fn messages_lost(t: &Threshold, result: &RunResult) -> Measured {
    if result.recorded.sessions.is_empty() {
        return Measured::Missing(
            "the run sent no WebSocket message (messages are measured with --ws)".into(),
        );
    }
    match super::scope(result, &phase_scope(t.phase())) {
        Err(why) => Measured::Missing(why),
        Ok(span) => {
            let c = &span.counts;
            count(c.get(OutcomeClass::WsMessageLost) + c.get(OutcomeClass::WsNotSent))
        }
    }
}

/// A phase's scope (sessions have no templates: a WebSocket run sends no mix).
fn phase_scope(phase: Option<&str>) -> Scopes {
    Scopes {
        template: None,
        phase: phase.map(str::to_string),
    }
}

fn count(n: u64) -> Measured {
    Measured::Value {
        value: n as f64,
        shown: thousands(n),
    }
}

/// The verdict's reason for sessions that failed outside the baseline.
pub(super) fn failed_reason(c: &SessionCheck, has_baseline: bool) -> String {
    let classes: Vec<String> = c
        .classes_outside_baseline
        .iter()
        .map(|(class, n)| format!("{n} {class}"))
        .collect();
    let mut s = format!(
        "{} ended without a goodbye{}: {}",
        sessions(c.failed_outside_baseline),
        if has_baseline {
            " during the rollout"
        } else {
            ""
        },
        classes.join(", ")
    );
    if c.dropped > 0 {
        s.push_str(" (1006: the connection went away without a close frame)");
    }
    s
}

/// "1 WebSocket session", "3 WebSocket sessions".
pub(super) fn sessions(n: u64) -> String {
    if n == 1 {
        "1 WebSocket session".into()
    } else {
        format!("{} WebSocket sessions", thousands(n))
    }
}
