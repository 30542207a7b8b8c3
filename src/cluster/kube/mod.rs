//! The Kubernetes runtime: rolls a real Deployment, StatefulSet or DaemonSet and reports what
//! the cluster did, through the same [`Cluster`] interface and events as the local runtime.
//!
//! # Layout
//! - [`connect`]: kubeconfig / context / namespace / in-cluster, like kubectl.
//! - [`workload`]: `deploy/NAME` refs, the three kinds, a kind-neutral status view. Pure.
//! - [`status`]: `kubectl rollout status`'s rules, kind by kind, in its order. Pure.
//! - [`service`]: the Service whose endpoints are watched (named, or found by selector).
//! - [`convert`]: pure (old state, new state) → lifecycle events for pods, endpoints, Events.
//! - [`tracker`]: last known state per resource; re-list diffing and watch gaps. Pure.
//! - [`watch`]: the kube-runtime watchers feeding the trackers and the timeline.
//! - [`trigger`]: trigger kinds and the exact patches kubectl would send. Pure, plus `exec`.
//! - [`undo`]: `kubectl rollout undo`: ReplicaSets for Deployments, ControllerRevisions for
//!   StatefulSets and DaemonSets. Pure.
//! - [`error`]: what went wrong, worded for the user, mapped to exit codes.
//! - [`rbac`]: the least-privilege Role of a run: exactly the calls this module makes. Pure.
//! - [`read_workload`]: the read-only look at one live workload and its namespace's
//!   PodDisruptionBudgets that lint checks.
//! - [`rendezvous`]: the workers of a distributed run start their load together.
//!
//! The run itself, one file per phase, moving one explicit `state::State` on:
//! - `state`: the phases (new → prepared → triggering → triggered → completed | failed →
//!   shut down) and the data each one holds; a call in the wrong phase is one error.
//! - `calls`: the API requests every phase makes, bounded by `--request-timeout`.
//! - `prepare`: connect, find the workload and Service, check access, start the watches.
//! - `start`: count the old pods and send the trigger.
//! - `complete`: wait for kubectl's completion *and* for every old pod to be gone, within
//!   `--rollout-timeout` (enforced there, and nowhere else for a Kubernetes run).
//! - `shutdown`: roll back a failed rollout when `--undo-on-failure` asks for it, stop the
//!   watches.
//!
//! This file holds the config and the [`KubeCluster`] that routes each [`Cluster`] call to its
//! phase. Nothing outside `cluster/` sees a Kubernetes type.

mod calls;
mod complete;
pub mod connect;
pub mod convert;
pub mod error;
mod prepare;
pub mod rbac;
pub mod read_workload;
pub mod rendezvous;
pub mod service;
mod shutdown;
mod start;
mod state;
pub mod status;
pub mod tracker;
pub mod trigger;
pub mod undo;
pub mod watch;
pub mod workload;

use std::time::Duration;

pub use connect::{ConnectOptions, Connection};
pub use error::{ApiCall, KubeError};
pub use rendezvous::StartTogether;
pub use trigger::{CommandOutcome, PatchKind, Trigger};
pub use workload::{WorkloadKind, WorkloadRef};

use self::state::State;
use crate::cluster::{Cluster, ClusterError, Prepared, RolloutDone};
use crate::timeline::TimelineRecorder;

/// Everything the Kubernetes runtime needs to know, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeConfig {
    pub connect: ConnectOptions,
    pub workload: WorkloadRef,
    /// `--service`; else found by selector.
    pub service: Option<String>,
    pub trigger: Trigger,
    /// How long the rollout may take from the trigger (exit 3 past it); the plan's
    /// `--rollout-timeout`, which this runtime enforces (the run flow leaves it to it).
    pub rollout_timeout: Duration,
    /// Roll back as `kubectl rollout undo` would when the rollout fails.
    pub undo_on_failure: bool,
    /// Time between pod deletions for the kill-pod trigger.
    pub interval: Duration,
    /// How long one API request may take before the server counts as unresponsive.
    pub request_timeout: Duration,
    /// Offer the Service's cluster DNS name as the load target (no `--target` was given and
    /// zerodrop runs in a pod, where that name resolves).
    pub service_target: bool,
    /// One of several generators: wait for every worker's pod, then start together.
    pub start_together: Option<StartTogether>,
}

impl KubeConfig {
    /// A config with kubectl's defaults: restart, current context and namespace. The rollout
    /// timeout is `--rollout-timeout`'s default, 10 minutes (`kubectl rollout status` has none,
    /// but a CI gate must end), so a config built here and one built from flags agree (a test
    /// in `config` holds them together).
    pub fn new(workload: WorkloadRef) -> KubeConfig {
        KubeConfig {
            connect: ConnectOptions::default(),
            workload,
            service: None,
            trigger: Trigger::Restart,
            rollout_timeout: Duration::from_secs(600),
            undo_on_failure: false,
            interval: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            service_target: false,
            start_together: None,
        }
    }
}

/// A Kubernetes workload under test.
pub struct KubeCluster {
    cfg: KubeConfig,
    recorder: TimelineRecorder,
    /// Where the run is, with what that phase needs.
    state: State,
    /// The trigger command's outcome (exec trigger only), for the report.
    command: Option<CommandOutcome>,
    /// What `--undo-on-failure` did at shutdown, for the report.
    undo: Option<String>,
}

impl KubeCluster {
    /// Connects on `prepare` using `cfg.connect`.
    pub fn new(cfg: KubeConfig, recorder: TimelineRecorder) -> KubeCluster {
        KubeCluster {
            cfg,
            recorder,
            state: State::New { conn: None },
            command: None,
            undo: None,
        }
    }

    /// Uses a given connection (tests, or a caller that already has a client).
    pub fn with_connection(
        cfg: KubeConfig,
        conn: Connection,
        recorder: TimelineRecorder,
    ) -> KubeCluster {
        KubeCluster {
            state: State::New { conn: Some(conn) },
            ..KubeCluster::new(cfg, recorder)
        }
    }

    /// The trigger command's outcome, for the report (exec trigger only).
    pub fn command_outcome(&self) -> Option<&CommandOutcome> {
        self.command.as_ref()
    }

    /// What `--undo-on-failure` did at shutdown ("rolled back to revision 3", or why not), when
    /// the rollout failed and undo was asked for.
    pub fn undo_outcome(&self) -> Option<&str> {
        self.undo.as_deref()
    }

    /// The phase the run is in ("prepared", "triggered", …).
    pub fn phase(&self) -> &'static str {
        self.state.name()
    }
}

impl Cluster for KubeCluster {
    async fn prepare(&mut self) -> Result<Prepared, ClusterError> {
        Ok(self.prepare_step().await?)
    }

    async fn trigger(&mut self) -> Result<(), ClusterError> {
        Ok(self.trigger_step().await?)
    }

    async fn wait_complete(&mut self) -> Result<RolloutDone, ClusterError> {
        Ok(self.wait_step().await?)
    }

    async fn shutdown(&mut self) {
        self.shutdown_step().await
    }

    /// `wait_complete` fails at `--rollout-timeout` itself, saying what it still waited for.
    fn enforces_rollout_timeout(&self) -> bool {
        true
    }
}
