//! The Deployment controller's loops: waiting for the initial replicas, then the rolling update
//! that drives pods through [`rollout::step`] until every pod is new and available and every
//! old one is gone. Pods are created and terminated through [`RuntimeState`]; what a pod does
//! then is `pod.rs`'s business.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::rollout::{self, Fenceposts};
use super::state::{PodStatus, RuntimeState};
use crate::cluster::{ClusterError, RolloutDone};
use crate::model::event::{EventKind, Revision};

/// Waits until every initial pod is ready and routed by the proxy. Without a readiness probe
/// a pod is ready at start (Kubernetes' rule); the initial replicas stand for a Deployment that
/// was already running, so their port must also accept connections before load begins.
pub(super) async fn wait_initial_ready(
    shared: &Arc<RuntimeState>,
    names: &[String],
) -> Result<(), ClusterError> {
    let mut changed = shared.subscribe();
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
pub(super) async fn run_rollout(
    shared: Arc<RuntimeState>,
    f: Fenceposts,
) -> Result<RolloutDone, ClusterError> {
    let cfg = shared.config.clone();
    let command = cfg
        .new_command
        .clone()
        .unwrap_or_else(|| cfg.command.clone());
    let mut changed = shared.subscribe();
    let mut data_plane = shared.endpoints.subscribe();
    let mut last_progress = Instant::now();
    let mut last_counts = None;
    let mut last_status = None;
    loop {
        shared.check_fatal()?;
        let now = Instant::now();
        let counts = shared.counts(now);
        let old_pods_remain = old_remains(&shared, &shared.views());
        if last_counts != Some(counts) {
            last_counts = Some(counts);
            last_progress = now;
        }
        record_status_change(&shared, now, &mut last_status);
        if rollout::is_complete(counts) && !old_pods_remain {
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
            return Err(stalled(&shared));
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

/// An old pod is still running, or still routed by the data plane.
///
/// "Gone" includes the data plane: until the proxy has applied an old pod's endpoint removal
/// (one propagation delay after it), connections may still reach it, and the rollout's effects
/// are not over — settle must not begin while they last.
fn old_remains(shared: &RuntimeState, views: &BTreeMap<String, PodStatus>) -> bool {
    let old_left = views
        .values()
        .any(|v| v.revision != Revision::New && !v.gone);
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
    old_left || old_routed
}

/// Records the workload's status when it differs from the last one recorded.
fn record_status_change(shared: &RuntimeState, now: Instant, last: &mut Option<EventKind>) {
    let status = shared.workload_status(now);
    if last.as_ref() != Some(&status) {
        shared.recorder.now(None, status.clone());
        *last = Some(status);
    }
}

/// The error of a rollout that made no progress within the deadline, naming the new pods that
/// are not ready.
fn stalled(shared: &RuntimeState) -> ClusterError {
    let waiting: Vec<String> = shared
        .views()
        .into_iter()
        .filter(|(_, v)| v.revision == Revision::New && !v.gone && v.ready_since.is_none())
        .map(|(n, _)| n)
        .collect();
    shared.not_ready_error("the rollout stalled", &waiting)
}

/// The old pods to delete: unavailable ones first, then the most recently ready (the
/// ReplicaSet controller's preference), then the newest.
fn pick_old_to_delete(shared: &RuntimeState, n: usize, now: Instant) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let min_ready = shared.config.min_ready;
    let mut old: Vec<(String, PodStatus)> = shared
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
