//! [`RuntimeState`]: what the rollout controller, the pods' lifecycle tasks and the proxy's
//! endpoint table share: the configuration, the timeline recorder, the pod table (what the
//! controller knows of each pod, [`PodStatus`]) and each pod's task. It answers the controller's
//! questions (counts, workload status, the first fatal pod) and creates and terminates pods;
//! it decides nothing about the rollout.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::LocalConfig;
use super::endpoints::EndpointTable;
use super::pod;
use super::ports::allocate_port;
use super::process::{self, CommandSpec, LogTail, ProcessGroups};
use super::rollout::Counts;
use crate::cluster::ClusterError;
use crate::model::clock::At;
use crate::model::event::{EndpointConditions, EventKind, Revision};
use crate::timeline::TimelineRecorder;

/// Lines of each replica's output kept for reports and error messages.
const LOG_TAIL_LINES: usize = 200;
/// Lines of a replica's output quoted in an error message.
const ERROR_EXCERPT_LINES: usize = 12;

/// Why a pod cannot go on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Fatal {
    /// The command cannot be run at all (missing, not executable): bad input.
    BadInput(String),
    /// It ran and failed (crashed before ready, failed its startup probe).
    Failed(String),
}

/// What the controller knows about one pod.
#[derive(Clone, Debug)]
pub(crate) struct PodStatus {
    pub revision: Revision,
    pub created: Instant,
    pub ready_since: Option<Instant>,
    pub ever_ready: bool,
    /// Passed a readiness probe, or (without one) accepted a connection: the container got as
    /// far as serving. A crash before that is reported at once rather than restarted.
    pub served: bool,
    pub terminating: bool,
    pub gone: bool,
    pub restarts: u32,
    pub fatal: Option<Fatal>,
    pub last_probe_error: Option<String>,
    pub port: u16,
}

impl PodStatus {
    pub(super) fn available(&self, now: Instant, min_ready: Duration) -> bool {
        self.ready_since
            .is_some_and(|t| now.saturating_duration_since(t) >= min_ready)
    }

    fn conditions(&self) -> EndpointConditions {
        let ready = self.ready_since.is_some();
        EndpointConditions {
            ready: ready && !self.terminating,
            serving: ready,
            terminating: self.terminating,
        }
    }
}

/// A pod's lifecycle task and what it is told and keeps.
struct PodHandle {
    terminate: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    logs: Arc<LogTail>,
}

/// The runtime's state, shared by the rollout controller, the pods' lifecycle tasks and the
/// proxy's endpoint table.
pub(crate) struct RuntimeState {
    pub config: Arc<LocalConfig>,
    pub recorder: TimelineRecorder,
    pub endpoints: Arc<EndpointTable>,
    pub groups: ProcessGroups,
    pods: Mutex<BTreeMap<String, PodStatus>>,
    handles: Mutex<BTreeMap<String, PodHandle>>,
    next_index: AtomicU32,
    changed: watch::Sender<u64>,
    /// Set at shutdown: what happens then is not part of the run.
    quiet: AtomicBool,
}

impl RuntimeState {
    /// A runtime with no pods yet.
    pub(super) fn new(
        config: Arc<LocalConfig>,
        recorder: TimelineRecorder,
        endpoints: Arc<EndpointTable>,
        groups: ProcessGroups,
    ) -> RuntimeState {
        RuntimeState {
            config,
            recorder,
            endpoints,
            groups,
            pods: Mutex::new(BTreeMap::new()),
            handles: Mutex::new(BTreeMap::new()),
            next_index: AtomicU32::new(0),
            changed: watch::channel(0).0,
            quiet: AtomicBool::new(false),
        }
    }

    pub fn record(&self, pod: &str, kind: EventKind) {
        self.record_at(pod, self.now(), kind);
    }

    /// The run clock's reading now, for an action recorded once it is done.
    pub fn now(&self) -> At {
        self.recorder.clock().now()
    }

    /// Records what the runtime did at `at`, an instant read just before it acted: the thread
    /// may be descheduled between the action and the clock read, and a late record would place
    /// the app's reaction (connections closed on the signal) before its cause.
    pub fn record_at(&self, pod: &str, at: At, kind: EventKind) {
        if !self.quiet.load(Ordering::Relaxed) {
            self.recorder.at(at, Some(pod), kind);
        }
    }

    fn lock_pods(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PodStatus>> {
        // Views stay consistent field by field if a holder panicked.
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_handles(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PodHandle>> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn update(&self, pod: &str, f: impl FnOnce(&mut PodStatus)) {
        if let Some(v) = self.lock_pods().get_mut(pod) {
            f(v);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn view(&self, pod: &str) -> Option<PodStatus> {
        self.lock_pods().get(pod).cloned()
    }

    pub(super) fn views(&self) -> BTreeMap<String, PodStatus> {
        self.lock_pods().clone()
    }

    /// Proposes the endpoint's conditions as the pod's view states them now.
    pub fn propose_endpoint(&self, pod: &str, addr: SocketAddr) {
        if let Some(v) = self.view(pod) {
            self.endpoints.propose(pod, addr, Some(v.conditions()));
        }
    }

    pub fn remove_endpoint(&self, pod: &str, addr: SocketAddr) {
        self.endpoints.propose(pod, addr, None);
    }

    fn logs(&self, pod: &str) -> Option<Arc<LogTail>> {
        self.lock_handles().get(pod).map(|h| h.logs.clone())
    }

    /// Creates a pod of `revision` running `command` and starts its lifecycle task.
    pub(super) fn create_pod(
        self: &Arc<Self>,
        revision: Revision,
        command: &CommandSpec,
    ) -> Result<String, ClusterError> {
        let index = self.next_index.fetch_add(1, Ordering::Relaxed) + 1;
        let version = if revision == Revision::New { 2 } else { 1 };
        let name = format!("{}-v{version}-{index}", self.config.name);
        let port = allocate_port()?;
        let file = self
            .config
            .replica_logs
            .as_ref()
            .map(|d| process::log_path(d, &name));
        let logs = Arc::new(LogTail::new(LOG_TAIL_LINES, file.as_deref()).map_err(|e| {
            ClusterError::BadInput(format!(
                "--replica-logs: cannot write {}: {e}",
                file.as_ref()
                    .map_or(String::new(), |f| f.display().to_string())
            ))
        })?);
        self.lock_pods().insert(
            name.clone(),
            PodStatus {
                revision,
                created: Instant::now(),
                ready_since: None,
                ever_ready: false,
                served: false,
                terminating: false,
                gone: false,
                restarts: 0,
                fatal: None,
                last_probe_error: None,
                port,
            },
        );
        let (tx, rx) = oneshot::channel();
        let spec = pod::PodSpec {
            name: name.clone(),
            revision,
            command: command.clone(),
            port,
            logs: logs.clone(),
        };
        let task = tokio::spawn(pod::run_pod(self.clone(), spec, rx));
        self.lock_handles().insert(
            name.clone(),
            PodHandle {
                terminate: Some(tx),
                task,
                logs,
            },
        );
        self.changed.send_modify(|n| *n += 1);
        Ok(name)
    }

    /// Asks a pod to terminate (idempotent).
    pub(super) fn terminate(&self, pod: &str) {
        if let Some(h) = self.lock_handles().get_mut(pod) {
            if let Some(tx) = h.terminate.take() {
                let _ = tx.send(());
            }
        }
        // The controller must not pick the same pod again before its task has noticed.
        self.update(pod, |v| v.terminating = true);
    }

    /// The error for a pod that cannot go on, with its output.
    fn fatal_error(&self, pod: &str, fatal: &Fatal) -> ClusterError {
        let excerpt = self
            .logs(pod)
            .map(|l| l.excerpt(ERROR_EXCERPT_LINES))
            .unwrap_or_default();
        match fatal {
            Fatal::BadInput(m) => ClusterError::BadInput(m.clone()),
            Fatal::Failed(m) if excerpt.is_empty() => ClusterError::RolloutFailed(m.clone()),
            Fatal::Failed(m) => {
                ClusterError::RolloutFailed(format!("{m}\n  last output of {pod}:{excerpt}"))
            }
        }
    }

    /// The first pod that cannot go on, as an error.
    pub(super) fn check_fatal(&self) -> Result<(), ClusterError> {
        let fatal = self
            .views()
            .into_iter()
            .find_map(|(n, v)| v.fatal.map(|f| (n, f)));
        match fatal {
            Some((pod, f)) => Err(self.fatal_error(&pod, &f)),
            None => Ok(()),
        }
    }

    /// The error when pods did not become ready in time.
    pub(super) fn not_ready_error(&self, what: &str, waiting: &[String]) -> ClusterError {
        let mut msg = format!(
            "{what}: no progress within the progress deadline ({}s)",
            self.config.progress_deadline.as_secs_f64()
        );
        for pod in waiting {
            let v = self.view(pod);
            let why = v
                .as_ref()
                .and_then(|v| v.last_probe_error.clone())
                .unwrap_or_else(|| "no probe result yet".to_string());
            msg.push_str(&format!("\n  replica {pod} is not ready: {why}"));
            if let Some(l) = self.logs(pod) {
                let ex = l.excerpt(ERROR_EXCERPT_LINES);
                if !ex.is_empty() {
                    msg.push_str(&format!("\n  last output of {pod}:{ex}"));
                }
            }
        }
        ClusterError::RolloutFailed(msg)
    }

    pub(super) fn counts(&self, now: Instant) -> Counts {
        let min_ready = self.config.min_ready;
        let mut c = Counts {
            desired: self.config.replicas,
            ..Counts::default()
        };
        for v in self.lock_pods().values() {
            if v.terminating || v.gone {
                continue;
            }
            let available = v.available(now, min_ready);
            match v.revision {
                Revision::New => {
                    c.new += 1;
                    c.new_available += u32::from(available);
                }
                _ => {
                    c.old += 1;
                    c.old_available += u32::from(available);
                }
            }
        }
        c
    }

    pub(super) fn workload_status(&self, now: Instant) -> EventKind {
        let c = self.counts(now);
        let ready = self
            .lock_pods()
            .values()
            .filter(|v| !v.gone && v.ready_since.is_some())
            .count() as u32;
        EventKind::WorkloadStatus {
            desired: c.desired,
            updated: c.new,
            ready,
            available: c.new_available + c.old_available,
        }
    }

    /// The next instant a ready pod becomes available (minReadySeconds), if any is pending.
    pub(super) fn next_availability(&self, now: Instant) -> Option<Instant> {
        let min_ready = self.config.min_ready;
        self.lock_pods()
            .values()
            .filter(|v| !v.terminating && !v.gone)
            .filter_map(|v| v.ready_since.map(|t| t + min_ready))
            .filter(|t| *t > now)
            .min()
    }

    /// Wakes on any change to the pod table.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The last lines each replica wrote, by pod name.
    pub(super) fn replica_logs(&self) -> BTreeMap<String, Vec<String>> {
        self.lock_handles()
            .iter()
            .map(|(n, h)| (n.clone(), h.logs.lines()))
            .collect()
    }

    /// From now on nothing is recorded: what happens at shutdown is not part of the run.
    pub(super) fn quiet(&self) {
        self.quiet.store(true, Ordering::Relaxed);
    }

    /// Tells every pod's task to end and waits for each until `deadline`, aborting those still
    /// running then.
    pub(super) async fn end_pod_tasks(&self, deadline: Instant) {
        let handles: Vec<PodHandle> = std::mem::take(&mut *self.lock_handles())
            .into_values()
            .collect();
        for mut h in handles {
            h.terminate.take();
            if tokio::time::timeout_at(deadline, &mut h.task)
                .await
                .is_err()
            {
                h.task.abort();
            }
        }
    }
}
