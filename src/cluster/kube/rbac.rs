//! The least-privilege Role rules of one `zerodrop run`: exactly the API calls the runtime will
//! make for a given workload, Service, trigger and undo setting, and nothing more.
//!
//! The rules mirror the calls in the phase files (`prepare.rs`, `start.rs`, `shutdown.rs`, most
//! through `calls.rs`), `service.rs` and `watch.rs` one by one (each is an
//! [`super::ApiCall`] there): the workload is read (get, and the watcher's list + watch), its
//! pods, Events and the Service's EndpointSlices are listed and watched, the Service is read by
//! name (`--service`) or found in a list, and the trigger and `--undo-on-failure` add their own
//! writes. Writes are narrowed to the one object by `resourceNames` wherever its name is known
//! before the run. This module is pure; the manifest generator puts the rules into a Role.

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::KubeConfig;
use super::trigger::Trigger;
use super::workload::WorkloadKind;

/// Everything beyond the run's own calls that changes the rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// `--result-configmap NAME`: the result is patched into this ConfigMap (which the
    /// manifest creates, so no `create` is needed).
    pub result_configmap: Option<String>,
}

fn rule(group: &str, resources: &[&str], verbs: &[&str], names: Option<&str>) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        resource_names: names.map(|n| vec![n.to_string()]),
        non_resource_urls: None,
    }
}

/// Does the trigger (or undo) write to the workload itself?
fn patches_workload(cfg: &KubeConfig) -> bool {
    let trigger_patches = matches!(
        cfg.trigger,
        Trigger::Restart | Trigger::Image { .. } | Trigger::Patch { .. }
    );
    // Undo of a blue-green switch patches the Service back, not the workload; kill-pod has
    // nothing to undo (refused at validation).
    let undo_patches =
        cfg.undo_on_failure && !matches!(cfg.trigger, Trigger::Selector { .. } | Trigger::KillPod);
    trigger_patches || undo_patches
}

/// The Role rules one run with `cfg` needs, in a fixed order.
pub fn rules(cfg: &KubeConfig, extras: &Extras) -> Vec<PolicyRule> {
    let kind = cfg.workload.kind.resource();
    let name = cfg.workload.name.as_str();
    let mut out = vec![
        // get: the workload before the trigger; list + watch: its watcher.
        rule("apps", &[kind], &["get", "list", "watch"], None),
    ];
    if patches_workload(cfg) {
        out.push(rule("apps", &[kind], &["patch"], Some(name)));
    }
    out.push(rule("", &["pods", "events"], &["list", "watch"], None));
    if cfg.trigger == Trigger::KillPod {
        // The pods' names are only known at the trigger.
        out.push(rule("", &["pods"], &["delete"], None));
    }
    out.push(rule(
        "discovery.k8s.io",
        &["endpointslices"],
        &["list", "watch"],
        None,
    ));
    let service = cfg.service.as_deref();
    match service {
        Some(svc) => out.push(rule("", &["services"], &["get"], Some(svc))),
        // Found by matching every Service's selector against the pod labels.
        None => out.push(rule("", &["services"], &["list"], None)),
    }
    if matches!(cfg.trigger, Trigger::Selector { .. }) {
        out.push(rule("", &["services"], &["patch"], service));
    }
    // The pre-flight lint reads the namespace's PodDisruptionBudgets (`read_workload`).
    out.push(rule("policy", &["poddisruptionbudgets"], &["list"], None));
    if cfg.undo_on_failure && !matches!(cfg.trigger, Trigger::Selector { .. }) {
        // `kubectl rollout undo` reads the rollout history: ReplicaSets for a Deployment,
        // ControllerRevisions for the other two kinds.
        let history = match cfg.workload.kind {
            WorkloadKind::Deployment => "replicasets",
            WorkloadKind::StatefulSet | WorkloadKind::DaemonSet => "controllerrevisions",
        };
        out.push(rule("apps", &[history], &["list"], None));
    }
    if let Some(cm) = &extras.result_configmap {
        out.push(rule("", &["configmaps"], &["patch"], Some(cm)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::kube::WorkloadRef;

    fn cfg(workload: &str, trigger: Trigger) -> KubeConfig {
        KubeConfig {
            trigger,
            ..KubeConfig::new(WorkloadRef::parse(workload).expect("valid"))
        }
    }

    fn verbs_on(rules: &[PolicyRule], resource: &str) -> Vec<String> {
        rules
            .iter()
            .filter(|r| {
                r.resources
                    .as_deref()
                    .unwrap_or(&[])
                    .iter()
                    .any(|x| x == resource)
            })
            .flat_map(|r| r.verbs.clone())
            .collect()
    }

    #[test]
    fn external_and_exec_triggers_only_read() {
        for t in [
            Trigger::External,
            Trigger::Exec {
                argv: vec!["helm".into()],
            },
        ] {
            let r = rules(&cfg("deploy/web", t), &Extras::default());
            let writes: Vec<&PolicyRule> = r
                .iter()
                .filter(|r| r.verbs.iter().any(|v| v == "patch" || v == "delete"))
                .collect();
            assert!(writes.is_empty(), "{writes:?}");
        }
    }

    #[test]
    fn undo_after_exec_patches_the_workload_and_reads_its_history() {
        let mut c = cfg(
            "sts/db",
            Trigger::Exec {
                argv: vec!["helm".into()],
            },
        );
        c.undo_on_failure = true;
        let r = rules(&c, &Extras::default());
        assert_eq!(
            verbs_on(&r, "statefulsets"),
            ["get", "list", "watch", "patch"]
        );
        assert_eq!(verbs_on(&r, "controllerrevisions"), ["list"]);
        assert!(verbs_on(&r, "replicasets").is_empty());
    }

    #[test]
    fn a_named_service_is_read_by_name_and_an_unnamed_one_found_in_a_list() {
        let mut c = cfg("deploy/web", Trigger::Restart);
        let r = rules(&c, &Extras::default());
        assert_eq!(verbs_on(&r, "services"), ["list"]);
        c.service = Some("web".into());
        let r = rules(&c, &Extras::default());
        let svc: Vec<&PolicyRule> = r
            .iter()
            .filter(|r| r.resources.as_deref() == Some(&["services".to_string()][..]))
            .collect();
        assert_eq!(svc.len(), 1);
        assert_eq!(svc[0].verbs, ["get"]);
        assert_eq!(
            svc[0].resource_names.as_deref(),
            Some(&["web".to_string()][..])
        );
    }
}
