//! The lifecycle event type both runtimes emit and the analysis reads.
//!
//! Names follow Kubernetes: a local replica is a "pod", its listen address an "endpoint". Each
//! event carries the run-axis instant zerodrop observed it at, and — where the source gave
//! one — the source's own timestamp (the API server's), kept beside it, never substituted.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clock::At;

/// Which side of the rollout a pod belongs to.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Revision {
    /// Existed before the trigger (the version being replaced).
    Old,
    /// Created by the rollout.
    New,
    #[default]
    Unknown,
}

/// Conditions of one endpoint, as an EndpointSlice states them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointConditions {
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The pod object exists (local: the replica's process is about to be spawned).
    PodCreated {
        revision: Revision,
        /// The revision's own name, when the runtime knows it: a Deployment pod's
        /// `pod-template-hash`, a StatefulSet's or DaemonSet's `controller-revision-hash`, the
        /// local runtime's `v1` / `v2` (the command, or `--new-cmd`). Responses are split
        /// by it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision_name: Option<String>,
    },
    /// Its container is running (local: the process was spawned), with its address if known.
    PodStarted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// The pod became ready (readiness probe passed, after the startup probe).
    PodReady,
    /// The pod stopped being ready.
    PodNotReady {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Termination began: deletion accepted (kube: deletionTimestamp set; local: the moment the
    /// rollout decided to stop it). Endpoint removal and preStop start at this instant.
    PodTerminating {
        /// terminationGracePeriodSeconds in force.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "super::clock::opt_secs"
        )]
        grace_period: Option<Duration>,
    },
    /// The stop signal was delivered to the container (after preStop), where observable.
    StopSignalSent { signal: String },
    /// The endpoint appeared in the Service's endpoints.
    EndpointAdded {
        address: String,
        conditions: EndpointConditions,
    },
    /// The endpoint's conditions changed.
    EndpointChanged {
        address: String,
        conditions: EndpointConditions,
    },
    /// The endpoint left the Service's endpoints.
    EndpointRemoved { address: String },
    /// A probe failed.
    ProbeFailed { probe: String, detail: String },
    /// The container exited by itself (code) or by a signal.
    ContainerExited {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The container was killed (SIGKILL) because the grace period ran out.
    KilledAtGraceDeadline,
    /// The pod object is gone.
    PodDeleted,
    /// The rollout was triggered.
    Trigger { description: String },
    /// The workload's status as the controller reports it.
    WorkloadStatus {
        desired: u32,
        updated: u32,
        ready: u32,
        available: u32,
    },
    /// The rollout is complete and every old pod has gone.
    RolloutComplete,
    /// The rollout failed or timed out.
    RolloutFailed { reason: String },
    /// A cluster Event (kube `Event` objects: Killing, Unhealthy, …) or a runtime note.
    Note { reason: String, message: String },
    /// The watch of `resource` was down from `from` to the event's instant: anything in
    /// between may be missing from the timeline.
    WatchGap { resource: String, from: At },
}

impl EventKind {
    /// A short name for tables and the HTML timeline.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::PodCreated { .. } => "pod_created",
            EventKind::PodStarted { .. } => "pod_started",
            EventKind::PodReady => "pod_ready",
            EventKind::PodNotReady { .. } => "pod_not_ready",
            EventKind::PodTerminating { .. } => "pod_terminating",
            EventKind::StopSignalSent { .. } => "stop_signal_sent",
            EventKind::EndpointAdded { .. } => "endpoint_added",
            EventKind::EndpointChanged { .. } => "endpoint_changed",
            EventKind::EndpointRemoved { .. } => "endpoint_removed",
            EventKind::ProbeFailed { .. } => "probe_failed",
            EventKind::ContainerExited { .. } => "container_exited",
            EventKind::KilledAtGraceDeadline => "killed_at_grace_deadline",
            EventKind::PodDeleted => "pod_deleted",
            EventKind::Trigger { .. } => "trigger",
            EventKind::WorkloadStatus { .. } => "workload_status",
            EventKind::RolloutComplete => "rollout_complete",
            EventKind::RolloutFailed { .. } => "rollout_failed",
            EventKind::Note { .. } => "note",
            EventKind::WatchGap { .. } => "watch_gap",
        }
    }

    /// An endpoint event's address, with its conditions unless the endpoint was removed;
    /// `None` for every other kind. Added and changed read alike: the endpoint is in the
    /// Service's endpoints with these conditions from now on.
    pub fn endpoint(&self) -> Option<(&str, Option<EndpointConditions>)> {
        match self {
            EventKind::EndpointAdded {
                address,
                conditions,
            }
            | EventKind::EndpointChanged {
                address,
                conditions,
            } => Some((address, Some(*conditions))),
            EventKind::EndpointRemoved { address } => Some((address, None)),
            _ => None,
        }
    }
}

/// One lifecycle event on the run's axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// When zerodrop observed it.
    pub at: At,
    /// The source's own timestamp (the API server's), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_time: Option<jiff::Timestamp>,
    /// The pod concerned; `None` for workload-level events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl LifecycleEvent {
    pub fn pod(at: At, pod: impl Into<String>, kind: EventKind) -> LifecycleEvent {
        LifecycleEvent {
            pod: Some(pod.into()),
            ..LifecycleEvent::workload(at, kind)
        }
    }

    pub fn workload(at: At, kind: EventKind) -> LifecycleEvent {
        LifecycleEvent {
            at,
            source_time: None,
            pod: None,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_flat_with_a_type_tag() {
        let e = LifecycleEvent::pod(
            At(1_500_000),
            "web-1",
            EventKind::EndpointChanged {
                address: "10.0.0.7:8080".into(),
                conditions: EndpointConditions {
                    ready: false,
                    serving: true,
                    terminating: true,
                },
            },
        );
        let v = serde_json::to_value(&e).expect("serialises");
        assert_eq!(v["type"], "endpoint_changed");
        assert_eq!(v["pod"], "web-1");
        assert_eq!(v["at"], 1_500_000);
        assert_eq!(v["conditions"]["terminating"], true);
        let back: LifecycleEvent = serde_json::from_value(v).expect("deserialises");
        assert_eq!(back, e);
    }

    #[test]
    fn grace_period_is_kept_in_seconds() {
        let e = LifecycleEvent::pod(
            At(0),
            "p",
            EventKind::PodTerminating {
                grace_period: Some(Duration::from_secs(30)),
            },
        );
        let v = serde_json::to_value(&e).expect("serialises");
        assert_eq!(v["grace_period"], 30.0);
    }
}
