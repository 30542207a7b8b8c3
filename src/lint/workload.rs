//! What lint reads of a workload, whatever its kind: replicas, update strategy, pod template
//! and selector — and the rollout-relevant numbers derived from them the way Kubernetes derives
//! them (surge rounded up, unavailability rounded down, `sleep N` in a preStop command). Pure.

use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::checks::Check;
use super::parse::Object;

/// Kubernetes' grace period when none is set.
pub const DEFAULT_GRACE_SECS: i64 = 30;

/// A workload's rollout-relevant parts, whatever its kind.
pub(super) struct Workload<'a> {
    /// `deploy/web`, `sts/db`, `ds/agent`.
    pub(super) reference: String,
    pub(super) name: String,
    pub(super) replicas: Option<i32>,
    pub(super) strategy: Strategy,
    pub(super) selector: Option<&'a LabelSelector>,
    pub(super) template: &'a PodTemplateSpec,
}

pub(super) enum Strategy {
    /// maxSurge / maxUnavailable as written (None = Kubernetes' default).
    Rolling {
        max_surge: Option<IntOrString>,
        max_unavailable: Option<IntOrString>,
        default: &'static str,
    },
    /// Every pod stops before any new one starts.
    Recreate,
    /// A StatefulSet replaces each pod in place: it deletes one, then creates its successor.
    InPlace,
    /// Pods are only replaced when deleted by hand.
    OnDelete,
}

pub(super) fn workloads(objects: &[Object]) -> Vec<Workload<'_>> {
    let mut out = Vec::new();
    for o in objects {
        match o {
            Object::Deployment(d) => {
                let Some(spec) = &d.spec else { continue };
                let strategy = match spec.strategy.as_ref() {
                    Some(s) if s.type_.as_deref() == Some("Recreate") => Strategy::Recreate,
                    s => {
                        let ru = s.and_then(|s| s.rolling_update.as_ref());
                        Strategy::Rolling {
                            max_surge: ru.and_then(|r| r.max_surge.clone()),
                            max_unavailable: ru.and_then(|r| r.max_unavailable.clone()),
                            default: "25%",
                        }
                    }
                };
                let name = d.metadata.name.clone().unwrap_or_default();
                out.push(Workload {
                    reference: format!("deploy/{name}"),
                    name,
                    replicas: Some(spec.replicas.unwrap_or(1)),
                    strategy,
                    selector: Some(&spec.selector),
                    template: &spec.template,
                });
            }
            Object::StatefulSet(s) => {
                let Some(spec) = &s.spec else { continue };
                let on_delete = spec
                    .update_strategy
                    .as_ref()
                    .and_then(|u| u.type_.as_deref())
                    == Some("OnDelete");
                let name = s.metadata.name.clone().unwrap_or_default();
                out.push(Workload {
                    reference: format!("sts/{name}"),
                    name,
                    replicas: Some(spec.replicas.unwrap_or(1)),
                    strategy: if on_delete {
                        Strategy::OnDelete
                    } else {
                        Strategy::InPlace
                    },
                    selector: Some(&spec.selector),
                    template: &spec.template,
                });
            }
            Object::DaemonSet(d) => {
                let Some(spec) = &d.spec else { continue };
                let us = spec.update_strategy.as_ref();
                let strategy = if us.and_then(|u| u.type_.as_deref()) == Some("OnDelete") {
                    Strategy::OnDelete
                } else {
                    let ru = us.and_then(|u| u.rolling_update.as_ref());
                    Strategy::Rolling {
                        max_surge: ru.and_then(|r| r.max_surge.clone()),
                        max_unavailable: ru.and_then(|r| r.max_unavailable.clone()),
                        default: "1",
                    }
                };
                let name = d.metadata.name.clone().unwrap_or_default();
                out.push(Workload {
                    reference: format!("ds/{name}"),
                    name,
                    replicas: None,
                    strategy,
                    selector: Some(&spec.selector),
                    template: &spec.template,
                });
            }
            _ => {}
        }
    }
    out
}

/// The containers that serve traffic: those declaring a port, or the only one.
pub(super) fn serving(template: &PodTemplateSpec) -> Vec<&Container> {
    let Some(spec) = &template.spec else {
        return Vec::new();
    };
    let with_ports: Vec<&Container> = spec
        .containers
        .iter()
        .filter(|c| c.ports.as_ref().is_some_and(|p| !p.is_empty()))
        .collect();
    if with_ports.is_empty() {
        spec.containers.iter().take(1).collect()
    } else {
        with_ports
    }
}

/// The seconds a preStop hook sleeps: a sleep action, or `sleep N` inside an exec command.
pub fn prestop_sleep(c: &Container) -> Option<i64> {
    let h = c.lifecycle.as_ref()?.pre_stop.as_ref()?;
    if let Some(s) = &h.sleep {
        return Some(s.seconds);
    }
    let words: Vec<&str> = h
        .exec
        .as_ref()?
        .command
        .iter()
        .flatten()
        .flat_map(|part| part.split(|ch: char| ch.is_whitespace() || ch == ';' || ch == '&'))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| w[0] == "sleep")
        .filter_map(|w| w[1].trim_end_matches('s').parse::<f64>().ok())
        .map(|s| s.ceil() as i64)
        .max()
}

/// Resolves maxSurge / maxUnavailable as Kubernetes does: percentages of replicas, surge
/// rounded up and unavailability rounded down.
pub(super) fn resolve(v: &IntOrString, replicas: i32, round_up: bool) -> Option<i32> {
    match v {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => {
            let pct: f64 = s.strip_suffix('%')?.trim().parse().ok()?;
            let exact = pct * f64::from(replicas) / 100.0;
            Some(if round_up {
                exact.ceil()
            } else {
                exact.floor()
            } as i32)
        }
    }
}

pub(super) fn show(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// What the analysis should know of the first workload in `objects`: preStop sleep, grace
/// period, resolved surge and unavailability, readiness probe, and names for fix snippets.
/// The run flow fills [`AnalysisInput::workload`](crate::analysis::AnalysisInput) from it, so a
/// run's findings quote the same configuration lint read.
pub fn workload_config(objects: &[Object]) -> Option<crate::analysis::WorkloadConfig> {
    let ws = workloads(objects);
    let w = ws.first()?;
    let check = Check::new(w);
    let container = serving(w.template).into_iter().next();
    let replicas = w.replicas.unwrap_or(1);
    let (max_surge, max_unavailable) = match &w.strategy {
        Strategy::Rolling {
            max_surge,
            max_unavailable,
            default,
        } => {
            let d = IntOrString::String((*default).into());
            let surge = resolve(max_surge.as_ref().unwrap_or(&d), replicas, true);
            let unavailable = resolve(max_unavailable.as_ref().unwrap_or(&d), replicas, false);
            (
                surge.map(|v| v.max(0) as u32),
                unavailable.map(|v| v.max(0) as u32),
            )
        }
        Strategy::Recreate => (Some(0), Some(replicas.max(0) as u32)),
        Strategy::InPlace => (Some(0), Some(1)),
        Strategy::OnDelete => (None, None),
    };
    let secs = |s: i64| std::time::Duration::from_secs(s.max(0) as u64);
    Some(crate::analysis::WorkloadConfig {
        // No preStop hook at all: the stop signal goes out as termination begins.
        prestop: container
            .and_then(
                |c| match c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) {
                    None => Some(0),
                    Some(_) => prestop_sleep(c),
                },
            )
            .map(secs),
        grace_period: Some(secs(
            w.template
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(DEFAULT_GRACE_SECS),
        )),
        propagation_delay: None,
        max_surge,
        max_unavailable,
        readiness_probe: container.map(|c| c.readiness_probe.is_some()),
        target: Some(check.target),
    })
}
