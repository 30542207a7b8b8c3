//! The Kubernetes runtime: rolls a real Deployment, StatefulSet or DaemonSet and reports what
//! the cluster did, through the same [`Cluster`] interface and events as the local runtime.
//!
//! # Layout
//! - [`args`]: the flags of `zerodrop run` that configure this runtime, validated into [`KubeConfig`].
//! - [`connect`]: kubeconfig / context / namespace / in-cluster, like kubectl.
//! - [`workload`]: `deploy/NAME` refs, the three kinds, a kind-neutral status view. Pure.
//! - [`status`]: `kubectl rollout status`'s rules, kind by kind, in its order. Pure.
//! - [`service`]: the Service whose endpoints are watched (named, or found by selector).
//! - [`convert`]: pure (old state, new state) → lifecycle events for pods, endpoints, Events.
//! - [`tracker`]: last known state per resource; re-list diffing and watch gaps. Pure.
//! - [`watch`]: the kube-runtime watchers feeding the trackers and the timeline.
//! - [`trigger`]: trigger kinds and the exact patches kubectl would send. Pure, plus `exec`.
//! - [`undo`]: `kubectl rollout undo`: ReplicaSets for Deployments, ControllerRevisions for
//!   StatefulSets and DaemonSets. Pure.
//! - [`error`]: what went wrong, worded for the user, mapped to exit codes.
//! - [`rbac`]: the least-privilege Role of a run: exactly the calls this module makes. Pure.
//! - [`rendezvous`]: the workers of a distributed run start their load together.
//!
//! This file sequences them: prepare (connect, find, start watches), trigger, wait for kubectl's
//! completion *and* for every old pod to be gone, shutdown (rolling back first when the rollout
//! failed and `--undo-on-failure` asks for it). Nothing outside `cluster/` sees a Kubernetes
//! type.

pub mod args;
pub mod connect;
pub mod convert;
pub mod error;
pub mod rbac;
pub mod rendezvous;
pub mod service;
pub mod status;
pub mod tracker;
pub mod trigger;
pub mod undo;
pub mod watch;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::{DeleteParams, ListParams, WatchParams};
use serde_json::Value;
use tokio::task::JoinHandle;

pub use args::KubeArgs;
pub use connect::{ConnectOptions, Connection};
pub use error::{ApiCall, KubeError};
pub use rendezvous::StartTogether;
pub use trigger::{CommandOutcome, PatchKind, Trigger};
pub use workload::{WorkloadKind, WorkloadRef};

use self::service::ServiceInfo;
use self::status::{RolloutStatus, rollout_status};
use self::watch::{WatchSpec, Watches, lock};
use self::workload::{Workload, selector_string};
use crate::cluster::{Cluster, ClusterError, EventKind, Prepared, RolloutDone};
use crate::timeline::TimelineRecorder;

/// Everything the Kubernetes runtime needs to know, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeConfig {
    pub connect: ConnectOptions,
    pub workload: WorkloadRef,
    /// `--service`; else found by selector.
    pub service: Option<String>,
    pub trigger: Trigger,
    /// How long the rollout may take from the trigger (exit 3 past it); the plan's
    /// `--rollout-timeout`, which the run flow enforces too.
    pub rollout_timeout: Duration,
    /// Roll back as `kubectl rollout undo` would when the rollout fails.
    pub undo_on_failure: bool,
    /// Time between pod deletions for the kill-pod trigger.
    pub interval: Duration,
    /// How long one API request may take before the server counts as unresponsive.
    pub request_timeout: Duration,
    /// Offer the Service's cluster DNS name as the load target (no `--target` was given and
    /// zerodrop runs in a pod, where that name resolves).
    pub service_target: bool,
    /// One of several generators: wait for every worker's pod, then start together.
    pub start_together: Option<StartTogether>,
}

impl KubeConfig {
    /// A config with kubectl's defaults: restart, current context and namespace. The rollout
    /// timeout is the plan's default (`kubectl rollout status` has none, but a CI gate must end),
    /// so a config built here and one built from flags agree.
    pub fn new(workload: WorkloadRef) -> KubeConfig {
        KubeConfig {
            connect: ConnectOptions::default(),
            workload,
            service: None,
            trigger: Trigger::Restart,
            rollout_timeout: crate::plan::FlowPlan::default().rollout_timeout,
            undo_on_failure: false,
            interval: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            service_target: false,
            start_together: None,
        }
    }
}

/// What `prepare` found and started.
struct Started {
    namespace: String,
    service: ServiceInfo,
    watches: Watches,
    /// Pods present at the trigger, by uid (StatefulSet pods come back under the same name).
    old_pods: BTreeMap<String, String>,
    /// The workload's generation before the trigger.
    generation_before: i64,
    /// The generation the trigger's patch produced: older status snapshots are ignored.
    min_generation: i64,
    kill_task: Option<JoinHandle<Result<(), KubeError>>>,
    status_done_noted: bool,
    /// When the trigger began: the rollout timeout counts from here.
    triggered_at: Option<tokio::time::Instant>,
    /// `wait_complete` saw the rollout through.
    completed: bool,
    /// The rollout failed (or its trigger command did): `shutdown` undoes it when asked.
    failed: bool,
}

/// A Kubernetes workload under test.
pub struct KubeCluster {
    cfg: KubeConfig,
    recorder: TimelineRecorder,
    conn: Option<Connection>,
    started: Option<Started>,
    command: Option<CommandOutcome>,
    undo: Option<String>,
}

/// How the rollout stands at one check.
enum Progress {
    Waiting(String),
    Done(String),
    Failed(String),
}

impl KubeCluster {
    /// Connects on `prepare` using `cfg.connect`.
    pub fn new(cfg: KubeConfig, recorder: TimelineRecorder) -> KubeCluster {
        KubeCluster {
            cfg,
            recorder,
            conn: None,
            started: None,
            command: None,
            undo: None,
        }
    }

    /// Uses a given connection (tests, or a caller that already has a client).
    pub fn with_connection(
        cfg: KubeConfig,
        conn: Connection,
        recorder: TimelineRecorder,
    ) -> KubeCluster {
        KubeCluster {
            conn: Some(conn),
            ..KubeCluster::new(cfg, recorder)
        }
    }

    /// The trigger command's outcome, for the report (exec trigger only).
    pub fn command_outcome(&self) -> Option<&CommandOutcome> {
        self.command.as_ref()
    }

    /// What `--undo-on-failure` did at shutdown ("rolled back to revision 3", or why not), when
    /// the rollout failed and undo was asked for.
    pub fn undo_outcome(&self) -> Option<&str> {
        self.undo.as_deref()
    }

    fn conn(&self) -> Result<&Connection, KubeError> {
        self.conn
            .as_ref()
            .ok_or_else(|| KubeError::NoConfig("not connected: prepare was not called".into()))
    }

    fn started_mut(&mut self) -> Result<&mut Started, KubeError> {
        self.started
            .as_mut()
            .ok_or_else(|| KubeError::Unhealthy("the cluster was not prepared".into()))
    }

    /// Runs one API request under the request timeout, classifying its failure.
    async fn call<T>(
        &self,
        call: ApiCall,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, KubeError> {
        match tokio::time::timeout(self.cfg.request_timeout, fut).await {
            Ok(r) => r.map_err(|e| KubeError::from_kube(call, e)),
            Err(_) => Err(KubeError::Slow {
                call,
                secs: self.cfg.request_timeout.as_secs(),
            }),
        }
    }

    fn ns(&self) -> Result<String, KubeError> {
        Ok(self.conn()?.namespace.clone())
    }

    async fn get_workload(&self) -> Result<Workload, KubeError> {
        let conn = self.conn()?;
        let ns = conn.namespace.as_str();
        let name = self.cfg.workload.name.as_str();
        let kind = self.cfg.workload.kind;
        let c = ApiCall::new("get", kind.resource(), "apps", ns).named(name);
        let client = conn.client.clone();
        Ok(match kind {
            WorkloadKind::Deployment => Workload::Deployment(Box::new(
                self.call(c, Api::<Deployment>::namespaced(client, ns).get(name))
                    .await?,
            )),
            WorkloadKind::StatefulSet => Workload::StatefulSet(Box::new(
                self.call(c, Api::<StatefulSet>::namespaced(client, ns).get(name))
                    .await?,
            )),
            WorkloadKind::DaemonSet => Workload::DaemonSet(Box::new(
                self.call(c, Api::<DaemonSet>::namespaced(client, ns).get(name))
                    .await?,
            )),
        })
    }

    /// Sends a patch with exactly the given content type and body (one code path for every
    /// patch kind, JSON patch included), returning the object the server answered with.
    async fn send_patch(
        &self,
        call: ApiCall,
        path: String,
        kind: PatchKind,
        body: &Value,
    ) -> Result<Value, KubeError> {
        let conn = self.conn()?;
        let bytes = serde_json::to_vec(body)
            .map_err(|e| KubeError::BadInput(format!("cannot encode the patch: {e}")))?;
        let req = http::Request::builder()
            .method(http::Method::PATCH)
            .uri(format!("{path}?fieldManager=zerodrop"))
            .header(http::header::CONTENT_TYPE, kind.content_type())
            .header(http::header::ACCEPT, "application/json")
            .body(bytes)
            .map_err(|e| KubeError::BadInput(format!("cannot build the patch request: {e}")))?;
        self.call(call, conn.client.request::<Value>(req)).await
    }

    async fn patch_workload(&self, kind: PatchKind, body: &Value) -> Result<i64, KubeError> {
        let ns = self.ns()?;
        let w = &self.cfg.workload;
        let call = ApiCall::new("patch", w.kind.resource(), "apps", &ns).named(&w.name);
        let path = format!(
            "/apis/apps/v1/namespaces/{ns}/{}/{}",
            w.kind.resource(),
            w.name
        );
        let obj = self.send_patch(call, path, kind, body).await?;
        Ok(obj["metadata"]["generation"].as_i64().unwrap_or(0))
    }

    /// Opens (and drops) a watch on each watched resource: a refused watch is reported as that
    /// call, not retried in the background while the run goes on blind.
    async fn check_watch_access(
        &self,
        client: &kube::Client,
        ns: &str,
        pod_selector: &str,
        service: &str,
    ) -> Result<(), KubeError> {
        let wp = WatchParams::default().timeout(1);
        let kind = self.cfg.workload.kind;
        let wl_wp = wp
            .clone()
            .fields(&format!("metadata.name={}", self.cfg.workload.name));
        let wl_call = ApiCall::new("watch", kind.resource(), "apps", ns);
        let c = client.clone();
        match kind {
            WorkloadKind::Deployment => self
                .call(
                    wl_call,
                    Api::<Deployment>::namespaced(c, ns).watch(&wl_wp, "0"),
                )
                .await
                .map(drop)?,
            WorkloadKind::StatefulSet => self
                .call(
                    wl_call,
                    Api::<StatefulSet>::namespaced(c, ns).watch(&wl_wp, "0"),
                )
                .await
                .map(drop)?,
            WorkloadKind::DaemonSet => self
                .call(
                    wl_call,
                    Api::<DaemonSet>::namespaced(c, ns).watch(&wl_wp, "0"),
                )
                .await
                .map(drop)?,
        }
        self.call(
            ApiCall::new("watch", "pods", "", ns),
            Api::<Pod>::namespaced(client.clone(), ns).watch(&wp.clone().labels(pod_selector), "0"),
        )
        .await
        .map(drop)?;
        let slices = wp
            .clone()
            .labels(&format!("kubernetes.io/service-name={service}"));
        self.call(
            ApiCall::new("watch", "endpointslices", "discovery.k8s.io", ns),
            Api::<EndpointSlice>::namespaced(client.clone(), ns).watch(&slices, "0"),
        )
        .await
        .map(drop)?;
        self.call(
            ApiCall::new("watch", "events", "", ns),
            Api::<Event>::namespaced(client.clone(), ns).watch(&wp, "0"),
        )
        .await
        .map(drop)?;
        Ok(())
    }

    /// Lists one object of each watched resource, so a missing permission is reported as the
    /// exact call that was refused before any watch starts retrying it.
    async fn check_access(
        &self,
        ns: &str,
        pod_selector: &str,
        service: &str,
    ) -> Result<(), KubeError> {
        let client = self.conn()?.client.clone();
        let one = ListParams::default().limit(1);
        self.check_watch_access(&client, ns, pod_selector, service)
            .await?;
        self.call(
            ApiCall::new("list", "pods", "", ns),
            Api::<Pod>::namespaced(client.clone(), ns).list(&one.clone().labels(pod_selector)),
        )
        .await?;
        self.call(
            ApiCall::new("list", "endpointslices", "discovery.k8s.io", ns),
            Api::<EndpointSlice>::namespaced(client.clone(), ns).list(
                &one.clone()
                    .labels(&format!("kubernetes.io/service-name={service}")),
            ),
        )
        .await?;
        self.call(
            ApiCall::new("list", "events", "", ns),
            Api::<Event>::namespaced(client, ns).list(&one),
        )
        .await?;
        Ok(())
    }

    async fn prepare_inner(&mut self) -> Result<Prepared, KubeError> {
        if self.conn.is_none() {
            self.conn = Some(connect::connect(&self.cfg.connect).await?);
        }
        let ns = self.ns()?;
        let wref = self.cfg.workload.clone();
        let workload = self.get_workload().await?;
        if self.cfg.trigger == Trigger::Restart && workload.paused() {
            return Err(KubeError::BadInput(format!(
                "{wref}: can't restart paused deployment (run rollout resume first)"
            )));
        }
        let selector = workload
            .selector()
            .map(selector_string)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| KubeError::BadInput(format!("{wref} has no pod selector")))?;
        let labels = workload.pod_labels();
        let service = service::resolve(
            &self.conn()?.client,
            &ns,
            self.cfg.service.as_deref(),
            &labels,
            &wref.to_string(),
        )
        .await?;
        let pod_selector = match &self.cfg.trigger {
            // Blue-green: watch the pods both selectors pick, i.e. the labels they share.
            Trigger::Selector { key, .. } => service
                .selector
                .iter()
                .filter(|(k, _)| *k != key)
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            _ => selector,
        };
        self.check_access(&ns, &pod_selector, &service.name).await?;
        let spec = WatchSpec {
            namespace: ns.clone(),
            kind: wref.kind,
            workload: wref.name.clone(),
            pod_selector,
            service: service.name.clone(),
        };
        let watches = Watches::start(&self.conn()?.client, &spec, &self.recorder);
        let mut changed = watches.changed.clone();
        let deadline = tokio::time::Instant::now() + self.cfg.request_timeout;
        while !watches.all_listed() {
            if let Some(f) = watches.take_fatal() {
                return Err(f);
            }
            let wait = tokio::time::timeout_at(deadline, changed.changed()).await;
            if wait.is_err() || matches!(wait, Ok(Err(_))) {
                return Err(KubeError::Unhealthy(format!(
                    "the watches of {wref} did not start within {} s: {}",
                    self.cfg.request_timeout.as_secs(),
                    watches
                        .listing_error()
                        .unwrap_or_else(|| "no answer from the API server".into())
                )));
            }
        }
        let endpoints = watches.endpoints();
        let ready = endpoints.values().filter(|e| e.conditions.ready).count();
        if ready == 0 {
            return Err(KubeError::Unhealthy(format!(
                "Service {} has no ready endpoints ({} listed): nothing to send load to before the rollout",
                service.name,
                endpoints.len()
            )));
        }
        let view = watches.workload_view().ok_or_else(|| KubeError::NotFound {
            what: wref.to_string(),
            namespace: ns.clone(),
        })?;
        let desired = view.counts().0;
        self.recorder.set_desired_replicas(desired);
        let target = if self.cfg.service_target {
            Some(service.cluster_url(&ns).ok_or_else(|| {
                KubeError::BadInput(format!(
                    "Service {} has no port to send load to: give the URL with --target",
                    service.name
                ))
            })?)
        } else {
            None
        };
        if let Some(st) = &self.cfg.start_together {
            let late =
                rendezvous::wait(&self.conn()?.client, &ns, st, self.cfg.request_timeout).await?;
            let message = if late.is_zero() {
                format!("all {} generators start their load now", st.count)
            } else {
                format!(
                    "this generator arrived {:.1} s after the others started their load",
                    late.as_secs_f64()
                )
            };
            self.recorder.now(
                None,
                EventKind::Note {
                    reason: "GeneratorsStart".into(),
                    message,
                },
            );
        }
        let description = format!("{wref} in namespace {ns} (Service {})", service.name);
        self.started = Some(Started {
            namespace: ns,
            service,
            watches,
            old_pods: BTreeMap::new(),
            generation_before: view.generation,
            min_generation: 0,
            kill_task: None,
            status_done_noted: false,
            triggered_at: None,
            completed: false,
            failed: false,
        });
        Ok(Prepared {
            target,
            desired_replicas: desired,
            ready_endpoints: u32::try_from(ready).unwrap_or(u32::MAX),
            description,
        })
    }

    /// Records the `Trigger` event: the instant the run flow reads as the rollout's start, taken
    /// just before the request (or command) that starts it, after any reads it needs.
    fn mark_trigger(&self, description: String) {
        self.recorder.now(None, EventKind::Trigger { description });
    }

    async fn trigger_inner(&mut self) -> Result<(), KubeError> {
        let trigger = self.cfg.trigger.clone();
        {
            let st = self.started_mut()?;
            st.triggered_at = Some(tokio::time::Instant::now());
            lock(&st.watches.pods).differ.triggered = true;
            st.old_pods = lock(&st.watches.pods)
                .known()
                .values()
                .map(|p| (p.uid.clone(), p.name.clone()))
                .collect();
            // `external` keeps the generation seen when the watches started: a rollout begun
            // during the baseline (a deploy step beside zerodrop, or generator 0 of a
            // distributed run starting a moment before this one) is still seen as the rollout.
            if trigger != Trigger::External
                && let Some(v) = st.watches.workload_view()
            {
                st.generation_before = v.generation;
            }
        }
        let description = trigger.describe();
        let min_generation = match &trigger {
            Trigger::Restart => {
                let w = self.get_workload().await?;
                if w.paused() {
                    return Err(KubeError::BadInput(format!(
                        "{}: can't restart paused deployment (run rollout resume first)",
                        self.cfg.workload
                    )));
                }
                let at = trigger::rfc3339_now(&jiff::Zoned::now());
                self.mark_trigger(description);
                self.patch_workload(PatchKind::Strategic, &trigger::restart_patch(&at))
                    .await?
            }
            Trigger::Image { container, image } => {
                let w = self.get_workload().await?;
                let template = w.template().cloned().unwrap_or_default();
                let body = trigger::image_patch(&template, container, image)?;
                self.mark_trigger(description);
                self.patch_workload(PatchKind::Strategic, &body).await?
            }
            Trigger::Patch { file, kind } => {
                let body = trigger::read_patch(file, *kind)?;
                self.mark_trigger(description);
                self.patch_workload(*kind, &body).await?
            }
            Trigger::Exec { argv } => {
                self.mark_trigger(description);
                let out = trigger::run_command(argv, self.cfg.rollout_timeout).await?;
                let code = out
                    .code
                    .map_or_else(|| "no exit code".to_string(), |c| format!("exit code {c}"));
                let status = if out.timed_out {
                    format!(
                        "did not finish within --rollout-timeout {} s",
                        self.cfg.rollout_timeout.as_secs()
                    )
                } else {
                    format!("ended with {code}")
                };
                self.recorder.now(
                    None,
                    EventKind::Note {
                        reason: "TriggerCommand".into(),
                        message: format!("`{}` {status}\n{}", argv.join(" "), out.output),
                    },
                );
                let ok = out.succeeded();
                let last = out.output.lines().last().unwrap_or("").to_string();
                self.command = Some(out);
                if !ok {
                    // A command that failed half way may have changed the workload: undo (when
                    // asked) compares generations before rolling anything back.
                    self.started_mut()?.failed = true;
                    return Err(KubeError::Rollout(format!(
                        "trigger command `{}` {status}: {last}",
                        argv.join(" ")
                    )));
                }
                self.get_workload().await?.generation()
            }
            Trigger::External => {
                self.mark_trigger(description);
                0
            }
            Trigger::KillPod => {
                let st = self
                    .started
                    .as_ref()
                    .ok_or_else(|| KubeError::Unhealthy("the cluster was not prepared".into()))?;
                let mut names: Vec<String> = st.old_pods.values().cloned().collect();
                names.sort();
                let client = self.conn()?.client.clone();
                let ns = st.namespace.clone();
                let interval = self.cfg.interval;
                let timeout = self.cfg.request_timeout;
                self.mark_trigger(description);
                let task = tokio::spawn(kill_pods(client, ns, names, interval, timeout));
                self.started_mut()?.kill_task = Some(task);
                0
            }
            Trigger::Selector { key, value } => {
                let ns = self.ns()?;
                let svc = self.started_mut()?.service.name.clone();
                let call = ApiCall::new("patch", "services", "", &ns).named(&svc);
                let path = format!("/api/v1/namespaces/{ns}/services/{svc}");
                self.mark_trigger(description);
                self.send_patch(
                    call,
                    path,
                    PatchKind::Strategic,
                    &trigger::selector_patch(key, value),
                )
                .await?;
                0
            }
        };
        self.started_mut()?.min_generation = min_generation;
        Ok(())
    }

    /// Judges the rollout from the watches' last known state.
    fn progress(&mut self) -> Progress {
        let trigger = self.cfg.trigger.clone();
        let recorder = self.recorder.clone();
        let Some(st) = self.started.as_mut() else {
            return Progress::Failed("the cluster was not prepared".into());
        };
        if let Trigger::Selector { key, value } = &trigger {
            return selector_progress(st, key, value);
        }
        let Some(view) = st.watches.workload_view() else {
            return Progress::Waiting("waiting for the workload's status".into());
        };
        if trigger == Trigger::External && view.generation == st.generation_before {
            return Progress::Waiting(format!(
                "waiting for a rollout to start (generation {})",
                view.generation
            ));
        }
        if matches!(trigger, Trigger::Exec { .. }) && st.min_generation == st.generation_before {
            return Progress::Done(
                "the command changed nothing in the workload: no rollout".into(),
            );
        }
        if view.generation < st.min_generation {
            return Progress::Waiting("waiting for the watch to see the new generation".into());
        }
        if let Some(t) = &st.kill_task
            && !t.is_finished()
        {
            return Progress::Waiting("deleting pods one at a time".into());
        }
        let msg = match rollout_status(&view) {
            RolloutStatus::Failed(m) => return Progress::Failed(m),
            RolloutStatus::Waiting(m) => return Progress::Waiting(m),
            RolloutStatus::Done(m) => m,
        };
        if !st.status_done_noted {
            st.status_done_noted = true;
            recorder.now(
                None,
                EventKind::Note {
                    reason: "RolloutStatusComplete".into(),
                    message: msg.clone(),
                },
            );
        }
        // kubectl says done while old pods may still be terminating; the settle period must not
        // start until they are gone.
        let pods = lock(&st.watches.pods);
        let lingering: Vec<&str> = pods
            .known()
            .values()
            .filter(|p| st.old_pods.contains_key(&p.uid) && p.deletion.is_some())
            .map(|p| p.name.as_str())
            .collect();
        if !lingering.is_empty() {
            return Progress::Waiting(format!(
                "{msg}; waiting for {} old pods to go: {}",
                lingering.len(),
                lingering.join(", ")
            ));
        }
        let replaced = st
            .old_pods
            .keys()
            .filter(|uid| !pods.known().values().any(|p| &&p.uid == uid))
            .count();
        Progress::Done(format!("{msg}; {replaced} old pods gone"))
    }

    async fn wait_inner(&mut self) -> Result<RolloutDone, KubeError> {
        // Counted from the trigger, as the run flow counts it from the trigger's end: this
        // deadline comes first, so the error names what the rollout was still waiting for.
        let timeout = self.cfg.rollout_timeout;
        let st = self.started_mut()?;
        let deadline = st.triggered_at.unwrap_or_else(tokio::time::Instant::now) + timeout;
        let mut changed = st.watches.changed.clone();
        let mut last: String;
        loop {
            let st = self.started_mut()?;
            if let Some(f) = st.watches.take_fatal() {
                return Err(f);
            }
            if let Some(t) = st.kill_task.as_mut()
                && t.is_finished()
            {
                let res = t.await.unwrap_or_else(|e| {
                    Err(KubeError::Rollout(format!("the pod killer stopped: {e}")))
                });
                st.kill_task = None;
                res?;
            }
            match self.progress() {
                Progress::Done(summary) => {
                    self.recorder.now(None, EventKind::RolloutComplete);
                    self.started_mut()?.completed = true;
                    return Ok(RolloutDone { summary });
                }
                Progress::Failed(m) => return Err(self.fail(m)),
                Progress::Waiting(m) => last = m,
            }
            // Woken by any watch; the cap re-checks the pod killer's progress.
            let cap = tokio::time::Instant::now() + Duration::from_millis(250);
            let until = deadline.min(cap);
            let _ = tokio::time::timeout_at(until, changed.changed()).await;
            if tokio::time::Instant::now() >= deadline {
                let m = format!(
                    "the rollout did not complete within --rollout-timeout {} s: {last}",
                    self.cfg.rollout_timeout.as_secs()
                );
                return Err(self.fail(m));
            }
        }
    }

    /// Notes the failure for `shutdown` (which rolls back when asked) and words the error. The
    /// run flow records the `RolloutFailed` event, once, whichever side noticed the failure.
    ///
    /// Rolling back here would be cut short: the flow stops waiting at its own deadline and
    /// drops this future mid-request. `shutdown` is always awaited to its end.
    fn fail(&mut self, reason: String) -> KubeError {
        if let Some(st) = self.started.as_mut() {
            st.failed = true;
        }
        KubeError::Rollout(reason)
    }

    /// Did the rollout fail or run out of time? A rollout the flow stopped waiting for is
    /// judged here too: past the deadline (counted from the trigger, as the flow counts it
    /// from the trigger's end) it timed out; before it, the run was interrupted or stopped for
    /// another reason, and nothing is rolled back.
    fn rollout_failed(&self) -> bool {
        let Some(st) = self.started.as_ref() else {
            return false;
        };
        let timed_out = st
            .triggered_at
            .is_some_and(|t| tokio::time::Instant::now() >= t + self.cfg.rollout_timeout);
        st.failed || (!st.completed && timed_out)
    }

    /// `--undo-on-failure`: roll back what the trigger changed, and say what was done.
    async fn undo(&self) -> Result<String, KubeError> {
        let st = self
            .started
            .as_ref()
            .ok_or_else(|| KubeError::Unhealthy("the cluster was not prepared".into()))?;
        if let Trigger::Selector { key, .. } = &self.cfg.trigger {
            // Blue-green's undo is the switch back.
            let ns = self.ns()?;
            let svc = &st.service.name;
            let previous = st.service.selector.get(key).cloned();
            let call = ApiCall::new("patch", "services", "", &ns).named(svc);
            let path = format!("/api/v1/namespaces/{ns}/services/{svc}");
            let body = serde_json::json!({"spec": {"selector": {key: previous}}});
            self.send_patch(call, path, PatchKind::Strategic, &body)
                .await?;
            return Ok(match previous {
                Some(v) => format!("Service {svc} selector switched back to {key}={v}"),
                None => format!("Service {svc} selector key {key} removed again"),
            });
        }
        let current = self.get_workload().await?;
        if current.generation() == st.generation_before {
            return Ok(format!(
                "not rolled back: {} was not changed (generation {})",
                self.cfg.workload, st.generation_before
            ));
        }
        let ns = self.ns()?;
        let client = self.conn()?.client.clone();
        let w = &self.cfg.workload;
        let (patch, revision) = match &current {
            Workload::Deployment(deploy) => {
                let selector = deploy
                    .spec
                    .as_ref()
                    .map(|s| selector_string(&s.selector))
                    .unwrap_or_default();
                let sets = self
                    .call(
                        ApiCall::new("list", "replicasets", "apps", &ns),
                        Api::<ReplicaSet>::namespaced(client, &ns)
                            .list(&ListParams::default().labels(&selector)),
                    )
                    .await?;
                let prev = undo::previous_replica_set(deploy, &sets.items).ok_or_else(|| {
                    KubeError::Rollout(format!("no rollout history found for {w}"))
                })?;
                (
                    undo::rollback_patch(deploy, prev)?.map(|p| (PatchKind::Json, p)),
                    undo::revision_of(prev),
                )
            }
            Workload::StatefulSet(_) | Workload::DaemonSet(_) => {
                let selector = current.selector().map(selector_string).unwrap_or_default();
                let uid = current.uid().unwrap_or_default();
                let history = self
                    .call(
                        ApiCall::new("list", "controllerrevisions", "apps", &ns),
                        Api::<ControllerRevision>::namespaced(client, &ns)
                            .list(&ListParams::default().labels(&selector)),
                    )
                    .await?;
                let prev =
                    undo::previous_controller_revision(&uid, &history.items).ok_or_else(|| {
                        KubeError::Rollout(format!("no rollout history found for {w}"))
                    })?;
                let current_patch = undo::template_patch(current.template());
                (
                    undo::revision_patch(prev, &current_patch)?.map(|p| (PatchKind::Strategic, p)),
                    prev.revision.to_string(),
                )
            }
        };
        match patch {
            None => Ok(format!(
                "not rolled back: the template already matches revision {revision}"
            )),
            Some((kind, body)) => {
                self.patch_workload(kind, &body).await?;
                Ok(format!("rolled back to revision {revision}"))
            }
        }
    }
}

/// Blue-green convergence: every endpoint belongs to a pod carrying KEY=VALUE and one is ready.
fn selector_progress(st: &Started, key: &str, value: &str) -> Progress {
    let endpoints = st.watches.endpoints();
    let pods = lock(&st.watches.pods);
    let labels_of = |pod: &Option<String>| {
        pod.as_ref()
            .and_then(|p| pods.known().get(p))
            .and_then(|p| p.labels.get(key))
            .map(String::as_str)
    };
    let stale: BTreeSet<&str> = endpoints
        .iter()
        .filter(|(_, e)| labels_of(&e.pod) != Some(value))
        .map(|(a, _)| a.as_str())
        .collect();
    let ready = endpoints.values().filter(|e| e.conditions.ready).count();
    if stale.is_empty() && ready > 0 {
        Progress::Done(format!(
            "Service {} converged on {key}={value}: {ready} ready endpoints",
            st.service.name
        ))
    } else {
        Progress::Waiting(format!(
            "waiting for Service {} to converge on {key}={value}: {} endpoints still elsewhere, {ready} ready",
            st.service.name,
            stale.len()
        ))
    }
}

/// Deletes pods one at a time, `interval` apart.
async fn kill_pods(
    client: kube::Client,
    ns: String,
    names: Vec<String>,
    interval: Duration,
    timeout: Duration,
) -> Result<(), KubeError> {
    let api: Api<Pod> = Api::namespaced(client, &ns);
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        let call = ApiCall::new("delete", "pods", "", &ns).named(name);
        match tokio::time::timeout(timeout, api.delete(name, &DeleteParams::default())).await {
            Ok(Ok(_)) => {}
            // Already gone (its controller replaced it): nothing to kill.
            Ok(Err(kube::Error::Api(s))) if s.is_not_found() => {}
            Ok(Err(e)) => return Err(KubeError::from_kube(call, e)),
            Err(_) => {
                return Err(KubeError::Slow {
                    call,
                    secs: timeout.as_secs(),
                });
            }
        }
    }
    Ok(())
}

impl Cluster for KubeCluster {
    async fn prepare(&mut self) -> Result<Prepared, ClusterError> {
        Ok(self.prepare_inner().await?)
    }

    async fn trigger(&mut self) -> Result<(), ClusterError> {
        Ok(self.trigger_inner().await?)
    }

    async fn wait_complete(&mut self) -> Result<RolloutDone, ClusterError> {
        Ok(self.wait_inner().await?)
    }

    async fn shutdown(&mut self) {
        if let Some(t) = self.started.as_mut().and_then(|st| st.kill_task.take()) {
            t.abort();
        }
        if self.cfg.undo_on_failure && self.rollout_failed() && self.undo.is_none() {
            // While the watches still run, so the rollback's first changes are on the timeline.
            let said = match self.undo().await {
                Ok(m) => m,
                Err(e) => format!("undo failed: {e}"),
            };
            self.recorder.now(
                None,
                EventKind::Note {
                    reason: "RolledBack".into(),
                    message: said.clone(),
                },
            );
            self.undo = Some(said);
        }
        if let Some(st) = self.started.as_mut() {
            st.watches.stop();
        }
    }
}
