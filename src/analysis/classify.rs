//! Decides, for each logged failure, which cause explains it — at most one, so every failure
//! is counted by exactly one finding (or as unexplained).
//!
//! Causes are tried from the most specific to the most general:
//!
//! 1. before the trigger: baseline errors, whatever the pod did;
//! 2. sent while the service queued with every endpoint ready: overload (the load's doing);
//! 3. a request in flight when its pod was SIGKILLed at the grace deadline;
//! 4. a request in flight when its pod was signalled or exited: ungraceful shutdown — or, for
//!    a gRPC call whose HTTP/2 connection was cut with no GOAWAY, no GOAWAY on shutdown;
//! 5. a closed or reset reused connection to a pod that was shutting down: keep-alive race
//!    (HTTP/2: no GOAWAY on shutdown when no GOAWAY came, ungraceful shutdown when one did);
//! 6. sent while the Service had no ready endpoint: no endpoints;
//! 7. sent to a pod after its termination began, while it was still routed: traffic to a
//!    terminating pod;
//! 8. sent to a pod shortly after it became ready: early traffic;
//! 9. sent while ready endpoints were below desired: capacity dip;
//! 10. otherwise unexplained.
//!
//! A WebSocket message lost with its session (after step 1) takes its session's cause: the
//! session dropped (1006) as its pod terminated, or closed by the server with a goodbye while
//! the message was in flight or while the client reconnected.
//!
//! Rules 3–5, 7 and 8 need the pod. When it is known (exactly, by identity, or inferred from
//! its connection) only that pod is examined; otherwise every pod the connection could have
//! reached is a candidate and those whose lifecycle explains the failure share it, with the
//! confidence divided among them and halved, because timing alone never proves which pod
//! served a request.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::analysis::AnalysisInput;
use crate::analysis::AttributionMethod;
use crate::analysis::attribute::Known;
use crate::analysis::endpoints::Window;
use crate::analysis::infer;
use crate::analysis::overload::Overload;
use crate::analysis::pods::PodLife;
use crate::model::clock::At;
use crate::model::finding::FindingId;
use crate::model::grpc::{GrpcClass, GrpcCode};
use crate::model::outcome::OutcomeClass;
use crate::model::request::RequestRecord;

/// A request sent this close to a connection's close may have crossed it on the wire rather
/// than been in processing when it came: such requests are not called "in flight".
pub const RACE: Duration = Duration::from_millis(2);

/// Confidence of a timing-only attribution to a single candidate.
const TIMING_CONFIDENCE: f64 = 0.5;

/// What the classifier needs besides the failure itself.
pub struct Context<'a> {
    pub pods: &'a BTreeMap<String, PodLife>,
    pub known: &'a HashMap<u64, Known>,
    pub zero: &'a [Window],
    pub dips: &'a [Window],
    /// Stretches in which the service queued with every endpoint ready.
    pub overload: &'a [Overload],
    pub trigger: Option<At>,
    pub input: &'a AnalysisInput,
    /// Data-path delay added to endpoint events.
    pub shift: Duration,
    /// Slowest measured de-registration, for pods whose own was not observed.
    pub slowest_lag: Option<Duration>,
    /// When each recorded connection opened, by its number; and what makes a pod reachable
    /// then.
    pub opened: &'a HashMap<u64, At>,
    pub reach: infer::Params,
    /// WebSocket sessions, for messages whose session explains them.
    pub ws: &'a crate::analysis::sessions::WsIndex<'a>,
}

/// The cause found for one failure and the pod it was tied to.
#[derive(Clone, Debug, PartialEq)]
pub struct Explained {
    pub seq: u64,
    pub cause: FindingId,
    pub pod: Option<String>,
    pub method: Option<AttributionMethod>,
    pub confidence: f64,
}

/// Precedence of causes: lower explains first.
fn rank(id: FindingId) -> u8 {
    match id {
        FindingId::BaselineErrors => 0,
        // Failures that follow queueing are the load's, whatever a pod did meanwhile.
        FindingId::Overload => 1,
        FindingId::KilledAtGraceDeadline => 2,
        FindingId::UngracefulShutdown | FindingId::NoGoawayOnShutdown => 3,
        FindingId::KeepaliveCloseRace => 4,
        FindingId::NoEndpoints => 5,
        FindingId::TrafficToTerminatingPod => 6,
        FindingId::EarlyTraffic => 7,
        FindingId::CapacityDip => 8,
        _ => 9,
    }
}

pub fn classify(f: &RequestRecord, cx: &Context<'_>) -> Explained {
    let known = cx.known.get(&f.seq);
    let mut out = Explained {
        seq: f.seq,
        cause: FindingId::Unexplained,
        pod: known.map(|k| k.pod.clone()),
        method: known.map(|k| k.method),
        confidence: known.map_or(0.0, |k| k.confidence),
    };
    if cx.trigger.is_some_and(|t| f.sent < t) {
        out.cause = FindingId::BaselineErrors;
        return out;
    }
    // A WebSocket message lost with its session: the session's end is the cause.
    if let Some(w) = cx.ws.cause(f) {
        out.cause = w.cause;
        if out.pod.is_none() {
            out.pod = w.pod;
            out.method = w.method;
            out.confidence = w.confidence;
        }
        return out;
    }
    let global = if cx.overload.iter().any(|w| w.contains(f.sent)) {
        Some(FindingId::Overload)
    } else if cx.zero.iter().any(|w| w.contains(f.sent)) {
        Some(FindingId::NoEndpoints)
    } else if cx.dips.iter().any(|w| w.contains(f.sent)) {
        Some(FindingId::CapacityDip)
    } else {
        None
    };
    let pod_cause = match known {
        Some(k) => cx
            .pods
            .get(&k.pod)
            // Reached through a data path that cannot be observed (identity, inference), the
            // pod may have been routed to for as long as that path lags.
            .and_then(|p| {
                let unobserved = if k.method.is_exact() {
                    Duration::ZERO
                } else {
                    cx.input.unobserved_lag
                };
                pod_cause(f, p, k.route_opened, unobserved, cx)
            })
            .map(|c| (c, None)),
        None => by_timing(f, cx),
    };
    let chosen = match (pod_cause.as_ref(), global) {
        (Some((c, _)), Some(g)) if rank(g) < rank(*c) => g,
        (Some((c, _)), _) => *c,
        (None, Some(g)) => g,
        (None, None) => FindingId::Unexplained,
    };
    out.cause = chosen;
    if let Some((c, Some((pod, confidence)))) = pod_cause
        && c == chosen
    {
        out.pod = Some(pod);
        out.method = Some(AttributionMethod::TimeWindow);
        out.confidence = confidence;
    }
    out
}

/// Tries every pod; the ones whose lifecycle explains the failure with the best-ranked cause
/// share it. Returns that cause and the first such pod with its confidence.
fn by_timing(f: &RequestRecord, cx: &Context<'_>) -> Option<(FindingId, Option<(String, f64)>)> {
    // A connection whose opening is known could only have reached the pods routable then.
    let opened = f.conn.and_then(|c| cx.opened.get(&c.id)).copied();
    let causes: Vec<(&PodLife, FindingId)> = cx
        .pods
        .values()
        .filter(|p| opened.is_none_or(|o| infer::routable(p, o, &cx.reach)))
        .filter_map(|p| pod_cause(f, p, None, cx.input.unobserved_lag, cx).map(|c| (p, c)))
        .collect();
    let best = causes.iter().map(|(_, c)| *c).min_by_key(|c| rank(*c))?;
    let sharing: Vec<&PodLife> = causes
        .iter()
        .filter(|(_, c)| *c == best)
        .map(|(p, _)| *p)
        .collect();
    let confidence = TIMING_CONFIDENCE / sharing.len() as f64;
    Some((best, sharing.first().map(|p| (p.name.clone(), confidence))))
}

/// What a request cut by its pod's shutdown says of the shutdown: an HTTP/2 connection that
/// ended with no GOAWAY (the server never said it was going), or an app that did not finish
/// what it was serving (everything else, GOAWAY'd streams cut or refused included).
fn shutdown_cut(class: OutcomeClass) -> FindingId {
    match class {
        OutcomeClass::Grpc(g) if g.cut_without_goaway() => FindingId::NoGoawayOnShutdown,
        _ => FindingId::UngracefulShutdown,
    }
}

/// The connection went away under the request.
fn cut_connection(class: OutcomeClass) -> bool {
    match class {
        OutcomeClass::ClosedBeforeResponse
        | OutcomeClass::ConnectionReset
        | OutcomeClass::Other => true,
        // HTTP/2: cut, cut after a GOAWAY, refused unprocessed as the pod went, or cancelled
        // or refused by a server that was stopping (grpcio cancels calls that race its GOAWAY).
        OutcomeClass::Grpc(g) => {
            g.cut_without_goaway()
                || g.provably_unprocessed()
                || matches!(
                    g,
                    GrpcClass::GoawayAbrupt
                        | GrpcClass::Status(
                            GrpcCode::Cancelled | GrpcCode::Unavailable | GrpcCode::Aborted
                        )
                )
        }
        _ => false,
    }
}

/// The pod-specific cause of a failure served by `p`, if its lifecycle explains it.
///
/// `unobserved` widens the window in which a terminating pod may still receive traffic beyond
/// its observed de-registration: a timing-only guess must allow for the data path (kube-proxy,
/// an ingress) acting later than the EndpointSlice changed.
fn pod_cause(
    f: &RequestRecord,
    p: &PodLife,
    route_opened: Option<At>,
    unobserved: Duration,
    cx: &Context<'_>,
) -> Option<FindingId> {
    let slack = cx.input.slack;
    if let Some(k) = p.killed
        && f.sent <= k.plus(slack)
        && f.end.plus(slack) >= k
    {
        return Some(FindingId::KilledAtGraceDeadline);
    }
    if let Some(t) = p.terminating {
        let stop = p
            .stop_signal
            .or_else(|| cx.input.workload.prestop.map(|d| t.plus(d)));
        let exit = p.exit.as_ref().map(|x| x.at);
        // Strict on the end: a request that failed before the stop was not cut by it.
        let in_flight_at = |a: At| f.sent.plus(RACE) < a && f.end.plus(RACE) >= a;
        // Cut at the exit counts only for requests sent before the stop signal: one sent
        // after it went out on a connection the app already meant to close (a race, below).
        let sent_before_stop = stop.is_none_or(|s| f.sent < s);
        let cut_at_stop = stop.is_some_and(|s| s >= t && in_flight_at(s));
        let cut_at_exit = exit.is_some_and(|x| x >= t && sent_before_stop && in_flight_at(x));
        if cut_at_stop || cut_at_exit {
            return Some(shutdown_cut(f.class));
        }
        // Deregistered (as the data path sees it) at this instant, or never observed.
        let out_of_service = p
            .endpoint_not_ready
            .map(|at| at.plus(cx.shift))
            .or_else(|| cx.slowest_lag.map(|l| t.plus(l)));
        // With no de-registration observed at all, the pod's end bounds the window.
        let routed_until = out_of_service
            .map(|d| d.plus(unobserved))
            .or_else(|| p.gone());
        let routed_window =
            f.sent.plus(slack) >= t && routed_until.is_none_or(|d| f.sent <= d.plus(slack));
        let reused = f.conn.is_some_and(|c| c.reused);
        // A connection first used by this request was routed to the pod for it; a reused one
        // was routed earlier, so its opening says nothing about routing at this moment.
        let new_route_after_termination =
            !reused && route_opened.is_some_and(|o| o.plus(slack) >= t);
        let still_routed = routed_window || new_route_after_termination;
        let shutting_down = f.sent.plus(RACE) >= stop.unwrap_or(t);
        // The connection went away under the request (`other` covers a request cancelled
        // because its connection closed before it was written).
        let cut_connection = cut_connection(f.class);
        let alive = exit.is_none_or(|x| f.sent <= x.plus(RACE));
        if reused && cut_connection && shutting_down && (alive || !still_routed) {
            return Some(match f.class {
                OutcomeClass::Grpc(_) => shutdown_cut(f.class),
                _ => FindingId::KeepaliveCloseRace,
            });
        }
        // During its preStop a terminating pod still serves normally: traffic reaching it
        // only fails once the app has been told to stop.
        let stopped_serving = stop.is_none_or(|s| f.sent.plus(slack) >= s);
        if still_routed && stopped_serving {
            return Some(FindingId::TrafficToTerminatingPod);
        }
    }
    if let Some(r) = p.ready {
        let new_pod =
            p.revision == crate::model::event::Revision::New || cx.trigger.is_some_and(|t| r >= t);
        let before_termination = p.terminating.is_none_or(|t| f.sent.plus(slack) < t);
        if new_pod
            && before_termination
            && f.sent.plus(slack) >= r
            && f.sent <= r.plus(cx.input.early_window)
        {
            return Some(FindingId::EarlyTraffic);
        }
    }
    None
}
