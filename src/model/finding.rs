//! The findings vocabulary shared by the analysis (what a run measured) and `lint` (what a
//! manifest risks): stable ids, severities, and the shape of a finding. Ids never change
//! meaning once released; reports, JUnit test names and thresholds refer to them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::clock::At;
use super::outcome::OutcomeClass;

/// Stable identifiers of every finding zerodrop can report: the causes the analysis of a run
/// finds, plus the static checks of `lint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingId {
    // Measured during a run.
    /// Failures from a pod after its termination began, while still a ready endpoint or
    /// within the measured de-registration lag.
    TrafficToTerminatingPod,
    /// In-flight requests reset or cut at the stop signal.
    UngracefulShutdown,
    /// `closed_before_response` on reused connections to a pod shutting down.
    KeepaliveCloseRace,
    /// Failures from a pod shortly after it became ready.
    EarlyTraffic,
    /// Ready endpoints below desired while errors or latency rose.
    CapacityDip,
    /// Container ended by SIGKILL with requests in flight.
    KilledAtGraceDeadline,
    /// Zero ready endpoints at some instant.
    NoEndpoints,
    /// Rollout-phase p99 far above the baseline p99.
    LatencyRegression,
    /// Failures before the trigger: not caused by the rollout.
    BaselineErrors,
    /// HTTP/2 (gRPC) connections cut without a GOAWAY as their pod shut down.
    NoGoawayOnShutdown,
    /// After the rollout, load per pod far from even: long-lived connections stayed pinned.
    ConnectionsNotRebalanced,
    /// Latency and requests in flight rising while every endpoint was ready: the service did
    /// not carry the load; not a rollout problem.
    Overload,
    /// Failures that match nothing else.
    Unexplained,
    // Measured during a run: WebSocket sessions.
    /// Sessions ended by 1006 (no close frame) as their pod terminated.
    WsDroppedWithoutClose,
    /// Messages in flight when the server closed their session with a goodbye (1000 / 1001 /
    /// 1012), or due while the client reconnected, never answered.
    WsMessagesLostAtClose,
    // Static checks of `lint`.
    /// Fewer than 2 replicas.
    SingleReplica,
    /// maxUnavailable > 0.
    MaxUnavailableNonZero,
    /// No readiness probe.
    NoReadinessProbe,
    /// Readiness probe identical to the liveness probe.
    ReadinessEqualsLiveness,
    /// No preStop hook.
    NoPrestop,
    /// terminationGracePeriodSeconds not longer than the preStop sleep.
    GracePeriodTooShort,
    /// A slow starter without a startup probe.
    NoStartupProbe,
    /// No PodDisruptionBudget covers the pods.
    NoPodDisruptionBudget,
    /// No pod anti-affinity or topology spread.
    NoSpread,
}

impl FindingId {
    /// The id as it appears in reports (`traffic-to-terminating-pod`).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingId::TrafficToTerminatingPod => "traffic-to-terminating-pod",
            FindingId::UngracefulShutdown => "ungraceful-shutdown",
            FindingId::KeepaliveCloseRace => "keepalive-close-race",
            FindingId::EarlyTraffic => "early-traffic",
            FindingId::CapacityDip => "capacity-dip",
            FindingId::KilledAtGraceDeadline => "killed-at-grace-deadline",
            FindingId::NoEndpoints => "no-endpoints",
            FindingId::LatencyRegression => "latency-regression",
            FindingId::BaselineErrors => "baseline-errors",
            FindingId::NoGoawayOnShutdown => "no-goaway-on-shutdown",
            FindingId::ConnectionsNotRebalanced => "connections-not-rebalanced",
            FindingId::Overload => "overload",
            FindingId::Unexplained => "unexplained",
            FindingId::WsDroppedWithoutClose => "ws-dropped-without-close",
            FindingId::WsMessagesLostAtClose => "ws-messages-lost-at-close",
            FindingId::SingleReplica => "single-replica",
            FindingId::MaxUnavailableNonZero => "max-unavailable-non-zero",
            FindingId::NoReadinessProbe => "no-readiness-probe",
            FindingId::ReadinessEqualsLiveness => "readiness-equals-liveness",
            FindingId::NoPrestop => "no-prestop",
            FindingId::GracePeriodTooShort => "grace-period-too-short",
            FindingId::NoStartupProbe => "no-startup-probe",
            FindingId::NoPodDisruptionBudget => "no-pod-disruption-budget",
            FindingId::NoSpread => "no-spread",
        }
    }
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a finding is. `Error` findings fail JUnit test cases; `lint --fail-on` compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// What a finding rests on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Failed requests this finding explains (for a WebSocket finding: failed messages plus
    /// the sessions it explains).
    pub failures: u64,
    /// The stretch of the run it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<(At, At)>,
    /// Pods involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
    /// Failures by outcome class.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<OutcomeClass, u64>,
    /// Schedule sequence numbers of example failures (look them up in the failure log).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<u64>,
    /// Measurements in words ("endpoint still ready 1.4 s after termination began").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// One finding: what was seen, why it likely happened, and how to fix it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: FindingId,
    pub severity: Severity,
    /// One line for humans ("3 requests hit web-7d9 after it began terminating").
    pub title: String,
    pub evidence: Evidence,
    /// The likely cause, in one sentence.
    pub cause: String,
    /// The fix, in words.
    pub fix: String,
    /// The fix as a YAML snippet for the Deployment, where one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix_yaml: Option<String>,
}
