//! Findings that name no rollout cause: baseline errors (the service failed before the
//! rollout began, so the rollout is not blamed) and the unexplained remainder, reported with
//! its details rather than hidden.

use super::{Facts, Group, finding, requests};
use crate::model::finding::{Finding, FindingId, Severity};

pub fn baseline(g: &Group<'_>, _facts: &Facts<'_>) -> Finding {
    let mut ev = g.evidence();
    ev.details.push(
        "these failures happened before the rollout was triggered: they are not caused by it"
            .into(),
    );
    finding(
        FindingId::BaselineErrors,
        Severity::Warning,
        format!(
            "{} failed before the rollout began: not caused by the rollout",
            requests(g.len())
        ),
        ev,
        "The service was already failing before the trigger, so these failures are not the \
         rollout's doing.",
        "Fix the steady-state errors first (see their classes and examples), then rerun: a \
         rollout can only be judged against a clean baseline."
            .into(),
        None,
    )
}

/// Up to this many unexplained failures are described one by one.
const DESCRIBED: usize = 5;

pub fn unexplained(g: &Group<'_>, facts: &Facts<'_>) -> Option<Finding> {
    let not_kept = facts.recorded.failures_not_kept;
    if g.items.is_empty() && not_kept == 0 {
        return None;
    }
    let mut ev = g.evidence();
    for (f, e) in g.items.iter().take(DESCRIBED) {
        let status = f.status.map(|s| format!(" {s}")).unwrap_or_default();
        let pod = e
            .pod
            .as_deref()
            .map(|p| format!(" on {p}"))
            .unwrap_or_default();
        let reused = match f.conn {
            Some(c) if c.reused => " (reused connection)",
            Some(_) => " (new connection)",
            None => "",
        };
        let error = f
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        ev.details.push(format!(
            "seq {} sent {}: {}{status}{pod}{reused}{error}",
            f.seq, f.sent, f.class
        ));
    }
    if not_kept > 0 {
        ev.failures += not_kept;
        ev.details.push(format!(
            "{} beyond the failure log's limit were counted but not kept, so none could be \
             examined",
            requests(not_kept)
        ));
    }
    for (resource, from, to) in facts.timeline.gaps() {
        ev.details.push(format!(
            "the watch of {resource} was down from {from} to {to}: events may be missing"
        ));
    }
    Some(finding(
        FindingId::Unexplained,
        Severity::Error,
        format!("{} failed with no cause found", requests(ev.failures)),
        ev,
        "Nothing in the cluster's timeline explains these failures.",
        "Look at the examples, their error chains and the app's logs; if the timeline has \
         watch gaps, rerun."
            .into(),
        None,
    ))
}
