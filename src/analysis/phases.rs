//! Phases as reports show them (baseline, rollout, settle, or load stages), read from the
//! recorder's per-phase statistics, and the rollout p99 against the baseline p99.

use std::collections::BTreeMap;

use crate::analysis::PhaseReport;
use crate::model::outcome::OutcomeClass;
use crate::model::phase::{BASELINE, ROLLOUT};
use crate::record::{Recorded, SpanStats};

fn report(s: &SpanStats) -> PhaseReport {
    // Only the classes that happened, and not `ok`: reports list what went wrong.
    let classes: BTreeMap<OutcomeClass, u64> = s
        .counts
        .iter()
        .filter(|(c, n)| *n > 0 && *c != OutcomeClass::Ok)
        .collect();
    PhaseReport {
        name: s.name.clone(),
        start: s.start,
        end: s.end,
        requests: s.counts.total(),
        ok: s.counts.ok(),
        failed: s.counts.failed(),
        dropped_by_generator: s.counts.get(OutcomeClass::DroppedByGenerator),
        classes,
        latency: s.latency,
        service_time: s.service_time,
    }
}

/// One report per recorded phase; the whole run as one phase when none was marked.
pub fn phase_reports(recorded: &Recorded) -> Vec<PhaseReport> {
    if recorded.phases.is_empty() {
        if recorded.overall.counts.total() == 0 {
            return Vec::new();
        }
        return vec![report(&recorded.overall)];
    }
    recorded.phases.iter().map(report).collect()
}

/// Rollout p99 over baseline p99, when both phases had requests and the baseline p99 is
/// above zero.
pub fn p99_ratio(recorded: &Recorded) -> Option<f64> {
    let base = recorded.phase(BASELINE)?;
    let roll = recorded.phase(ROLLOUT)?;
    if base.latency.count == 0 || roll.latency.count == 0 || base.latency.p99_us == 0 {
        return None;
    }
    Some(roll.latency.p99_us as f64 / base.latency.p99_us as f64)
}
