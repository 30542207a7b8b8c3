//! Findings that name no rollout cause: baseline errors (the service failed before the
//! rollout began, so the rollout is not blamed), overload (the service did not carry the load
//! while every endpoint was ready), and the unexplained remainder, reported with its details
//! rather than hidden.

use super::{Facts, Group, finding, requests};
use crate::model::finding::{Finding, FindingId, Severity};
use crate::model::numbers::fmt_us;

pub fn overload(g: &Group<'_>, facts: &Facts<'_>) -> Finding {
    let mut ev = g.evidence();
    for w in facts.overload {
        ev.details.push(format!(
            "{}–{}: p50 {} against {} in the baseline, about {:.0} requests in flight against              {:.0}, while every endpoint was ready",
            w.start,
            w.end,
            fmt_us(w.peak_p50_us),
            fmt_us(w.base_p50_us),
            w.peak_in_flight,
            w.base_in_flight
        ));
    }
    finding(
        FindingId::Overload,
        Severity::Warning,
        format!(
            "{} failed while the service queued with every endpoint ready: the load, not the \
             rollout",
            requests(g.len())
        ),
        ev,
        "Latency and requests in flight rose far above the baseline's while the Service had \
         every endpoint it should: requests queued because the service could not carry the \
         offered rate, and failures followed from the queueing, not from how pods were replaced.",
        "Lower --rate or add capacity (more replicas, or maxSurge so the rollout adds a pod \
         before it removes one), and rerun: a rollout can only be judged on a service that \
         carries its load."
            .into(),
        None,
    )
}

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
