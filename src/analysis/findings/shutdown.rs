//! Findings of the shutdown family: traffic to a terminating pod, ungraceful shutdown, the
//! keep-alive close race, and the kill at the grace deadline. Text and evidence only; which
//! failure belongs to which was decided by the classifier.

use std::time::Duration;

use super::{Facts, Group, finding, pod_list, requests, secs};
use crate::analysis::fixes;
use crate::analysis::lag::slowest;
use crate::model::finding::{Finding, FindingId, Severity};

/// Drain time assumed in a suggested grace period when nothing better is known (the
/// Kubernetes default grace period).
const DEFAULT_DRAIN_SECS: u64 = 30;

pub fn traffic_to_terminating(g: &Group<'_>, facts: &Facts<'_>) -> Finding {
    let mut ev = g.evidence();
    let lag = facts.lag;
    for pod in g.pods() {
        let Some(p) = facts.pods.get(&pod) else {
            continue;
        };
        let Some(t) = p.terminating else { continue };
        let n = g.of_pod(&pod).count();
        let last = g.of_pod(&pod).map(|f| f.sent).max().unwrap_or(t);
        let out = match p.endpoint_not_ready {
            Some(at) => format!(
                "its endpoint stopped being ready {} after termination began",
                secs(at.saturating_sub(t))
            ),
            None => "its endpoint was never seen leaving the Service".to_string(),
        };
        ev.details.push(format!(
            "{pod}: {n} failed between termination ({t}) and {last}; {out}"
        ));
    }
    let slow = slowest(lag);
    if let (Some(max), Some(median)) = (lag.max_to_not_ready, lag.median_to_not_ready) {
        ev.details.push(format!(
            "measured de-registration lag over {} pods: median {}, max {}",
            lag.pods.iter().filter(|l| l.to_not_ready.is_some()).count(),
            secs(median),
            secs(max)
        ));
    }
    if let Some(d) = facts.input.workload.propagation_delay {
        ev.details.push(format!(
            "includes the service proxy's propagation delay of {}",
            secs(d)
        ));
    }
    let prestop = facts.input.workload.prestop;
    if let Some(p) = prestop {
        ev.details
            .push(format!("preStop sleep configured: {}", secs(p)));
    }
    let sleep = fixes::prestop_for_lag(slow);
    let measured = match slow {
        Some(l) => format!("the slowest de-registration here took {}", secs(l)),
        None => "no de-registration was observed here, so this is a safe default".into(),
    };
    let fix = format!(
        "Add a preStop sleep of at least {sleep} s ({measured}) so each pod keeps serving until \
         the Service stops sending it traffic, then let the app drain on SIGTERM; kube-proxy \
         and ingress controllers add their own delay on a real cluster, so leave margin."
    );
    let cause = if prestop.is_some_and(|p| slow.is_some_and(|l| p < l)) {
        "The preStop sleep is shorter than the time the Service takes to stop routing to a \
         terminating pod, so pods stopped serving while traffic still arrived."
    } else {
        "Endpoint de-registration lags termination, and the pods stopped serving before the \
         Service stopped sending them traffic (no or too short a preStop delay)."
    };
    finding(
        FindingId::TrafficToTerminatingPod,
        Severity::Error,
        format!(
            "{} reached {} after termination began, before {} left the Service",
            requests(g.len()),
            pod_list(&ev.pods),
            if ev.pods.len() == 1 { "it" } else { "they" }
        ),
        ev,
        cause,
        fix,
        Some(fixes::prestop(&facts.target, sleep, DEFAULT_DRAIN_SECS)),
    )
}

pub fn ungraceful(g: &Group<'_>, facts: &Facts<'_>) -> Finding {
    let mut ev = g.evidence();
    for pod in g.pods() {
        let Some(p) = facts.pods.get(&pod) else {
            continue;
        };
        let mut what = Vec::new();
        if let Some(s) = p.stop_signal {
            what.push(format!("signalled at {s}"));
        }
        if let Some(x) = &p.exit {
            let how = match (x.code, x.signal) {
                (_, Some(sig)) => format!("signal {sig}"),
                (Some(code), None) => format!("code {code}"),
                (None, None) => "unknown status".into(),
            };
            let after = p
                .stop_signal
                .or(p.terminating)
                .map(|s| format!(", {} after the stop", secs(x.at.saturating_sub(s))))
                .unwrap_or_default();
            what.push(format!("exited at {} with {how}{after}", x.at));
        }
        ev.details.push(format!(
            "{pod}: {} in flight cut; {}",
            requests(g.of_pod(&pod).count() as u64),
            what.join(", ")
        ));
    }
    finding(
        FindingId::UngracefulShutdown,
        Severity::Error,
        format!(
            "{} in flight {} cut when {} shut down",
            requests(g.len()),
            if g.len() == 1 { "was" } else { "were" },
            pod_list(&ev.pods)
        ),
        ev,
        "The app exits or drops its connections on SIGTERM instead of finishing the requests \
         it is serving.",
        "Handle SIGTERM: stop accepting new connections, finish the in-flight requests, then \
         exit (Go: http.Server.Shutdown; Node: server.close with a drain timeout; gunicorn: \
         --graceful-timeout); keep terminationGracePeriodSeconds above the longest drain."
            .into(),
        None,
    )
}

pub fn keepalive_race(g: &Group<'_>, _facts: &Facts<'_>) -> Finding {
    let mut ev = g.evidence();
    let reused = g
        .items
        .iter()
        .filter(|(f, _)| f.conn.is_some_and(|c| c.reused))
        .count();
    ev.details.push(format!(
        "{reused} of {} on reused keep-alive connections that the pod closed while shutting down",
        g.len()
    ));
    finding(
        FindingId::KeepaliveCloseRace,
        Severity::Error,
        format!(
            "{} on reused keep-alive connections to {} {} closed as {} went out",
            requests(g.len()),
            pod_list(&ev.pods),
            if g.len() == 1 { "was" } else { "were" },
            if g.len() == 1 { "it" } else { "they" }
        ),
        ev,
        "While shutting down, the app closed idle keep-alive connections without warning, \
         racing requests the client was already sending on them.",
        "While draining, keep serving open connections and answer with `Connection: close` \
         (HTTP/2: GOAWAY) so clients move on cleanly, instead of closing idle connections \
         abruptly; clients should retry idempotent requests that fail on a reused connection."
            .into(),
        None,
    )
}

pub fn killed(g: &Group<'_>, facts: &Facts<'_>) -> Finding {
    let mut ev = g.evidence();
    for pod in g.pods() {
        let Some(p) = facts.pods.get(&pod) else {
            continue;
        };
        let (Some(t), Some(k)) = (p.terminating, p.killed) else {
            continue;
        };
        let grace = p
            .grace_period
            .or(facts.input.workload.grace_period)
            .map(|g| format!(" (grace period {})", secs(g)))
            .unwrap_or_default();
        ev.details.push(format!(
            "{pod}: termination began at {t}, SIGKILL at {k}, {} later{grace}",
            secs(k.saturating_sub(t))
        ));
    }
    // The longest any cut request had been running gives a lower bound on the drain needed.
    let longest = g
        .items
        .iter()
        .filter_map(|(f, e)| {
            let p = facts.pods.get(e.pod.as_deref()?)?;
            Some(p.killed?.saturating_sub(f.sent))
        })
        .max()
        .unwrap_or(Duration::ZERO);
    ev.details.push(format!(
        "the longest cut request had been running {} when the kill came",
        secs(longest)
    ));
    let prestop = facts.input.workload.prestop.map_or(0, fixes::ceil_secs);
    let drain = fixes::ceil_secs(longest).max(1) * 2;
    finding(
        FindingId::KilledAtGraceDeadline,
        Severity::Error,
        format!(
            "{} {} in flight when {} {} SIGKILLed at the grace deadline",
            requests(g.len()),
            if g.len() == 1 { "was" } else { "were" },
            pod_list(&ev.pods),
            if ev.pods.len() == 1 { "was" } else { "were" }
        ),
        ev,
        "The termination grace period ran out before the app finished draining, so the \
         kubelet killed it mid-request.",
        format!(
            "Set terminationGracePeriodSeconds longer than the preStop sleep plus the longest \
             drain (requests here still ran {} in), or make requests finish sooner on SIGTERM.",
            secs(longest)
        ),
        Some(fixes::grace_period(prestop, drain)),
    )
}
