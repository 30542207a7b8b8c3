//! The analysis: a pure function of what was recorded, what the cluster did, and the plan.
//!
//! `analyse(&Recorded, &Timeline, &AnalysisInput) -> Analysis` does no I/O and reads no clock,
//! so every behaviour is tested from hand-built fixtures. It splits the run into phases, attributes
//! each logged failure to a pod (saying how it knows), measures endpoint de-registration lag,
//! and derives findings with evidence, cause and fix.
//!
//! This file holds the output types every renderer reads; the logic lives in submodules.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::At;
use crate::cluster::event::Revision;
use crate::findings::Finding;
use crate::load::outcome::OutcomeClass;
use crate::record::LatencySummary;

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
    #[serde(with = "crate::clock::opt_secs")]
    pub to_not_ready: Option<Duration>,
    #[serde(with = "crate::clock::opt_secs")]
    pub to_removed: Option<Duration>,
}

/// Lag across the rollout.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LagStats {
    pub pods: Vec<PodLag>,
    #[serde(with = "crate::clock::opt_secs")]
    pub median_to_not_ready: Option<Duration>,
    #[serde(with = "crate::clock::opt_secs")]
    pub max_to_not_ready: Option<Duration>,
    #[serde(with = "crate::clock::opt_secs")]
    pub median_to_removed: Option<Duration>,
    #[serde(with = "crate::clock::opt_secs")]
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
    /// Failures attributed exactly (proxy route, peer address) or by identity header.
    pub failures: u64,
    /// Failures attributed only by timing (shared among candidates).
    pub possible_failures: u64,
}

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
}
