//! `shutdown` (any phase → ShutDown): stop the kill-pod trigger's deletions, roll back a failed
//! rollout when `--undo-on-failure` asks for it, then stop the watches.
//!
//! The rollback is `kubectl rollout undo`'s: the Service selector switched back for blue-green,
//! else the previous ReplicaSet (Deployment) or ControllerRevision (StatefulSet, DaemonSet).
//! Choosing the revision and building its patch is [`undo`](super::undo)'s, which is pure; this
//! file lists and sends. It runs here, not when the rollout fails, because the run flow always
//! awaits `shutdown` to its end, and may drop a waiting `wait_complete` (an interrupt).

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet};
use kube::api::ListParams;
use serde_json::Value;

use super::calls::Calls;
use super::error::KubeError;
use super::service::ServiceInfo;
use super::trigger::{PatchKind, Trigger};
use super::workload::{Workload, WorkloadRef, selector_string};
use super::{KubeCluster, undo};
use crate::cluster::EventKind;

/// The patch restoring the previous revision (`None`: the template already matches it), and
/// that revision, for the message.
struct Rollback {
    patch: Option<(PatchKind, Value)>,
    revision: String,
}

impl KubeCluster {
    pub(super) async fn shutdown_step(&mut self) {
        self.state.abort_kill_task();
        if self.cfg.undo_on_failure && self.state.rollout_failed(self.cfg.rollout_timeout) {
            // While the watches still run, so the rollback's first changes are on the timeline.
            let said = match self.undo().await {
                Ok(m) => m,
                Err(e) => format!("undo failed: {e}"),
            };
            self.recorder.now(
                None,
                EventKind::Note {
                    reason: "RolledBack".into(),
                    message: said.clone(),
                },
            );
            self.undo = Some(said);
        }
        if let Some(mut live) = self.state.shut_down() {
            live.watches.stop();
        }
    }

    /// `--undo-on-failure`: roll back what the trigger changed, and say what was done.
    async fn undo(&self) -> Result<String, KubeError> {
        let Some((live, rollout)) = self.state.rollout() else {
            return Err(self.state.out_of_order("undo"));
        };
        let calls = Calls::new(&live.conn, &self.cfg);
        if let Trigger::Selector { key, .. } = &self.cfg.trigger {
            // Blue-green's undo is the switch back.
            return switch_back(&calls, &live.service, key).await;
        }
        let current = calls.get_workload().await?;
        if current.generation() == rollout.generation_before {
            return Ok(format!(
                "not rolled back: {} was not changed (generation {})",
                self.cfg.workload, rollout.generation_before
            ));
        }
        let rollback = match &current {
            Workload::Deployment(deploy) => deployment_rollback(&calls, deploy).await?,
            Workload::StatefulSet(_) | Workload::DaemonSet(_) => {
                revision_rollback(&calls, &current).await?
            }
        };
        let revision = rollback.revision;
        match rollback.patch {
            None => Ok(format!(
                "not rolled back: the template already matches revision {revision}"
            )),
            Some((kind, body)) => {
                calls.patch_workload(kind, &body).await?;
                Ok(format!("rolled back to revision {revision}"))
            }
        }
    }
}

/// Puts the Service selector's KEY back as it was before the trigger.
async fn switch_back(
    calls: &Calls<'_>,
    service: &ServiceInfo,
    key: &str,
) -> Result<String, KubeError> {
    let svc = &service.name;
    let previous = service.selector.get(key).cloned();
    let body = serde_json::json!({"spec": {"selector": {key: previous}}});
    calls.patch_service(svc, &body).await?;
    Ok(match previous {
        Some(v) => format!("Service {svc} selector switched back to {key}={v}"),
        None => format!("Service {svc} selector key {key} removed again"),
    })
}

fn no_history(w: &WorkloadRef) -> KubeError {
    KubeError::Rollout(format!("no rollout history found for {w}"))
}

/// A Deployment's previous revision is its ReplicaSet's template, restored by a JSON patch.
async fn deployment_rollback(
    calls: &Calls<'_>,
    deploy: &Deployment,
) -> Result<Rollback, KubeError> {
    let selector = deploy
        .spec
        .as_ref()
        .map(|s| selector_string(&s.selector))
        .unwrap_or_default();
    let sets = calls
        .list::<ReplicaSet>(
            "replicasets",
            "apps",
            &ListParams::default().labels(&selector),
        )
        .await?;
    let prev = undo::previous_replica_set(deploy, &sets.items)
        .ok_or_else(|| no_history(&calls.cfg.workload))?;
    Ok(Rollback {
        patch: undo::rollback_patch(deploy, prev)?.map(|p| (PatchKind::Json, p)),
        revision: undo::revision_of(prev),
    })
}

/// A StatefulSet's or DaemonSet's previous revision is its ControllerRevision's data, sent as
/// the strategic merge patch it already is.
async fn revision_rollback(calls: &Calls<'_>, current: &Workload) -> Result<Rollback, KubeError> {
    let selector = current.selector().map(selector_string).unwrap_or_default();
    let uid = current.uid().unwrap_or_default();
    let labelled = ListParams::default().labels(&selector);
    let history = calls
        .list::<ControllerRevision>("controllerrevisions", "apps", &labelled)
        .await?;
    let prev = undo::previous_controller_revision(&uid, &history.items)
        .ok_or_else(|| no_history(&calls.cfg.workload))?;
    let current_patch = undo::template_patch(current.template());
    Ok(Rollback {
        patch: undo::revision_patch(prev, &current_patch)?.map(|p| (PatchKind::Strategic, p)),
        revision: prev.revision.to_string(),
    })
}
