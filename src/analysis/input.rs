//! What the analysis needs to know from the plan and the workload's configuration.
//!
//! Kept small on purpose: the run flow fills it from the validated plan (thresholds, the
//! identity header) and from what it knows of the workload (the local runtime's own settings,
//! or the pod spec of a Kubernetes workload). Every workload setting is optional: when one is
//! unknown the analysis measures instead of assuming, and says less.

use std::time::Duration;

use crate::analysis::fixes::Target;

/// Inputs of [`analyse`](super::analyse) beyond the recorded data and the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisInput {
    /// The response header that names the pod (`--pod-header`), used in wording only: the
    /// values themselves arrive in each failure's `identity`.
    pub pod_header: Option<String>,
    /// The run found that header itself (no `--pod-header` was given).
    pub pod_header_discovered: bool,
    /// Rollout p99 at or above `latency_ratio` × baseline p99 is a regression ...
    pub latency_ratio: f64,
    /// ... provided it is also at least this much higher, so sub-millisecond loopback jitter
    /// never reads as a regression.
    pub latency_min_increase: Duration,
    /// Failures from a pod this soon after it became ready count as early traffic.
    pub early_window: Duration,
    /// How far apart a request's timing and a lifecycle event may be and still be compared
    /// as simultaneous: events are observed, not perfectly timed (a watch adds latency).
    pub slack: Duration,
    /// How long after an observed endpoint change a data path that cannot be observed
    /// (kube-proxy on every node, an ingress controller) may still route by the old state.
    /// Used only when a failure is tied to a pod by timing alone; 0 for the local runtime,
    /// whose endpoint events are the proxy's own switch.
    pub unobserved_lag: Duration,
    /// How much later than the change itself a lifecycle event may have been observed: a
    /// watch's delay on a cluster, 0 where the runtime records its own actions (the local
    /// runtime). Widens the window in which a connection's end is matched to a pod's exit.
    pub event_delay: Duration,
    /// Analyse with only the evidence a cluster path leaves (`zerodrop local --proxy opaque`):
    /// the local proxy's route map and the stop-signal events are set aside, so failures are
    /// tied to pods by identity headers, connection ends and timing, as through a Service; the
    /// route map then scores that inference (`Analysis::attribution_check`).
    pub opaque: bool,
    /// What is known of the workload's configuration.
    pub workload: WorkloadConfig,
    /// The load went straight to the endpoints (`--via endpoints`), not through the Service.
    pub via_endpoints: bool,
}

impl Default for AnalysisInput {
    fn default() -> Self {
        AnalysisInput {
            pod_header: None,
            pod_header_discovered: false,
            latency_ratio: 2.0,
            latency_min_increase: Duration::from_millis(100),
            early_window: Duration::from_secs(10),
            slack: Duration::from_millis(200),
            unobserved_lag: Duration::from_secs(2),
            event_delay: Duration::from_secs(2),
            opaque: false,
            workload: WorkloadConfig::default(),
            via_endpoints: false,
        }
    }
}

/// The workload settings that decide how a rollout treats traffic, when known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// The preStop sleep (or the duration of a preStop command, when known).
    pub prestop: Option<Duration>,
    /// terminationGracePeriodSeconds (also read from `PodTerminating` events when present).
    pub grace_period: Option<Duration>,
    /// Delay between an endpoint change in the timeline and the service's data path acting on
    /// it, when the timeline's endpoint events precede the data path by a known amount (the
    /// local proxy's `--propagation-delay` if its events mark the decision, not the switch).
    /// `None` when the events reflect the data path itself or the delay is unknown.
    pub propagation_delay: Option<Duration>,
    /// maxSurge and maxUnavailable as resolved pod counts.
    pub max_surge: Option<u32>,
    pub max_unavailable: Option<u32>,
    /// Whether a readiness probe is configured.
    pub readiness_probe: Option<bool>,
    /// The workload's name, container and pod labels, for fix snippets.
    pub target: Option<Target>,
}
