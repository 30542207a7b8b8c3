//! Each pod's load, second by second, from the requests each long-lived connection carried: a
//! connection stays on one pod for its whole life, so tying the connection to its pod ties its
//! requests too. How a connection is tied, most certain first: the local proxy's route map, its
//! peer being a pod's address (`--via endpoints`, in-cluster), the identity header the pod
//! named itself in. A connection none of these ties stays unattributed, and says so.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::AttributionMethod;
use crate::analysis::pods::PodLife;
use crate::model::clock::At;
use crate::record::{ConnectionLoad, Recorded};
use crate::timeline::Timeline;

/// One second of one pod's load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSecond {
    pub second: u64,
    pub requests: u32,
    pub failed: u32,
}

/// The load one pod carried over the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodLoad {
    pub pod: String,
    /// How its connections were tied to it (the least certain method among them).
    pub method: AttributionMethod,
    /// Connections it carried.
    pub connections: u32,
    /// Requests due on them over the run.
    #[serde(default)]
    pub requests: u64,
    pub seconds: Vec<PodSecond>,
}

impl PodLoad {
    /// Requests due in seconds `[from, to)`.
    pub fn requests_between(&self, from: u64, to: u64) -> u64 {
        self.seconds
            .iter()
            .filter(|s| s.second >= from && s.second < to)
            .map(|s| u64::from(s.requests))
            .sum()
    }
}

/// Every pod's load, by pod name, and the requests on connections tied to no pod.
pub fn pod_loads(
    recorded: &Recorded,
    timeline: &Timeline,
    pods: &BTreeMap<String, PodLife>,
) -> (Vec<PodLoad>, u64) {
    let mut by_pod: BTreeMap<String, PodLoad> = BTreeMap::new();
    let mut unattributed = 0;
    for (c, pod) in attributed_connections(recorded, timeline, pods) {
        let Some((pod, method)) = pod else {
            unattributed += c.requests();
            continue;
        };
        let load = by_pod.entry(pod.clone()).or_insert_with(|| PodLoad {
            pod,
            method,
            connections: 0,
            requests: 0,
            seconds: Vec::new(),
        });
        load.connections += 1;
        load.requests += c.requests();
        load.method = load.method.max(method);
        for s in &c.seconds {
            let at = load.seconds.partition_point(|p| p.second < s.second);
            match load.seconds.get_mut(at) {
                Some(p) if p.second == s.second => {
                    p.requests += s.requests;
                    p.failed += s.failed;
                }
                _ => load.seconds.insert(
                    at,
                    PodSecond {
                        second: s.second,
                        requests: s.requests,
                        failed: s.failed,
                    },
                ),
            }
        }
    }
    (by_pod.into_values().collect(), unattributed)
}

/// Every connection whose load was kept, with its pod and how that is known (`None`: no pod).
pub fn attributed_connections<'a>(
    recorded: &'a Recorded,
    timeline: &Timeline,
    pods: &BTreeMap<String, PodLife>,
) -> Vec<(&'a ConnectionLoad, Option<(String, AttributionMethod)>)> {
    recorded
        .load_by_connection
        .iter()
        .map(|c| (c, pod_of(c, timeline, pods)))
        .collect()
}

/// The pod a connection was on, and how that is known.
fn pod_of(
    c: &ConnectionLoad,
    timeline: &Timeline,
    pods: &BTreeMap<String, PodLife>,
) -> Option<(String, AttributionMethod)> {
    let first = c.seconds.first()?.second;
    // The route opened by the end of its first second with a request: a newer connection can
    // reuse the client port only after this one closed.
    let by_then = At((first + 1) * 1_000_000);
    if let Some(route) = timeline.route_at(c.local, by_then) {
        return Some((route.pod.clone(), AttributionMethod::ProxyRoute));
    }
    let peer = c.peer.to_string();
    let born = |p: &PodLife| p.created.or(p.started).or(p.ready).unwrap_or_default();
    if let Some(p) = pods
        .values()
        .filter(|p| p.has_address(&peer) && born(p) <= by_then)
        .max_by_key(|p| born(p))
    {
        return Some((p.name.clone(), AttributionMethod::PeerAddress));
    }
    let identity = c.identity.as_ref()?;
    let pod = match pods.values().find(|p| p.has_address(identity)) {
        Some(p) if !pods.contains_key(identity) => p.name.clone(),
        _ => identity.clone(),
    };
    Some((pod, AttributionMethod::IdentityHeader))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ConnSecond;
    use crate::timeline::ConnectionRoute;
    use std::net::SocketAddr;

    fn conn(id: u64, port: u16, peer: &str, seconds: &[(u64, u32)]) -> ConnectionLoad {
        ConnectionLoad {
            id,
            local: SocketAddr::from(([127, 0, 0, 1], port)),
            peer: peer.parse().expect("addr"),
            identity: None,
            seconds: seconds
                .iter()
                .map(|&(second, requests)| ConnSecond {
                    second,
                    requests,
                    failed: 0,
                })
                .collect(),
        }
    }

    fn recorded(loads: Vec<ConnectionLoad>) -> Recorded {
        let mut r = crate::analysis::fixtures::Run::steady(0).recorded();
        r.load_by_connection = loads;
        r
    }

    #[test]
    fn connections_are_summed_per_pod_by_the_proxys_routes() {
        let r = recorded(vec![
            conn(0, 40_000, "127.0.0.1:9000", &[(0, 10), (1, 10)]),
            conn(1, 40_001, "127.0.0.1:9000", &[(1, 5), (2, 5)]),
            conn(2, 40_002, "127.0.0.1:9000", &[(2, 7)]),
        ]);
        let route = |port: u16, pod: &str| ConnectionRoute {
            client: SocketAddr::from(([127, 0, 0, 1], port)),
            pod: pod.into(),
            backend: "127.0.0.1:7000".parse().expect("addr"),
            opened: At(0),
            closed: None,
        };
        let timeline = Timeline::ordered(
            Vec::new(),
            None,
            vec![route(40_000, "a"), route(40_001, "a"), route(40_002, "b")],
        );
        let (loads, unattributed) = pod_loads(&r, &timeline, &BTreeMap::new());
        assert_eq!(unattributed, 0);
        assert_eq!(loads.len(), 2);
        assert_eq!(loads[0].pod, "a");
        assert_eq!(loads[0].connections, 2);
        let a: Vec<(u64, u32)> = loads[0]
            .seconds
            .iter()
            .map(|s| (s.second, s.requests))
            .collect();
        assert_eq!(a, vec![(0, 10), (1, 15), (2, 5)]);
        assert_eq!(loads[1].requests_between(0, 3), 7);
        assert_eq!(loads[0].method, AttributionMethod::ProxyRoute);
    }

    #[test]
    fn a_connection_to_a_pods_address_is_that_pods_and_the_rest_is_unattributed() {
        let r = recorded(vec![
            conn(0, 40_000, "10.0.0.7:8080", &[(0, 4)]),
            conn(1, 40_001, "10.0.0.99:8080", &[(0, 6)]),
        ]);
        let mut pods = BTreeMap::new();
        pods.insert(
            "web-1".to_string(),
            PodLife {
                name: "web-1".into(),
                addresses: vec!["10.0.0.7:8080".into()],
                ..PodLife::default()
            },
        );
        let (loads, unattributed) = pod_loads(&r, &Timeline::default(), &pods);
        assert_eq!(loads.len(), 1);
        assert_eq!(loads[0].method, AttributionMethod::PeerAddress);
        assert_eq!(unattributed, 6);
    }
}
