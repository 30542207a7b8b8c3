//! Which pod served a failure, inferred from evidence a cluster path leaves: connection lives
//! and the pods' lifecycle on the same clock. Used where nothing exact exists — through a
//! Service ClusterIP, an ingress or a load balancer the socket's peer is a virtual address.
//!
//! Two rules, each with a stated confidence:
//!
//! 1. **Connection end** (`connection_end`). A keep-alive connection lives on one pod from its
//!    first byte to its close, and a pod's stop or exit closes every connection pinned to it
//!    within milliseconds. A connection the peer closed or reset belongs to the pod whose stop
//!    signal, exit or kill falls within the tolerance of that close — if exactly one of the
//!    pods that could have received the connection when it opened does. Connections that
//!    closed together (within [`TOGETHER`]) are judged together: they belong to one pod unless
//!    two pods went away at the same instant. Every failure on a pinned connection inherits
//!    its pod, earlier ones included.
//! 2. **Sole candidate** (`sole_candidate`). A fresh connection that was refused, reset or
//!    closed before any answer reached a pod that no longer accepted connections: of the pods
//!    the Service could still route to at that instant, only those past their stop signal (or
//!    gone) refuse. When exactly one such pod exists the failure is its own; when several, it
//!    is shared and the confidence divided.
//!
//! Candidates are the pods that were routable when the connection opened: from their first
//! ready instant to their endpoint's de-registration plus the data path's lag (which no API
//! shows: the measured or assumed `lag`). Confidence is deliberately conservative; the opaque
//! local mode scores it against the proxy's route map.
//!
//! Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::analysis::pods::PodLife;
use crate::model::clock::At;
use crate::model::connection::ConnectionLife;
use crate::model::outcome::OutcomeClass;
use crate::model::request::RequestRecord;

/// How far a connection's close may trail the pod event that caused it (the process's exit to
/// the FIN reaching us through a proxy, on a loaded machine).
pub const TOLERANCE: Duration = Duration::from_millis(100);

/// A connection that lived this long before it ended was established on a pod, even if every
/// request on it failed.
pub const ESTABLISHED: Duration = Duration::from_millis(50);

/// Connections whose ends are this close belong to one closing (one pod going away).
pub const TOGETHER: Duration = Duration::from_millis(15);

/// Confidence of a connection pinned by its end matching exactly one candidate pod's event.
pub const UNIQUE_END: f64 = 0.95;
/// Confidence of a connection pinned because the connections that closed with it were.
pub const GROUP_END: f64 = 0.9;
/// Confidence of a connection assigned among several matching pods by the order of the
/// closings and the pods' events (both happen in the same order; events are observed late).
pub const ORDERED_END: f64 = 0.6;
/// Confidence of a fresh-connection failure tied to the only pod that refused connections.
pub const SOLE_CANDIDATE: f64 = 0.9;

/// How a failure's pod was inferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    ConnectionEnd,
    SoleCandidate,
}

/// A pod inferred for one failure.
#[derive(Clone, Debug, PartialEq)]
pub struct Inferred {
    pub pod: String,
    pub rule: Rule,
    pub confidence: f64,
    /// When the connection that reached the pod was opened (for a fresh connection, when the
    /// request was sent).
    pub opened: At,
}

/// What the inference needs to know about the path and the event source.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// How long after its endpoint stopped being ready a pod may still receive new connections
    /// (the data path's de-registration lag).
    pub lag: Duration,
    /// How far apart a request's timing and an event may be and still be compared as
    /// simultaneous.
    pub slack: Duration,
    /// How much later than the change itself an event may have been observed (0 where the
    /// runtime records its own actions; a watch's delay on a cluster).
    pub event_delay: Duration,
    /// How far a connection's close may trail the event that caused it.
    pub tolerance: Duration,
    /// The preStop sleep, when known: where no stop signal was observed (a cluster shows none)
    /// the signal is due this long after termination began.
    pub prestop: Option<Duration>,
}

/// The instant a pod was told to stop: observed, or termination start plus the known preStop.
fn stop_of(p: &PodLife, x: &Params) -> Option<At> {
    p.stop_signal
        .or_else(|| Some(p.terminating?.plus(x.prestop?)))
}

/// The instants at which a pod closes the connections pinned to it: told to stop, exited,
/// killed. With no stop signal seen and no preStop known, termination itself stands in for
/// the stop (without a preStop hook the signal goes out then).
fn closing_events(p: &PodLife, x: &Params) -> Vec<At> {
    let stop = stop_of(p, x).or(p.terminating);
    let mut v: Vec<At> = [stop, p.exit.as_ref().map(|e| e.at), p.killed]
        .into_iter()
        .flatten()
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Whether `p` could have received a new connection at `at`.
pub fn routable(p: &PodLife, at: At, x: &Params) -> bool {
    let Some(ready) = p.ready else { return false };
    if at.plus(x.slack) < ready {
        return false;
    }
    let out = p
        .endpoint_not_ready
        .or(p.endpoint_removed)
        .or_else(|| p.gone());
    out.is_none_or(|o| at <= o.plus(x.lag).plus(x.slack))
}

/// Whether `p` no longer accepted new connections at `at`: past its stop signal (the app was
/// told to stop), or gone.
fn refusing(p: &PodLife, at: At, x: &Params) -> bool {
    let stopped = stop_of(p, x).or_else(|| p.gone());
    stopped.is_some_and(|s| at.plus(x.slack) >= s)
}

/// Pods with a closing event matching a connection closed at `t`.
fn matching(pods: &[&PodLife], t: At, x: &Params) -> Vec<(usize, At)> {
    let mut out = Vec::new();
    for (i, p) in pods.iter().enumerate() {
        // The close follows the change; the event may be observed up to `event_delay` later.
        let hit = closing_events(p, x)
            .into_iter()
            .find(|&e| t.plus(x.tolerance) >= e.minus(x.event_delay) && t <= e.plus(x.tolerance));
        if let Some(e) = hit {
            out.push((i, e));
        }
    }
    out
}

/// Infers the pod of every failure it can, keyed by the failure's seq.
pub fn infer(
    failures: &[RequestRecord],
    connections: &[ConnectionLife],
    pods: &BTreeMap<String, PodLife>,
    x: &Params,
) -> HashMap<u64, Inferred> {
    let pinned = pin_connections(connections, pods, x);
    let mut out = HashMap::new();
    for f in failures {
        let on_pinned = f.conn.as_ref().and_then(|c| pinned.get(&c.id));
        if let Some(p) = on_pinned {
            out.insert(f.seq, p.clone());
        } else if let Some(p) = sole_candidate(f, pods, x) {
            out.insert(f.seq, p);
        }
    }
    out
}

/// One closing: connections the peer closed within [`TOGETHER`] of each other.
struct Closing<'a> {
    at: At,
    members: Vec<&'a ConnectionLife>,
}

/// Whether a connection's end says a pod went away under it: the peer ended it, and it was an
/// established connection — it served a request, or lived a while. A fresh connection refused
/// or reset on its first request ended because nothing took it, not because a pod left then
/// (the sole-candidate rule reads those).
fn closed_under_us(c: &ConnectionLife) -> bool {
    c.end.by_peer() && (c.requests > c.failures || c.ended.saturating_sub(c.opened) >= ESTABLISHED)
}

fn closings(connections: &[ConnectionLife]) -> Vec<Closing<'_>> {
    let mut ended: Vec<&ConnectionLife> =
        connections.iter().filter(|c| closed_under_us(c)).collect();
    ended.sort_by_key(|c| (c.ended, c.id));
    let mut out: Vec<Closing<'_>> = Vec::new();
    for c in ended {
        match out.last_mut() {
            Some(g) if c.ended <= g.members.last().map_or(g.at, |m| m.ended).plus(TOGETHER) => {
                g.members.push(c)
            }
            _ => out.push(Closing {
                at: c.ended,
                members: vec![c],
            }),
        }
    }
    out
}

/// Pins connections to pods by how they ended (rule 1). Returns connection id → pod.
fn pin_connections(
    connections: &[ConnectionLife],
    pods: &BTreeMap<String, PodLife>,
    x: &Params,
) -> HashMap<u64, Inferred> {
    let all: Vec<&PodLife> = pods.values().collect();
    let mut out = HashMap::new();
    // Events already claimed by an earlier closing: one event closes one set of connections.
    let mut claimed: Vec<(usize, At)> = Vec::new();
    for g in closings(connections) {
        // The pods each member could have reached when it opened.
        let reach: Vec<Vec<usize>> = g
            .members
            .iter()
            .map(|c| {
                (0..all.len())
                    .filter(|&i| routable(all[i], c.opened, x))
                    .collect()
            })
            .collect();
        let hits: Vec<(usize, At)> = matching(&all, g.at, x)
            .into_iter()
            .filter(|(i, _)| reach.iter().any(|r| r.contains(i)))
            .collect();
        let pod = match hits.as_slice() {
            [] => continue,
            [only] => *only,
            // Several pods went away around this instant: the earliest event not yet claimed
            // (closings and events happen in the same order).
            _ => match hits
                .iter()
                .filter(|h| !claimed.contains(h))
                .min_by_key(|(_, e)| *e)
            {
                Some(h) => *h,
                None => continue,
            },
        };
        claimed.push(pod);
        let only_match = |r: &Vec<usize>| {
            let mine: Vec<usize> = hits
                .iter()
                .map(|(i, _)| *i)
                .filter(|i| r.contains(i))
                .collect();
            mine == [pod.0]
        };
        // A member for which the match is unique vouches for the others that closed with it.
        let vouched = reach.iter().any(only_match);
        for (c, r) in g.members.iter().zip(&reach) {
            if !r.contains(&pod.0) {
                continue;
            }
            let confidence = if only_match(r) {
                UNIQUE_END
            } else if vouched {
                GROUP_END
            } else {
                ORDERED_END
            };
            out.insert(
                c.id,
                Inferred {
                    pod: all[pod.0].name.clone(),
                    rule: Rule::ConnectionEnd,
                    confidence,
                    opened: c.opened,
                },
            );
        }
    }
    out
}

/// Rule 2: a fresh connection failed as only a pod that no longer accepts can make it fail.
fn sole_candidate(
    f: &RequestRecord,
    pods: &BTreeMap<String, PodLife>,
    x: &Params,
) -> Option<Inferred> {
    let fresh = f.conn.is_none_or(|c| !c.reused);
    let refused = matches!(
        f.class,
        OutcomeClass::ConnectRefused
            | OutcomeClass::ConnectionReset
            | OutcomeClass::ClosedBeforeResponse
    );
    if !fresh || !refused {
        return None;
    }
    // Each pod that refused then, weighted by how likely the data path still routed to it.
    let weighted: Vec<(&PodLife, f64)> = pods
        .values()
        .filter(|p| routable(p, f.sent, x) && refusing(p, f.sent, x))
        .map(|p| (p, still_routed(p, f.sent, x)))
        .collect();
    let total: f64 = weighted.iter().map(|(_, w)| w).sum();
    let (best, w) = weighted
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some(Inferred {
        pod: best.name.clone(),
        rule: Rule::SoleCandidate,
        confidence: if weighted.len() == 1 {
            SOLE_CANDIDATE
        } else {
            SOLE_CANDIDATE * w / total
        },
        opened: f.sent,
    })
}

/// How likely the data path still routed new connections to `p` at `at`, its lag being
/// anywhere up to `x.lag` and no better known: 1 while its endpoint is in service, then
/// falling to 0 over the lag. Two pods that both refuse are not equally likely: the one that
/// left the endpoints longer ago is less likely to be routed to still.
fn still_routed(p: &PodLife, at: At, x: &Params) -> f64 {
    let out = p
        .endpoint_not_ready
        .or(p.endpoint_removed)
        .or_else(|| p.gone());
    match out {
        Some(o) if at > o && !x.lag.is_zero() => {
            (1.0 - at.saturating_sub(o).as_secs_f64() / x.lag.as_secs_f64()).max(0.05)
        }
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::analysis::pods::Exit;
    use crate::model::connection::ConnectionEnd;
    use crate::model::outcome::ConnId;

    fn ms(v: u64) -> At {
        At(v * 1000)
    }

    fn params() -> Params {
        Params {
            lag: Duration::from_secs(2),
            slack: Duration::from_millis(200),
            event_delay: Duration::ZERO,
            tolerance: Duration::from_millis(100),
            prestop: None,
        }
    }

    /// A pod ready at 0 that begins terminating at `t`: not ready at `t`, stop signal after
    /// `prestop`, exit `drain` later.
    fn pod(name: &str, t: u64, prestop: u64, drain: u64) -> PodLife {
        PodLife {
            name: name.into(),
            ready: Some(ms(0)),
            terminating: Some(ms(t)),
            endpoint_not_ready: Some(ms(t)),
            stop_signal: Some(ms(t + prestop)),
            exit: Some(Exit {
                at: ms(t + prestop + drain),
                code: Some(0),
                signal: None,
                reason: None,
            }),
            ..PodLife::default()
        }
    }

    fn healthy(name: &str, ready: u64) -> PodLife {
        PodLife {
            name: name.into(),
            ready: Some(ms(ready)),
            ..PodLife::default()
        }
    }

    fn pods(list: Vec<PodLife>) -> BTreeMap<String, PodLife> {
        list.into_iter().map(|p| (p.name.clone(), p)).collect()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn conn(id: u64, opened: u64, ended: u64, end: ConnectionEnd) -> ConnectionLife {
        ConnectionLife {
            id,
            local: addr(40_000 + id as u16),
            peer: addr(7000),
            opened: ms(opened),
            first_request: Some(ms(opened)),
            last_request: Some(ms(ended)),
            requests: 10,
            failures: 1,
            ended: ms(ended),
            end,
        }
    }

    fn failure(
        seq: u64,
        conn_id: Option<u64>,
        reused: bool,
        sent: u64,
        class: OutcomeClass,
    ) -> RequestRecord {
        RequestRecord {
            seq,
            due: ms(sent),
            sent: ms(sent),
            end: ms(sent + 1),
            class,
            status: None,
            conn: conn_id.map(|id| ConnId {
                id,
                local: addr(40_000 + id as u16),
                peer: addr(7000),
                reused,
            }),
            dialed: None,
            error: None,
            identity: None,
            template: 0,
            checks_failed: 0,
            version: None,
            excerpt: None,
        }
    }

    #[test]
    fn a_connection_closed_at_one_pods_exit_is_pinned_to_that_pod_with_its_earlier_failures() {
        // a exits at 12.0 s, b at 20.0 s; the connection opened in the baseline (all three
        // candidates) closed at 12.004 s.
        let pods = pods(vec![
            pod("a", 10_000, 2_000, 0),
            pod("b", 18_000, 2_000, 0),
            healthy("c", 0),
        ]);
        let conns = vec![conn(1, 500, 12_004, ConnectionEnd::PeerReset)];
        let failures = vec![
            failure(7, Some(1), true, 11_000, OutcomeClass::RequestTimeout),
            failure(8, Some(1), true, 12_003, OutcomeClass::ConnectionReset),
        ];
        let got = infer(&failures, &conns, &pods, &params());
        for seq in [7, 8] {
            let i = &got[&seq];
            assert_eq!((i.pod.as_str(), i.rule), ("a", Rule::ConnectionEnd));
            assert!(i.confidence >= 0.9);
        }
    }

    #[test]
    fn a_close_matching_two_pods_events_is_assigned_by_order_and_not_called_certain() {
        // a and b both stop at about 12 s; two closings, 12.001 and 12.050.
        let pods = pods(vec![pod("a", 10_000, 2_000, 0), pod("b", 10_040, 2_000, 0)]);
        let conns = vec![
            conn(1, 500, 12_001, ConnectionEnd::PeerClosed),
            conn(2, 500, 12_050, ConnectionEnd::PeerClosed),
        ];
        let failures = vec![
            failure(1, Some(1), true, 12_000, OutcomeClass::ClosedBeforeResponse),
            failure(2, Some(2), true, 12_049, OutcomeClass::ClosedBeforeResponse),
        ];
        let got = infer(&failures, &conns, &pods, &params());
        assert_eq!(got[&1].pod, "a");
        assert_eq!(got[&2].pod, "b");
        assert!(got.values().all(|i| i.confidence < 0.9), "{got:?}");
    }

    #[test]
    fn a_pod_not_yet_routable_when_the_connection_opened_is_no_candidate() {
        // new-0 became ready at 15 s and exits at 12.0 s never; old a exits at 12.0 s. A
        // connection opened at 0.5 s cannot have reached new-0.
        let mut late = pod("late", 30_000, 0, 0);
        late.ready = Some(ms(15_000));
        late.stop_signal = Some(ms(12_000));
        let pods = pods(vec![pod("a", 10_000, 2_000, 0), late]);
        let conns = vec![conn(1, 500, 12_002, ConnectionEnd::PeerClosed)];
        let failures = vec![failure(
            1,
            Some(1),
            true,
            12_001,
            OutcomeClass::ClosedBeforeResponse,
        )];
        let got = infer(&failures, &conns, &pods, &params());
        assert_eq!(got[&1].pod, "a");
        assert_eq!(got[&1].confidence, UNIQUE_END);
    }

    #[test]
    fn a_close_far_from_every_pod_event_pins_nothing() {
        let pods = pods(vec![pod("a", 10_000, 2_000, 0), healthy("b", 0)]);
        let conns = vec![conn(1, 500, 15_000, ConnectionEnd::PeerClosed)];
        let failures = vec![failure(
            1,
            Some(1),
            true,
            14_999,
            OutcomeClass::ClosedBeforeResponse,
        )];
        let got = infer(&failures, &conns, &pods, &params());
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn an_announced_close_is_no_evidence() {
        let pods = pods(vec![pod("a", 10_000, 2_000, 0), healthy("b", 0)]);
        let conns = vec![conn(1, 500, 12_001, ConnectionEnd::PeerAnnounced)];
        let failures = vec![failure(
            1,
            Some(1),
            true,
            11_000,
            OutcomeClass::RequestTimeout,
        )];
        assert!(infer(&failures, &conns, &pods, &params()).is_empty());
    }

    #[test]
    fn a_fresh_connection_refused_while_one_routable_pod_had_stopped_is_that_pods() {
        // a stopped (SIGTERM, no preStop) at 10 s and is routable until 10 s + 2 s lag.
        let pods = pods(vec![
            pod("a", 10_000, 0, 3_000),
            healthy("b", 0),
            healthy("c", 0),
        ]);
        let failures = vec![
            failure(1, Some(5), false, 11_000, OutcomeClass::ConnectionReset),
            failure(2, None, false, 11_500, OutcomeClass::ConnectRefused),
        ];
        let got = infer(&failures, &[], &pods, &params());
        for seq in [1, 2] {
            assert_eq!(got[&seq].pod, "a");
            assert_eq!(got[&seq].rule, Rule::SoleCandidate);
            assert_eq!(got[&seq].confidence, SOLE_CANDIDATE);
        }
    }

    #[test]
    fn a_refusal_two_stopped_pods_could_have_made_goes_to_the_one_likelier_still_routed() {
        // a left the endpoints 1 s before the refusal, b 0.5 s before; the data path's lag
        // is up to 2 s: b is likelier still routed, and nothing is near-certain.
        let pods = pods(vec![
            pod("a", 10_000, 0, 3_000),
            pod("b", 10_500, 0, 3_000),
            healthy("c", 0),
        ]);
        let failures = vec![failure(
            1,
            None,
            false,
            11_000,
            OutcomeClass::ConnectRefused,
        )];
        let got = infer(&failures, &[], &pods, &params());
        assert_eq!(got[&1].pod, "b");
        // 0.9 × 0.75 / (0.75 + 0.5)
        assert!((got[&1].confidence - 0.54).abs() < 1e-9, "{:?}", got[&1]);
    }

    #[test]
    fn a_reused_connection_or_an_http_error_is_never_a_sole_candidate() {
        let pods = pods(vec![pod("a", 10_000, 0, 3_000), healthy("b", 0)]);
        let failures = vec![
            failure(1, Some(3), true, 11_000, OutcomeClass::ConnectionReset),
            failure(2, Some(4), false, 11_000, OutcomeClass::Http5xx),
        ];
        assert!(infer(&failures, &[], &pods, &params()).is_empty());
    }

    #[test]
    fn a_late_observed_exit_still_matches_within_the_event_delay() {
        // On a cluster the exit is observed by a watch, here 1.5 s after the close.
        let pods = pods(vec![pod("a", 10_000, 2_000, 1_500), healthy("b", 0)]);
        let mut x = params();
        x.event_delay = Duration::from_secs(2);
        let conns = vec![conn(1, 500, 12_010, ConnectionEnd::PeerReset)];
        let failures = vec![failure(
            1,
            Some(1),
            true,
            12_009,
            OutcomeClass::ConnectionReset,
        )];
        // The stop signal (12.0 s) matches too, and it is the same pod's: still unique.
        let got = infer(&failures, &conns, &pods, &x);
        assert_eq!(got[&1].pod, "a");
        assert_eq!(got[&1].confidence, UNIQUE_END);
    }
}
