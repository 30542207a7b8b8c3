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

/// What one generator's load costs, from this project's measurements: about 10 µs of CPU per
/// request with keep-alive (the README's benchmark: 0.107–0.113 CPU-s per 10,000 requests at
/// 20,000 req/s), several times that with a new connection per request. Requests are sized at
/// 2.5 times the measured cost so a busy node does not make the generator late, plus a base for
/// the runtime and the watches.
///
/// Memory: a base for the runtime and the cluster state, about 2 KiB per logged failure, and
/// 32 KiB per request that may be in flight (socket and buffers).
pub fn sizing(
    rate: Option<f64>,
    keepalive: bool,
    failure_log_limit: usize,
    max_in_flight: usize,
) -> Sizing {
    let per_request_us = if keepalive { 25.0 } else { 100.0 };
    let cpu = match rate {
        Some(r) => 100.0 + r * per_request_us / 1000.0,
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
        let slow = sizing(Some(100.0), true, 10_000, 1_000);
        let fast = sizing(Some(20_000.0), true, 10_000, 20_000);
        let fresh = sizing(Some(20_000.0), false, 10_000, 20_000);
        assert!(slow.cpu_millis < fast.cpu_millis && fast.cpu_millis < fresh.cpu_millis);
        assert_eq!(slow.cpu_millis, 103);
        assert_eq!(fast.cpu_millis, 600);
        assert!(fast.memory_mib > slow.memory_mib);
        // 64 MiB base + 10,000 failures × 2 KiB + 1,000 in flight × 32 KiB, rounded up.
        assert_eq!(
            slow.memory_mib,
            (64 * 1024 + 20_000 + 32_000_u32).div_ceil(1024)
        );
    }
}
