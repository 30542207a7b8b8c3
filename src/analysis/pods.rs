//! Each pod's life during the run, read once from the timeline: when it was created, became
//! ready, began terminating, stopped being a ready endpoint, was signalled, exited or killed.
//!
//! This is the analysis' one reading of pod events; attribution, lag and findings all work
//! from [`PodLife`]. It interprets events and never invents one: a moment the timeline does
//! not show stays `None`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::clock::At;
use crate::model::event::{EndpointConditions, EventKind, Revision};
use crate::timeline::Timeline;

/// SIGKILL's number, for exits by signal.
const SIGKILL: i32 = 9;

/// How a container ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Exit {
    pub at: At,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
}

impl Exit {
    /// Ended by SIGKILL (signal 9, or the shell convention 128 + 9), not for lack of memory.
    fn by_sigkill(&self) -> bool {
        let oom = self
            .reason
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("OOMKilled"));
        !oom && (self.signal == Some(SIGKILL) || self.code == Some(128 + SIGKILL))
    }
}

/// One pod's lifecycle as the timeline shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodLife {
    pub name: String,
    pub revision: Revision,
    /// The revision's own name, when the runtime gave it (`v2`, a ReplicaSet hash).
    pub revision_name: Option<String>,
    pub created: Option<At>,
    pub started: Option<At>,
    /// Every address the pod was known by (its container's, its endpoints').
    pub addresses: Vec<String>,
    /// First moment it was ready: a `PodReady` or a ready endpoint, whichever came first.
    pub ready: Option<At>,
    /// Termination began (deletion accepted).
    pub terminating: Option<At>,
    pub grace_period: Option<Duration>,
    pub stop_signal: Option<At>,
    /// First moment at or after termination began when its endpoint was no longer ready
    /// (changed to not ready, or removed).
    pub endpoint_not_ready: Option<At>,
    /// Whether its endpoint was ready when termination began (lag is only measurable then).
    pub ready_at_termination: bool,
    pub endpoint_removed: Option<At>,
    pub exit: Option<Exit>,
    /// SIGKILL at the grace deadline: an explicit event, or an exit by SIGKILL after
    /// termination began.
    pub killed: Option<At>,
    pub deleted: Option<At>,
}

impl PodLife {
    /// When the container is known to have stopped running.
    pub fn gone(&self) -> Option<At> {
        let exit = self.exit.as_ref().map(|e| e.at);
        match (exit, self.killed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b).or(self.deleted),
        }
    }

    /// Whether the pod answers to `addr` ("ip:port" or a bare IP).
    pub fn has_address(&self, addr: &str) -> bool {
        self.addresses.iter().any(|a| same_address(a, addr))
    }
}

/// Two addresses name the same endpoint: equal, or one is the bare IP of the other and the
/// other carries a port. A bare IP never matches a loopback address, which every local
/// replica shares.
fn same_address(known: &str, seen: &str) -> bool {
    if known == seen {
        return true;
    }
    let ip_of = |s: &str| -> Option<String> {
        s.parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.ip().to_string())
    };
    let bare = |s: &str| s.parse::<std::net::IpAddr>().ok();
    match (bare(known), ip_of(seen)) {
        (Some(ip), Some(seen_ip)) if !ip.is_loopback() => ip.to_string() == seen_ip,
        _ => false,
    }
}

/// Every pod the timeline names, by name.
pub fn pod_lives(timeline: &Timeline) -> BTreeMap<String, PodLife> {
    let mut pods: BTreeMap<String, PodLife> = BTreeMap::new();
    // Endpoint readiness per pod as of the latest event, to tell whether a pod was a ready
    // endpoint when its termination began.
    let mut ready_now: BTreeMap<String, bool> = BTreeMap::new();
    for e in &timeline.events {
        let Some(name) = e.pod.as_deref() else {
            continue;
        };
        let p = pods.entry(name.to_string()).or_insert_with(|| PodLife {
            name: name.to_string(),
            ..PodLife::default()
        });
        p.observe(e.at, &e.kind, &mut ready_now);
    }
    for p in pods.values_mut() {
        p.infer_deadline_kill();
    }
    pods
}

impl PodLife {
    /// Its creation, and the revision it belongs to.
    fn created(&mut self, at: At, revision: Revision, name: &Option<String>) {
        self.created.get_or_insert(at);
        if self.revision == Revision::Unknown {
            self.revision = revision;
        }
        if self.revision_name.is_none() {
            self.revision_name.clone_from(name);
        }
    }

    /// Takes in one event of this pod at `at`; `ready_now` holds every pod's endpoint readiness
    /// as of the latest event.
    fn observe(&mut self, at: At, kind: &EventKind, ready_now: &mut BTreeMap<String, bool>) {
        if let Some((address, conditions)) = kind.endpoint() {
            self.observe_endpoint(at, address, conditions, ready_now);
            return;
        }
        match kind {
            EventKind::PodCreated {
                revision,
                revision_name,
            } => self.created(at, *revision, revision_name),
            EventKind::PodStarted { address } => {
                self.started.get_or_insert(at);
                if let Some(a) = address {
                    push_address(self, a);
                }
            }
            EventKind::PodReady => {
                self.ready = Some(self.ready.map_or(at, |r| r.min(at)));
            }
            EventKind::PodNotReady { .. } => {}
            EventKind::PodTerminating { grace_period } => {
                if self.terminating.is_none() {
                    self.terminating = Some(at);
                    self.ready_at_termination = ready_now.get(&self.name).copied().unwrap_or(false);
                }
                if grace_period.is_some() {
                    self.grace_period = *grace_period;
                }
            }
            EventKind::StopSignalSent { .. } => {
                self.stop_signal.get_or_insert(at);
            }
            EventKind::ContainerExited {
                code,
                signal,
                reason,
            } if self.exit.is_none() => {
                self.exit = Some(Exit {
                    at,
                    code: *code,
                    signal: *signal,
                    reason: reason.clone(),
                });
            }
            EventKind::KilledAtGraceDeadline => {
                self.killed.get_or_insert(at);
            }
            EventKind::PodDeleted => {
                self.deleted.get_or_insert(at);
            }
            _ => {}
        }
    }

    /// Takes in one endpoint event of this pod: its address, and its conditions unless it was
    /// removed (a removed endpoint is a not-ready one that has also left the Service).
    fn observe_endpoint(
        &mut self,
        at: At,
        address: &str,
        conditions: Option<EndpointConditions>,
        ready_now: &mut BTreeMap<String, bool>,
    ) {
        let ready = conditions.is_some_and(|c| c.ready);
        push_address(self, address);
        ready_now.insert(self.name.clone(), ready);
        if ready && self.terminating.is_none() {
            self.ready = Some(self.ready.map_or(at, |r| r.min(at)));
        }
        if !ready && self.terminating.is_some() {
            self.endpoint_not_ready.get_or_insert(at);
            if conditions.is_none() {
                self.endpoint_removed.get_or_insert(at);
            }
        }
    }

    /// An exit by SIGKILL after termination began is the kubelet's deadline kill even when
    /// no explicit event said so (a Kubernetes watch only shows exit code 137).
    fn infer_deadline_kill(&mut self) {
        if self.killed.is_none()
            && let (Some(t), Some(x)) = (self.terminating, self.exit.as_ref())
            && x.at >= t
            && x.by_sigkill()
        {
            self.killed = Some(x.at);
        }
    }
}

fn push_address(p: &mut PodLife, a: &str) {
    if !p.addresses.iter().any(|x| x == a) {
        p.addresses.push(a.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_pod_ip_matches_its_socket_address_but_loopback_does_not() {
        assert!(same_address("10.1.2.3", "10.1.2.3:8080"));
        assert!(same_address("10.1.2.3:8080", "10.1.2.3:8080"));
        assert!(!same_address("10.1.2.3", "10.1.2.4:8080"));
        assert!(!same_address("127.0.0.1", "127.0.0.1:8080"));
        assert!(!same_address("127.0.0.1:9001", "127.0.0.1:9002"));
    }
}
