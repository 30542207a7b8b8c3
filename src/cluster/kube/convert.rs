//! Pure conversion of Kubernetes objects into lifecycle events.
//!
//! Each watched object is first condensed into a small view ([`PodView`], [`SliceView`],
//! [`EventView`]) holding only what the timeline needs; then a diff of (state before, state
//! after) yields the events. Because the diff works on states, not on watch notifications, the
//! same functions serve a live change and a re-list after a dropped watch: whatever changed while
//! the watch was down is found by comparing the last known state with the re-listed one.
//!
//! No I/O, no clocks: the caller passes the observation instant. The API server's own
//! timestamps go into `source_time`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::model::clock::At;
use crate::model::event::{EndpointConditions, EventKind, LifecycleEvent, Revision};

/// One container termination, identified by container and restart count so a re-list does not
/// report it twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Termination {
    pub container: String,
    /// The restart count of the container run that ended.
    pub run: i32,
    pub code: i32,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub finished_at: Option<Timestamp>,
}

/// What the timeline needs of a Pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub created: Option<Timestamp>,
    pub ip: Option<String>,
    /// The first declared container port, to form `ip:port` addresses.
    pub port: Option<i32>,
    /// Every container is running.
    pub running: bool,
    /// The latest container start time.
    pub started_at: Option<Timestamp>,
    pub ready: bool,
    /// When the Ready condition last changed, and why it is false (when it is).
    pub ready_changed: Option<Timestamp>,
    pub ready_reason: Option<String>,
    pub deletion: Option<Timestamp>,
    /// The grace period in force: `deletionGracePeriodSeconds` once deleting, else the spec's.
    pub grace_seconds: Option<i64>,
    pub terminations: Vec<Termination>,
}

fn ts(t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<Timestamp> {
    t.as_ref().map(|t| t.0)
}

impl PodView {
    /// The name of the revision the pod belongs to, from the label its controller sets: a
    /// Deployment's ReplicaSet hash, a StatefulSet's or DaemonSet's controller revision.
    pub fn revision_name(&self) -> Option<String> {
        ["pod-template-hash", "controller-revision-hash"]
            .iter()
            .find_map(|k| self.labels.get(*k).cloned())
    }

    pub fn from_pod(p: &Pod) -> PodView {
        let meta = &p.metadata;
        let spec = p.spec.as_ref();
        let status = p.status.as_ref();
        let statuses = status
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        let running = !statuses.is_empty()
            && statuses
                .iter()
                .all(|c| c.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
        let started_at = statuses
            .iter()
            .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
            .map(|t| t.0)
            .max();
        let ready_cond = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
        let mut terminations = Vec::new();
        for c in &statuses {
            if let Some(t) = c.state.as_ref().and_then(|s| s.terminated.as_ref()) {
                terminations.push(termination(&c.name, c.restart_count, t));
            }
            // A restarted container's previous run ended as `lastState` says.
            if let Some(t) = c.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
                terminations.push(termination(&c.name, c.restart_count - 1, t));
            }
        }
        let port = spec.and_then(|s| {
            s.containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .map(|p| p.container_port)
                .next()
        });
        PodView {
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            created: ts(&meta.creation_timestamp),
            ip: status
                .and_then(|s| s.pod_ip.clone())
                .filter(|s| !s.is_empty()),
            port,
            running,
            started_at,
            ready: ready_cond.is_some_and(|c| c.status == "True"),
            ready_changed: ready_cond.and_then(|c| ts(&c.last_transition_time)),
            ready_reason: ready_cond
                .filter(|c| c.status != "True")
                .and_then(|c| c.reason.clone()),
            deletion: ts(&meta.deletion_timestamp),
            grace_seconds: meta
                .deletion_grace_period_seconds
                .or_else(|| spec.and_then(|s| s.termination_grace_period_seconds)),
            terminations,
        }
    }

    /// `ip:port` (or just the IP) where this pod serves.
    pub fn address(&self) -> Option<String> {
        let ip = self.ip.as_ref()?;
        Some(match self.port {
            Some(p) => format!("{ip}:{p}"),
            None => ip.clone(),
        })
    }

    /// When termination began. `deletionTimestamp` is the moment the grace period *ends*
    /// (request time + grace), so the start is that minus the grace period.
    pub fn terminating_since(&self) -> Option<Timestamp> {
        let end = self.deletion?;
        let grace = jiff::SignedDuration::from_secs(self.grace_seconds.unwrap_or(0));
        end.checked_sub(grace).ok().or(Some(end))
    }
}

fn termination(
    container: &str,
    run: i32,
    t: &k8s_openapi::api::core::v1::ContainerStateTerminated,
) -> Termination {
    // Runtimes report a death by signal N as exit code 128+N when they give no signal field.
    let signal = t
        .signal
        .filter(|s| *s > 0)
        .or_else(|| (t.exit_code > 128 && t.exit_code <= 128 + 64).then_some(t.exit_code - 128));
    Termination {
        container: container.to_string(),
        run,
        code: t.exit_code,
        signal,
        reason: t.reason.clone(),
        finished_at: ts(&t.finished_at),
    }
}

fn ev(now: At, source: Option<Timestamp>, pod: &str, kind: EventKind) -> LifecycleEvent {
    LifecycleEvent {
        at: now,
        source_time: source,
        pod: Some(pod.to_string()),
        kind,
    }
}

/// The lifecycle events between two states of one pod (`None`: absent).
///
/// `revision` is the side of the rollout a newly seen pod belongs to; the caller decides it
/// (pods that existed before the trigger are old).
pub fn pod_events(
    old: Option<&PodView>,
    new: Option<&PodView>,
    revision: Revision,
    now: At,
    out: &mut Vec<LifecycleEvent>,
) {
    match (old, new) {
        (None, None) => {}
        (Some(o), None) => out.push(ev(now, None, &o.name, EventKind::PodDeleted)),
        (Some(o), Some(n)) if o.uid != n.uid && !o.uid.is_empty() => {
            // Same name, different object: a StatefulSet pod replaced while we looked away.
            out.push(ev(now, None, &o.name, EventKind::PodDeleted));
            pod_events(None, Some(n), revision, now, out);
        }
        (o, Some(n)) => {
            if o.is_none() {
                let kind = EventKind::PodCreated {
                    revision,
                    revision_name: n.revision_name(),
                };
                out.push(ev(now, n.created, &n.name, kind));
            }
            pod_changes(o, n, now, out);
            container_exits(o, n, now, out);
        }
    }
}

/// Started, ready or not, terminating: what changed from `o` (`None`: just seen) to `n`.
fn pod_changes(o: Option<&PodView>, n: &PodView, now: At, out: &mut Vec<LifecycleEvent>) {
    let name = n.name.as_str();
    let was_running = o.is_some_and(|o| o.running);
    if n.running && !was_running {
        out.push(ev(
            now,
            n.started_at,
            name,
            EventKind::PodStarted {
                address: n.address(),
            },
        ));
    }
    let was_ready = o.is_some_and(|o| o.ready);
    if n.ready && !was_ready {
        out.push(ev(now, n.ready_changed, name, EventKind::PodReady));
    } else if !n.ready && was_ready {
        let reason = n
            .ready_reason
            .clone()
            .or_else(|| n.deletion.map(|_| "terminating".to_string()));
        out.push(ev(
            now,
            n.ready_changed,
            name,
            EventKind::PodNotReady { reason },
        ));
    }
    if n.deletion.is_some() && o.is_none_or(|o| o.deletion.is_none()) {
        let grace_period = n
            .grace_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(std::time::Duration::from_secs);
        out.push(ev(
            now,
            n.terminating_since(),
            name,
            EventKind::PodTerminating { grace_period },
        ));
    }
}

/// Container terminations `n` reports that `o` did not, each once.
fn container_exits(o: Option<&PodView>, n: &PodView, now: At, out: &mut Vec<LifecycleEvent>) {
    let name = n.name.as_str();
    for t in &n.terminations {
        let seen = o.is_some_and(|o| {
            o.terminations
                .iter()
                .any(|x| x.container == t.container && x.run == t.run)
        });
        if seen {
            continue;
        }
        out.push(ev(
            now,
            t.finished_at,
            name,
            EventKind::ContainerExited {
                code: Some(t.code),
                signal: t.signal,
                reason: t.reason.clone(),
            },
        ));
        // SIGKILL of a terminating pod, not by the OOM killer: the grace period ran out.
        if n.deletion.is_some() && t.signal == Some(9) && t.reason.as_deref() != Some("OOMKilled") {
            out.push(ev(
                now,
                t.finished_at,
                name,
                EventKind::KilledAtGraceDeadline,
            ));
        }
    }
}

/// One endpoint of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointView {
    pub address: String,
    pub pod: Option<String>,
    pub conditions: EndpointConditions,
}

/// What the timeline needs of an EndpointSlice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceView {
    pub name: String,
    /// The `kubernetes.io/service-name` label.
    pub service: String,
    pub endpoints: Vec<EndpointView>,
}

impl SliceView {
    pub fn from_slice(s: &EndpointSlice) -> SliceView {
        let port = s.ports.iter().flatten().filter_map(|p| p.port).next();
        let mut endpoints = Vec::new();
        for e in &s.endpoints {
            let c = e.conditions.clone().unwrap_or_default();
            // The API's defaults: nil ready means true, nil serving defers to ready, nil
            // terminating means false.
            let ready = c.ready.unwrap_or(true);
            let conditions = EndpointConditions {
                ready,
                serving: c.serving.unwrap_or(ready),
                terminating: c.terminating.unwrap_or(false),
            };
            let pod = e
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref().is_none_or(|k| k == "Pod"))
                .and_then(|r| r.name.clone());
            for ip in &e.addresses {
                let address = match port {
                    Some(p) if ip.contains(':') => format!("[{ip}]:{p}"),
                    Some(p) => format!("{ip}:{p}"),
                    None => ip.clone(),
                };
                endpoints.push(EndpointView {
                    address,
                    pod: pod.clone(),
                    conditions,
                });
            }
        }
        SliceView {
            name: s.metadata.name.clone().unwrap_or_default(),
            service: s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name").cloned())
                .unwrap_or_default(),
            endpoints,
        }
    }
}

/// All endpoints of a Service across its slices, by address.
///
/// During a slice reshuffle one address can sit in two slices for a moment; the entry that says
/// ready wins, since kube-proxy routes to an address that any slice lists as ready.
pub fn merge_slices<'a>(
    slices: impl IntoIterator<Item = &'a SliceView>,
) -> BTreeMap<String, EndpointView> {
    let mut out: BTreeMap<String, EndpointView> = BTreeMap::new();
    for s in slices {
        for e in &s.endpoints {
            match out.get(&e.address) {
                Some(prev) if prev.conditions.ready || !e.conditions.ready => {}
                _ => {
                    out.insert(e.address.clone(), e.clone());
                }
            }
        }
    }
    out
}

/// Endpoint events between two merged endpoint sets.
pub fn endpoint_events(
    old: &BTreeMap<String, EndpointView>,
    new: &BTreeMap<String, EndpointView>,
    now: At,
    out: &mut Vec<LifecycleEvent>,
) {
    let mk = |pod: &Option<String>, kind| LifecycleEvent {
        at: now,
        source_time: None,
        pod: pod.clone(),
        kind,
    };
    for (addr, n) in new {
        match old.get(addr) {
            None => out.push(mk(
                &n.pod,
                EventKind::EndpointAdded {
                    address: addr.clone(),
                    conditions: n.conditions,
                },
            )),
            Some(o) if o.conditions != n.conditions || o.pod != n.pod => out.push(mk(
                &n.pod,
                EventKind::EndpointChanged {
                    address: addr.clone(),
                    conditions: n.conditions,
                },
            )),
            Some(_) => {}
        }
    }
    for (addr, o) in old {
        if !new.contains_key(addr) {
            out.push(mk(
                &o.pod,
                EventKind::EndpointRemoved {
                    address: addr.clone(),
                },
            ));
        }
    }
}

/// What the timeline needs of a core/v1 Event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventView {
    pub name: String,
    pub involved_kind: String,
    pub involved_name: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub last_seen: Option<Timestamp>,
}

impl EventView {
    pub fn from_event(e: &Event) -> EventView {
        // eventTime is set by the newer events API, lastTimestamp by the older recorders.
        let last_seen = e
            .event_time
            .as_ref()
            .map(|t| t.0)
            .or_else(|| ts(&e.last_timestamp))
            .or_else(|| ts(&e.first_timestamp))
            .or_else(|| ts(&e.metadata.creation_timestamp));
        EventView {
            name: e.metadata.name.clone().unwrap_or_default(),
            involved_kind: e.involved_object.kind.clone().unwrap_or_default(),
            involved_name: e.involved_object.name.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
            count: e
                .count
                .or(e.series.as_ref().and_then(|s| s.count))
                .unwrap_or(1),
            last_seen,
        }
    }
}

/// The lifecycle event for a new or repeated cluster Event (`None` when nothing new happened).
pub fn event_note(old: Option<&EventView>, new: &EventView, now: At) -> Option<LifecycleEvent> {
    if let Some(o) = old
        && o.count == new.count
        && o.last_seen == new.last_seen
    {
        return None;
    }
    let pod = (new.involved_kind == "Pod").then(|| new.involved_name.clone());
    // kubelet words probe failures "Readiness probe failed: …"; they get their own kind.
    let probe = ["Readiness", "Liveness", "Startup"]
        .into_iter()
        .find(|p| new.reason == "Unhealthy" && new.message.starts_with(&format!("{p} probe")));
    let kind = match probe {
        Some(p) => EventKind::ProbeFailed {
            probe: p.to_ascii_lowercase(),
            detail: new.message.clone(),
        },
        None => EventKind::Note {
            reason: new.reason.clone(),
            message: if new.involved_kind == "Pod" || new.involved_kind.is_empty() {
                new.message.clone()
            } else {
                format!(
                    "{} {}: {}",
                    new.involved_kind, new.involved_name, new.message
                )
            },
        },
    };
    Some(LifecycleEvent {
        at: now,
        source_time: new.last_seen,
        pod,
        kind,
    })
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
