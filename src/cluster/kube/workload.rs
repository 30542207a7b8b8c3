//! What is rolled: workload references (`deploy/web`), the three supported kinds, a
//! kind-neutral view of their status, and rollout completion decided exactly as
//! `kubectl rollout status` decides it.
//!
//! Everything here is pure: parsing, extraction from k8s objects, and the status rules. No API
//! calls; `mod.rs` fetches, this module judges.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::error::KubeError;

/// The workload kinds zerodrop can roll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    /// The plural resource name, for API paths and RBAC rules.
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
            WorkloadKind::DaemonSet => "daemonsets",
        }
    }

    /// kubectl's short name.
    pub fn short(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deploy",
            WorkloadKind::StatefulSet => "sts",
            WorkloadKind::DaemonSet => "ds",
        }
    }
}

/// `deploy/NAME`, `sts/NAME`, `ds/NAME` or their long forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadRef {
    pub kind: WorkloadKind,
    pub name: String,
}

impl WorkloadRef {
    /// Parses a reference as kubectl accepts it (case-insensitive kind, singular or plural, with
    /// or without the `.apps` group).
    pub fn parse(s: &str) -> Result<WorkloadRef, KubeError> {
        let Some((kind, name)) = s.split_once('/') else {
            return Err(KubeError::BadInput(format!(
                "workload '{s}' must be KIND/NAME, e.g. deploy/web, sts/db or ds/agent"
            )));
        };
        let kind_l = kind.to_ascii_lowercase();
        let kind_l = kind_l.strip_suffix(".apps").unwrap_or(&kind_l);
        let kind = match kind_l {
            "deploy" | "deployment" | "deployments" => WorkloadKind::Deployment,
            "sts" | "statefulset" | "statefulsets" => WorkloadKind::StatefulSet,
            "ds" | "daemonset" | "daemonsets" => WorkloadKind::DaemonSet,
            other => {
                return Err(KubeError::BadInput(format!(
                    "unsupported workload kind '{other}': zerodrop rolls deployments (deploy/), \
                     statefulsets (sts/) and daemonsets (ds/)"
                )));
            }
        };
        if name.is_empty() || name.contains('/') {
            return Err(KubeError::BadInput(format!(
                "workload '{s}' has no valid name after the kind"
            )));
        }
        Ok(WorkloadRef {
            kind,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.short(), self.name)
    }
}

/// One fetched workload object, typed.
#[derive(Clone, Debug)]
pub enum Workload {
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
    DaemonSet(Box<DaemonSet>),
}

impl Workload {
    pub fn kind(&self) -> WorkloadKind {
        match self {
            Workload::Deployment(_) => WorkloadKind::Deployment,
            Workload::StatefulSet(_) => WorkloadKind::StatefulSet,
            Workload::DaemonSet(_) => WorkloadKind::DaemonSet,
        }
    }

    pub fn template(&self) -> Option<&PodTemplateSpec> {
        match self {
            Workload::Deployment(d) => d.spec.as_ref().map(|s| &s.template),
            Workload::StatefulSet(s) => s.spec.as_ref().map(|s| &s.template),
            Workload::DaemonSet(d) => d.spec.as_ref().map(|s| &s.template),
        }
    }

    pub fn selector(&self) -> Option<&LabelSelector> {
        match self {
            Workload::Deployment(d) => d.spec.as_ref().map(|s| &s.selector),
            Workload::StatefulSet(s) => s.spec.as_ref().map(|s| &s.selector),
            Workload::DaemonSet(d) => d.spec.as_ref().map(|s| &s.selector),
        }
    }

    /// The labels its pods carry (the pod template's).
    pub fn pod_labels(&self) -> BTreeMap<String, String> {
        self.template()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }

    pub fn paused(&self) -> bool {
        match self {
            Workload::Deployment(d) => d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false),
            _ => false,
        }
    }

    pub fn generation(&self) -> i64 {
        match self {
            Workload::Deployment(d) => d.metadata.generation,
            Workload::StatefulSet(s) => s.metadata.generation,
            Workload::DaemonSet(d) => d.metadata.generation,
        }
        .unwrap_or(0)
    }

    pub fn view(&self) -> WorkloadView {
        match self {
            Workload::Deployment(d) => WorkloadView::from_deployment(d),
            Workload::StatefulSet(s) => WorkloadView::from_stateful_set(s),
            Workload::DaemonSet(d) => WorkloadView::from_daemon_set(d),
        }
    }
}

/// The status fields `kubectl rollout status` reads, per kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KindStatus {
    Deployment {
        spec_replicas: Option<i32>,
        replicas: i32,
        updated: i32,
        ready: i32,
        available: i32,
        /// The Progressing condition's reason is ProgressDeadlineExceeded.
        progress_deadline_exceeded: bool,
    },
    StatefulSet {
        /// `spec.updateStrategy.type`; the API server defaults it to RollingUpdate.
        strategy: String,
        spec_replicas: Option<i32>,
        ready: i32,
        updated: i32,
        available: i32,
        current_replicas: i32,
        /// `spec.updateStrategy.rollingUpdate` is present (the API server defaults it).
        rolling_update_set: bool,
        partition: Option<i32>,
        current_revision: String,
        update_revision: String,
    },
    DaemonSet {
        strategy: String,
        desired_scheduled: i32,
        updated_scheduled: i32,
        ready: i32,
        available: i32,
    },
}

/// A kind-neutral snapshot of a workload: what rollout status and the timeline need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadView {
    pub name: String,
    pub generation: i64,
    pub observed_generation: i64,
    pub status: KindStatus,
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

impl WorkloadView {
    pub fn from_deployment(d: &Deployment) -> WorkloadView {
        let spec = d.spec.as_ref();
        let st = d.status.clone().unwrap_or_default();
        let timed_out = st.conditions.iter().flatten().any(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        WorkloadView {
            name: d.metadata.name.clone().unwrap_or_default(),
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: st.observed_generation.unwrap_or(0),
            status: KindStatus::Deployment {
                spec_replicas: spec.and_then(|s| s.replicas),
                replicas: n(st.replicas),
                updated: n(st.updated_replicas),
                ready: n(st.ready_replicas),
                available: n(st.available_replicas),
                progress_deadline_exceeded: timed_out,
            },
        }
    }

    pub fn from_stateful_set(s: &StatefulSet) -> WorkloadView {
        let spec = s.spec.as_ref();
        let strategy = spec.and_then(|s| s.update_strategy.as_ref());
        let st = s.status.clone().unwrap_or_default();
        WorkloadView {
            name: s.metadata.name.clone().unwrap_or_default(),
            generation: s.metadata.generation.unwrap_or(0),
            observed_generation: st.observed_generation.unwrap_or(0),
            status: KindStatus::StatefulSet {
                strategy: strategy
                    .and_then(|u| u.type_.clone())
                    .unwrap_or_else(|| "RollingUpdate".into()),
                spec_replicas: spec.and_then(|s| s.replicas),
                ready: n(st.ready_replicas),
                updated: n(st.updated_replicas),
                available: n(st.available_replicas),
                current_replicas: n(st.current_replicas),
                rolling_update_set: strategy.and_then(|u| u.rolling_update.as_ref()).is_some(),
                partition: strategy
                    .and_then(|u| u.rolling_update.as_ref())
                    .and_then(|r| r.partition),
                current_revision: st.current_revision.unwrap_or_default(),
                update_revision: st.update_revision.unwrap_or_default(),
            },
        }
    }

    pub fn from_daemon_set(d: &DaemonSet) -> WorkloadView {
        let spec = d.spec.as_ref();
        let st = d.status.clone().unwrap_or_default();
        WorkloadView {
            name: d.metadata.name.clone().unwrap_or_default(),
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: st.observed_generation.unwrap_or(0),
            status: KindStatus::DaemonSet {
                strategy: spec
                    .and_then(|s| s.update_strategy.as_ref())
                    .and_then(|u| u.type_.clone())
                    .unwrap_or_else(|| "RollingUpdate".into()),
                desired_scheduled: st.desired_number_scheduled,
                updated_scheduled: n(st.updated_number_scheduled),
                ready: st.number_ready,
                available: n(st.number_available),
            },
        }
    }

    /// (desired, updated, ready, available) for the timeline's `WorkloadStatus`.
    pub fn counts(&self) -> (u32, u32, u32, u32) {
        let u = |v: i32| u32::try_from(v).unwrap_or(0);
        match &self.status {
            KindStatus::Deployment {
                spec_replicas,
                updated,
                ready,
                available,
                ..
            } => (u(n(*spec_replicas)), u(*updated), u(*ready), u(*available)),
            KindStatus::StatefulSet {
                spec_replicas,
                updated,
                ready,
                available,
                ..
            } => (u(n(*spec_replicas)), u(*updated), u(*ready), u(*available)),
            KindStatus::DaemonSet {
                desired_scheduled,
                updated_scheduled,
                ready,
                available,
                ..
            } => (
                u(*desired_scheduled),
                u(*updated_scheduled),
                u(*ready),
                u(*available),
            ),
        }
    }
}

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

/// The rules of `kubectl rollout status`, kind by kind, in kubectl's order.
pub fn rollout_status(v: &WorkloadView) -> RolloutStatus {
    use RolloutStatus::{Done, Failed, Waiting};
    let name = &v.name;
    match &v.status {
        KindStatus::Deployment {
            spec_replicas,
            replicas,
            updated,
            available,
            progress_deadline_exceeded,
            ..
        } => {
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
        KindStatus::DaemonSet {
            strategy,
            desired_scheduled,
            updated_scheduled,
            available,
            ..
        } => {
            if strategy != "RollingUpdate" {
                return Failed(
                    "rollout status is only available for RollingUpdate strategy type".into(),
                );
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
        KindStatus::StatefulSet {
            strategy,
            spec_replicas,
            ready,
            updated,
            current_replicas,
            rolling_update_set,
            partition,
            current_revision,
            update_revision,
            ..
        } => {
            if strategy != "RollingUpdate" {
                return Failed(
                    "rollout status is only available for RollingUpdate strategy type".into(),
                );
            }
            if v.observed_generation == 0 || v.generation > v.observed_generation {
                return Waiting("Waiting for statefulset spec update to be observed...".into());
            }
            if let Some(want) = spec_replicas
                && ready < want
            {
                return Waiting(format!("Waiting for {} pods to be ready...", want - ready));
            }
            if *rolling_update_set {
                if let (Some(want), Some(p)) = (spec_replicas, partition)
                    && *updated < want - p
                {
                    return Waiting(format!(
                        "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                        want - p
                    ));
                }
                return Done(format!(
                    "partitioned roll out complete: {updated} new pods have been updated..."
                ));
            }
            if update_revision != current_revision {
                return Waiting(format!(
                    "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
                ));
            }
            Done(format!(
                "statefulset rolling update complete {current_replicas} pods at revision {current_revision}..."
            ))
        }
    }
}

/// A label selector as the `labelSelector` query parameter spells it.
pub fn selector_string(sel: &LabelSelector) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        parts.push(format!("{k}={v}"));
    }
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        match e.operator.as_str() {
            "In" => parts.push(format!("{} in ({values})", e.key)),
            "NotIn" => parts.push(format!("{} notin ({values})", e.key)),
            "Exists" => parts.push(e.key.clone()),
            "DoesNotExist" => parts.push(format!("!{}", e.key)),
            // An unknown operator cannot be expressed; the API server would reject the object.
            _ => {}
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(gen_: i64, observed: i64, spec: i32, st: (i32, i32, i32)) -> WorkloadView {
        WorkloadView {
            name: "web".into(),
            generation: gen_,
            observed_generation: observed,
            status: KindStatus::Deployment {
                spec_replicas: Some(spec),
                replicas: st.0,
                updated: st.1,
                ready: st.2,
                available: st.2,
                progress_deadline_exceeded: false,
            },
        }
    }

    #[test]
    fn workload_refs_accept_kubectl_short_and_long_forms() {
        for (s, kind) in [
            ("deploy/web", WorkloadKind::Deployment),
            ("deployment/web", WorkloadKind::Deployment),
            ("deployments.apps/web", WorkloadKind::Deployment),
            ("sts/web", WorkloadKind::StatefulSet),
            ("StatefulSet/web", WorkloadKind::StatefulSet),
            ("ds/web", WorkloadKind::DaemonSet),
            ("daemonset/web", WorkloadKind::DaemonSet),
        ] {
            let r = WorkloadRef::parse(s).expect(s);
            assert_eq!((r.kind, r.name.as_str()), (kind, "web"), "{s}");
        }
    }

    #[test]
    fn unsupported_kinds_and_missing_names_are_bad_input() {
        let e = WorkloadRef::parse("rs/web").expect_err("replicasets are not rolled");
        assert!(e.to_string().contains("unsupported workload kind 'rs'"));
        assert!(WorkloadRef::parse("web").is_err());
        assert!(WorkloadRef::parse("deploy/").is_err());
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
        if let KindStatus::Deployment {
            progress_deadline_exceeded,
            ..
        } = &mut v.status
        {
            *progress_deadline_exceeded = true;
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
            status: KindStatus::StatefulSet {
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
            },
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
            status: KindStatus::DaemonSet {
                strategy: strategy.into(),
                desired_scheduled: 5,
                updated_scheduled: updated,
                ready: available,
                available,
            },
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

    #[test]
    fn selectors_render_as_the_query_parameter() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web", "tier": "fe"},
            "matchExpressions": [
                {"key": "track", "operator": "In", "values": ["a", "b"]},
                {"key": "canary", "operator": "DoesNotExist"}
            ]
        }))
        .expect("selector");
        assert_eq!(
            selector_string(&sel),
            "app=web,tier=fe,track in (a,b),!canary"
        );
    }
}
