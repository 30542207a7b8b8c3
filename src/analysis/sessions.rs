//! WebSocket sessions on the cluster's timeline: each session tied to the pod that held it
//! (the local proxy's route, exact; the peer being a pod's address, exact; the pod naming
//! itself in the upgrade response, identity), whether it ended with the pod's termination, and
//! the messages each pod answered per second (the report's lanes).
//!
//! A session lives on one pod from its upgrade to its end, so everything a session carried
//! belongs to the pod that accepted it. Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::analysis::AttributionMethod;
use crate::analysis::pods::PodLife;
use crate::model::clock::At;
use crate::model::session::{SessionClass, SessionRecord};
use crate::record::{SessionCounts, Sessions};
use crate::timeline::Timeline;

/// How the run's sessions fell on its pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionAnalysis {
    /// Per pod, in name order; sessions no method tied to a pod are counted apart.
    pub pods: Vec<PodSessions>,
    /// Sessions in the log tied to no pod.
    pub unattributed: u64,
    /// Sessions dropped (1006) while their pod was terminating (or at its exit).
    pub dropped_at_termination: u64,
    /// Sessions the server closed with a goodbye (1000 / 1001 / 1012).
    pub closed_by_server: u64,
    /// Time to reconnect (from a session's end to its client's next open session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_p50_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_max_us: Option<u64>,
    /// Every session the server ended or that failed, on its pod: when and how.
    #[serde(default)]
    pub ends: Vec<SessionEnd>,
}

/// How and when one session ended on a pod (sessions we closed are left out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionEnd {
    pub pod: String,
    pub at: At,
    pub class: SessionClass,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// One pod's sessions and the messages it answered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodSessions {
    pub pod: String,
    /// How its sessions were tied to it (the least certain method used).
    pub method: Option<AttributionMethod>,
    pub sessions: SessionCounts,
    /// Messages answered on its sessions, and lost with them.
    pub answered: u64,
    pub lost: u64,
    /// Answered messages per second of the run: `(second, messages)`.
    pub per_second: Vec<(u64, u64)>,
}

/// The pod of one session, and how it is known.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionPod {
    pub pod: String,
    pub method: AttributionMethod,
}

/// Ties every logged session to a pod where the evidence allows, keyed by (client, attempt).
pub fn attribute(
    sessions: &Sessions,
    timeline: &Timeline,
    pods: &BTreeMap<String, PodLife>,
    slack: Duration,
) -> HashMap<(u64, u32), SessionPod> {
    let mut out = HashMap::new();
    for s in &sessions.log {
        if let Some(p) = pod_of(s, timeline, pods, slack) {
            out.insert((s.client, s.attempt), p);
        }
    }
    out
}

fn pod_of(
    s: &SessionRecord,
    timeline: &Timeline,
    pods: &BTreeMap<String, PodLife>,
    slack: Duration,
) -> Option<SessionPod> {
    let conn = s.conn.as_ref();
    if let Some(route) = conn.and_then(|c| timeline.route_at(c.local, s.opened.unwrap_or(s.ended)))
    {
        return Some(SessionPod {
            pod: route.pod.clone(),
            method: AttributionMethod::ProxyRoute,
        });
    }
    let peer = conn.map(|c| c.peer).or(s.dialed).map(|a| a.to_string());
    if let Some(peer) = peer {
        let at = s.opened.unwrap_or(s.due);
        let born = |p: &PodLife| p.created.or(p.started).or(p.ready).unwrap_or_default();
        if let Some(p) = pods
            .values()
            .filter(|p| p.has_address(&peer) && born(p) <= at.plus(slack))
            .max_by_key(|p| born(p))
        {
            return Some(SessionPod {
                pod: p.name.clone(),
                method: AttributionMethod::PeerAddress,
            });
        }
    }
    let id = s.identity.as_deref()?;
    let pod = if pods.contains_key(id) {
        id.to_string()
    } else {
        pods.values()
            .find(|p| p.has_address(id))
            .map_or_else(|| id.to_string(), |p| p.name.clone())
    };
    Some(SessionPod {
        pod,
        method: AttributionMethod::IdentityHeader,
    })
}

/// Whether a session that ended at `ended` ended with `p`'s termination: after its
/// termination began (or its stop signal), and no later than its container's end.
pub fn ended_with_pod(p: &PodLife, ended: At, slack: Duration) -> bool {
    let Some(began) = p.stop_signal.or(p.terminating) else {
        return false;
    };
    let gone = p.gone().is_none_or(|g| ended <= g.plus(slack));
    ended.plus(slack) >= began && gone
}

/// Pods whose stop, exit or kill falls within `slack` of `at`: the candidates of a drop when
/// nothing ties the session to a pod.
pub fn pods_ending_at(pods: &BTreeMap<String, PodLife>, at: At, slack: Duration) -> Vec<String> {
    pods.values()
        .filter(|p| {
            [p.stop_signal, p.exit.as_ref().map(|e| e.at), p.killed]
                .into_iter()
                .flatten()
                .any(|e| e.plus(slack) >= at && e <= at.plus(slack))
        })
        .map(|p| p.name.clone())
        .collect()
}

/// The pod (or the candidates, by timing) of a session that ended by 1006 with a pod's
/// termination; empty when it did not.
pub fn dropped_with(
    s: &SessionRecord,
    known: Option<&SessionPod>,
    pods: &BTreeMap<String, PodLife>,
    slack: Duration,
) -> Vec<String> {
    if s.class != SessionClass::Abnormal1006 {
        return Vec::new();
    }
    match known {
        Some(k) => match pods.get(&k.pod) {
            Some(p) if ended_with_pod(p, s.ended, slack) => vec![k.pod.clone()],
            _ => Vec::new(),
        },
        None => pods_ending_at(pods, s.ended, slack),
    }
}

/// Sessions per pod, the per-second lanes, and the run's session figures.
pub fn analyse(
    sessions: &Sessions,
    known: &HashMap<(u64, u32), SessionPod>,
    pods: &BTreeMap<String, PodLife>,
    slack: Duration,
) -> Option<SessionAnalysis> {
    if sessions.is_empty() {
        return None;
    }
    let mut by_pod: BTreeMap<String, PodSessions> = BTreeMap::new();
    let mut lanes: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    let mut out = SessionAnalysis::default();
    for s in &sessions.log {
        let k = known.get(&(s.client, s.attempt));
        if !dropped_with(s, k, pods, slack).is_empty() {
            out.dropped_at_termination += 1;
        }
        if matches!(
            s.class,
            SessionClass::Close1000 | SessionClass::Close1001 | SessionClass::Close1012
        ) {
            out.closed_by_server += 1;
        }
        let Some(k) = k else {
            out.unattributed += 1;
            continue;
        };
        if s.class != SessionClass::ClientClose {
            out.ends.push(SessionEnd {
                pod: k.pod.clone(),
                at: s.ended,
                class: s.class,
                code: s.code,
            });
        }
        let e = by_pod.entry(k.pod.clone()).or_insert_with(|| PodSessions {
            pod: k.pod.clone(),
            ..PodSessions::default()
        });
        e.method = Some(e.method.map_or(k.method, |m| m.max(k.method)));
        e.sessions.add(s.class);
        e.answered += u64::from(s.answered);
        e.lost += u64::from(s.lost);
        let lane = lanes.entry(k.pod.clone()).or_default();
        for (second, n) in s.per_second.iter() {
            *lane.entry(second).or_default() += u64::from(n);
        }
    }
    for (pod, lane) in lanes {
        if let Some(p) = by_pod.get_mut(&pod) {
            p.per_second = lane.into_iter().collect();
        }
    }
    out.pods = by_pod.into_values().collect();
    if sessions.reconnects > 0 {
        out.reconnect_p50_us = Some(sessions.reconnect_time.p50_us);
        out.reconnect_max_us = Some(sessions.reconnect_time.max_us);
    }
    Some(out)
}

/// The sessions of each client, to find the one a failed message belongs to.
pub struct WsIndex<'a> {
    by_client: HashMap<u64, Vec<&'a SessionRecord>>,
    known: &'a HashMap<(u64, u32), SessionPod>,
    pods: &'a BTreeMap<String, PodLife>,
    slack: Duration,
}

/// The WebSocket cause of one failed message, and its pod.
pub struct WsCause {
    pub cause: crate::model::finding::FindingId,
    pub pod: Option<String>,
    pub method: Option<AttributionMethod>,
    pub confidence: f64,
}

impl<'a> WsIndex<'a> {
    pub fn new(
        sessions: &'a Sessions,
        known: &'a HashMap<(u64, u32), SessionPod>,
        pods: &'a BTreeMap<String, PodLife>,
        slack: Duration,
    ) -> WsIndex<'a> {
        let mut by_client: HashMap<u64, Vec<&SessionRecord>> = HashMap::new();
        for s in &sessions.log {
            by_client.entry(s.client).or_default().push(s);
        }
        for v in by_client.values_mut() {
            v.sort_by_key(|s| s.attempt);
        }
        WsIndex {
            by_client,
            known,
            pods,
            slack,
        }
    }

    /// The session a failed message is about: the one it was sent on, or — for a message
    /// never sent — the one whose end left its client without a session.
    fn session_of(&self, f: &crate::model::request::RequestRecord) -> Option<&'a SessionRecord> {
        use crate::model::outcome::OutcomeClass;
        let list = self.by_client.get(&(f.seq >> 32))?;
        if f.class == OutcomeClass::WsNotSent {
            return list.iter().rev().find(|s| s.ended <= f.end).copied();
        }
        list.iter()
            .rev()
            .find(|s| s.opened.is_some_and(|o| o <= f.sent) && f.sent <= s.ended)
            .copied()
    }

    /// The WebSocket cause of a failed message, if its session explains it: dropped with its
    /// pod (1006), or closed by the server with a goodbye while the message was in flight.
    pub fn cause(&self, f: &crate::model::request::RequestRecord) -> Option<WsCause> {
        use crate::model::finding::FindingId;
        use crate::model::outcome::OutcomeClass;
        if !matches!(
            f.class,
            OutcomeClass::WsMessageLost | OutcomeClass::WsNotSent
        ) {
            return None;
        }
        let s = self.session_of(f)?;
        let known = self.known.get(&(s.client, s.attempt));
        let dropped = dropped_with(s, known, self.pods, self.slack);
        let (cause, pods) = if !dropped.is_empty() {
            (FindingId::WsDroppedWithoutClose, dropped)
        } else if matches!(
            s.class,
            SessionClass::Close1000 | SessionClass::Close1001 | SessionClass::Close1012
        ) {
            (
                FindingId::WsMessagesLostAtClose,
                known.map(|k| vec![k.pod.clone()]).unwrap_or_default(),
            )
        } else {
            return None;
        };
        let (method, confidence) = match known {
            Some(k) => (Some(k.method), 1.0),
            None if !pods.is_empty() => {
                (Some(AttributionMethod::TimeWindow), 0.5 / pods.len() as f64)
            }
            None => (None, 0.0),
        };
        Some(WsCause {
            cause,
            pod: pods.into_iter().next(),
            method,
            confidence,
        })
    }
}
