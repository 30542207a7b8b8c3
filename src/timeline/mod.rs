//! The ordered record of what the cluster did during a run, on the run's clock.
//!
//! Runtimes push [`LifecycleEvent`]s through a [`TimelineRecorder`] (cheap to clone, usable
//! from any thread) as they observe them; [`TimelineRecorder::finish`] yields the [`Timeline`]
//! the analysis reads. Watch gaps are events like any other, so a stretch where the cluster was
//! not observed is visible rather than papered over.
//!
//! While the run goes on, the recorder also answers which revision served a connection
//! ([`revisions`]): it sees the local proxy's routes, every pod's revision and address.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::model::clock::{At, RunClock};
use crate::model::event::{EventKind, LifecycleEvent, Revision};

pub mod revisions;

pub use revisions::TimelineRevisions;

/// Which backend (pod) one client connection was sent to by the local service proxy: how a
/// failure on that connection is attributed to a pod exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRoute {
    /// The client's address as the proxy saw it (the load engine's local socket address).
    pub client: SocketAddr,
    /// The pod the connection was pinned to.
    pub pod: String,
    /// The backend address it was forwarded to.
    pub backend: SocketAddr,
    pub opened: At,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<At>,
}

/// Everything the cluster side observed during a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// In observation order (sorted by `at`, stable).
    pub events: Vec<LifecycleEvent>,
    /// Replicas the workload should have (for capacity checks), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<u32>,
    /// The local service proxy's connection map (empty for a real cluster).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<ConnectionRoute>,
}

impl Timeline {
    /// The timeline of these events and routes, put in order: events by instant, routes by
    /// opening (both sorts stable).
    pub fn ordered(
        mut events: Vec<LifecycleEvent>,
        desired_replicas: Option<u32>,
        mut routes: Vec<ConnectionRoute>,
    ) -> Timeline {
        events.sort_by_key(|e| e.at);
        routes.sort_by_key(|r| r.opened);
        Timeline {
            events,
            desired_replicas,
            routes,
        }
    }

    /// Events concerning `pod`, in order.
    pub fn pod_events<'a>(&'a self, pod: &'a str) -> impl Iterator<Item = &'a LifecycleEvent> + 'a {
        self.events
            .iter()
            .filter(move |e| e.pod.as_deref() == Some(pod))
    }

    /// Every pod named by an event, with its revision where a `PodCreated` gave one.
    pub fn pods(&self) -> BTreeMap<String, Revision> {
        let mut out = BTreeMap::new();
        for e in &self.events {
            if let Some(p) = &e.pod {
                let rev = match &e.kind {
                    EventKind::PodCreated { revision, .. } => *revision,
                    _ => Revision::Unknown,
                };
                let slot = out.entry(p.clone()).or_insert(Revision::Unknown);
                if *slot == Revision::Unknown {
                    *slot = rev;
                }
            }
        }
        out
    }

    /// The stretches where some watch was down: (resource, from, to).
    pub fn gaps(&self) -> impl Iterator<Item = (&str, At, At)> + '_ {
        self.events.iter().filter_map(|e| match &e.kind {
            EventKind::WatchGap { resource, from } => Some((resource.as_str(), *from, e.at)),
            _ => None,
        })
    }

    /// The route a client connection took at `at` (the newest route for that client address
    /// opened at or before `at`: ephemeral ports are reused over a long run).
    pub fn route_at(&self, client: SocketAddr, at: At) -> Option<&ConnectionRoute> {
        self.routes
            .iter()
            .filter(|r| r.client == client && r.opened <= at)
            .max_by_key(|r| r.opened)
    }

    /// Addresses whose endpoint is ready at the end of `events` (added or changed to ready,
    /// not removed since), by replaying endpoint events in order.
    pub fn ready_endpoints_in(events: &[LifecycleEvent]) -> BTreeMap<String, String> {
        let mut ready: BTreeMap<String, String> = BTreeMap::new();
        for e in events {
            match e.kind.endpoint() {
                Some((address, Some(conditions))) if conditions.ready => {
                    ready.insert(address.to_string(), e.pod.clone().unwrap_or_default());
                }
                Some((address, _)) => {
                    ready.remove(address);
                }
                None => {}
            }
        }
        ready
    }

    /// Addresses a Service's proxy would send new connections to at the end of `events`, as
    /// kube-proxy chooses them: the ready endpoints; when none is ready, the ones still serving
    /// while terminating (so a Service whose every pod is draining still answers). Sorted.
    pub fn routable_endpoints_in(events: &[LifecycleEvent]) -> Vec<String> {
        let mut now: BTreeMap<&str, crate::model::event::EndpointConditions> = BTreeMap::new();
        for e in events {
            match e.kind.endpoint() {
                Some((address, Some(c))) => {
                    now.insert(address, c);
                }
                Some((address, None)) => {
                    now.remove(address);
                }
                None => {}
            }
        }
        let pick = |f: fn(&crate::model::event::EndpointConditions) -> bool| -> Vec<String> {
            now.iter()
                .filter(|(_, c)| f(c))
                .map(|(a, _)| a.to_string())
                .collect()
        };
        let ready = pick(|c| c.ready);
        if ready.is_empty() {
            pick(|c| c.serving && c.terminating)
        } else {
            ready
        }
    }

    /// The first event of `kind_name` for `pod`, if any.
    pub fn first<'a>(&'a self, pod: &'a str, kind_name: &str) -> Option<&'a LifecycleEvent> {
        self.pod_events(pod).find(|e| e.kind.name() == kind_name)
    }
}

#[derive(Debug, Default)]
struct Inner {
    events: Vec<LifecycleEvent>,
    desired_replicas: Option<u32>,
    routes: Vec<ConnectionRoute>,
    /// Pods' revisions and addresses, kept up to date as events arrive.
    index: revisions::Index,
}

/// Collects events from any thread; cheap to clone.
#[derive(Clone, Debug)]
pub struct TimelineRecorder {
    clock: RunClock,
    inner: Arc<Mutex<Inner>>,
}

impl TimelineRecorder {
    pub fn new(clock: RunClock) -> TimelineRecorder {
        TimelineRecorder {
            clock,
            inner: Arc::default(),
        }
    }

    pub fn clock(&self) -> RunClock {
        self.clock
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves the Vec intact; keep recording.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event observed now.
    pub fn now(&self, pod: Option<&str>, kind: EventKind) -> At {
        let at = self.clock.now();
        self.at(at, pod, kind);
        at
    }

    /// Records an event at `at` on this run's clock (an action's instant, read before it).
    pub fn at(&self, at: At, pod: Option<&str>, kind: EventKind) {
        self.push(LifecycleEvent {
            at,
            source_time: None,
            pod: pod.map(str::to_string),
            kind,
        });
    }

    /// Records a fully formed event.
    pub fn push(&self, event: LifecycleEvent) {
        let mut inner = self.lock();
        inner.index.observe(&event);
        inner.events.push(event);
    }

    pub fn set_desired_replicas(&self, n: u32) {
        self.lock().desired_replicas = Some(n);
    }

    pub fn route_opened(&self, route: ConnectionRoute) {
        self.lock().routes.push(route);
    }

    /// Marks the newest open route of `client` closed at `at`.
    pub fn route_closed(&self, client: SocketAddr, at: At) {
        let mut inner = self.lock();
        if let Some(r) = inner
            .routes
            .iter_mut()
            .rev()
            .find(|r| r.client == client && r.closed.is_none())
        {
            r.closed = Some(at);
        }
    }

    /// Ready endpoints now (address → pod), from the endpoint events recorded so far.
    pub fn ready_endpoints(&self) -> BTreeMap<String, String> {
        let mut events = self.lock().events.clone();
        events.sort_by_key(|e| e.at);
        Timeline::ready_endpoints_in(&events)
    }

    /// Where a Service's proxy would send new connections now ([`Timeline::routable_endpoints_in`]).
    pub fn routable_endpoints(&self) -> Vec<String> {
        let mut events = self.lock().events.clone();
        events.sort_by_key(|e| e.at);
        Timeline::routable_endpoints_in(&events)
    }

    /// A copy of the events so far (for live display and for runtimes that inspect history).
    pub fn events(&self) -> Vec<LifecycleEvent> {
        self.lock().events.clone()
    }

    /// The timeline so far, ordered.
    pub fn finish(&self) -> Timeline {
        let inner = self.lock();
        Timeline::ordered(
            inner.events.clone(),
            inner.desired_replicas,
            inner.routes.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::EventKind;

    #[test]
    fn routable_endpoints_are_the_ready_ones_else_those_serving_while_terminating() {
        use crate::model::event::EndpointConditions as C;
        let ep = |at: u64, pod: &str, address: &str, c: Option<C>| {
            let kind = match c {
                Some(conditions) => EventKind::EndpointChanged {
                    address: address.into(),
                    conditions,
                },
                None => EventKind::EndpointRemoved {
                    address: address.into(),
                },
            };
            LifecycleEvent::pod(At(at), pod, kind)
        };
        let ready = C {
            ready: true,
            serving: true,
            terminating: false,
        };
        let draining = C {
            ready: false,
            serving: true,
            terminating: true,
        };
        let gone = C {
            ready: false,
            serving: false,
            terminating: true,
        };
        let mut events = vec![
            ep(1, "a", "10.0.0.1:80", Some(ready)),
            ep(2, "b", "10.0.0.2:80", Some(ready)),
        ];
        assert_eq!(
            Timeline::routable_endpoints_in(&events),
            ["10.0.0.1:80", "10.0.0.2:80"]
        );
        events.push(ep(3, "a", "10.0.0.1:80", Some(draining)));
        assert_eq!(Timeline::routable_endpoints_in(&events), ["10.0.0.2:80"]);
        events.push(ep(4, "b", "10.0.0.2:80", Some(gone)));
        assert_eq!(Timeline::routable_endpoints_in(&events), ["10.0.0.1:80"]);
        events.push(ep(5, "a", "10.0.0.1:80", None));
        assert!(Timeline::routable_endpoints_in(&events).is_empty());
    }

    #[test]
    fn finish_orders_events_by_observation_time() {
        let rec = TimelineRecorder::new(RunClock::start());
        rec.push(LifecycleEvent::pod(At(20), "b", EventKind::PodReady));
        rec.push(LifecycleEvent::pod(
            At(10),
            "a",
            EventKind::PodCreated {
                revision: Revision::New,
                revision_name: None,
            },
        ));
        let t = rec.finish();
        assert_eq!(
            t.events.iter().map(|e| e.at).collect::<Vec<_>>(),
            vec![At(10), At(20)]
        );
        assert_eq!(t.pods().get("a"), Some(&Revision::New));
        assert_eq!(t.pods().get("b"), Some(&Revision::Unknown));
    }

    #[test]
    fn a_reused_client_port_maps_to_the_route_open_at_the_time() {
        let rec = TimelineRecorder::new(RunClock::start());
        let client: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let backend: SocketAddr = "127.0.0.1:9000".parse().expect("addr");
        rec.route_opened(ConnectionRoute {
            client,
            pod: "old".into(),
            backend,
            opened: At(0),
            closed: None,
        });
        rec.route_closed(client, At(5));
        rec.route_opened(ConnectionRoute {
            client,
            pod: "new".into(),
            backend,
            opened: At(10),
            closed: None,
        });
        let t = rec.finish();
        assert_eq!(
            t.route_at(client, At(3)).map(|r| r.pod.as_str()),
            Some("old")
        );
        assert_eq!(
            t.route_at(client, At(12)).map(|r| r.pod.as_str()),
            Some("new")
        );
        assert_eq!(
            t.route_at(client, At(0)).and_then(|r| r.closed),
            Some(At(5))
        );
    }

    #[test]
    fn ready_endpoints_replay_adds_changes_and_removals() {
        use crate::model::event::EndpointConditions;
        let ready = EndpointConditions {
            ready: true,
            serving: true,
            terminating: false,
        };
        let draining = EndpointConditions {
            ready: false,
            serving: true,
            terminating: true,
        };
        let rec = TimelineRecorder::new(RunClock::start());
        rec.push(LifecycleEvent::pod(
            At(1),
            "a",
            EventKind::EndpointAdded {
                address: "10.0.0.1".into(),
                conditions: ready,
            },
        ));
        rec.push(LifecycleEvent::pod(
            At(2),
            "b",
            EventKind::EndpointAdded {
                address: "10.0.0.2".into(),
                conditions: ready,
            },
        ));
        rec.push(LifecycleEvent::pod(
            At(3),
            "a",
            EventKind::EndpointChanged {
                address: "10.0.0.1".into(),
                conditions: draining,
            },
        ));
        rec.push(LifecycleEvent::pod(
            At(4),
            "c",
            EventKind::EndpointAdded {
                address: "10.0.0.3".into(),
                conditions: ready,
            },
        ));
        rec.push(LifecycleEvent::pod(
            At(5),
            "c",
            EventKind::EndpointRemoved {
                address: "10.0.0.3".into(),
            },
        ));
        let now = rec.ready_endpoints();
        assert_eq!(
            now.into_iter().collect::<Vec<_>>(),
            vec![("10.0.0.2".to_string(), "b".to_string())]
        );
    }

    #[test]
    fn gaps_span_from_the_drop_to_the_relist() {
        let rec = TimelineRecorder::new(RunClock::start());
        rec.push(LifecycleEvent::workload(
            At(900),
            EventKind::WatchGap {
                resource: "pods".into(),
                from: At(400),
            },
        ));
        let t = rec.finish();
        assert_eq!(
            t.gaps().collect::<Vec<_>>(),
            vec![("pods", At(400), At(900))]
        );
    }
}
