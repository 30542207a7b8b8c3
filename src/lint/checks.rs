//! The static checks of `zerodrop lint`: rollout risks read from a workload's spec, before
//! anything runs, reported with the same finding ids and fix snippets as the analysis of a run.
//! Pure: objects in, findings out.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::parse::Object;
use super::workload::{
    DEFAULT_GRACE_SECS, Strategy, Workload, prestop_sleep, resolve, serving, show, workloads,
};
use crate::analysis::fixes::{self, Target};
use crate::model::finding::{Evidence, Finding, FindingId, Severity};

/// A probe that waits this long before its first check marks a slow starter.
const SLOW_START_SECS: i32 = 10;

/// Whether the input is known to hold every PodDisruptionBudget that could cover the pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdbScope {
    /// Manifest files: PDBs may be applied from elsewhere, unless the files hold some.
    Manifests,
    /// A live namespace: every PDB was listed.
    Complete,
}

/// Lints every workload in `objects` (manifest input).
pub fn lint_objects(objects: &[Object]) -> Vec<Finding> {
    lint_with(objects, PdbScope::Manifests)
}

/// Lints every workload in `objects`, knowing how complete their PDBs are.
pub fn lint_with(objects: &[Object], scope: PdbScope) -> Vec<Finding> {
    let pdbs: Vec<&LabelSelector> = objects
        .iter()
        .filter_map(|o| match o {
            Object::PodDisruptionBudget(p) => p.spec.as_ref()?.selector.as_ref(),
            _ => None,
        })
        .collect();
    let any_pdb = objects
        .iter()
        .any(|o| matches!(o, Object::PodDisruptionBudget(_)));
    let mut out = Vec::new();
    for w in workloads(objects) {
        let cx = Check::new(&w);
        cx.replicas(&mut out);
        cx.strategy(&mut out);
        cx.containers(&mut out);
        cx.disruption_budget(&pdbs, any_pdb, scope, &mut out);
        cx.spread(&mut out);
    }
    // Most serious first; a stable order within a severity.
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
    out
}

pub(super) struct Check<'a> {
    w: &'a Workload<'a>,
    pub(super) target: Target,
    labels: BTreeMap<String, String>,
}

/// The part of a probe that decides what it checks (not how often).
fn handler(p: &Probe) -> impl PartialEq + '_ {
    (&p.http_get, &p.tcp_socket, &p.exec, &p.grpc)
}

impl<'a> Check<'a> {
    pub(super) fn new(w: &'a Workload<'a>) -> Check<'a> {
        let labels: BTreeMap<String, String> = w
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let selector_labels: Vec<(String, String)> = w
            .selector
            .and_then(|s| s.match_labels.clone())
            .map(|m| m.into_iter().collect())
            .unwrap_or_else(|| labels.clone().into_iter().collect());
        let first = serving(w.template).into_iter().next();
        let container = first.map_or_else(|| "app".to_string(), |c| c.name.clone());
        // Probes in a snippet should name a port the container really has.
        let port = first.and_then(|c| c.ports.as_ref()?.first()).map_or_else(
            || "http".to_string(),
            |p| {
                p.name
                    .clone()
                    .unwrap_or_else(|| p.container_port.to_string())
            },
        );
        Check {
            w,
            target: Target {
                name: w.name.clone(),
                container,
                labels: selector_labels,
                port,
            },
            labels,
        }
    }

    fn push(
        &self,
        out: &mut Vec<Finding>,
        (id, severity): (FindingId, Severity),
        title: String,
        details: Vec<String>,
        text: (&str, &str),
        fix_yaml: Option<String>,
    ) {
        out.push(Finding {
            id,
            severity,
            title: format!("{}: {title}", self.w.reference),
            evidence: Evidence {
                details,
                ..Evidence::default()
            },
            cause: text.0.to_string(),
            fix: text.1.to_string(),
            fix_yaml,
        });
    }

    fn replicas(&self, out: &mut Vec<Finding>) {
        let Some(r) = self.w.replicas.filter(|r| *r < 2) else {
            return;
        };
        self.push(
            out,
            (FindingId::SingleReplica, Severity::Warning),
            format!("{r} replica"),
            vec![
                "replicas not set or below 2 (ignore if a HorizontalPodAutoscaler sets it)".into(),
            ],
            (
                "With one pod, any restart, eviction or crash leaves the Service with no endpoint.",
                "Run at least 2 replicas.",
            ),
            Some(fixes::surge_strategy(Some(2))),
        );
    }

    fn strategy(&self, out: &mut Vec<Finding>) {
        let replicas = self.w.replicas.unwrap_or(1);
        let (title, severity, details) = match &self.w.strategy {
            Strategy::Recreate => (
                "strategy Recreate stops every pod before new ones start".to_string(),
                Severity::Error,
                vec!["the Service has no endpoint until the new pods are ready".to_string()],
            ),
            Strategy::InPlace => (
                "a StatefulSet rollout deletes each pod before its successor starts".to_string(),
                if replicas < 2 {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                vec![format!(
                    "one of {replicas} pods is unavailable at every step of the rollout"
                )],
            ),
            Strategy::OnDelete => return,
            Strategy::Rolling {
                max_surge,
                max_unavailable,
                default,
            } => match self.rolling(max_surge, max_unavailable, default) {
                Some(risk) => risk,
                None => return,
            },
        };
        self.push(
            out,
            (FindingId::MaxUnavailableNonZero, severity),
            title,
            details,
            (
                "Pods can leave the Service before their replacements are ready, so capacity dips (to zero with one replica).",
                "Roll with maxUnavailable: 0 and maxSurge: 1: a new pod is ready before an old one goes.",
            ),
            Some(fixes::surge_strategy(self.w.replicas.map(|r| r as u32))),
        );
    }

    /// What a rolling update with these settings risks: up to how many pods may be unavailable
    /// (or a percentage that rounds to none today), as a title, severity and details; `None`
    /// when no pod may be unavailable.
    fn rolling(
        &self,
        max_surge: &Option<IntOrString>,
        max_unavailable: &Option<IntOrString>,
        default: &str,
    ) -> Option<(String, Severity, Vec<String>)> {
        let replicas = self.w.replicas.unwrap_or(1);
        let written = max_unavailable
            .clone()
            .unwrap_or_else(|| IntOrString::String(default.into()));
        let surge = max_surge
            .clone()
            .unwrap_or_else(|| IntOrString::String(default.into()));
        let base = if self.w.replicas.is_some() {
            replicas
        } else {
            1
        };
        let mut unavailable = resolve(&written, base, false).unwrap_or(1);
        // Kubernetes refuses both at zero by making one pod unavailable.
        if unavailable == 0 && resolve(&surge, base, true) == Some(0) {
            unavailable = 1;
        }
        let source = if max_unavailable.is_none() {
            format!("maxUnavailable not set: the default {default} applies")
        } else {
            format!("maxUnavailable: {}", show(&written))
        };
        if unavailable > 0 {
            let severity = if self.w.replicas.is_some_and(|r| unavailable >= r) {
                Severity::Error
            } else {
                Severity::Warning
            };
            Some((
                format!("up to {unavailable} pod(s) may be unavailable during a rollout"),
                severity,
                vec![source],
            ))
        } else if matches!(written, IntOrString::String(_)) {
            Some((
                format!(
                    "maxUnavailable {} is 0 pods at {replicas} replicas, but grows with them",
                    show(&written)
                ),
                Severity::Info,
                vec![
                    source,
                    "a percentage grows with the replica count (an autoscaler, a later edit): at 4 or more replicas 25% lets a pod go before its replacement is ready".into(),
                ],
            ))
        } else {
            None
        }
    }

    fn containers(&self, out: &mut Vec<Finding>) {
        let spec = self.w.template.spec.as_ref();
        let grace = spec.and_then(|s| s.termination_grace_period_seconds);
        for c in serving(self.w.template) {
            self.readiness_probe(c, out);
            self.distinct_probes(c, out);
            self.prestop_hook(c, grace, out);
            self.grace_period(c, grace, out);
            self.startup_probe(c, out);
        }
    }

    /// A serving container needs a readiness probe.
    fn readiness_probe(&self, c: &Container, out: &mut Vec<Finding>) {
        let name = &c.name;
        if c.readiness_probe.is_none() {
            self.push(
                out,
                (FindingId::NoReadinessProbe, Severity::Error),
                format!("container {name} has no readiness probe"),
                vec![if c.liveness_probe.is_none() && c.startup_probe.is_none() {
                    "no probes at all: the pod is ready the moment its container starts".into()
                } else {
                    "the pod is ready the moment its container starts".into()
                }],
                (
                    "Without a readiness probe the Service sends traffic before the app can serve it.",
                    "Add a readiness probe that checks what the app needs before it serves.",
                ),
                Some(fixes::readiness_probe(&self.target)),
            );
        }
    }

    /// Readiness and liveness should not check the same thing.
    fn distinct_probes(&self, c: &Container, out: &mut Vec<Finding>) {
        let name = &c.name;
        if let (Some(r), Some(l)) = (&c.readiness_probe, &c.liveness_probe)
            && handler(r) == handler(l)
        {
            self.push(
                out,
                (FindingId::ReadinessEqualsLiveness, Severity::Warning),
                format!("container {name}: readiness probe checks the same thing as liveness"),
                Vec::new(),
                (
                    "Readiness then cannot say \"alive but not ready\" (warming up, draining, a dependency down), and a dependency check in liveness restarts every pod at once.",
                    "Give readiness its own endpoint that checks dependencies and draining; keep liveness cheap and local.",
                ),
                Some(fixes::distinct_probes(&self.target)),
            );
        }
    }

    /// A preStop hook gives the endpoint time to leave before the app stops.
    fn prestop_hook(&self, c: &Container, grace: Option<i64>, out: &mut Vec<Finding>) {
        let name = &c.name;
        let has_prestop = c.lifecycle.as_ref().is_some_and(|l| l.pre_stop.is_some());
        if !has_prestop {
            let mut details = vec![
                "termination and endpoint removal start together; without a delay the app stops while traffic still arrives".to_string(),
            ];
            details.push(match grace {
                None => format!(
                    "terminationGracePeriodSeconds not set: the default {DEFAULT_GRACE_SECS} s applies and no graceful shutdown period was chosen"
                ),
                Some(g) => format!("terminationGracePeriodSeconds: {g}"),
            });
            self.push(
                out,
                (FindingId::NoPrestop, Severity::Error),
                format!("container {name} has no preStop hook"),
                details,
                (
                    "The pod stops serving before kube-proxy and load balancers stop sending it traffic.",
                    "Add a preStop sleep longer than the endpoint de-registration lag (`zerodrop run` measures it), and a grace period that covers it plus the drain.",
                ),
                Some(fixes::prestop(&self.target, 5, DEFAULT_GRACE_SECS as u64)),
            );
        }
    }

    /// The grace period must outlast the preStop sleep, or the app gets no time to drain.
    fn grace_period(&self, c: &Container, grace: Option<i64>, out: &mut Vec<Finding>) {
        let name = &c.name;
        let sleep = prestop_sleep(c);
        let g = grace.unwrap_or(DEFAULT_GRACE_SECS);
        if let Some(s) = sleep
            && g <= s
        {
            self.push(
                out,
                (FindingId::GracePeriodTooShort, Severity::Error),
                format!("container {name}: grace period {g} s is not longer than its preStop sleep {s} s"),
                vec![format!("the app gets {} s between SIGTERM and SIGKILL", (g - s).max(0))],
                (
                    "The grace period counts from the start of termination, preStop included, so the app is killed before it can drain.",
                    "Set terminationGracePeriodSeconds to the preStop sleep plus the longest drain.",
                ),
                Some(fixes::grace_period(s.max(0) as u64, DEFAULT_GRACE_SECS as u64)),
            );
        }
    }

    /// A slow starter wants a startup probe rather than a long initial delay.
    fn startup_probe(&self, c: &Container, out: &mut Vec<Finding>) {
        let name = &c.name;
        let slow = [&c.readiness_probe, &c.liveness_probe]
            .into_iter()
            .flatten()
            .filter_map(|p| p.initial_delay_seconds)
            .max()
            .filter(|d| *d >= SLOW_START_SECS);
        if c.startup_probe.is_none()
            && let Some(delay) = slow
        {
            self.push(
                out,
                (FindingId::NoStartupProbe, Severity::Warning),
                format!("container {name} starts slowly but has no startup probe"),
                vec![format!("a probe waits {delay} s before its first check")],
                (
                    "A fixed initial delay is a guess: too short and liveness kills a slow boot, too long and readiness lags.",
                    "Add a startup probe; readiness and liveness begin once it passes.",
                ),
                Some(fixes::startup_probe(&self.target)),
            );
        }
    }

    fn disruption_budget(
        &self,
        pdbs: &[&LabelSelector],
        any_pdb: bool,
        scope: PdbScope,
        out: &mut Vec<Finding>,
    ) {
        if pdbs.iter().any(|s| selects(s, &self.labels)) {
            return;
        }
        let (severity, detail) = match (scope, any_pdb) {
            (PdbScope::Complete, _) => (
                Severity::Warning,
                "no PodDisruptionBudget in the namespace selects these pods",
            ),
            (PdbScope::Manifests, true) => (
                Severity::Warning,
                "the manifests hold PodDisruptionBudgets, but none selects these pods",
            ),
            (PdbScope::Manifests, false) => (
                Severity::Info,
                "no PodDisruptionBudget among the given manifests (ignore if one is applied separately)",
            ),
        };
        self.push(
            out,
            (FindingId::NoPodDisruptionBudget, severity),
            "no PodDisruptionBudget covers the pods".into(),
            vec![detail.into()],
            (
                "A node drain or upgrade may evict every pod at once.",
                "Add a PodDisruptionBudget selecting the pods.",
            ),
            Some(fixes::pod_disruption_budget(&self.target)),
        );
    }

    fn spread(&self, out: &mut Vec<Finding>) {
        if self.w.replicas.is_none_or(|r| r < 2) {
            return;
        }
        let spec = self.w.template.spec.as_ref();
        let anti = spec
            .and_then(|s| s.affinity.as_ref())
            .is_some_and(|a| a.pod_anti_affinity.is_some());
        let spread = spec
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|t| !t.is_empty());
        if anti || spread {
            return;
        }
        self.push(
            out,
            (FindingId::NoSpread, Severity::Info),
            "no pod anti-affinity or topology spread".into(),
            vec!["all replicas may land on one node".into()],
            (
                "One node going away can take every replica with it.",
                "Spread replicas over nodes with a topology spread constraint.",
            ),
            Some(fixes::topology_spread(&self.target)),
        );
    }
}

/// Whether a label selector selects pods with `labels`. An empty selector selects all pods.
fn selects(s: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_label = s
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expr = s.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let have = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => have.is_none_or(|v| !values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    });
    by_label && by_expr
}
