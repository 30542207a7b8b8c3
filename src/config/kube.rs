//! The Kubernetes runtime's flags of `zerodrop run` as typed ([`KubeFlags`]), and their
//! validation — with the `WORKLOAD` argument and the command after `--` — into the runtime's
//! [`KubeConfig`]. Traffic, phase and output flags belong to the plan; problems go to the
//! shared collector, each naming its flag.
//!
//! This module parses and checks local input (a patch file included); it makes no API call.

use std::path::PathBuf;
use std::time::Duration;

use super::problems::Problems;
use crate::cluster::kube::trigger::{self, PatchKind, Trigger};
use crate::cluster::kube::{ConnectOptions, KubeConfig, WorkloadRef};
use crate::model::units;

/// The Kubernetes flags as the user typed them; the defaults are the flags' defaults.
#[derive(Clone, Debug)]
pub struct KubeFlags {
    pub namespace: Option<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub service: Option<String>,
    pub trigger: String,
    pub patch_type: String,
    pub interval: String,
    pub undo_on_failure: bool,
    pub request_timeout: String,
}

impl Default for KubeFlags {
    fn default() -> Self {
        KubeFlags {
            namespace: None,
            context: None,
            kubeconfig: None,
            service: None,
            trigger: "restart".into(),
            patch_type: "strategic".into(),
            interval: "10s".into(),
            undo_on_failure: false,
            request_timeout: "30s".into(),
        }
    }
}

/// What the rest of the input says that the Kubernetes flags depend on.
pub struct KubeContext<'a> {
    /// The `WORKLOAD` argument.
    pub workload: &'a str,
    /// The command after `--`.
    pub command: &'a [String],
    /// The plan's `--rollout-timeout` (one flag, one default, for the run flow and the cluster).
    pub rollout_timeout: Duration,
    /// Whether a `--target` was given: without one, the Service's cluster DNS name is used,
    /// which only resolves inside the cluster.
    pub target_given: bool,
    /// Whether zerodrop runs in a pod ([`in_cluster`]).
    pub in_cluster: bool,
}

/// Environment variables every pod gets; their presence is how zerodrop (like kube's in-cluster
/// config) knows it runs inside the cluster, where a Service's DNS name resolves.
pub fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        && std::env::var_os("KUBERNETES_SERVICE_PORT").is_some()
}

/// The runtime's configuration; `None` when any of these flags has a problem.
pub fn from_args(k: &KubeFlags, cx: &KubeContext<'_>, p: &mut Problems<'_>) -> Option<KubeConfig> {
    let start = p.count();
    let workload = p.check(
        "WORKLOAD",
        WorkloadRef::parse(cx.workload).map_err(|e| e.to_string()),
    );
    let trigger = trigger(k, cx.command, p);
    let interval = p.check("--interval", units::positive_duration(&k.interval));
    let request_timeout = p.check(
        "--request-timeout",
        units::positive_duration(&k.request_timeout),
    );
    for (flag, value) in [
        ("--namespace", &k.namespace),
        ("--context", &k.context),
        ("--service", &k.service),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            p.push(flag, "must not be empty");
        }
    }
    if !cx.target_given && !cx.in_cluster {
        p.push(
            "--target",
            "required when zerodrop runs outside the cluster: the URL that reaches the \
             Service (inside a pod, the Service's cluster DNS name is used when none is given)",
        );
    }
    if p.count() != start {
        return None;
    }
    Some(KubeConfig {
        connect: ConnectOptions {
            kubeconfig: k.kubeconfig.clone(),
            context: k.context.clone(),
            namespace: k.namespace.clone(),
        },
        service: k.service.clone(),
        trigger: trigger?,
        rollout_timeout: cx.rollout_timeout,
        undo_on_failure: k.undo_on_failure,
        interval: interval?,
        request_timeout: request_timeout?,
        service_target: !cx.target_given,
        ..KubeConfig::new(workload?)
    })
}

/// `--trigger`, `--patch-type`, the patch file and the command after `--`, checked together.
fn trigger(k: &KubeFlags, command: &[String], p: &mut Problems<'_>) -> Option<Trigger> {
    let patch_kind = match k.patch_type.trim().to_ascii_lowercase().as_str() {
        "strategic" => Some(PatchKind::Strategic),
        "merge" => Some(PatchKind::Merge),
        "json" => Some(PatchKind::Json),
        other => {
            p.push(
                "--patch-type",
                format!("unknown patch type `{other}`: use strategic, merge or json"),
            );
            None
        }
    };
    let kind = patch_kind.unwrap_or(PatchKind::Strategic);
    let trigger = p.check(
        "--trigger",
        Trigger::parse(&k.trigger, kind, command).map_err(|e| e.to_string()),
    );
    // A bad patch file is bad input, found now rather than after the baseline has run.
    if let (Some(Trigger::Patch { file, kind }), Some(_)) = (&trigger, patch_kind)
        && let Err(e) = trigger::read_patch(file, *kind)
    {
        p.push("--trigger", e.to_string());
    }
    if !command.is_empty() && !matches!(trigger, Some(Trigger::Exec { .. }) | None) {
        p.push(
            "-- CMD",
            format!(
                "a command after -- is only run by --trigger exec (the trigger is `{}`)",
                k.trigger.trim()
            ),
        );
    }
    if k.undo_on_failure && trigger == Some(Trigger::KillPod) {
        p.push(
            "--undo-on-failure",
            "--trigger kill-pod changes nothing that could be rolled back",
        );
    }
    trigger
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Problem;

    fn args() -> KubeFlags {
        KubeFlags {
            trigger: "restart".into(),
            patch_type: "strategic".into(),
            interval: "10s".into(),
            request_timeout: "30s".into(),
            ..KubeFlags::default()
        }
    }

    const TIMEOUT: Duration = Duration::from_secs(90);

    /// The flags validated on their own, as `zerodrop run` validates them beside the plan.
    fn into_config(
        k: &KubeFlags,
        workload: &str,
        command: &[String],
        rollout_timeout: Duration,
        target_given: bool,
        in_cluster: bool,
    ) -> Result<KubeConfig, Vec<Problem>> {
        let mut p = Problems::new(None);
        let cx = KubeContext {
            workload,
            command,
            rollout_timeout,
            target_given,
            in_cluster,
        };
        let config = from_args(k, &cx, &mut p);
        p.finish(config)
            .map_err(|e| e.problems)
            .map(|c| c.expect("a config when there is no problem"))
    }

    fn places(r: Result<KubeConfig, Vec<Problem>>) -> Vec<String> {
        r.expect_err("invalid")
            .into_iter()
            .map(|p| p.place)
            .collect()
    }

    #[test]
    fn valid_flags_become_a_config_carrying_the_plans_rollout_timeout() {
        let a = KubeFlags {
            namespace: Some("shop".into()),
            trigger: "image web=web:2".into(),
            undo_on_failure: true,
            interval: "2s".into(),
            ..args()
        };
        let c = into_config(&a, "deploy/web", &[], TIMEOUT, true, false).expect("valid");
        assert_eq!(c.workload.to_string(), "deploy/web");
        assert_eq!(c.connect.namespace.as_deref(), Some("shop"));
        assert_eq!(c.rollout_timeout, TIMEOUT);
        assert_eq!(c.interval, Duration::from_secs(2));
        assert!(c.undo_on_failure);
        assert!(!c.service_target, "a given --target is used as is");
        assert!(matches!(c.trigger, Trigger::Image { .. }));
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_its_flag() {
        let a = KubeFlags {
            trigger: "reboot".into(),
            interval: "soon".into(),
            patch_type: "yaml".into(),
            ..args()
        };
        assert_eq!(
            places(into_config(&a, "pod/web", &[], TIMEOUT, false, false)),
            [
                "WORKLOAD",
                "--patch-type",
                "--trigger",
                "--interval",
                "--target"
            ]
        );
    }

    #[test]
    fn the_target_may_be_left_out_only_inside_the_cluster() {
        let c = into_config(&args(), "deploy/web", &[], TIMEOUT, false, true).expect("in a pod");
        assert!(c.service_target);
        let p =
            into_config(&args(), "deploy/web", &[], TIMEOUT, false, false).expect_err("outside");
        assert_eq!(p[0].place, "--target");
        assert!(p[0].message.contains("outside the cluster"), "{}", p[0]);
    }

    #[test]
    fn a_command_needs_the_exec_trigger_and_exec_needs_a_command() {
        let cmd = vec!["helm".to_string(), "upgrade".to_string()];
        assert_eq!(
            places(into_config(
                &args(),
                "deploy/web",
                &cmd,
                TIMEOUT,
                true,
                false
            )),
            ["-- CMD"]
        );
        let exec = KubeFlags {
            trigger: "exec".into(),
            ..args()
        };
        assert_eq!(
            places(into_config(&exec, "deploy/web", &[], TIMEOUT, true, false)),
            ["--trigger"]
        );
        let c = into_config(&exec, "deploy/web", &cmd, TIMEOUT, true, false).expect("valid");
        assert_eq!(c.trigger, Trigger::Exec { argv: cmd });
    }

    #[test]
    fn a_patch_file_is_read_and_shape_checked_before_anything_runs() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("p.yaml");
        std::fs::write(&f, "spec:\n  replicas: 3\n").expect("write");
        let a = KubeFlags {
            trigger: format!("patch {}", f.display()),
            patch_type: "json".into(),
            ..args()
        };
        let p = into_config(&a, "deploy/web", &[], TIMEOUT, true, false)
            .expect_err("a mapping is no JSON patch");
        assert!(p[0].message.contains("list of operations"), "{}", p[0]);
        let a = KubeFlags {
            patch_type: "strategic".into(),
            ..a
        };
        assert!(into_config(&a, "deploy/web", &[], TIMEOUT, true, false).is_ok());
    }

    #[test]
    fn undo_is_refused_for_kill_pod_which_changes_nothing() {
        let a = KubeFlags {
            trigger: "kill-pod".into(),
            undo_on_failure: true,
            ..args()
        };
        assert_eq!(
            places(into_config(&a, "deploy/web", &[], TIMEOUT, true, false)),
            ["--undo-on-failure"]
        );
    }
}
