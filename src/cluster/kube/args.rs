//! The flags of `zerodrop run` that configure the Kubernetes runtime (traffic, phase and output
//! flags belong to the plan), and their validation into a [`KubeConfig`]. Raw flags and the
//! validated config are different types; validation reports every problem at once, each
//! naming its flag, so the caller can merge them with the plan's own problems.
//!
//! This module parses and checks local input (files included); it makes no API call.

use std::path::PathBuf;
use std::time::Duration;

use super::KubeConfig;
use super::connect::ConnectOptions;
use super::trigger::{self, PatchKind, Trigger};
use super::workload::WorkloadRef;
use crate::plan::Problem;
use crate::plan::parse;

/// Kubernetes flags of `zerodrop run`, named as kubectl names them where kubectl has one.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "Kubernetes")]
pub struct KubeArgs {
    /// Namespace of the workload (default: the context's namespace, or the pod's in a cluster).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster
    /// service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Service whose endpoints are watched (default: the one Service selecting the workload's
    /// pods).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// What starts the rollout: restart | 'image CONTAINER=IMAGE' | 'patch FILE' | exec (the
    /// command after --) | external | kill-pod | 'selector KEY=VALUE'. A colon may replace the
    /// space: image:web=web:2.
    #[arg(long, value_name = "TRIGGER", default_value = "restart")]
    pub trigger: String,
    /// How `--trigger patch FILE` is merged: strategic, merge or json (kubectl patch --type).
    #[arg(long = "patch-type", value_name = "TYPE", default_value = "strategic")]
    pub patch_type: String,
    /// Time between pod deletions of `--trigger kill-pod`.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub interval: String,
    /// When the rollout fails or times out, roll back as `kubectl rollout undo` would.
    #[arg(long = "undo-on-failure")]
    pub undo_on_failure: bool,
    /// How long one API request may take before the API server counts as unresponsive.
    #[arg(
        long = "request-timeout",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub request_timeout: String,
    /// Print each pod, endpoint and rollout event as it is observed (plain lines on stderr).
    #[arg(long)]
    pub events: bool,
}

/// Environment variables every pod gets; their presence is how zerodrop (like kube's in-cluster
/// config) knows it runs inside the cluster, where a Service's DNS name resolves.
pub fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        && std::env::var_os("KUBERNETES_SERVICE_PORT").is_some()
}

fn positive(s: &str) -> Result<Duration, String> {
    let d = parse::duration(s)?;
    if d > Duration::ZERO {
        Ok(d)
    } else {
        Err("must be more than 0s".into())
    }
}

impl KubeArgs {
    /// Validates the flags, the `WORKLOAD` argument and the command after `--` into a config.
    ///
    /// `rollout_timeout` is the plan's (one flag, one default, for the runner and the cluster);
    /// `target_given` says whether the plan has a `--target`: without one, the Service's
    /// cluster DNS name is used, which only resolves inside the cluster.
    pub fn into_config(
        &self,
        workload: &str,
        command: &[String],
        rollout_timeout: Duration,
        target_given: bool,
        in_cluster: bool,
    ) -> Result<KubeConfig, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |place: &str, message: String| {
            problems.push(Problem {
                place: place.to_string(),
                message,
            });
        };
        let workload = WorkloadRef::parse(workload)
            .map_err(|e| problem("WORKLOAD", e.to_string()))
            .ok();
        let patch_kind = match self.patch_type.trim().to_ascii_lowercase().as_str() {
            "strategic" => Some(PatchKind::Strategic),
            "merge" => Some(PatchKind::Merge),
            "json" => Some(PatchKind::Json),
            other => {
                problem(
                    "--patch-type",
                    format!("unknown patch type `{other}`: use strategic, merge or json"),
                );
                None
            }
        };
        let trigger = Trigger::parse(
            &self.trigger,
            patch_kind.unwrap_or(PatchKind::Strategic),
            command,
        )
        .map_err(|e| problem("--trigger", e.to_string()))
        .ok();
        // A bad patch file is bad input, found now rather than after the baseline has run.
        if let (Some(Trigger::Patch { file, kind }), Some(_)) = (&trigger, patch_kind)
            && let Err(e) = trigger::read_patch(file, *kind)
        {
            problem("--trigger", e.to_string());
        }
        if !command.is_empty() && !matches!(trigger, Some(Trigger::Exec { .. }) | None) {
            problem(
                "-- CMD",
                format!(
                    "a command after -- is only run by --trigger exec (the trigger is `{}`)",
                    self.trigger.trim()
                ),
            );
        }
        if self.undo_on_failure && trigger == Some(Trigger::KillPod) {
            problem(
                "--undo-on-failure",
                "--trigger kill-pod changes nothing that could be rolled back".into(),
            );
        }
        let interval = positive(&self.interval)
            .map_err(|m| problem("--interval", m))
            .ok();
        let request_timeout = positive(&self.request_timeout)
            .map_err(|m| problem("--request-timeout", m))
            .ok();
        for (flag, value) in [
            ("--namespace", &self.namespace),
            ("--context", &self.context),
            ("--service", &self.service),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                problem(flag, "must not be empty".into());
            }
        }
        if !target_given && !in_cluster {
            problem(
                "--target",
                "required when zerodrop runs outside the cluster: the URL that reaches the \
                 Service (inside a pod, the Service's cluster DNS name is used when none is given)"
                    .into(),
            );
        }
        match (workload, trigger, interval, request_timeout) {
            (Some(workload), Some(trigger), Some(interval), Some(request_timeout))
                if problems.is_empty() =>
            {
                Ok(KubeConfig {
                    connect: ConnectOptions {
                        kubeconfig: self.kubeconfig.clone(),
                        context: self.context.clone(),
                        namespace: self.namespace.clone(),
                    },
                    service: self.service.clone(),
                    trigger,
                    rollout_timeout,
                    undo_on_failure: self.undo_on_failure,
                    interval,
                    request_timeout,
                    service_target: !target_given,
                    ..KubeConfig::new(workload)
                })
            }
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> KubeArgs {
        KubeArgs {
            trigger: "restart".into(),
            patch_type: "strategic".into(),
            interval: "10s".into(),
            request_timeout: "30s".into(),
            ..KubeArgs::default()
        }
    }

    const TIMEOUT: Duration = Duration::from_secs(90);

    fn places(r: Result<KubeConfig, Vec<Problem>>) -> Vec<String> {
        r.expect_err("invalid")
            .into_iter()
            .map(|p| p.place)
            .collect()
    }

    #[test]
    fn valid_flags_become_a_config_carrying_the_plans_rollout_timeout() {
        let a = KubeArgs {
            namespace: Some("shop".into()),
            trigger: "image web=web:2".into(),
            undo_on_failure: true,
            interval: "2s".into(),
            ..args()
        };
        let c = a
            .into_config("deploy/web", &[], TIMEOUT, true, false)
            .expect("valid");
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
        let a = KubeArgs {
            trigger: "reboot".into(),
            interval: "soon".into(),
            patch_type: "yaml".into(),
            ..args()
        };
        assert_eq!(
            places(a.into_config("pod/web", &[], TIMEOUT, false, false)),
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
        let c = args()
            .into_config("deploy/web", &[], TIMEOUT, false, true)
            .expect("in a pod");
        assert!(c.service_target);
        let p = args()
            .into_config("deploy/web", &[], TIMEOUT, false, false)
            .expect_err("outside");
        assert_eq!(p[0].place, "--target");
        assert!(p[0].message.contains("outside the cluster"), "{}", p[0]);
    }

    #[test]
    fn a_command_needs_the_exec_trigger_and_exec_needs_a_command() {
        let cmd = vec!["helm".to_string(), "upgrade".to_string()];
        assert_eq!(
            places(args().into_config("deploy/web", &cmd, TIMEOUT, true, false)),
            ["-- CMD"]
        );
        let exec = KubeArgs {
            trigger: "exec".into(),
            ..args()
        };
        assert_eq!(
            places(exec.into_config("deploy/web", &[], TIMEOUT, true, false)),
            ["--trigger"]
        );
        let c = exec
            .into_config("deploy/web", &cmd, TIMEOUT, true, false)
            .expect("valid");
        assert_eq!(c.trigger, Trigger::Exec { argv: cmd });
    }

    #[test]
    fn a_patch_file_is_read_and_shape_checked_before_anything_runs() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("p.yaml");
        std::fs::write(&f, "spec:\n  replicas: 3\n").expect("write");
        let a = KubeArgs {
            trigger: format!("patch {}", f.display()),
            patch_type: "json".into(),
            ..args()
        };
        let p = a
            .into_config("deploy/web", &[], TIMEOUT, true, false)
            .expect_err("a mapping is no JSON patch");
        assert!(p[0].message.contains("list of operations"), "{}", p[0]);
        let a = KubeArgs {
            patch_type: "strategic".into(),
            ..a
        };
        assert!(
            a.into_config("deploy/web", &[], TIMEOUT, true, false)
                .is_ok()
        );
    }

    #[test]
    fn undo_is_refused_for_kill_pod_which_changes_nothing() {
        let a = KubeArgs {
            trigger: "kill-pod".into(),
            undo_on_failure: true,
            ..args()
        };
        assert_eq!(
            places(a.into_config("deploy/web", &[], TIMEOUT, true, false)),
            ["--undo-on-failure"]
        );
    }
}
