//! Rollout completion decided exactly as `kubectl rollout status` decides it, kind by kind and
//! rule by rule in kubectl's order (its `DeploymentStatusViewer`, `DaemonSetStatusViewer` and
//! `StatefulSetStatusViewer`).
//!
//! Pure: one [`WorkloadView`] snapshot in, one [`RolloutStatus`] out. Waiting for the old pods
//! to be gone, which kubectl does not do, is the runtime's (`complete.rs`).

use super::workload::{
    DaemonSetStatus, DeploymentStatus, KindStatus, StatefulSetStatus, WorkloadView,
};

/// What `kubectl rollout status` would conclude from one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutStatus {
    /// Still rolling; the message is kubectl's "Waiting for …" line.
    Waiting(String),
    /// kubectl would print "successfully rolled out" (old pods may still be terminating).
    Done(String),
    /// kubectl would exit with an error (progress deadline exceeded, unsupported strategy).
    Failed(String),
}

use RolloutStatus::{Done, Failed, Waiting};

/// The rules of `kubectl rollout status`, kind by kind, in kubectl's order.
pub fn rollout_status(v: &WorkloadView) -> RolloutStatus {
    match &v.status {
        KindStatus::Deployment(d) => deployment(v, d),
        KindStatus::DaemonSet(d) => daemon_set(v, d),
        KindStatus::StatefulSet(s) => stateful_set(v, s),
    }
}

/// observedGeneration, ProgressDeadlineExceeded, updated < replicas, old pending termination,
/// available < updated.
fn deployment(v: &WorkloadView, d: &DeploymentStatus) -> RolloutStatus {
    let name = &v.name;
    let DeploymentStatus {
        spec_replicas,
        replicas,
        updated,
        available,
        progress_deadline_exceeded,
        ..
    } = d;
    if v.generation > v.observed_generation {
        return Waiting("Waiting for deployment spec update to be observed...".into());
    }
    if *progress_deadline_exceeded {
        return Failed(format!(
            "deployment \"{name}\" exceeded its progress deadline"
        ));
    }
    if let Some(want) = spec_replicas
        && updated < want
    {
        return Waiting(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {updated} out of {want} new replicas have been updated..."
        ));
    }
    if replicas > updated {
        return Waiting(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return Waiting(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    Done(format!("deployment \"{name}\" successfully rolled out"))
}

/// RollingUpdate only, observedGeneration, updated < desired, available < desired.
fn daemon_set(v: &WorkloadView, d: &DaemonSetStatus) -> RolloutStatus {
    let name = &v.name;
    let DaemonSetStatus {
        strategy,
        desired_scheduled,
        updated_scheduled,
        available,
        ..
    } = d;
    if strategy != "RollingUpdate" {
        return Failed("rollout status is only available for RollingUpdate strategy type".into());
    }
    if v.generation > v.observed_generation {
        return Waiting("Waiting for daemon set spec update to be observed...".into());
    }
    if updated_scheduled < desired_scheduled {
        return Waiting(format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {updated_scheduled} out of {desired_scheduled} new pods have been updated..."
        ));
    }
    if available < desired_scheduled {
        return Waiting(format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {available} of {desired_scheduled} updated pods are available..."
        ));
    }
    Done(format!("daemon set \"{name}\" successfully rolled out"))
}

/// RollingUpdate only, observedGeneration, ready < replicas, then the partition (when the
/// rollingUpdate block is set) or else the current and update revisions.
fn stateful_set(v: &WorkloadView, s: &StatefulSetStatus) -> RolloutStatus {
    if s.strategy != "RollingUpdate" {
        return Failed("rollout status is only available for RollingUpdate strategy type".into());
    }
    if v.observed_generation == 0 || v.generation > v.observed_generation {
        return Waiting("Waiting for statefulset spec update to be observed...".into());
    }
    if let Some(want) = s.spec_replicas
        && s.ready < want
    {
        return Waiting(format!(
            "Waiting for {} pods to be ready...",
            want - s.ready
        ));
    }
    if s.rolling_update_set {
        return partitioned(s);
    }
    let (updated, current_revision, update_revision) =
        (s.updated, &s.current_revision, &s.update_revision);
    if update_revision != current_revision {
        return Waiting(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
        ));
    }
    Done(format!(
        "statefulset rolling update complete {} pods at revision {current_revision}...",
        s.current_replicas
    ))
}

/// A StatefulSet with a rollingUpdate block: done once the pods above the partition are new.
fn partitioned(s: &StatefulSetStatus) -> RolloutStatus {
    let updated = s.updated;
    if let (Some(want), Some(p)) = (s.spec_replicas, s.partition)
        && updated < want - p
    {
        return Waiting(format!(
            "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
            want - p
        ));
    }
    Done(format!(
        "partitioned roll out complete: {updated} new pods have been updated..."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(gen_: i64, observed: i64, spec: i32, st: (i32, i32, i32)) -> WorkloadView {
        WorkloadView {
            name: "web".into(),
            generation: gen_,
            observed_generation: observed,
            status: KindStatus::Deployment(DeploymentStatus {
                spec_replicas: Some(spec),
                replicas: st.0,
                updated: st.1,
                ready: st.2,
                available: st.2,
                progress_deadline_exceeded: false,
            }),
        }
    }

    #[test]
    fn deployment_waits_until_the_controller_observed_the_new_generation() {
        let v = deploy(3, 2, 3, (3, 3, 3));
        assert!(
            matches!(rollout_status(&v), RolloutStatus::Waiting(m) if m.contains("spec update"))
        );
    }

    #[test]
    fn deployment_waits_for_updated_then_old_then_available_replicas() {
        let st = |s| rollout_status(&deploy(2, 2, 3, s));
        assert!(
            matches!(st((4, 1, 3)), RolloutStatus::Waiting(m) if m.contains("1 out of 3 new replicas"))
        );
        assert!(
            matches!(st((4, 3, 3)), RolloutStatus::Waiting(m) if m.contains("1 old replicas are pending termination"))
        );
        assert!(
            matches!(st((3, 3, 2)), RolloutStatus::Waiting(m) if m.contains("2 of 3 updated replicas are available"))
        );
        assert_eq!(
            st((3, 3, 3)),
            RolloutStatus::Done("deployment \"web\" successfully rolled out".into())
        );
    }

    #[test]
    fn deployment_past_its_progress_deadline_fails() {
        let mut v = deploy(2, 2, 3, (4, 1, 3));
        if let KindStatus::Deployment(d) = &mut v.status {
            d.progress_deadline_exceeded = true;
        }
        assert!(
            matches!(rollout_status(&v), RolloutStatus::Failed(m) if m.contains("exceeded its progress deadline"))
        );
    }

    fn sts(partition: Option<i32>, rolling: bool, updated: i32, ready: i32) -> WorkloadView {
        WorkloadView {
            name: "db".into(),
            generation: 2,
            observed_generation: 2,
            status: KindStatus::StatefulSet(StatefulSetStatus {
                strategy: "RollingUpdate".into(),
                spec_replicas: Some(3),
                ready,
                updated,
                available: ready,
                current_replicas: 3 - updated,
                rolling_update_set: rolling,
                partition,
                current_revision: "db-1".into(),
                update_revision: "db-2".into(),
            }),
        }
    }

    #[test]
    fn statefulset_honours_its_partition() {
        assert!(
            matches!(rollout_status(&sts(Some(1), true, 1, 3)), RolloutStatus::Waiting(m) if m.contains("1 out of 2 new pods"))
        );
        assert!(
            matches!(rollout_status(&sts(Some(1), true, 2, 3)), RolloutStatus::Done(m) if m.contains("partitioned roll out complete"))
        );
        assert!(
            matches!(rollout_status(&sts(Some(0), true, 3, 2)), RolloutStatus::Waiting(m) if m.contains("1 pods to be ready"))
        );
    }

    #[test]
    fn statefulset_without_rolling_update_block_compares_revisions() {
        assert!(
            matches!(rollout_status(&sts(None, false, 1, 3)), RolloutStatus::Waiting(m) if m.contains("revision db-2"))
        );
    }

    #[test]
    fn statefulset_not_yet_observed_waits() {
        let mut v = sts(Some(0), true, 3, 3);
        v.observed_generation = 0;
        assert!(
            matches!(rollout_status(&v), RolloutStatus::Waiting(m) if m.contains("spec update"))
        );
    }

    #[test]
    fn daemonset_waits_for_updated_then_available_pods() {
        let ds = |updated, available, strategy: &str| WorkloadView {
            name: "agent".into(),
            generation: 4,
            observed_generation: 4,
            status: KindStatus::DaemonSet(DaemonSetStatus {
                strategy: strategy.into(),
                desired_scheduled: 5,
                updated_scheduled: updated,
                ready: available,
                available,
            }),
        };
        assert!(
            matches!(rollout_status(&ds(4, 5, "RollingUpdate")), RolloutStatus::Waiting(m) if m.contains("4 out of 5 new pods"))
        );
        assert!(
            matches!(rollout_status(&ds(5, 4, "RollingUpdate")), RolloutStatus::Waiting(m) if m.contains("4 of 5 updated pods"))
        );
        assert!(matches!(
            rollout_status(&ds(5, 5, "RollingUpdate")),
            RolloutStatus::Done(_)
        ));
        assert!(matches!(
            rollout_status(&ds(5, 5, "OnDelete")),
            RolloutStatus::Failed(_)
        ));
    }
}
