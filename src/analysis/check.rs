//! The opaque local mode: analyse a local run with only the evidence a cluster path leaves, and
//! score that analysis against the local proxy's route map, which knows where every connection
//! really went.
//!
//! Through a Service, an ingress or a load balancer there is no route map and no stop-signal
//! event (a cluster shows neither), and the data path's de-registration lag is not observed. So
//! the timeline loses its routes and stop signals, and the analysis assumes a cluster's
//! unobserved de-registration lag instead of knowing the proxy's propagation delay. The events
//! keep the instants the runtime recorded them at: on a cluster a watch sees an exit somewhat
//! later, which `AnalysisInput::event_delay` allows for there. The same run analysed with the route map gives the truth: for each failure the
//! pod that served it, and the top finding an exact attribution leads to.
//!
//! Pure, like the rest of the analysis.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Analysis, AnalysisInput, AttributionMethod, NEAR_CERTAIN, analyse_with};
use crate::model::event::EventKind;
use crate::model::finding::FindingId;
use crate::record::Recorded;
use crate::timeline::Timeline;

/// How one attribution method did against the route map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodScore {
    pub attributed: u64,
    pub right: u64,
}

/// The inferred attribution scored against the route map.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributionCheck {
    /// Logged failures whose pod the route map knows (a connection it routed).
    pub checkable: u64,
    /// Of those: attributed to the pod that served them, to another, or to none.
    pub right: u64,
    pub wrong: u64,
    pub unattributed: u64,
    /// Attributions stated as near-certain (confidence ≥ 0.9), and how many of them were wrong.
    pub near_certain: u64,
    pub near_certain_wrong: u64,
    /// The same per method.
    pub by_method: BTreeMap<AttributionMethod, MethodScore>,
    /// The top finding of this (inferred) analysis and of the route map's (exact) one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_finding: Option<FindingId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_finding_exact: Option<FindingId>,
}

impl AttributionCheck {
    /// Share of checkable failures attributed to the right pod.
    pub fn right_share(&self) -> Option<f64> {
        (self.checkable > 0).then(|| self.right as f64 / self.checkable as f64)
    }
}

/// The timeline as a cluster path shows it: no route map, no stop signals.
fn cluster_view(timeline: &Timeline) -> Timeline {
    Timeline {
        events: timeline
            .events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::StopSignalSent { .. }))
            .cloned()
            .collect(),
        desired_replicas: timeline.desired_replicas,
        routes: Vec::new(),
    }
}

/// A local run's analysis on cluster-path evidence, with its score against the route map.
/// `input` describes the local run exactly (its propagation delay, no unobserved lag); the
/// inferred analysis replaces those with a cluster's defaults.
pub fn opaque(recorded: &Recorded, timeline: &Timeline, input: &AnalysisInput) -> Analysis {
    let exact_input = AnalysisInput {
        opaque: false,
        ..input.clone()
    };
    // The data path's lag goes unobserved, as on a cluster; the events keep the times the
    // runtime recorded them at (they are its own actions, not a watch's late view of them).
    let mut cluster_input = AnalysisInput {
        opaque: false,
        unobserved_lag: AnalysisInput::default().unobserved_lag,
        ..input.clone()
    };
    cluster_input.workload.propagation_delay = None;
    let mut inferred = analyse_with(recorded, &cluster_view(timeline), &cluster_input);
    let exact = analyse_with(recorded, timeline, &exact_input);
    inferred.attribution_check = Some(score(recorded, timeline, &inferred, &exact));
    inferred
}

fn score(
    recorded: &Recorded,
    timeline: &Timeline,
    inferred: &Analysis,
    exact: &Analysis,
) -> AttributionCheck {
    let mut out = AttributionCheck {
        top_finding: inferred.findings.first().map(|f| f.id),
        top_finding_exact: exact.findings.first().map(|f| f.id),
        ..AttributionCheck::default()
    };
    for f in &recorded.failures {
        let Some(truth) = f
            .conn
            .and_then(|c| timeline.route_at(c.local, f.end))
            .map(|r| r.pod.as_str())
        else {
            continue;
        };
        out.checkable += 1;
        let Some(a) = inferred.attributions.iter().find(|a| a.seq == f.seq) else {
            out.unattributed += 1;
            continue;
        };
        let right = a.pod == truth;
        let m = out.by_method.entry(a.method).or_default();
        m.attributed += 1;
        if right {
            m.right += 1;
            out.right += 1;
        } else {
            out.wrong += 1;
        }
        if a.confidence >= NEAR_CERTAIN {
            out.near_certain += 1;
            out.near_certain_wrong += u64::from(!right);
        }
    }
    out
}
