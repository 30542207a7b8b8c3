//! Findings of long-lived HTTP/2 connections (gRPC): connections cut without a GOAWAY when
//! their pod shut down, and load that never rebalanced after the rollout because connections
//! stayed pinned where they landed. Text and evidence only; which failure belongs where was
//! decided by the classifier, and each pod's load by `load_by_pod`.

use std::collections::{BTreeMap, BTreeSet};

use super::{Facts, Group, finding, pod_list};
use crate::analysis::fixes;
use crate::analysis::lag::slowest;
use crate::analysis::load_by_pod::attributed_connections;
use crate::model::finding::{Evidence, Finding, FindingId, Severity};
use crate::model::phase::{BASELINE, SETTLE};

/// Drain time assumed in a suggested grace period when nothing better is known.
const DEFAULT_DRAIN_SECS: u64 = 30;

/// "1 call" / "3 calls".
fn calls(n: u64) -> String {
    if n == 1 {
        "1 call".into()
    } else {
        format!("{n} calls")
    }
}

pub fn no_goaway(g: &Group<'_>, facts: &Facts<'_>) -> Finding {
    let mut ev = g.evidence();
    for pod in g.pods() {
        let cut: Vec<_> = g.of_pod(&pod).collect();
        let conns: BTreeSet<u64> = cut.iter().filter_map(|f| f.conn.map(|c| c.id)).collect();
        let mut when = Vec::new();
        if let Some(p) = facts.pods.get(&pod) {
            if let Some(s) = p.stop_signal {
                when.push(format!("signalled at {s}"));
            }
            if let Some(x) = &p.exit {
                when.push(format!("exited at {}", x.at));
            }
        }
        ev.details.push(format!(
            "{pod}: {} on {} connection(s) cut with no GOAWAY{}",
            calls(cut.len() as u64),
            conns.len(),
            if when.is_empty() {
                String::new()
            } else {
                format!(" ({})", when.join(", "))
            }
        ));
    }
    let sleep = fixes::prestop_for_lag(slowest(facts.lag));
    finding(
        FindingId::NoGoawayOnShutdown,
        Severity::Error,
        format!(
            "{} on HTTP/2 connections to {} {} cut without a GOAWAY as {} shut down",
            calls(g.len()),
            pod_list(&ev.pods),
            if g.len() == 1 { "was" } else { "were" },
            if ev.pods.len() == 1 { "it" } else { "they" }
        ),
        ev,
        "The server closed its HTTP/2 connections on the stop signal without a GOAWAY, so \
         clients could neither stop sending on them first nor tell which calls were never \
         processed and safe to retry.",
        format!(
            "Stop the server gracefully on SIGTERM: it sends GOAWAY, finishes the calls in \
             flight, then exits — grpc-go GracefulStop(), grpcio server.stop(grace), tonic \
             serve_with_shutdown — behind a preStop sleep of at least {sleep} s so the pod has \
             left the Service first, with terminationGracePeriodSeconds above both."
        ),
        Some(fixes::prestop(&facts.target, sleep, DEFAULT_DRAIN_SECS)),
    )
}

/// Requests and connections one pod carried over a stretch of whole seconds.
#[derive(Default)]
struct Share {
    requests: u64,
    connections: BTreeSet<u64>,
}

/// Each pod's requests and connections over seconds `[from, to)`, and the requests on
/// connections tied to no pod.
fn shares(facts: &Facts<'_>, from: u64, to: u64) -> (BTreeMap<String, Share>, u64) {
    let mut out: BTreeMap<String, Share> = BTreeMap::new();
    let mut unattributed = 0;
    for (c, pod) in attributed_connections(facts.recorded, facts.timeline, facts.pods) {
        let n: u64 = c
            .seconds
            .iter()
            .filter(|s| s.second >= from && s.second < to)
            .map(|s| u64::from(s.requests))
            .sum();
        if n == 0 {
            continue;
        }
        match pod {
            Some((pod, _)) => {
                let s = out.entry(pod).or_default();
                s.requests += n;
                s.connections.insert(c.id);
            }
            None => unattributed += n,
        }
    }
    (out, unattributed)
}

/// The whole seconds a phase covers.
fn whole_seconds(facts: &Facts<'_>, phase: &str) -> Option<(u64, u64)> {
    let p = facts.recorded.phase(phase)?;
    let from = p.start.0.div_ceil(1_000_000);
    let to = p.end.second();
    (to >= from + 2).then_some((from, to))
}

/// After the rollout (the settle phase), whether the pods serving all of it carried load far
/// from evenly although the connections were enough to spread it: a ready pod carrying almost
/// nothing (under a quarter of its fair share), or one carrying more than twice its fair share
/// when the connections allowed better.
pub fn not_rebalanced(facts: &Facts<'_>) -> Option<Finding> {
    let (from, to) = whole_seconds(facts, SETTLE)?;
    let (start, end) = (
        crate::model::clock::At(from * 1_000_000),
        crate::model::clock::At(to * 1_000_000),
    );
    let serving: Vec<&String> = facts
        .pods
        .values()
        .filter(|p| p.ready.is_some_and(|r| r <= start))
        .filter(|p| p.terminating.is_none_or(|t| t >= end) && p.gone().is_none_or(|g| g >= end))
        .map(|p| &p.name)
        .collect();
    let (by_pod, unattributed) = shares(facts, from, to);
    let attributed: u64 = by_pod.values().map(|s| s.requests).sum();
    let connections: usize = by_pod.values().map(|s| s.connections.len()).sum();
    let pods = serving.len();
    // Too little known to judge: one pod, fewer connections than pods, or much of the load on
    // connections tied to no pod.
    if pods < 2 || connections < pods || attributed == 0 || unattributed * 5 > attributed {
        return None;
    }
    let share = |pod: &str| by_pod.get(pod).map_or(0, |s| s.requests) as f64 / attributed as f64;
    let fair = 1.0 / pods as f64;
    let best_max = connections.div_ceil(pods) as f64 / connections as f64;
    let idle: Vec<&String> = serving
        .iter()
        .copied()
        .filter(|p| share(p) < fair / 4.0)
        .collect();
    let heaviest = serving
        .iter()
        .copied()
        .max_by(|a, b| share(a).total_cmp(&share(b)))?;
    let crowded = share(heaviest) > 2.0 * fair && best_max <= 2.0 * fair;
    if idle.is_empty() && !crowded {
        return None;
    }
    let mut ev = Evidence {
        window: Some((start, end)),
        pods: serving.iter().map(|p| p.to_string()).collect(),
        ..Evidence::default()
    };
    for pod in &serving {
        let s = by_pod.get(pod.as_str());
        ev.details.push(format!(
            "{pod}: {:.0} % of the calls after the rollout on {} connection(s) (fair share {:.0} %)",
            share(pod) * 100.0,
            s.map_or(0, |s| s.connections.len()),
            fair * 100.0
        ));
    }
    ev.details.extend(baseline_shares(facts));
    ev.details.push(format!(
        "{connections} long-lived connection(s) over {pods} ready pods, judged over {} s of settle",
        to - from
    ));
    let title = not_rebalanced_title(&idle, heaviest, share(heaviest));
    Some(finding(
        FindingId::ConnectionsNotRebalanced,
        Severity::Warning,
        title,
        ev,
        "Long-lived HTTP/2 connections stay on the pod they first reached: as the rollout \
         replaced pods, the clients reconnected to whichever pods were ready at that moment \
         and stayed there, so pods that became ready later get little or nothing.",
        "Make connections move: a server-side max connection age (gRPC MAX_CONNECTION_AGE, \
         e.g. grpc-go keepalive.ServerParameters{MaxConnectionAge: 30s, MaxConnectionAgeGrace: \
         10s}, grpcio option grpc.max_connection_age_ms) so clients reconnect through the \
         Service regularly; or balance on the client over a headless Service (gRPC round_robin \
         on dns:///NAME); or a mesh / L7 proxy that balances each call."
            .into(),
        None,
    ))
}

/// Each pod's share of the calls during the baseline, for comparison.
fn baseline_shares(facts: &Facts<'_>) -> Option<String> {
    let (bf, bt) = whole_seconds(facts, BASELINE)?;
    let (before, _) = shares(facts, bf, bt);
    let total: u64 = before.values().map(|s| s.requests).sum();
    if total == 0 {
        return None;
    }
    let parts: Vec<String> = before
        .iter()
        .map(|(p, s)| format!("{p} {:.0} %", s.requests as f64 * 100.0 / total as f64))
        .collect();
    Some(format!(
        "before the rollout (baseline): {}",
        parts.join(", ")
    ))
}

/// Names the idle pods, else the crowded one.
fn not_rebalanced_title(idle: &[&String], heaviest: &str, heaviest_share: f64) -> String {
    if idle.is_empty() {
        format!(
            "after the rollout {heaviest} carried {:.0} % of the calls: the connections never \
             rebalanced",
            heaviest_share * 100.0
        )
    } else {
        let names: Vec<String> = idle.iter().map(|p| p.to_string()).collect();
        format!(
            "after the rollout {} carried almost no calls while {heaviest} carried {:.0} %: \
             the connections never rebalanced",
            pod_list(&names),
            heaviest_share * 100.0
        )
    }
}
