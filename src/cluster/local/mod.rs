//! The local runtime: replicas of the user's own server as child processes, rolled the way a
//! Deployment is rolled, behind a service proxy that behaves like a ClusterIP Service.
//!
//! - [`config`]: the validated configuration (`crate::config::local` builds it from the flags).
//! - [`rollout`]: the Deployment controller's arithmetic (pure).
//! - [`probe`]: startup / readiness probes and their thresholds.
//! - [`process`]: spawning, process groups, output capture, signals.
//! - [`pod`]: one pod's life, as the kubelet lives it.
//! - [`endpoints`]: the endpoint table and its propagation delay.
//! - [`proxy`]: the service proxy.
//!
//! This file owns [`LocalCluster`] (the [`Cluster`] implementation), the shared pod table, and
//! the rolling-update loop that drives pods through [`rollout::step`]. It must not know about
//! load, records or analysis; everything it observes goes to the [`TimelineRecorder`].

pub mod config;
pub mod endpoints;
pub mod pod;
pub mod probe;
pub mod process;
pub mod proxy;
pub mod rollout;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::{LocalConfig, PreStop, Termination};

use self::endpoints::EndpointTable;
use self::process::{CommandSpec, LogTail, ProcessGroups};
use self::proxy::ServiceProxy;
use self::rollout::{Counts, Fenceposts};
use super::{Cluster, ClusterError, Prepared, RolloutDone};
use crate::model::event::{EndpointConditions, EventKind, Revision};
use crate::timeline::TimelineRecorder;

/// Lines of each replica's output kept for reports and error messages.
const LOG_TAIL_LINES: usize = 200;
/// Lines of a replica's output quoted in an error message.
const ERROR_EXCERPT_LINES: usize = 12;
/// How long shutdown lets replicas exit on the stop signal before killing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

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
pub(crate) struct PodView {
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

impl PodView {
    fn available(&self, now: Instant, min_ready: Duration) -> bool {
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

struct PodHandle {
    terminate: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    logs: Arc<LogTail>,
}

/// State shared by the controller, the pods and the proxy's endpoint table.
pub(crate) struct Shared {
    pub config: Arc<LocalConfig>,
    pub recorder: TimelineRecorder,
    pub endpoints: Arc<EndpointTable>,
    pub groups: ProcessGroups,
    pods: Mutex<BTreeMap<String, PodView>>,
    handles: Mutex<BTreeMap<String, PodHandle>>,
    next_index: AtomicU32,
    changed: watch::Sender<u64>,
    /// Set at shutdown: what happens then is not part of the run.
    quiet: AtomicBool,
}

impl Shared {
    pub fn record(&self, pod: &str, kind: EventKind) {
        if !self.quiet.load(Ordering::Relaxed) {
            self.recorder.now(Some(pod), kind);
        }
    }

    fn lock_pods(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PodView>> {
        // Views stay consistent field by field if a holder panicked.
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_handles(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PodHandle>> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn update(&self, pod: &str, f: impl FnOnce(&mut PodView)) {
        if let Some(v) = self.lock_pods().get_mut(pod) {
            f(v);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn view(&self, pod: &str) -> Option<PodView> {
        self.lock_pods().get(pod).cloned()
    }

    fn views(&self) -> BTreeMap<String, PodView> {
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

    fn allocate_port(&self) -> Result<u16, ClusterError> {
        allocate_port()
    }

    /// Creates a pod of `revision` running `command` and starts its lifecycle task.
    fn create_pod(
        self: &Arc<Self>,
        revision: Revision,
        command: &CommandSpec,
    ) -> Result<String, ClusterError> {
        let index = self.next_index.fetch_add(1, Ordering::Relaxed) + 1;
        let version = if revision == Revision::New { 2 } else { 1 };
        let name = format!("{}-v{version}-{index}", self.config.name);
        let port = self.allocate_port()?;
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
            PodView {
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
    fn terminate(&self, pod: &str) {
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
    fn check_fatal(&self) -> Result<(), ClusterError> {
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
    fn not_ready_error(&self, what: &str, waiting: &[String]) -> ClusterError {
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

    fn counts(&self, now: Instant) -> Counts {
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

    fn workload_status(&self, now: Instant) -> EventKind {
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
    fn next_availability(&self, now: Instant) -> Option<Instant> {
        let min_ready = self.config.min_ready;
        self.lock_pods()
            .values()
            .filter(|v| !v.terminating && !v.gone)
            .filter_map(|v| v.ready_since.map(|t| t + min_ready))
            .filter(|t| *t > now)
            .min()
    }
}

/// Ports handed to replicas by this process (several runtimes may live in one process, as in
/// tests): a port is never handed out twice, even before its replica has bound it.
static ALLOCATED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A free loopback port below the ephemeral range, so no outgoing connection of the load
/// engine can take it between this check and the replica's bind.
fn allocate_port() -> Result<u16, ClusterError> {
    let low = ephemeral_low();
    let lo = low.saturating_sub(12_000).max(1024);
    let span = u32::from(low.saturating_sub(lo)).max(1);
    let mut taken = ALLOCATED.lock().unwrap_or_else(|p| p.into_inner());
    // Start somewhere different in every process, so concurrent zerodrops rarely probe the same
    // ports in the same order.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seed = std::process::id().wrapping_mul(7919) ^ nanos;
    for k in 0..span {
        let port = lo + ((seed.wrapping_add(k)) % span) as u16;
        if taken.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            taken.insert(port);
            return Ok(port);
        }
    }
    Err(ClusterError::CouldNotRun(format!(
        "no free port between {lo} and {low} for a replica"
    )))
}

/// Reads the low end of the kernel's ephemeral port range (32768 when unreadable).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32768)
}

/// The local runtime. Dropping it kills every process it started.
pub struct LocalCluster {
    config: Arc<LocalConfig>,
    recorder: TimelineRecorder,
    fenceposts: Fenceposts,
    shared: Option<Arc<Shared>>,
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
        let Some(sh) = &self.shared else {
            return BTreeMap::new();
        };
        sh.lock_handles()
            .iter()
            .map(|(n, h)| (n.clone(), h.logs.lines()))
            .collect()
    }

    /// Process groups still alive (empty after `shutdown`).
    pub fn live_process_groups(&self) -> Vec<i32> {
        self.groups.live()
    }

    fn shared(&self) -> Result<&Arc<Shared>, ClusterError> {
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
        let endpoints = EndpointTable::start(cfg.propagation_delay, self.recorder.clone());
        let proxy = ServiceProxy::start(cfg.listen, endpoints.clone(), self.recorder.clone())
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
        let shared = Arc::new(Shared {
            config: cfg.clone(),
            recorder: self.recorder.clone(),
            endpoints,
            groups: self.groups.clone(),
            pods: Mutex::new(BTreeMap::new()),
            handles: Mutex::new(BTreeMap::new()),
            next_index: AtomicU32::new(0),
            changed: watch::channel(0).0,
            quiet: AtomicBool::new(false),
        });
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
            sh.quiet.store(true, Ordering::Relaxed);
            sh.endpoints.silence();
            // Ask politely first, as a cluster would at the end; then make sure.
            for pgid in self.groups.live() {
                let _ = process::signal(pgid, self.config.termination.stop_signal);
            }
            let deadline =
                Instant::now() + SHUTDOWN_GRACE.min(self.config.termination.grace_period);
            let handles: Vec<PodHandle> = std::mem::take(&mut *sh.lock_handles())
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
        self.groups.kill_all();
        if let Some(mut p) = self.proxy.take() {
            p.stop();
        }
    }
}

/// Waits until every initial pod is ready and routed by the proxy. Without a readiness probe
/// a pod is ready at start (Kubernetes' rule); the initial replicas stand for a Deployment that
/// was already running, so their port must also accept connections before load begins.
async fn wait_initial_ready(shared: &Arc<Shared>, names: &[String]) -> Result<(), ClusterError> {
    let mut changed = shared.changed.subscribe();
    let mut endpoints = shared.endpoints.subscribe();
    let deadline = Instant::now() + shared.config.progress_deadline;
    let mut listening: BTreeSet<String> = BTreeSet::new();
    loop {
        shared.check_fatal()?;
        let views = shared.views();
        let waiting: Vec<String> = names
            .iter()
            .filter(|n| views.get(*n).is_none_or(|v| v.ready_since.is_none()))
            .cloned()
            .collect();
        if shared.config.readiness_probe.is_none() {
            for n in names {
                if listening.contains(n) {
                    continue;
                }
                if let Some(v) = views.get(n) {
                    let addr = SocketAddr::from(([127, 0, 0, 1], v.port));
                    if tokio::net::TcpStream::connect(addr).await.is_ok() {
                        listening.insert(n.clone());
                    }
                }
            }
        }
        let not_listening: Vec<String> = if shared.config.readiness_probe.is_none() {
            names
                .iter()
                .filter(|n| !listening.contains(*n))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        if waiting.is_empty()
            && not_listening.is_empty()
            && shared.endpoints.ready_count() >= names.len()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let mut stuck = waiting;
            stuck.extend(not_listening);
            if stuck.is_empty() {
                stuck = names.to_vec();
            }
            return Err(shared.not_ready_error("the initial replicas did not become ready", &stuck));
        }
        // Poll the ports of probe-less pods; otherwise wake on any change.
        tokio::select! {
            _ = changed.changed() => {}
            _ = endpoints.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// The rolling update: reconcile until every pod is new and available and every old pod is
/// gone, failing when a pod cannot go on or no progress is made within the progress deadline.
async fn run_rollout(shared: Arc<Shared>, f: Fenceposts) -> Result<RolloutDone, ClusterError> {
    let cfg = shared.config.clone();
    let command = cfg
        .new_command
        .clone()
        .unwrap_or_else(|| cfg.command.clone());
    let mut changed = shared.changed.subscribe();
    let mut data_plane = shared.endpoints.subscribe();
    let mut last_progress = Instant::now();
    let mut last_counts = None;
    let mut last_status = None;
    loop {
        shared.check_fatal()?;
        let now = Instant::now();
        let counts = shared.counts(now);
        let views = shared.views();
        let old_left = views
            .values()
            .any(|v| v.revision != Revision::New && !v.gone);
        // "Gone" includes the data plane: until the proxy has applied an old pod's endpoint
        // removal (one propagation delay after it), connections may still reach it, and the
        // rollout's effects are not over — settle must not begin while they last.
        let snapshot = shared.endpoints.snapshot();
        let old_routed = snapshot
            .ready
            .iter()
            .chain(&snapshot.serving_terminating)
            .any(|b| {
                views
                    .get(&*b.pod)
                    .is_none_or(|v| v.revision != Revision::New)
            });
        if last_counts != Some(counts) {
            last_counts = Some(counts);
            last_progress = now;
        }
        let status = shared.workload_status(now);
        if last_status.as_ref() != Some(&status) {
            shared.recorder.now(None, status.clone());
            last_status = Some(status);
        }
        if rollout::is_complete(counts) && !old_left && !old_routed {
            shared.recorder.now(None, EventKind::RolloutComplete);
            return Ok(RolloutDone {
                summary: format!(
                    "{n} of {n} replicas updated; every old replica gone",
                    n = cfg.replicas
                ),
            });
        }
        let step = rollout::step(counts, f);
        for _ in 0..step.create {
            shared.create_pod(Revision::New, &command)?;
        }
        for pod in pick_old_to_delete(&shared, step.delete_old as usize, now) {
            shared.terminate(&pod);
        }
        if step.create > 0 || step.delete_old > 0 {
            continue;
        }
        let deadline = last_progress + cfg.progress_deadline;
        if now >= deadline {
            let waiting: Vec<String> = shared
                .views()
                .into_iter()
                .filter(|(_, v)| v.revision == Revision::New && !v.gone && v.ready_since.is_none())
                .map(|(n, _)| n)
                .collect();
            return Err(shared.not_ready_error("the rollout stalled", &waiting));
        }
        let wake = shared
            .next_availability(now)
            .map_or(deadline, |t| t.min(deadline));
        tokio::select! {
            r = changed.changed() => if r.is_err() {
                return Err(ClusterError::RolloutFailed("the local runtime stopped".into()));
            },
            _ = data_plane.changed() => {}
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// The old pods to delete: unavailable ones first, then the most recently ready (the
/// ReplicaSet controller's preference), then the newest.
fn pick_old_to_delete(shared: &Shared, n: usize, now: Instant) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let min_ready = shared.config.min_ready;
    let mut old: Vec<(String, PodView)> = shared
        .views()
        .into_iter()
        .filter(|(_, v)| v.revision != Revision::New && !v.terminating && !v.gone)
        .collect();
    old.sort_by(|(an, a), (bn, b)| {
        a.available(now, min_ready)
            .cmp(&b.available(now, min_ready))
            .then(b.ready_since.cmp(&a.ready_since))
            .then(b.created.cmp(&a.created))
            .then(an.cmp(bn))
    });
    old.into_iter().take(n).map(|(n, _)| n).collect()
}
