//! The local runtime: replicas of the user's own server as child processes, rolled the way a
//! Deployment is rolled, behind a service proxy that behaves like a ClusterIP Service.
//!
//! - [`config`]: the validated configuration (`crate::config::local` builds it from the flags).
//! - [`rollout`]: the Deployment controller's arithmetic (pure).
//! - [`probe`]: startup / readiness probes and their thresholds.
//! - [`process`]: spawning, process groups, output capture, signals.
//! - `state`: the runtime's shared state: the pod table, each pod's task, pod creation.
//! - `controller`: the Deployment controller's loops (initial readiness, the rolling update).
//! - [`pod`]: one pod's life, as the kubelet lives it.
//! - `ports`: free loopback ports for replicas.
//! - [`endpoints`]: the endpoint table and its propagation delay.
//! - [`proxy`]: the service proxy.
//!
//! This file owns [`LocalCluster`] (the [`Cluster`] implementation): it starts the proxy and
//! the initial replicas, starts the controller, and stops everything at the end. The runtime
//! must not know about load, records or analysis; everything it observes goes to the
//! [`TimelineRecorder`].

pub mod config;
mod controller;
pub mod endpoints;
pub mod pod;
mod ports;
pub mod probe;
pub mod process;
pub mod proxy;
pub mod rollout;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::{Balance, LocalConfig, PreStop, ProxyEvidence, Termination};

use self::controller::{run_rollout, wait_initial_ready};
use self::endpoints::{EndpointTable, RecordAt};
use self::process::ProcessGroups;
use self::proxy::ServiceProxy;
use self::rollout::Fenceposts;
use self::state::RuntimeState;
use super::{Cluster, ClusterError, Prepared, RolloutDone};
use crate::model::event::{EventKind, Revision};
use crate::timeline::TimelineRecorder;

/// How long shutdown lets replicas exit on the stop signal before killing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The local runtime. Dropping it kills every process it started.
pub struct LocalCluster {
    config: Arc<LocalConfig>,
    recorder: TimelineRecorder,
    fenceposts: Fenceposts,
    shared: Option<Arc<RuntimeState>>,
    proxy: Option<ServiceProxy>,
    controller: Option<JoinHandle<Result<RolloutDone, ClusterError>>>,
    groups: ProcessGroups,
}

impl LocalCluster {
    /// Validates what can be validated without starting anything.
    pub fn new(
        config: LocalConfig,
        recorder: TimelineRecorder,
    ) -> Result<LocalCluster, ClusterError> {
        let fenceposts =
            rollout::resolve_fenceposts(config.replicas, config.max_surge, config.max_unavailable)
                .map_err(|e| {
                    ClusterError::BadInput(format!("--max-surge/--max-unavailable: {e}"))
                })?;
        if config.replicas == 0 {
            return Err(ClusterError::BadInput(
                "--replicas must be at least 1".into(),
            ));
        }
        Ok(LocalCluster {
            config: Arc::new(config),
            recorder,
            fenceposts,
            shared: None,
            proxy: None,
            controller: None,
            groups: ProcessGroups::default(),
        })
    }

    /// Where the service proxy listens (after `prepare`).
    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.proxy.as_ref().map(|p| p.addr())
    }

    /// The proxy's counters (after `prepare`).
    pub fn proxy_stats(&self) -> Option<&proxy::ProxyStats> {
        self.proxy.as_ref().map(|p| p.stats())
    }

    /// The last lines each replica wrote, by pod name.
    pub fn replica_logs(&self) -> BTreeMap<String, Vec<String>> {
        self.shared
            .as_ref()
            .map_or_else(BTreeMap::new, |sh| sh.replica_logs())
    }

    /// Process groups still alive (empty after `shutdown`).
    pub fn live_process_groups(&self) -> Vec<i32> {
        self.groups.live()
    }

    fn shared(&self) -> Result<&Arc<RuntimeState>, ClusterError> {
        self.shared
            .as_ref()
            .ok_or_else(|| ClusterError::CouldNotRun("the local runtime was not prepared".into()))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        // Whatever path got here (error, panic, early return), nothing may outlive the run.
        if let Some(c) = self.controller.take() {
            c.abort();
        }
        self.groups.kill_all();
        if let Some(mut p) = self.proxy.take() {
            p.stop();
        }
    }
}

impl Cluster for LocalCluster {
    async fn prepare(&mut self) -> Result<Prepared, ClusterError> {
        let cfg = self.config.clone();
        if let Some(dir) = &cfg.replica_logs {
            std::fs::create_dir_all(dir).map_err(|e| {
                ClusterError::BadInput(format!("--replica-logs {}: {e}", dir.display()))
            })?;
        }
        let record = match cfg.proxy {
            ProxyEvidence::Exact => RecordAt::Effect,
            ProxyEvidence::Opaque => RecordAt::Proposal,
        };
        let endpoints = EndpointTable::start(cfg.propagation_delay, self.recorder.clone(), record);
        let proxy = ServiceProxy::start(
            cfg.listen,
            endpoints.clone(),
            self.recorder.clone(),
            cfg.balance,
        )
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse
            | std::io::ErrorKind::AddrNotAvailable
            | std::io::ErrorKind::PermissionDenied => {
                ClusterError::BadInput(format!("--listen {}: {e}", cfg.listen))
            }
            _ => ClusterError::CouldNotRun(format!("could not start the service proxy: {e}")),
        })?;
        let addr = proxy.addr();
        self.proxy = Some(proxy);
        let shared = Arc::new(RuntimeState::new(
            cfg.clone(),
            self.recorder.clone(),
            endpoints,
            self.groups.clone(),
        ));
        self.shared = Some(shared.clone());
        self.recorder.set_desired_replicas(cfg.replicas);
        let mut names = Vec::new();
        for _ in 0..cfg.replicas {
            names.push(shared.create_pod(Revision::Old, &cfg.command)?);
        }
        wait_initial_ready(&shared, &names).await?;
        let listening = match &self.proxy {
            Some(p) => p.wait_listening(Duration::from_secs(10)).await,
            None => false,
        };
        if !listening {
            return Err(ClusterError::CouldNotRun(format!(
                "the service proxy on {addr} did not start listening"
            )));
        }
        let now = Instant::now();
        self.recorder.now(None, shared.workload_status(now));
        Ok(Prepared {
            target: Some(format!("http://{addr}")),
            desired_replicas: cfg.replicas,
            ready_endpoints: shared.endpoints.ready_count() as u32,
            description: format!(
                "{} local replicas of `{}` behind {addr}",
                cfg.replicas,
                cfg.command.display()
            ),
        })
    }

    async fn trigger(&mut self) -> Result<(), ClusterError> {
        let shared = self.shared()?.clone();
        let description = match &self.config.new_command {
            Some(c) => format!("rolling update to `{}`", c.display()),
            None => "rolling restart".to_string(),
        };
        self.recorder.now(None, EventKind::Trigger { description });
        self.controller = Some(tokio::spawn(run_rollout(shared, self.fenceposts)));
        Ok(())
    }

    async fn wait_complete(&mut self) -> Result<RolloutDone, ClusterError> {
        let Some(handle) = self.controller.as_mut() else {
            return Err(ClusterError::CouldNotRun(
                "the rollout was not triggered".into(),
            ));
        };
        let result = match handle.await {
            Ok(r) => r,
            Err(e) => Err(ClusterError::RolloutFailed(format!(
                "the rollout controller stopped: {e}"
            ))),
        };
        self.controller = None;
        // A failure is recorded on the timeline by the run flow, once.
        result
    }

    async fn shutdown(&mut self) {
        if let Some(c) = self.controller.take() {
            c.abort();
        }
        if let Some(sh) = &self.shared {
            sh.quiet();
            sh.endpoints.silence();
            // Ask politely first, as a cluster would at the end; then make sure.
            for pgid in self.groups.live() {
                let _ = process::signal(pgid, self.config.termination.stop_signal);
            }
            let deadline =
                Instant::now() + SHUTDOWN_GRACE.min(self.config.termination.grace_period);
            sh.end_pod_tasks(deadline).await;
        }
        self.groups.kill_all();
        if let Some(mut p) = self.proxy.take() {
            p.stop();
        }
    }
}
