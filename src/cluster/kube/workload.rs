//! What is rolled: workload references (`deploy/web`), the three supported kinds, and a
//! kind-neutral view of their status, holding the fields `kubectl rollout status` reads (its
//! rules are [`status`](super::status)'s).
//!
//! Everything here is pure: parsing and extraction from k8s objects. No API calls; the phase
//! files fetch.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

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

    /// The object's uid, which its ReplicaSets and ControllerRevisions name as their owner.
    pub fn uid(&self) -> Option<String> {
        match self {
            Workload::Deployment(d) => d.metadata.uid.clone(),
            Workload::StatefulSet(s) => s.metadata.uid.clone(),
            Workload::DaemonSet(d) => d.metadata.uid.clone(),
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
    Deployment(DeploymentStatus),
    StatefulSet(StatefulSetStatus),
    DaemonSet(DaemonSetStatus),
}

/// What `kubectl rollout status deploy/…` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub spec_replicas: Option<i32>,
    pub replicas: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// The Progressing condition's reason is ProgressDeadlineExceeded.
    pub progress_deadline_exceeded: bool,
}

/// What `kubectl rollout status sts/…` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatefulSetStatus {
    /// `spec.updateStrategy.type`; the API server defaults it to RollingUpdate.
    pub strategy: String,
    pub spec_replicas: Option<i32>,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    pub current_replicas: i32,
    /// `spec.updateStrategy.rollingUpdate` is present (the API server defaults it).
    pub rolling_update_set: bool,
    pub partition: Option<i32>,
    pub current_revision: String,
    pub update_revision: String,
}

/// What `kubectl rollout status ds/…` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSetStatus {
    pub strategy: String,
    pub desired_scheduled: i32,
    pub updated_scheduled: i32,
    pub ready: i32,
    pub available: i32,
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
    /// The view of an object with this metadata, the generation its status observed, and its
    /// kind's status.
    fn new(meta: &ObjectMeta, observed_generation: Option<i64>, status: KindStatus) -> Self {
        WorkloadView {
            name: meta.name.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or(0),
            observed_generation: observed_generation.unwrap_or(0),
            status,
        }
    }

    pub fn from_deployment(d: &Deployment) -> WorkloadView {
        let spec = d.spec.as_ref();
        let st = d.status.clone().unwrap_or_default();
        let timed_out = st.conditions.iter().flatten().any(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        WorkloadView::new(
            &d.metadata,
            st.observed_generation,
            KindStatus::Deployment(DeploymentStatus {
                spec_replicas: spec.and_then(|s| s.replicas),
                replicas: n(st.replicas),
                updated: n(st.updated_replicas),
                ready: n(st.ready_replicas),
                available: n(st.available_replicas),
                progress_deadline_exceeded: timed_out,
            }),
        )
    }

    pub fn from_stateful_set(s: &StatefulSet) -> WorkloadView {
        let spec = s.spec.as_ref();
        let strategy = spec.and_then(|s| s.update_strategy.as_ref());
        let st = s.status.clone().unwrap_or_default();
        WorkloadView::new(
            &s.metadata,
            st.observed_generation,
            KindStatus::StatefulSet(StatefulSetStatus {
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
            }),
        )
    }

    pub fn from_daemon_set(d: &DaemonSet) -> WorkloadView {
        let spec = d.spec.as_ref();
        let st = d.status.clone().unwrap_or_default();
        WorkloadView::new(
            &d.metadata,
            st.observed_generation,
            KindStatus::DaemonSet(DaemonSetStatus {
                strategy: spec
                    .and_then(|s| s.update_strategy.as_ref())
                    .and_then(|u| u.type_.clone())
                    .unwrap_or_else(|| "RollingUpdate".into()),
                desired_scheduled: st.desired_number_scheduled,
                updated_scheduled: n(st.updated_number_scheduled),
                ready: st.number_ready,
                available: n(st.number_available),
            }),
        )
    }

    /// (desired, updated, ready, available) for the timeline's `WorkloadStatus`.
    pub fn counts(&self) -> (u32, u32, u32, u32) {
        let u = |v: i32| u32::try_from(v).unwrap_or(0);
        match &self.status {
            KindStatus::Deployment(d) => (
                u(n(d.spec_replicas)),
                u(d.updated),
                u(d.ready),
                u(d.available),
            ),
            KindStatus::StatefulSet(s) => (
                u(n(s.spec_replicas)),
                u(s.updated),
                u(s.ready),
                u(s.available),
            ),
            KindStatus::DaemonSet(d) => (
                u(d.desired_scheduled),
                u(d.updated_scheduled),
                u(d.ready),
                u(d.available),
            ),
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
