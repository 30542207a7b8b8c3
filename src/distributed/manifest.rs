//! The Kubernetes objects that run `zerodrop run` in-cluster (`zerodrop manifest job`): a
//! ServiceAccount, a Role with exactly the rules of [`crate::cluster::kube::rbac`], a RoleBinding, ConfigMaps
//! for the files the run reads and for its result, and the Job — an Indexed Job of N pods when
//! the load is split over N generators.
//!
//! The Job is built to be a CI gate: `backoffLimit: 0` and `restartPolicy: Never` (a retried
//! rollout test would be a different test), so the pod's exit code — zerodrop's — decides
//! whether the Job completes or fails. The pod runs as non-root with a read-only root
//! filesystem and no capabilities; it asks for CPU and memory sized to its share of the rate.
//!
//! This module is pure: it builds objects from validated input and renders them as YAML. It
//! does not decide the run's flags (that is `commands::manifest`) and makes no API call.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, PodAffinityTerm,
    PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, ServiceAccount, Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::load::engine::dispatch_window;

/// Where the files a run reads (scenario, body, patch) are mounted in the pod.
pub const FILES_DIR: &str = "/etc/zerodrop/files";

/// The label the Job controller puts on every pod of a Job.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// The user the image runs as (distroless' `nonroot`).
pub const RUN_AS: i64 = 65532;

/// A file the run reads, carried into the pod through a ConfigMap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountedFile {
    /// Its key in the ConfigMap and its name under [`FILES_DIR`].
    pub key: String,
    pub bytes: Vec<u8>,
}

/// CPU and memory one generator asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    pub cpu_millis: u32,
    pub memory_mib: u32,
}

/// CPU of one dispatcher wake-up, µs: the thread wakes from idle, sends what is due and reads
/// what came in. On this project's VM a bare C loop making the same syscalls spends 50–71 µs
/// per wake-up and request at 1,000 req/s, and zerodrop 64–108 (`scripts/bench.sh` with
/// TOOLS="... floor"; docs/benchmarks.md, "The floor").
const WAKE_US: f64 = 60.0;
/// CPU of one keep-alive request beyond its wake-up's share, µs (at 20,000 req/s, forty
/// requests a wake-up, zerodrop costs 10–19 µs per request in all).
const REQUEST_US: f64 = 12.0;
/// … and of one request on a new connection (dial, handshake, close).
const NEW_CONNECTION_US: f64 = 100.0;
/// Requests are sized at this multiple of the modelled cost, so a busy node does not make the
/// generator late, plus [`BASE_MILLIS`] for the runtime and the watches.
const HEADROOM: f64 = 2.0;
const BASE_MILLIS: f64 = 100.0;

/// What one generator's load costs, from this project's measurements. Below about 20,000 req/s
/// most of the CPU is wake-ups, not requests: at 1,000 req/s every request has a wake-up of its
/// own, 60–110 µs of CPU each; at 20,000, forty requests share one. So the model is a cost per
/// dispatcher wake-up plus a cost per request, with the wake-ups the dispatcher makes at `rate`
/// with `send_window` (`None`: the engine's window at that rate): one per request while
/// requests are further apart than the window, one per window above that. Measured on this
/// project's VM (`RT=1 TOOLS="zerodrop wrk2 floor" scripts/bench.sh`, four rates, three runs on a
/// busy host), the worst `zerodrop load` row at each rate used at most two thirds of what this
/// asks for: 108m of 244m at 1,000 req/s, 337m of 520m at 5,000, 359m of 640m at 10,000 and
/// 372m of 640m at 20,000.
///
/// Memory: a base for the runtime and the cluster state, about 2 KiB per logged failure, and
/// 32 KiB per request that may be in flight (socket and buffers).
pub fn sizing(
    rate: Option<f64>,
    send_window: Option<Duration>,
    keepalive: bool,
    failure_log_limit: usize,
    max_in_flight: usize,
) -> Sizing {
    let per_request_us = if keepalive {
        REQUEST_US
    } else {
        NEW_CONNECTION_US
    };
    let cpu = match rate {
        Some(r) => {
            let window = send_window
                .unwrap_or_else(|| dispatch_window(r))
                .as_secs_f64();
            let wakes = if window > 0.0 { r.min(1.0 / window) } else { r };
            BASE_MILLIS + HEADROOM * (wakes * WAKE_US + r * per_request_us) / 1000.0
        }
        // Closed loop: as fast as it can, one core.
        None => 1000.0,
    };
    let memory_kib = 64 * 1024 + failure_log_limit * 2 + max_in_flight * 32;
    Sizing {
        cpu_millis: (cpu.ceil() as u32).clamp(100, 16_000),
        memory_mib: u32::try_from(memory_kib.div_ceil(1024)).unwrap_or(u32::MAX),
    }
}

/// Everything the objects are built from, validated by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct JobInput {
    /// Name of the Job and of every object it needs.
    pub name: String,
    pub namespace: String,
    pub image: String,
    /// The container's arguments (the image's entrypoint is `zerodrop`).
    pub args: Vec<String>,
    /// Generators: more than one makes an Indexed Job.
    pub workers: u32,
    pub rules: Vec<PolicyRule>,
    pub sizing: Sizing,
    /// Files mounted under [`FILES_DIR`].
    pub files: Vec<MountedFile>,
    /// The ConfigMap the workers patch their results into, created empty here.
    pub result_configmap: Option<String>,
    /// How long the Job may run before Kubernetes stops it.
    pub deadline: Duration,
}

/// The objects, in the order `kubectl apply` should create them.
#[derive(Clone, Debug, PartialEq)]
pub struct Objects {
    pub service_account: ServiceAccount,
    pub role: Role,
    pub role_binding: RoleBinding,
    pub config_maps: Vec<ConfigMap>,
    pub job: Job,
}

/// The manifest could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// An object could not be written as YAML.
    #[error("cannot write the manifest as YAML: {0}")]
    Yaml(String),
}

fn meta(input: &JobInput, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(input.namespace.clone()),
        labels: Some(labels(input)),
        ..ObjectMeta::default()
    }
}

fn labels(input: &JobInput) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "zerodrop".to_string()),
        ("app.kubernetes.io/instance".to_string(), input.name.clone()),
    ])
}

/// The ConfigMap holding the run's files.
pub fn files_config_map_name(job: &str) -> String {
    format!("{job}-files")
}

/// Builds every object.
pub fn objects(input: &JobInput) -> Objects {
    let name = input.name.as_str();
    let service_account = ServiceAccount {
        metadata: meta(input, name),
        ..ServiceAccount::default()
    };
    let role = Role {
        metadata: meta(input, name),
        rules: Some(input.rules.clone()),
    };
    let role_binding = RoleBinding {
        metadata: meta(input, name),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.to_string(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.to_string(),
            namespace: Some(input.namespace.clone()),
            api_group: None,
        }]),
    };
    let mut config_maps = Vec::new();
    if !input.files.is_empty() {
        let mut data = BTreeMap::new();
        let mut binary = BTreeMap::new();
        for f in &input.files {
            // ConfigMap `data` holds UTF-8 only; anything else travels base64-encoded.
            match String::from_utf8(f.bytes.clone()) {
                Ok(text) => {
                    data.insert(f.key.clone(), text);
                }
                Err(_) => {
                    binary.insert(f.key.clone(), ByteString(f.bytes.clone()));
                }
            }
        }
        config_maps.push(ConfigMap {
            metadata: meta(input, &files_config_map_name(name)),
            data: Some(data).filter(|d| !d.is_empty()),
            binary_data: Some(binary).filter(|b| !b.is_empty()),
            immutable: None,
        });
    }
    if let Some(cm) = &input.result_configmap {
        config_maps.push(ConfigMap {
            metadata: meta(input, cm),
            ..ConfigMap::default()
        });
    }
    Objects {
        service_account,
        role,
        role_binding,
        config_maps,
        job: job(input),
    }
}

fn job(input: &JobInput) -> Job {
    let name = input.name.as_str();
    let (mounts, volumes) = files_volume(input);
    let container = container(input, mounts);
    let indexed = input.workers > 1;
    // Spread the generators over nodes when possible: one node's CPU or network must not be
    // the bottleneck that the split was meant to remove.
    let affinity = indexed.then(|| spread_over_nodes(name));
    let pod = PodSpec {
        service_account_name: Some(name.to_string()),
        restart_policy: Some("Never".into()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(volumes).filter(|v| !v.is_empty()),
        affinity,
        ..PodSpec::default()
    };
    let workers = i32::try_from(input.workers).unwrap_or(i32::MAX);
    Job {
        metadata: meta(input, name),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            completion_mode: indexed.then(|| "Indexed".to_string()),
            completions: indexed.then_some(workers),
            parallelism: indexed.then_some(workers),
            active_deadline_seconds: Some(
                i64::try_from(input.deadline.as_secs()).unwrap_or(i64::MAX),
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(input)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// The run's files as a read-only volume under [`FILES_DIR`], when there are any.
fn files_volume(input: &JobInput) -> (Vec<VolumeMount>, Vec<Volume>) {
    let name = input.name.as_str();
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    if !input.files.is_empty() {
        mounts.push(VolumeMount {
            name: "files".into(),
            mount_path: FILES_DIR.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
        volumes.push(Volume {
            name: "files".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: files_config_map_name(name),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    (mounts, volumes)
}

/// The zerodrop container: its arguments, resources sized to its share, locked down.
fn container(input: &JobInput, mounts: Vec<VolumeMount>) -> Container {
    let s = input.sizing;
    let memory = Quantity(format!("{}Mi", s.memory_mib));
    Container {
        name: "zerodrop".into(),
        image: Some(input.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(input.args.clone()),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity(format!("{}m", s.cpu_millis))),
                ("memory".to_string(), memory.clone()),
            ])),
            // No CPU limit: throttling would delay sends and show up as latency of the
            // service under test. Memory is bounded (the failure log and in-flight cap are).
            limits: Some(BTreeMap::from([("memory".to_string(), memory)])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts).filter(|m| !m.is_empty()),
        ..Container::default()
    }
}

/// Prefers nodes with no other pod of this Job.
fn spread_over_nodes(name: &str) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(BTreeMap::from([(
                                JOB_NAME_LABEL.to_string(),
                                name.to_string(),
                            )])),
                            ..LabelSelector::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

impl Objects {
    /// Every object as one YAML stream, after a header of `#` comment lines.
    pub fn to_yaml(&self, header: &str) -> Result<String, ManifestError> {
        fn doc<T: serde::Serialize>(out: &mut String, v: &T) -> Result<(), ManifestError> {
            out.push_str("---\n");
            out.push_str(
                &serde_saphyr::to_string(v).map_err(|e| ManifestError::Yaml(e.to_string()))?,
            );
            Ok(())
        }
        let mut out = String::new();
        for line in header.lines() {
            out.push_str(if line.is_empty() { "#" } else { "# " });
            out.push_str(line);
            out.push('\n');
        }
        doc(&mut out, &self.service_account)?;
        doc(&mut out, &self.role)?;
        doc(&mut out, &self.role_binding)?;
        for cm in &self.config_maps {
            doc(&mut out, cm)?;
        }
        doc(&mut out, &self.job)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_ask_for_more_cpu_with_rate_and_without_keepalive() {
        let slow = sizing(Some(100.0), None, true, 10_000, 1_000);
        let fast = sizing(Some(20_000.0), None, true, 10_000, 20_000);
        let fresh = sizing(Some(20_000.0), None, false, 10_000, 20_000);
        assert!(slow.cpu_millis < fast.cpu_millis && fast.cpu_millis < fresh.cpu_millis);
        // 100m + 2 × (100 wake-ups × 60 µs + 100 requests × 12 µs) a second.
        assert_eq!(slow.cpu_millis, 115);
        // 100m + 2 × (500 wake-ups (2 ms window) × 60 µs + 20,000 requests × 12 µs).
        assert_eq!(fast.cpu_millis, 640);
        assert!(fast.memory_mib > slow.memory_mib);
        // 64 MiB base + 10,000 failures × 2 KiB + 1,000 in flight × 32 KiB, rounded up.
        assert_eq!(
            slow.memory_mib,
            (64 * 1024 + 20_000 + 32_000_u32).div_ceil(1024)
        );
    }

    /// Below 20,000 req/s the CPU is mostly wake-ups: 1,000 req/s (a wake-up per request) costs
    /// 60–110 µs per request on this project's VM, not the 10 µs of a request in a large batch.
    #[test]
    fn a_generator_is_sized_for_its_wake_ups_not_only_its_requests() {
        let cpu =
            |rate: f64, window: Option<Duration>| sizing(Some(rate), window, true, 0, 0).cpu_millis;
        // Every request its own wake-up: 100m + 2 × 1,000 × (60 + 12) µs.
        assert_eq!(cpu(1_000.0, None), 244);
        // The 400 µs window: 2,500 wake-ups a second carry 5,000 requests.
        assert_eq!(cpu(5_000.0, None), 520);
        // A wider window the user chose wakes less, and asks for less.
        assert_eq!(cpu(5_000.0, Some(Duration::from_millis(2))), 280);
        // `--send-window 0`: a wake-up per request however dense.
        assert_eq!(cpu(5_000.0, Some(Duration::ZERO)), 820);
    }
}
