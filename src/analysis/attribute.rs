//! Ties each logged failure to the pod that served it, saying how that is known.
//!
//! In order of certainty: the local proxy's connection map (exact), the connection's peer
//! address being a pod's address (exact), the pod naming itself in a response header earlier
//! on the same connection (identity), the connection's end matching one pod's exit or the only
//! pod that could have refused it (inferred, `infer`), and last, timing alone — the pods whose
//! lifecycle changed around the failure, each only a candidate. This module gathers the first
//! four; the time-window candidates are chosen by the classifier, which knows what "around"
//! means for each cause.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::analysis::AttributionMethod;
use crate::analysis::infer::{Inferred, Rule};
use crate::analysis::pods::PodLife;
use crate::model::request::RequestRecord;
use crate::timeline::Timeline;

/// A pod known to have served a failure, and how that is known.
#[derive(Clone, Debug, PartialEq)]
pub struct Known {
    pub pod: String,
    pub method: AttributionMethod,
    /// The connection reached this pod after its termination began (route opened then).
    pub route_opened: Option<crate::model::clock::At>,
    /// 1 for exact methods and identity; the inference's own for inferred ones.
    pub confidence: f64,
}

/// Adds the pods inferred from connection lives (`infer`) for the failures nothing exact tied
/// to a pod.
pub fn add_inferred(known: &mut HashMap<u64, Known>, inferred: HashMap<u64, Inferred>) {
    for (seq, i) in inferred {
        known.entry(seq).or_insert(Known {
            pod: i.pod,
            method: match i.rule {
                Rule::ConnectionEnd => AttributionMethod::ConnectionEnd,
                Rule::SoleCandidate => AttributionMethod::SoleCandidate,
            },
            route_opened: Some(i.opened),
            confidence: i.confidence,
        });
    }
}

/// Finds the pod of every failure that can be tied to one without guessing, keyed by seq.
pub fn known_pods(
    failures: &[RequestRecord],
    timeline: &Timeline,
    pods: &BTreeMap<String, PodLife>,
    slack: Duration,
) -> HashMap<u64, Known> {
    let identities = identities_by_connection(failures);
    let mut out = HashMap::new();
    for f in failures {
        if let Some(k) = known_pod(f, timeline, pods, &identities, slack) {
            out.insert(f.seq, k);
        }
    }
    out
}

fn known_pod(
    f: &RequestRecord,
    timeline: &Timeline,
    pods: &BTreeMap<String, PodLife>,
    identities: &HashMap<u64, Vec<(crate::model::clock::At, String)>>,
    slack: Duration,
) -> Option<Known> {
    if let Some(conn) = &f.conn {
        // The route open when the request ended: a newer connection can only reuse this
        // client port after this one closed, so the newest route opened by then is ours.
        if let Some(route) = timeline.route_at(conn.local, f.end) {
            return Some(Known {
                pod: route.pod.clone(),
                method: AttributionMethod::ProxyRoute,
                route_opened: Some(route.opened),
                confidence: 1.0,
            });
        }
    }
    let peer = f
        .conn
        .as_ref()
        .map(|c| c.peer.to_string())
        .or_else(|| f.dialed.map(|d| d.to_string()));
    if let Some(peer) = peer {
        // Pod IPs are reused, but only after their pod is gone: the pod with this address
        // born most recently before the request is the one it reached.
        let born = |p: &PodLife| p.created.or(p.started).or(p.ready).unwrap_or_default();
        let owner = pods
            .values()
            .filter(|p| p.has_address(&peer) && born(p) <= f.sent.plus(slack))
            .max_by_key(|p| born(p));
        if let Some(p) = owner {
            return Some(Known {
                pod: p.name.clone(),
                method: AttributionMethod::PeerAddress,
                route_opened: None,
                confidence: 1.0,
            });
        }
    }
    let identity = f.identity.as_deref().map(str::to_string).or_else(|| {
        // A failure with no identity of its own inherits the newest one an earlier failure
        // on the same connection carried.
        let conn = f.conn.as_ref()?;
        identities
            .get(&conn.id)?
            .iter()
            .rev()
            .find(|(at, _)| *at <= f.sent)
            .map(|(_, v)| v.clone())
    })?;
    let first_label = identity.split('.').next().unwrap_or_default();
    let pod = if pods.contains_key(&identity) {
        identity
    } else if pods.contains_key(first_label) {
        // A hostname echo: `web-7d9f-x2.web.shop.svc.cluster.local`.
        first_label.to_string()
    } else {
        // Some apps name themselves by address (a downward-API pod IP); map it back.
        pods.values()
            .find(|p| p.has_address(&identity))
            .map_or(identity, |p| p.name.clone())
    };
    Some(Known {
        pod,
        method: AttributionMethod::IdentityHeader,
        route_opened: None,
        confidence: 1.0,
    })
}

/// Identity values seen on each connection, by the time they were seen.
fn identities_by_connection(
    failures: &[RequestRecord],
) -> HashMap<u64, Vec<(crate::model::clock::At, String)>> {
    let mut out: HashMap<u64, Vec<(crate::model::clock::At, String)>> = HashMap::new();
    for f in failures {
        if let (Some(conn), Some(id)) = (&f.conn, &f.identity) {
            out.entry(conn.id)
                .or_default()
                .push((f.sent, id.to_string()));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}
