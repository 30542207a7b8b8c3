//! The cluster side of a run: one interface, two implementations, the same event stream.
//!
//! A [`Cluster`] prepares the workload (watches up, everything ready), triggers a rollout,
//! waits for it to complete (and for every old pod to be gone), and reports every lifecycle
//! change it sees to the [`TimelineRecorder`](crate::timeline::TimelineRecorder) it was built
//! with. The run flow and the analysis never know which implementation produced the events.
//! Nothing outside this module sees a Kubernetes type.

pub mod kube;
pub mod local;

use std::future::Future;

pub use crate::model::event::{EndpointConditions, EventKind, LifecycleEvent, Revision};

/// What the run needs to know once the workload is ready for load.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// Where the load should go when the plan gives no target (the local proxy's URL).
    pub target: Option<String>,
    /// Replicas the workload should have.
    pub desired_replicas: u32,
    /// Ready endpoints right now.
    pub ready_endpoints: u32,
    /// A human description of what will be rolled ("deploy/web in shop", "3 local replicas").
    pub description: String,
}

/// How the rollout ended, when it did not fail.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutDone {
    /// A one-line summary ("3 of 3 replicas updated; 3 old pods gone").
    pub summary: String,
}

/// Why the cluster side could not do its part. Each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The input names something that cannot work (exit 2).
    #[error("{0}")]
    BadInput(String),
    /// The cluster or workload could not be reached or is not healthy enough to test (exit 4).
    #[error("{0}")]
    CouldNotRun(String),
    /// The rollout failed or did not complete in time (exit 3).
    #[error("{0}")]
    RolloutFailed(String),
    /// Interrupted while waiting (exit 130).
    #[error("interrupted")]
    Interrupted,
}

impl ClusterError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ClusterError::BadInput(_) => crate::model::exit::BAD_INPUT,
            ClusterError::CouldNotRun(_) => crate::model::exit::COULD_NOT_RUN,
            ClusterError::RolloutFailed(_) => crate::model::exit::ROLLOUT_FAILED,
            ClusterError::Interrupted => crate::model::exit::INTERRUPTED,
        }
    }
}

/// A cluster zerodrop can roll: the local runtime or Kubernetes.
///
/// Every method records what it observes to the implementation's `TimelineRecorder`. The run
/// flow calls them in order: `prepare`, then `trigger`, then `wait_complete`, then `shutdown`
/// (always, also after an error or an interrupt).
pub trait Cluster {
    /// Starts watching and waits until the workload is ready to take load.
    fn prepare(&mut self) -> impl Future<Output = Result<Prepared, ClusterError>>;

    /// Starts the rollout.
    fn trigger(&mut self) -> impl Future<Output = Result<(), ClusterError>>;

    /// Waits until the rollout is complete and every old pod is gone.
    fn wait_complete(&mut self) -> impl Future<Output = Result<RolloutDone, ClusterError>>;

    /// Stops watches and processes this runtime started. Must leave nothing running.
    fn shutdown(&mut self) -> impl Future<Output = ()>;

    /// True when `wait_complete` itself fails at the plan's `--rollout-timeout` (counted from
    /// the trigger), with an error saying what the rollout was still waiting for. The run flow
    /// enforces the timeout only for a runtime that does not, so a run has one deadline.
    fn enforces_rollout_timeout(&self) -> bool {
        false
    }
}
