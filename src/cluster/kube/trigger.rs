//! How a rollout is started: the trigger kinds, their parsing, and the exact request bodies.
//!
//! The bodies are built by pure functions so tests can compare them byte for byte with what
//! kubectl sends: `restart` is `kubectl rollout restart`'s strategic merge patch of the pod
//! template annotation `kubectl.kubernetes.io/restartedAt` (kube-rs' `Api::restart` uses a
//! different key and is deliberately not used); `image` is `kubectl set image`'s strategic merge
//! patch on the container list, matched by name. Sending them is `start.rs`'s job.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{Value, json};

use super::error::KubeError;

/// The pod-template annotation kubectl sets to restart a workload.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// How a file patch is merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/strategic-merge-patch+json` (kubectl patch's default).
    Strategic,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
}

impl PatchKind {
    pub fn content_type(self) -> &'static str {
        match self {
            PatchKind::Strategic => "application/strategic-merge-patch+json",
            PatchKind::Merge => "application/merge-patch+json",
            PatchKind::Json => "application/json-patch+json",
        }
    }
}

/// What starts the rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// `kubectl rollout restart`.
    Restart,
    /// `kubectl set image CONTAINER=IMAGE` (`*` for every container).
    Image { container: String, image: String },
    /// A patch read from a file (YAML or JSON).
    Patch { file: PathBuf, kind: PatchKind },
    /// Any command (helm upgrade, kubectl apply); its output and exit code are kept.
    Exec { argv: Vec<String> },
    /// Someone else starts the rollout; wait for it.
    External,
    /// Delete the workload's pods one at a time, every `interval`.
    KillPod,
    /// Blue-green: set the Service selector's KEY to VALUE, then wait for endpoints to converge.
    Selector { key: String, value: String },
}

impl Trigger {
    /// Parses `--trigger` ("restart", "image web=nginx:1.27", "patch fix.yaml", "exec",
    /// "external", "kill-pod", "selector version=green"); `command` is what followed `--`.
    pub fn parse(
        spec: &str,
        patch_kind: PatchKind,
        command: &[String],
    ) -> Result<Trigger, KubeError> {
        let spec = spec.trim();
        let (kind, arg) = match spec.split_once(|c: char| c.is_whitespace() || c == ':') {
            Some((k, a)) => (k, Some(a.trim()).filter(|a| !a.is_empty())),
            None => (spec, None),
        };
        let need = |what: &str| {
            arg.map(str::to_string)
                .ok_or_else(|| KubeError::BadInput(format!("--trigger {kind} needs {what}")))
        };
        let pair = |what: &str| -> Result<(String, String), KubeError> {
            let a = need(what)?;
            match a.split_once('=') {
                Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                    Ok((k.to_string(), v.to_string()))
                }
                _ => Err(KubeError::BadInput(format!(
                    "--trigger {kind} needs {what}, got '{a}'"
                ))),
            }
        };
        let t = match kind {
            "restart" => Trigger::Restart,
            "image" => {
                let (container, image) = pair("CONTAINER=IMAGE")?;
                Trigger::Image { container, image }
            }
            "patch" => Trigger::Patch {
                file: PathBuf::from(need("a patch FILE")?),
                kind: patch_kind,
            },
            "exec" => {
                if command.is_empty() {
                    return Err(KubeError::BadInput(
                        "--trigger exec needs a command after --, e.g. -- helm upgrade web ./chart"
                            .into(),
                    ));
                }
                Trigger::Exec {
                    argv: command.to_vec(),
                }
            }
            "external" => Trigger::External,
            "kill-pod" => Trigger::KillPod,
            "selector" => {
                let (key, value) = pair("KEY=VALUE")?;
                Trigger::Selector { key, value }
            }
            other => {
                return Err(KubeError::BadInput(format!(
                    "unknown trigger '{other}': use restart, image, patch, exec, external, kill-pod or selector"
                )));
            }
        };
        if arg.is_some() && matches!(t, Trigger::Restart | Trigger::External | Trigger::KillPod) {
            return Err(KubeError::BadInput(format!(
                "--trigger {kind} takes no argument"
            )));
        }
        Ok(t)
    }

    /// One line for the timeline's `Trigger` event.
    pub fn describe(&self) -> String {
        match self {
            Trigger::Restart => "restart (kubectl rollout restart)".into(),
            Trigger::Image { container, image } => format!("set image {container}={image}"),
            Trigger::Patch { file, kind } => {
                format!("{kind:?} patch from {}", file.display()).to_lowercase()
            }
            Trigger::Exec { argv } => format!("exec: {}", argv.join(" ")),
            Trigger::External => "external (waiting for a rollout started elsewhere)".into(),
            Trigger::KillPod => "kill pods one at a time".into(),
            Trigger::Selector { key, value } => format!("switch Service selector {key}={value}"),
        }
    }
}

/// `time.Now().Format(time.RFC3339)` as Go prints it: local offset, whole seconds, `Z` for UTC.
pub fn rfc3339_now(now: &jiff::Zoned) -> String {
    let base = now.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let secs = now.offset().seconds();
    if secs == 0 {
        return format!("{base}Z");
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    format!("{base}{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// The strategic merge patch `kubectl rollout restart` sends.
pub fn restart_patch(restarted_at: &str) -> Value {
    json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}}})
}

/// The strategic merge patch `kubectl set image` sends: the changed containers by name, plus
/// the `$setElementOrder` directive kubectl's two-way merge adds for a list merged by key.
pub fn image_patch(
    template: &PodTemplateSpec,
    container: &str,
    image: &str,
) -> Result<Value, KubeError> {
    let spec = template.spec.as_ref();
    let containers: Vec<(&str, &str)> = spec
        .map(|s| {
            s.containers
                .iter()
                .map(|c| (c.name.as_str(), c.image.as_deref().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let inits: Vec<(&str, &str)> = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| (c.name.as_str(), c.image.as_deref().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let mut patch_spec = serde_json::Map::new();
    let mut found = false;
    let mut unchanged = false;
    for (field, list) in [("containers", &containers), ("initContainers", &inits)] {
        let targets: Vec<&(&str, &str)> = list
            .iter()
            .filter(|(n, _)| container == "*" || *n == container)
            .collect();
        found |= !targets.is_empty();
        let changed: Vec<Value> = targets
            .iter()
            .filter(|(_, img)| *img != image)
            .map(|(n, _)| json!({"image": image, "name": n}))
            .collect();
        unchanged |= !targets.is_empty() && changed.is_empty();
        if !changed.is_empty() {
            let order: Vec<Value> = list.iter().map(|(n, _)| json!({"name": n})).collect();
            patch_spec.insert(format!("$setElementOrder/{field}"), Value::Array(order));
            patch_spec.insert(field.to_string(), Value::Array(changed));
        }
    }
    if !found {
        return Err(KubeError::BadInput(format!(
            "unable to find container named \"{container}\" (containers: {})",
            containers
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if patch_spec.is_empty() && unchanged {
        return Err(KubeError::BadInput(format!(
            "container \"{container}\" already runs {image}: setting it would roll nothing"
        )));
    }
    Ok(json!({"spec": {"template": {"spec": Value::Object(patch_spec)}}}))
}

/// The Service selector patch of a blue-green switch.
pub fn selector_patch(key: &str, value: &str) -> Value {
    json!({"spec": {"selector": {key: value}}})
}

/// Reads a patch file, YAML or JSON, checking its shape suits the patch kind.
pub fn read_patch(file: &Path, kind: PatchKind) -> Result<Value, KubeError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        KubeError::BadInput(format!("cannot read patch file {}: {e}", file.display()))
    })?;
    let v: Value = serde_saphyr::from_str(&text).map_err(|e| {
        KubeError::BadInput(format!(
            "patch file {} is not YAML or JSON: {e}",
            file.display()
        ))
    })?;
    let ok = match kind {
        PatchKind::Json => v.is_array(),
        PatchKind::Strategic | PatchKind::Merge => v.is_object(),
    };
    if !ok {
        let want = if kind == PatchKind::Json {
            "a list of operations"
        } else {
            "a mapping"
        };
        return Err(KubeError::BadInput(format!(
            "patch file {} must hold {want} for a {kind:?} patch",
            file.display()
        )));
    }
    Ok(v)
}

/// What a trigger command did, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutcome {
    pub argv: Vec<String>,
    /// The exit code; `None` when killed by a signal or when it did not finish in time.
    pub code: Option<i32>,
    /// The tail of stdout and stderr together (bounded).
    pub output: String,
    pub timed_out: bool,
}

impl CommandOutcome {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0)
    }
}

/// Output kept from a trigger command: enough for a report, bounded for a chatty helm.
const OUTPUT_TAIL: usize = 8 * 1024;

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let start = s.len().saturating_sub(OUTPUT_TAIL);
    let start = (start..=s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    s[start..].to_string()
}

/// Runs a trigger command to completion (bounded by `limit`), keeping its output.
pub async fn run_command(argv: &[String], limit: Duration) -> Result<CommandOutcome, KubeError> {
    let Some((prog, args)) = argv.split_first() else {
        return Err(KubeError::BadInput("empty trigger command".into()));
    };
    let child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            KubeError::Rollout(format!(
                "trigger command `{}` could not start: {e}",
                argv.join(" ")
            ))
        })?;
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let mut text = tail(&out.stdout);
            let err = tail(&out.stderr);
            if !err.is_empty() {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&err);
            }
            Ok(CommandOutcome {
                argv: argv.to_vec(),
                code: out.status.code(),
                output: tail(text.as_bytes()),
                timed_out: false,
            })
        }
        Ok(Err(e)) => Err(KubeError::Rollout(format!(
            "trigger command `{}` failed: {e}",
            argv.join(" ")
        ))),
        // Dropping the future kills the child (kill_on_drop).
        Err(_) => Ok(CommandOutcome {
            argv: argv.to_vec(),
            code: None,
            output: String::new(),
            timed_out: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(containers: &[(&str, &str)], inits: &[(&str, &str)]) -> PodTemplateSpec {
        let c = |l: &[(&str, &str)]| {
            l.iter()
                .map(|(n, i)| json!({"name": n, "image": i}))
                .collect::<Vec<_>>()
        };
        serde_json::from_value(
            json!({"spec": {"containers": c(containers), "initContainers": c(inits)}}),
        )
        .expect("template")
    }

    #[test]
    fn triggers_parse_with_their_arguments() {
        let p = |s: &str| Trigger::parse(s, PatchKind::Strategic, &[]);
        assert_eq!(p("restart").expect("ok"), Trigger::Restart);
        assert_eq!(
            p("image web=nginx:1.27").expect("ok"),
            Trigger::Image {
                container: "web".into(),
                image: "nginx:1.27".into()
            }
        );
        assert_eq!(
            p("image:web=nginx:1.27").expect("ok"),
            Trigger::Image {
                container: "web".into(),
                image: "nginx:1.27".into()
            }
        );
        assert_eq!(
            p("selector version=green").expect("ok"),
            Trigger::Selector {
                key: "version".into(),
                value: "green".into()
            }
        );
        assert_eq!(p("kill-pod").expect("ok"), Trigger::KillPod);
        assert_eq!(p("external").expect("ok"), Trigger::External);
        assert!(matches!(
            p("patch fix.yaml").expect("ok"),
            Trigger::Patch {
                kind: PatchKind::Strategic,
                ..
            }
        ));
        let cmd = vec!["helm".to_string(), "upgrade".to_string()];
        assert_eq!(
            Trigger::parse("exec", PatchKind::Strategic, &cmd).expect("ok"),
            Trigger::Exec { argv: cmd.clone() }
        );
    }

    #[test]
    fn malformed_triggers_say_what_they_need() {
        let p = |s: &str| {
            Trigger::parse(s, PatchKind::Strategic, &[])
                .expect_err(s)
                .to_string()
        };
        assert!(p("image web").contains("CONTAINER=IMAGE"));
        assert!(p("image").contains("CONTAINER=IMAGE"));
        assert!(p("selector =x").contains("KEY=VALUE"));
        assert!(p("patch").contains("FILE"));
        assert!(p("exec").contains("after --"));
        assert!(p("restart now").contains("takes no argument"));
        assert!(p("reboot").contains("unknown trigger 'reboot'"));
    }

    #[test]
    fn restart_patch_is_kubectls_annotation_patch() {
        assert_eq!(
            serde_json::to_string(&restart_patch("2026-11-03T10:00:00Z")).expect("json"),
            r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-03T10:00:00Z"}}}}}"#
        );
    }

    #[test]
    fn restart_time_is_formatted_like_gos_rfc3339() {
        let utc: jiff::Zoned = "2026-11-03T10:00:00.123456Z[UTC]".parse().expect("zoned");
        assert_eq!(rfc3339_now(&utc), "2026-11-03T10:00:00Z");
        let cet: jiff::Zoned = "2026-11-03T11:00:00.5+01:00[+01:00]"
            .parse()
            .expect("zoned");
        assert_eq!(rfc3339_now(&cet), "2026-11-03T11:00:00+01:00");
        let neg: jiff::Zoned = "2026-11-03T05:30:00-04:30[-04:30]".parse().expect("zoned");
        assert_eq!(rfc3339_now(&neg), "2026-11-03T05:30:00-04:30");
    }

    #[test]
    fn image_patch_names_the_container_and_keeps_the_list_order() {
        let t = template(&[("web", "web:1"), ("sidecar", "envoy:1")], &[]);
        assert_eq!(
            serde_json::to_string(&image_patch(&t, "web", "web:2").expect("patch")).expect("json"),
            r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}],"containers":[{"image":"web:2","name":"web"}]}}}}"#
        );
    }

    #[test]
    fn image_patch_reaches_init_containers_and_star_means_all() {
        let t = template(&[("web", "web:1")], &[("migrate", "web:1")]);
        let p = image_patch(&t, "*", "web:2").expect("patch");
        assert_eq!(
            p["spec"]["template"]["spec"]["containers"][0]["image"],
            "web:2"
        );
        assert_eq!(
            p["spec"]["template"]["spec"]["initContainers"][0]["name"],
            "migrate"
        );
    }

    #[test]
    fn image_patch_refuses_unknown_containers_and_no_ops() {
        let t = template(&[("web", "web:1")], &[]);
        let e = image_patch(&t, "api", "x")
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("unable to find container named \"api\""), "{e}");
        let e = image_patch(&t, "web", "web:1")
            .expect_err("no-op")
            .to_string();
        assert!(e.contains("already runs web:1"), "{e}");
    }

    #[test]
    fn patch_files_are_read_as_yaml_or_json_and_shape_checked() {
        let dir = tempfile::tempdir().expect("tmp");
        let y = dir.path().join("p.yaml");
        std::fs::write(
            &y,
            "spec:\n  template:\n    metadata:\n      labels:\n        v: \"2\"\n",
        )
        .expect("write");
        let v = read_patch(&y, PatchKind::Strategic).expect("yaml");
        assert_eq!(v["spec"]["template"]["metadata"]["labels"]["v"], "2");
        assert!(read_patch(&y, PatchKind::Json).is_err());
        let j = dir.path().join("p.json");
        std::fs::write(
            &j,
            r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
        )
        .expect("write");
        assert!(read_patch(&j, PatchKind::Json).expect("json").is_array());
        assert!(read_patch(&dir.path().join("missing"), PatchKind::Merge).is_err());
    }

    #[tokio::test]
    async fn a_command_keeps_its_output_and_exit_code() {
        let argv: Vec<String> = ["sh", "-c", "echo deployed; echo warn >&2; exit 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = run_command(&argv, Duration::from_secs(20))
            .await
            .expect("runs");
        assert_eq!(out.code, Some(3));
        assert!(!out.succeeded());
        assert_eq!(out.output, "deployed\nwarn\n");
    }

    #[tokio::test]
    async fn a_command_that_cannot_start_is_a_rollout_failure() {
        let argv = vec!["/nonexistent/zerodrop-helm".to_string()];
        let e = run_command(&argv, Duration::from_secs(5))
            .await
            .expect_err("no such program");
        assert!(matches!(e, KubeError::Rollout(m) if m.contains("could not start")));
    }
}
