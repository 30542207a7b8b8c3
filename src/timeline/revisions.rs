//! Which revision served a connection, answered from what the timeline has seen so far: the
//! local proxy's route of the connection (exact), the pod an identity header named, or the pod
//! whose address the connection reached. The recorder asks through
//! [`RevisionSource`], once per connection or identity,
//! so the engine's thread takes this lock rarely, never per request.
//!
//! A pod's revision is its `revision_name` (a ReplicaSet hash, the local runtime's `v1`/`v2`)
//! or, when the runtime gave none, `old` / `new`.

use std::collections::HashMap;
use std::sync::Arc;

use super::TimelineRecorder;
use crate::model::clock::At;
use crate::model::event::{EventKind, LifecycleEvent, Revision};
use crate::model::outcome::ConnId;
use crate::model::request::RevisionSource;

/// Pods' revisions and addresses, kept as events arrive.
#[derive(Debug, Default)]
pub(super) struct Index {
    revision_of_pod: HashMap<String, Arc<str>>,
    /// IP (no port) → pod.
    pod_of_ip: HashMap<String, String>,
}

/// The IP of an `ip:port` or bare-IP address.
fn ip_of(address: &str) -> String {
    match address.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().to_string(),
        Err(_) => address.trim_matches(['[', ']']).to_string(),
    }
}

impl Index {
    pub(super) fn observe(&mut self, e: &LifecycleEvent) {
        let Some(pod) = &e.pod else { return };
        match &e.kind {
            EventKind::PodCreated {
                revision,
                revision_name,
            } => {
                let label = match (revision_name, revision) {
                    (Some(n), _) => n.as_str(),
                    (None, Revision::Old) => "old",
                    (None, Revision::New) => "new",
                    (None, Revision::Unknown) => return,
                };
                self.revision_of_pod.insert(pod.clone(), Arc::from(label));
            }
            EventKind::PodStarted {
                address: Some(address),
            }
            | EventKind::EndpointAdded { address, .. }
            | EventKind::EndpointChanged { address, .. } => {
                self.pod_of_ip.insert(ip_of(address), pod.clone());
            }
            _ => {}
        }
    }

    fn of_pod(&self, pod: &str) -> Option<Arc<str>> {
        self.revision_of_pod.get(pod).cloned()
    }
}

/// The timeline as a [`RevisionSource`]: what `describe` says is the runtime's to choose (the
/// local runtime's proxy routes are exact; a cluster's identity header names the pod).
#[derive(Clone, Debug)]
pub struct TimelineRevisions {
    timeline: TimelineRecorder,
    how: String,
}

impl TimelineRevisions {
    pub fn new(timeline: TimelineRecorder, how: impl Into<String>) -> TimelineRevisions {
        TimelineRevisions {
            timeline,
            how: how.into(),
        }
    }
}

impl RevisionSource for TimelineRevisions {
    fn revision(&self, conn: &ConnId, identity: Option<&str>, at: At) -> Option<Arc<str>> {
        let inner = self.timeline.lock();
        let index = &inner.index;
        if let Some(id) = identity {
            // The pod named itself: by name, or by its address (a downward-API pod IP).
            return index.of_pod(id).or_else(|| {
                let pod = index.pod_of_ip.get(&ip_of(id))?;
                index.of_pod(pod)
            });
        }
        // The local proxy's route: the newest route of this client port opened by then.
        let route = inner
            .routes
            .iter()
            .rev()
            .find(|r| r.client == conn.local && r.opened <= at);
        if let Some(r) = route {
            return index.of_pod(&r.pod);
        }
        // Straight to a pod's address (not a Service's virtual one).
        let pod = index.pod_of_ip.get(&conn.peer.ip().to_string())?;
        index.of_pod(pod)
    }

    fn describe(&self) -> String {
        self.how.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::RunClock;
    use crate::timeline::ConnectionRoute;

    fn conn(local: &str, peer: &str) -> ConnId {
        ConnId {
            id: 0,
            local: local.parse().expect("addr"),
            peer: peer.parse().expect("addr"),
            reused: false,
        }
    }

    fn created(t: &TimelineRecorder, pod: &str, revision: Revision, name: Option<&str>) {
        t.push(LifecycleEvent::pod(
            At(0),
            pod,
            EventKind::PodCreated {
                revision,
                revision_name: name.map(str::to_string),
            },
        ));
    }

    #[test]
    fn a_proxied_connection_is_told_by_its_route_and_a_pod_by_its_name_or_address() {
        let t = TimelineRecorder::new(RunClock::start());
        created(&t, "web-v1-1", Revision::Old, Some("v1"));
        created(&t, "web-v2-4", Revision::New, Some("v2"));
        t.push(LifecycleEvent::pod(
            At(5),
            "web-v2-4",
            EventKind::PodStarted {
                address: Some("10.0.0.9:8080".into()),
            },
        ));
        t.route_opened(ConnectionRoute {
            client: "127.0.0.1:40000".parse().expect("addr"),
            pod: "web-v1-1".into(),
            backend: "127.0.0.1:9000".parse().expect("addr"),
            opened: At(10),
            closed: Some(At(20)),
        });
        t.route_opened(ConnectionRoute {
            client: "127.0.0.1:40000".parse().expect("addr"),
            pod: "web-v2-4".into(),
            backend: "127.0.0.1:9001".parse().expect("addr"),
            opened: At(30),
            closed: None,
        });
        let src = TimelineRevisions::new(t.clone(), "the local proxy's routes");
        let c = conn("127.0.0.1:40000", "127.0.0.1:8000");
        assert_eq!(src.revision(&c, None, At(15)).as_deref(), Some("v1"));
        // The client port was reused by a later connection to another pod.
        assert_eq!(src.revision(&c, None, At(35)).as_deref(), Some("v2"));
        let svc = conn("10.1.1.1:5000", "10.96.0.10:80");
        assert_eq!(
            src.revision(&svc, Some("web-v1-1"), At(1)).as_deref(),
            Some("v1")
        );
        assert_eq!(
            src.revision(&svc, Some("10.0.0.9"), At(1)).as_deref(),
            Some("v2")
        );
        assert_eq!(
            src.revision(&svc, None, At(1)),
            None,
            "a Service's address says nothing"
        );
        let direct = conn("10.1.1.1:5000", "10.0.0.9:8080");
        assert_eq!(src.revision(&direct, None, At(1)).as_deref(), Some("v2"));
    }

    #[test]
    fn a_pod_without_a_revision_name_is_old_or_new() {
        let t = TimelineRecorder::new(RunClock::start());
        created(&t, "a", Revision::Old, None);
        created(&t, "b", Revision::New, None);
        let src = TimelineRevisions::new(t, "x");
        let c = conn("127.0.0.1:1", "127.0.0.1:2");
        assert_eq!(src.revision(&c, Some("a"), At(0)).as_deref(), Some("old"));
        assert_eq!(src.revision(&c, Some("b"), At(0)).as_deref(), Some("new"));
        assert_eq!(src.revision(&c, Some("c"), At(0)), None);
    }
}
