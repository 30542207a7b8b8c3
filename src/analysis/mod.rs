//! The analysis: a pure function of what was recorded, what the cluster did, and the plan.
//!
//! `analyse(&Recorded, &Timeline, &AnalysisInput) -> Analysis` does no I/O and reads no clock,
//! so every behaviour is tested from hand-built fixtures. It splits the run into phases, attributes
//! each logged failure to a pod (saying how it knows), measures endpoint de-registration lag,
//! and derives findings with evidence, cause and fix.
//!
//! This file holds the output types every renderer reads and [`analyse`], which only wires
//! the submodules together:
//!
//! - [`input`]: what the analysis needs from the plan and the workload.
//! - `pods`: each pod's lifecycle read from the timeline; `endpoints`: ready-endpoint counts.
//! - `attribute`: exact and identity attribution; `classify`: one cause per failure.
//! - `lag`: measured de-registration lag; `phases`: per-phase figures.
//! - [`sessions`]: WebSocket sessions tied to pods, dropped with them, messages per pod.
//! - [`load_by_pod`]: each pod's load per second, from long-lived connections tied to pods.
//! - `findings`: evidence, cause and fix per finding; [`fixes`]: YAML snippets shared with lint.

mod attribute;
mod check;
mod classify;
mod endpoints;
mod findings;
pub mod fixes;
pub mod infer;
pub mod input;
mod lag;
pub mod load_by_pod;
mod overload;
mod phases;
mod pods;
pub mod sessions;
pub mod sustain;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::clock::At;
use crate::model::event::{EventKind, Revision};
use crate::model::finding::{Finding, FindingId};
use crate::model::outcome::OutcomeClass;
use crate::record::{LatencySummary, Recorded};
use crate::timeline::Timeline;

pub use input::{AnalysisInput, WorkloadConfig};

/// How a failure was tied to a pod. Never claim more certainty than the evidence gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionMethod {
    /// The local service proxy's connection map: the connection was pinned to this pod.
    ProxyRoute,
    /// The connection's peer address is the pod's address (traffic straight to pod IPs).
    PeerAddress,
    /// The pod named itself in a response header on this connection (`--pod-header`).
    IdentityHeader,
    /// Inferred: the connection ended (FIN or RST from the peer) as this pod, one of those it
    /// could have reached, stopped or exited; or it closed together with connections that did.
    ConnectionEnd,
    /// Inferred: a fresh connection was refused or cut before any answer while this was the
    /// one routable pod that no longer accepted connections (shared when there were several).
    SoleCandidate,
    /// Only timing: this pod's lifecycle changed around the failure.
    TimeWindow,
}

impl AttributionMethod {
    /// True for the methods that identify the pod for certain.
    pub fn is_exact(self) -> bool {
        matches!(
            self,
            AttributionMethod::ProxyRoute | AttributionMethod::PeerAddress
        )
    }
}

/// One logged failure tied to a pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// The failure's schedule sequence number (key into the failure log).
    pub seq: u64,
    pub pod: String,
    pub method: AttributionMethod,
    /// 0..=1: 1 for exact methods; for time windows, 1 / number of candidate pods at most.
    pub confidence: f64,
}

/// One phase of the run, as reports show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseReport {
    pub name: String,
    pub start: At,
    pub end: At,
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub dropped_by_generator: u64,
    pub classes: BTreeMap<OutcomeClass, u64>,
    pub latency: LatencySummary,
    pub service_time: LatencySummary,
}

/// De-registration lag of one terminated pod: from termination start to its endpoint no longer
/// being ready, and to its removal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodLag {
    pub pod: String,
    #[serde(with = "crate::model::clock::opt_secs")]
    pub to_not_ready: Option<Duration>,
    #[serde(with = "crate::model::clock::opt_secs")]
    pub to_removed: Option<Duration>,
}

/// Lag across the rollout.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LagStats {
    pub pods: Vec<PodLag>,
    #[serde(with = "crate::model::clock::opt_secs")]
    pub median_to_not_ready: Option<Duration>,
    #[serde(with = "crate::model::clock::opt_secs")]
    pub max_to_not_ready: Option<Duration>,
    #[serde(with = "crate::model::clock::opt_secs")]
    pub median_to_removed: Option<Duration>,
    #[serde(with = "crate::model::clock::opt_secs")]
    pub max_to_removed: Option<Duration>,
}

/// A pod's life during the run and the failures attributed to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodReport {
    pub name: String,
    pub revision: Revision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<At>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<At>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<At>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_removed: Option<At>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exited: Option<At>,
    /// Failures attributed to it near-certainly (confidence at least [`NEAR_CERTAIN`]):
    /// exactly (proxy route, peer address), by identity header, or inferred from a connection's
    /// end where that inference is unambiguous.
    pub failures: u64,
    /// Failures attributed less surely: shared with other candidates, or by timing alone.
    pub possible_failures: u64,
}

/// The confidence from which an attribution is called near-certain: in the opaque local mode
/// the route map checks that at most 1 in 20 of these is wrong (`attribution_check`).
pub const NEAR_CERTAIN: f64 = 0.9;

/// What the analysis concluded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub phases: Vec<PhaseReport>,
    /// Rollout-phase p99 over baseline p99, when both exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ratio: Option<f64>,
    pub pods: Vec<PodReport>,
    pub attributions: Vec<Attribution>,
    pub deregistration: LagStats,
    /// Ordered by the failures they explain, most first.
    pub findings: Vec<Finding>,
    /// Failures no finding explains.
    pub unexplained_failures: u64,
    /// The response header that names the pod, when the run read one, and whether it found it
    /// itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_header: Option<PodHeader>,
    /// With `--proxy opaque`: the inferred attribution scored against the local proxy's route
    /// map, which the analysis did not use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution_check: Option<AttributionCheck>,
    /// WebSocket sessions on the pods (runs with `--ws` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<sessions::SessionAnalysis>,
    /// What this run did not test, in words, for every report to say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Each pod's requests per second, from the long-lived connections tied to it (gRPC).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_load: Vec<load_by_pod::PodLoad>,
    /// Requests on connections tied to no pod (not in `pod_load`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pod_load_unattributed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub use check::{AttributionCheck, MethodScore};

/// The response header in which the app names the pod that answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodHeader {
    pub name: String,
    /// Found by the run among the responses, rather than given with `--pod-header`.
    pub discovered: bool,
}

/// Analyses one run: phases, attribution of every logged failure, de-registration lag and
/// findings. Pure: the same inputs always give the same analysis.
pub fn analyse(recorded: &Recorded, timeline: &Timeline, input: &AnalysisInput) -> Analysis {
    if input.opaque {
        return check::opaque(recorded, timeline, input);
    }
    analyse_with(recorded, timeline, input)
}

/// The analysis proper, on whatever evidence `timeline` holds.
fn analyse_with(recorded: &Recorded, timeline: &Timeline, input: &AnalysisInput) -> Analysis {
    let shift = input.workload.propagation_delay.unwrap_or(Duration::ZERO);
    let pods = pods::pod_lives(timeline);
    let ready = endpoints::ReadySteps::from_timeline(timeline, shift);
    let end = recorded.overall.end;
    let zero = ready.zero_windows(end);
    let dips = ready.dip_windows(end);
    let deregistration = lag::deregistration(&pods, shift);
    let reach = reach(input, shift);
    let known = known_pods(recorded, timeline, &pods, input, &reach);
    let session_pods = sessions::attribute(&recorded.sessions, timeline, &pods, input.slack);
    let ws = sessions::WsIndex::new(&recorded.sessions, &session_pods, &pods, input.slack);
    let trigger = trigger_of(recorded, timeline);
    let overload = overload::windows(recorded, trigger, &dips);
    let opened: HashMap<u64, At> = recorded
        .connections
        .iter()
        .map(|c| (c.id, c.opened))
        .collect();
    let cx = classify::Context {
        pods: &pods,
        known: &known,
        zero: &zero,
        dips: &dips,
        overload: &overload,
        trigger,
        input,
        shift,
        slowest_lag: lag::slowest(&deregistration),
        opened: &opened,
        reach,
        ws: &ws,
    };
    let explained: Vec<classify::Explained> = recorded
        .failures
        .iter()
        .map(|f| classify::classify(f, &cx))
        .collect();
    let p99_ratio = phases::p99_ratio(recorded);
    let facts = findings::Facts {
        recorded,
        timeline,
        input,
        pods: &pods,
        lag: &deregistration,
        zero: &zero,
        dips: &dips,
        overload: &overload,
        p99_ratio,
        target: input.workload.target.clone().unwrap_or_default(),
        session_pods: &session_pods,
    };
    let findings = findings::build(&recorded.failures, &explained, &facts);
    let unexplained_failures = findings
        .iter()
        .filter(|f| f.id == FindingId::Unexplained)
        .map(|f| f.evidence.failures)
        .sum();
    let attributions = attributions(&explained);
    let (pod_load, pod_load_unattributed) = load_by_pod::pod_loads(recorded, timeline, &pods);
    Analysis {
        phases: phases::phase_reports(recorded),
        p99_ratio,
        pods: pod_reports(&pods, &attributions),
        attributions,
        deregistration,
        findings,
        unexplained_failures,
        pod_header: input.pod_header.clone().map(|name| PodHeader {
            name,
            discovered: input.pod_header_discovered,
        }),
        attribution_check: None,
        sessions: sessions::analyse(&recorded.sessions, &session_pods, &pods, input.slack),
        notes: notes(input),
        pod_load,
        pod_load_unattributed,
    }
}

/// What the run did not test.
fn notes(input: &AnalysisInput) -> Vec<String> {
    let mut out = Vec::new();
    if input.via_endpoints {
        out.push(
            "the load went straight to the Service's endpoints (--via endpoints), balanced by \
             zerodrop: the Service's own proxy path (kube-proxy, the ClusterIP, an ingress) was \
             not exercised, so its de-registration lag could not cause a failure here"
                .to_string(),
        );
    }
    out
}

/// What makes a pod reachable for a connection: the data path's lag (the known propagation
/// `shift` plus what no API shows) and the tolerances of the inference.
fn reach(input: &AnalysisInput, shift: Duration) -> infer::Params {
    infer::Params {
        lag: shift + input.unobserved_lag,
        slack: input.slack,
        event_delay: input.event_delay,
        tolerance: infer::TOLERANCE,
        prestop: input.workload.prestop,
    }
}

/// The failures tied to a pod, with how and how surely.
fn attributions(explained: &[classify::Explained]) -> Vec<Attribution> {
    explained
        .iter()
        .filter_map(|e| {
            Some(Attribution {
                seq: e.seq,
                pod: e.pod.clone()?,
                method: e.method?,
                confidence: e.confidence,
            })
        })
        .collect()
}

/// Every failure's pod where one is known: exactly or by identity, else inferred from the
/// connection lives where nothing better tied it.
fn known_pods(
    recorded: &Recorded,
    timeline: &Timeline,
    pods: &BTreeMap<String, pods::PodLife>,
    input: &AnalysisInput,
    reach: &infer::Params,
) -> HashMap<u64, attribute::Known> {
    let mut known = attribute::known_pods(&recorded.failures, timeline, pods, input.slack);
    let inferred = infer::infer(&recorded.failures, &recorded.connections, pods, reach);
    attribute::add_inferred(&mut known, inferred);
    known
}

/// When the rollout was triggered: the trigger event, else the rollout phase's start; a run
/// stopped during its baseline never triggered, so all of it counts as before the trigger.
fn trigger_of(recorded: &Recorded, timeline: &Timeline) -> Option<At> {
    timeline
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Trigger { .. }))
        .map(|e| e.at)
        .or_else(|| {
            recorded
                .phase(crate::model::phase::ROLLOUT)
                .map(|p| p.start)
        })
        .or_else(|| recorded.phase(crate::model::phase::BASELINE).map(|p| p.end))
}

fn pod_reports(
    pods: &BTreeMap<String, pods::PodLife>,
    attributions: &[Attribution],
) -> Vec<PodReport> {
    let mut out: Vec<PodReport> = pods
        .values()
        .map(|p| PodReport {
            name: p.name.clone(),
            revision: p.revision,
            created: p.created,
            ready: p.ready,
            terminating: p.terminating,
            endpoint_removed: p.endpoint_removed,
            exited: p.gone(),
            failures: 0,
            possible_failures: 0,
        })
        .collect();
    for a in attributions {
        // A pod named only by an identity header may be missing from the timeline.
        let i = match out.iter().position(|p| p.name == a.pod) {
            Some(i) => i,
            None => {
                out.push(PodReport {
                    name: a.pod.clone(),
                    revision: Revision::Unknown,
                    created: None,
                    ready: None,
                    terminating: None,
                    endpoint_removed: None,
                    exited: None,
                    failures: 0,
                    possible_failures: 0,
                });
                out.len() - 1
            }
        };
        if a.confidence < NEAR_CERTAIN {
            out[i].possible_failures += 1;
        } else {
            out[i].failures += 1;
        }
    }
    out
}
