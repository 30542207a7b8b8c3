//! The watches of one run: Pods, EndpointSlices, Events and the workload, each a kube-runtime
//! `watcher` feeding a [`Tracker`], whose events go to the run's `TimelineRecorder`.
//!
//! This module owns the background tasks and the per-resource differs; it decides nothing about
//! the rollout. The phase files read the trackers' last known state to judge readiness and
//! completion and are woken through [`Watches::changed`] whenever any of them moves.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::convert::{
    EndpointView, EventView, PodView, SliceView, endpoint_events, event_note, merge_slices,
    pod_events,
};
use super::error::{ApiCall, KubeError};
use super::tracker::{Differ, Keyed, Tracker, WatchStep};
use super::workload::{WorkloadKind, WorkloadView};
use crate::model::clock::At;
use crate::model::event::{EventKind, LifecycleEvent, Revision};
use crate::timeline::TimelineRecorder;

impl Keyed for PodView {
    fn key(&self) -> String {
        self.name.clone()
    }
}
impl Keyed for SliceView {
    fn key(&self) -> String {
        self.name.clone()
    }
}
impl Keyed for EventView {
    fn key(&self) -> String {
        self.name.clone()
    }
}
impl Keyed for WorkloadView {
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// Pods: lifecycle events per pod; new pods are old until the trigger, new after it.
#[derive(Debug, Default)]
pub struct PodDiffer {
    pub triggered: bool,
    /// Every pod name the watch has seen during the run, for [`EventDiffer`] to tell the
    /// workload's pods from their neighbours'.
    pub seen: Locked<BTreeSet<String>>,
}

impl Differ<PodView> for PodDiffer {
    fn diff(
        &mut self,
        before: &BTreeMap<String, PodView>,
        after: &BTreeMap<String, PodView>,
        keys: &BTreeSet<String>,
        _initial: bool,
        now: At,
        out: &mut Vec<LifecycleEvent>,
    ) {
        let revision = if self.triggered {
            Revision::New
        } else {
            Revision::Old
        };
        lock(&self.seen).extend(after.keys().cloned());
        for k in keys {
            pod_events(before.get(k), after.get(k), revision, now, out);
        }
    }
}

/// EndpointSlices: endpoint events of the Service, its slices merged.
#[derive(Debug, Default)]
pub struct SliceDiffer;

impl Differ<SliceView> for SliceDiffer {
    fn diff(
        &mut self,
        before: &BTreeMap<String, SliceView>,
        after: &BTreeMap<String, SliceView>,
        _keys: &BTreeSet<String>,
        _initial: bool,
        now: At,
        out: &mut Vec<LifecycleEvent>,
    ) {
        endpoint_events(
            &merge_slices(before.values()),
            &merge_slices(after.values()),
            now,
            out,
        );
    }
}

/// Events: Notes for the workload, its ReplicaSets and its pods; history before the run is not
/// replayed.
#[derive(Debug)]
pub struct EventDiffer {
    pub kind: &'static str,
    pub name: String,
    /// The pods the pod watch has seen (shared with its [`PodDiffer`]).
    pub pods: Locked<BTreeSet<String>>,
}

impl EventDiffer {
    /// The workload itself, a pod the pod watch has seen, or a pod or ReplicaSet whose name has
    /// the shape its controller gives them (for an Event that beats its pod's watch event).
    /// A name that merely starts with the workload's is not enough: `web-worker-7d4b9-x2x9q`
    /// belongs to `web-worker`, not to `web`.
    fn relevant(&self, e: &EventView) -> bool {
        match e.involved_kind.as_str() {
            k if k == self.kind => e.involved_name == self.name,
            "Pod" => {
                lock(&self.pods).contains(&e.involved_name)
                    || owned_name(self.kind, &self.name, "Pod", &e.involved_name)
            }
            "ReplicaSet" => owned_name(self.kind, &self.name, "ReplicaSet", &e.involved_name),
            _ => false,
        }
    }
}

/// True if `name` has the shape the controller of `kind`/`workload` gives its `child_kind`:
/// a Deployment's ReplicaSet `web-<hash>` and pod `web-<hash>-<5>`, a StatefulSet's pod
/// `db-<ordinal>`, a DaemonSet's pod `agent-<5>`. The hash is Kubernetes' safe encoding (or
/// the plain digits of old clusters), the 5 characters its random name suffix. A 63-character
/// pod name is a generated name cut short, so only its start can be compared.
fn owned_name(kind: &str, workload: &str, child_kind: &str, name: &str) -> bool {
    const SAFE: &str = "bcdfghjklmnpqrstvwxz2456789";
    let safe = |s: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&s.len()) && s.chars().all(|c| SAFE.contains(c))
    };
    let hash = |s: &str| {
        (1..=10).contains(&s.len()) && s.chars().all(|c| SAFE.contains(c) || c.is_ascii_digit())
    };
    let Some(rest) = name
        .strip_prefix(workload)
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    match (kind, child_kind) {
        (_, "Pod") if name.len() == 63 => true,
        ("Deployment", "ReplicaSet") => hash(rest),
        ("Deployment", "Pod") => rest
            .split_once('-')
            .is_some_and(|(h, suffix)| hash(h) && safe(suffix, 5..=5)),
        ("StatefulSet", "Pod") => !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()),
        ("DaemonSet", "Pod") => safe(rest, 5..=5),
        _ => false,
    }
}

impl Differ<EventView> for EventDiffer {
    fn diff(
        &mut self,
        before: &BTreeMap<String, EventView>,
        after: &BTreeMap<String, EventView>,
        keys: &BTreeSet<String>,
        initial: bool,
        now: At,
        out: &mut Vec<LifecycleEvent>,
    ) {
        if initial {
            return;
        }
        for k in keys {
            if let Some(n) = after.get(k)
                && self.relevant(n)
                && let Some(e) = event_note(before.get(k), n, now)
            {
                out.push(e);
            }
        }
    }
}

/// The workload: a `WorkloadStatus` whenever its replica counts move.
#[derive(Debug, Default)]
pub struct WorkloadDiffer;

impl Differ<WorkloadView> for WorkloadDiffer {
    fn diff(
        &mut self,
        before: &BTreeMap<String, WorkloadView>,
        after: &BTreeMap<String, WorkloadView>,
        keys: &BTreeSet<String>,
        _initial: bool,
        now: At,
        out: &mut Vec<LifecycleEvent>,
    ) {
        for k in keys {
            let Some(n) = after.get(k) else { continue };
            let counts = n.counts();
            if before.get(k).map(WorkloadView::counts) == Some(counts) {
                continue;
            }
            let (desired, updated, ready, available) = counts;
            out.push(LifecycleEvent::workload(
                now,
                EventKind::WorkloadStatus {
                    desired,
                    updated,
                    ready,
                    available,
                },
            ));
        }
    }
}

pub type Locked<T> = Arc<Mutex<T>>;

/// Locks a tracker; a panic elsewhere while holding it leaves consistent maps behind.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What to watch.
pub struct WatchSpec {
    pub namespace: String,
    pub kind: WorkloadKind,
    pub workload: String,
    pub pod_selector: String,
    pub service: String,
}

/// The running watches and their shared state.
pub struct Watches {
    pub pods: Locked<Tracker<PodView, PodDiffer>>,
    pub slices: Locked<Tracker<SliceView, SliceDiffer>>,
    pub events: Locked<Tracker<EventView, EventDiffer>>,
    pub workload: Locked<Tracker<WorkloadView, WorkloadDiffer>>,
    /// Bumped after every step of any watch.
    pub changed: tokio::sync::watch::Receiver<u64>,
    /// A failure no retry will cure (RBAC refused the watch).
    pub fatal: Locked<Option<KubeError>>,
    tasks: Vec<JoinHandle<()>>,
    recorder: TimelineRecorder,
}

struct Sink {
    recorder: TimelineRecorder,
    bump: Arc<tokio::sync::watch::Sender<u64>>,
    fatal: Locked<Option<KubeError>>,
}

impl Watches {
    /// Starts the four watches. Returns at once; [`Watches::all_listed`] says when every first
    /// list has completed.
    pub fn start(client: &kube::Client, spec: &WatchSpec, recorder: &TimelineRecorder) -> Watches {
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        let bump = Arc::new(tx);
        let fatal: Locked<Option<KubeError>> = Arc::default();
        let sink = || Sink {
            recorder: recorder.clone(),
            bump: bump.clone(),
            fatal: fatal.clone(),
        };
        let ns = spec.namespace.as_str();
        let Trackers {
            pods,
            slices,
            events,
            workload,
        } = trackers(spec);
        let pod_cfg = watcher::Config::default().labels(&spec.pod_selector);
        let slice_cfg = watcher::Config::default()
            .labels(&format!("kubernetes.io/service-name={}", spec.service));
        let tasks = vec![
            spawn_watch(
                Api::<Pod>::namespaced(client.clone(), ns),
                pod_cfg,
                ApiCall::new("watch", "pods", "", ns),
                pods.clone(),
                PodView::from_pod,
                sink(),
            ),
            spawn_watch(
                Api::<EndpointSlice>::namespaced(client.clone(), ns),
                slice_cfg,
                ApiCall::new("watch", "endpointslices", "discovery.k8s.io", ns),
                slices.clone(),
                SliceView::from_slice,
                sink(),
            ),
            spawn_watch(
                Api::<Event>::namespaced(client.clone(), ns),
                watcher::Config::default(),
                ApiCall::new("watch", "events", "", ns),
                events.clone(),
                EventView::from_event,
                sink(),
            ),
            spawn_workload_watch(client, spec, workload.clone(), sink()),
        ];
        Watches {
            pods,
            slices,
            events,
            workload,
            changed: rx,
            fatal,
            tasks,
            recorder: recorder.clone(),
        }
    }

    /// Every watch has completed its first list.
    pub fn all_listed(&self) -> bool {
        lock(&self.pods).listed()
            && lock(&self.slices).listed()
            && lock(&self.events).listed()
            && lock(&self.workload).listed()
    }

    /// The first failure message of a watch that has not listed yet.
    pub fn listing_error(&self) -> Option<String> {
        let errs = [
            (!lock(&self.pods).listed()).then(|| lock(&self.pods).last_error().map(str::to_string)),
            (!lock(&self.slices).listed())
                .then(|| lock(&self.slices).last_error().map(str::to_string)),
            (!lock(&self.workload).listed())
                .then(|| lock(&self.workload).last_error().map(str::to_string)),
            (!lock(&self.events).listed())
                .then(|| lock(&self.events).last_error().map(str::to_string)),
        ];
        errs.into_iter().flatten().flatten().next()
    }

    pub fn take_fatal(&self) -> Option<KubeError> {
        lock(&self.fatal).take()
    }

    /// The Service's endpoints as last seen.
    pub fn endpoints(&self) -> BTreeMap<String, EndpointView> {
        merge_slices(lock(&self.slices).known().values())
    }

    pub fn workload_view(&self) -> Option<WorkloadView> {
        lock(&self.workload).known().values().next().cloned()
    }

    pub fn pod_names(&self) -> BTreeSet<String> {
        lock(&self.pods).known().keys().cloned().collect()
    }

    /// Stops every watch and records gaps still open as lasting until now.
    pub fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let now = self.recorder.clock().now();
        let mut out = lock(&self.pods).flush_gap(now);
        out.extend(lock(&self.slices).flush_gap(now));
        out.extend(lock(&self.events).flush_gap(now));
        out.extend(lock(&self.workload).flush_gap(now));
        for e in out {
            self.recorder.push(e);
        }
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A watcher error RBAC will keep refusing, as the error to stop the run with.
fn forbidden(call: &ApiCall, err: &watcher::Error) -> Option<KubeError> {
    let status_forbidden = |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.is_forbidden());
    let (verb, message) = match err {
        watcher::Error::InitialListFailed(e) if status_forbidden(e) => ("list", e.to_string()),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e)
            if status_forbidden(e) =>
        {
            ("watch", e.to_string())
        }
        watcher::Error::WatchError(s) if s.is_forbidden() => ("watch", s.message.clone()),
        _ => return None,
    };
    let mut call = call.clone();
    call.verb = verb;
    Some(KubeError::Forbidden { call, message })
}

/// The four trackers of a run.
struct Trackers {
    pods: Locked<Tracker<PodView, PodDiffer>>,
    slices: Locked<Tracker<SliceView, SliceDiffer>>,
    events: Locked<Tracker<EventView, EventDiffer>>,
    workload: Locked<Tracker<WorkloadView, WorkloadDiffer>>,
}

/// The four trackers, empty; the event differ shares the pod differ's seen names.
fn trackers(spec: &WatchSpec) -> Trackers {
    let seen: Locked<BTreeSet<String>> = Arc::default();
    let pods = Arc::new(Mutex::new(Tracker::new(
        "pods",
        PodDiffer {
            triggered: false,
            seen: seen.clone(),
        },
    )));
    let slices = Arc::new(Mutex::new(Tracker::new("endpointslices", SliceDiffer)));
    let events = Arc::new(Mutex::new(Tracker::new(
        "events",
        EventDiffer {
            kind: match spec.kind {
                WorkloadKind::Deployment => "Deployment",
                WorkloadKind::StatefulSet => "StatefulSet",
                WorkloadKind::DaemonSet => "DaemonSet",
            },
            name: spec.workload.clone(),
            pods: seen,
        },
    )));
    let workload = Arc::new(Mutex::new(Tracker::new(
        spec.kind.resource(),
        WorkloadDiffer,
    )));
    Trackers {
        pods,
        slices,
        events,
        workload,
    }
}

/// The watch of the workload itself, by name, typed by its kind.
fn spawn_workload_watch(
    client: &kube::Client,
    spec: &WatchSpec,
    workload: Locked<Tracker<WorkloadView, WorkloadDiffer>>,
    sink: Sink,
) -> JoinHandle<()> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    let ns = spec.namespace.as_str();
    let cfg = watcher::Config::default().fields(&format!("metadata.name={}", spec.workload));
    let call = ApiCall::new("watch", spec.kind.resource(), "apps", ns);
    let c = client.clone();
    match spec.kind {
        WorkloadKind::Deployment => spawn_watch(
            Api::<Deployment>::namespaced(c, ns),
            cfg,
            call,
            workload,
            WorkloadView::from_deployment,
            sink,
        ),
        WorkloadKind::StatefulSet => spawn_watch(
            Api::<StatefulSet>::namespaced(c, ns),
            cfg,
            call,
            workload,
            WorkloadView::from_stateful_set,
            sink,
        ),
        WorkloadKind::DaemonSet => spawn_watch(
            Api::<DaemonSet>::namespaced(c, ns),
            cfg,
            call,
            workload,
            WorkloadView::from_daemon_set,
            sink,
        ),
    }
}

fn spawn_watch<K, V, D>(
    api: Api<K>,
    cfg: watcher::Config,
    call: ApiCall,
    tracker: Locked<Tracker<V, D>>,
    view: fn(&K) -> V,
    sink: Sink,
) -> JoinHandle<()>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    V: Keyed + Clone + Send + 'static,
    D: Differ<V> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = watcher(api, cfg).default_backoff().boxed();
        while let Some(item) = stream.next().await {
            let step = match item {
                Ok(watcher::Event::Init) => WatchStep::Init,
                Ok(watcher::Event::InitApply(k)) => WatchStep::InitApply(view(&k)),
                Ok(watcher::Event::InitDone) => WatchStep::InitDone,
                Ok(watcher::Event::Apply(k)) => WatchStep::Apply(view(&k)),
                Ok(watcher::Event::Delete(k)) => WatchStep::Delete(view(&k)),
                Err(e) => {
                    if let Some(f) = forbidden(&call, &e) {
                        lock(&sink.fatal).get_or_insert(f);
                    }
                    WatchStep::Error(e.to_string())
                }
            };
            let now = sink.recorder.clock().now();
            let events = lock(&tracker).handle(step, now);
            for e in events {
                sink.recorder.push(e);
            }
            sink.bump.send_modify(|n| *n = n.wrapping_add(1));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::owned_name;

    #[test]
    fn children_are_recognised_by_the_name_their_controller_gives_them() {
        for (kind, workload, child, name, owned) in [
            ("Deployment", "web", "ReplicaSet", "web-7d4b9c", true),
            ("Deployment", "web", "ReplicaSet", "web-2035384211", true),
            ("Deployment", "web", "Pod", "web-7d4b9c-x2x9q", true),
            ("Deployment", "web", "Pod", "web-worker-7d4b9c-x2x9q", false),
            ("Deployment", "web", "ReplicaSet", "web-worker", false),
            ("Deployment", "web", "Pod", "web-agent-k2x9q", false),
            ("StatefulSet", "db", "Pod", "db-12", true),
            ("StatefulSet", "db", "Pod", "db-replica-0", false),
            ("DaemonSet", "agent", "Pod", "agent-k2x9q", true),
            ("DaemonSet", "agent", "Pod", "agent-0", false),
            ("DaemonSet", "agent", "ReplicaSet", "agent-k2x9q", false),
            ("Deployment", "web", "Pod", "webserver-7d4b9c-x2x9q", false),
        ] {
            assert_eq!(
                owned_name(kind, workload, child, name),
                owned,
                "{kind} {workload}: {child} {name}"
            );
        }
        // A generated name cut at 63 characters can only be compared by its start.
        let long = format!("web-{}", "x".repeat(59));
        assert_eq!(long.len(), 63);
        assert!(owned_name("Deployment", "web", "Pod", &long));
    }
}
