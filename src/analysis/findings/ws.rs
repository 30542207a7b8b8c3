//! Findings of WebSocket sessions: sessions dropped without a close frame as their pod
//! terminated, and messages lost when a server closed their session with a goodbye (or while
//! the client reconnected). Text and evidence only; which message belongs to which was decided
//! by the classifier, which session belongs to which pod by `analysis::sessions`.

use std::collections::{BTreeMap, BTreeSet};

use super::{Facts, Group, finding, pod_list, secs};
use crate::analysis::fixes;
use crate::analysis::lag::slowest;
use crate::analysis::sessions::dropped_with;
use crate::model::clock::At;
use crate::model::finding::{Finding, FindingId, Severity};
use crate::model::numbers::thousands;
use crate::model::session::{SessionClass, SessionRecord};

fn sessions(n: u64) -> String {
    if n == 1 {
        "1 WebSocket session".into()
    } else {
        format!("{} WebSocket sessions", thousands(n))
    }
}

fn messages(n: u64) -> String {
    if n == 1 {
        "1 message".into()
    } else {
        format!("{} messages", thousands(n))
    }
}

/// Sessions ended by 1006 with their pod's termination, by pod (timing candidates too).
fn dropped_by_pod<'a>(facts: &Facts<'a>) -> BTreeMap<String, Vec<&'a SessionRecord>> {
    let mut out: BTreeMap<String, Vec<&SessionRecord>> = BTreeMap::new();
    for s in &facts.recorded.sessions.log {
        let known = facts.session_pods.get(&(s.client, s.attempt));
        let pods = dropped_with(s, known, facts.pods, facts.input.slack);
        if let Some(p) = pods.first() {
            out.entry(p.clone()).or_default().push(s);
        }
    }
    out
}

/// `ws-dropped-without-close`: sessions cut (1006) as their pod terminated.
pub fn dropped_without_close(g: &Group<'_>, facts: &Facts<'_>) -> Option<Finding> {
    let by_pod = dropped_by_pod(facts);
    let dropped: u64 = by_pod.values().map(|v| v.len() as u64).sum();
    if dropped == 0 {
        return None;
    }
    let mut ev = g.evidence();
    ev.failures = g.len() + dropped;
    let ends = by_pod.values().flatten().map(|s| s.ended);
    ev.window = ends.clone().min().zip(ends.max());
    ev.pods = by_pod.keys().cloned().collect();
    for (pod, list) in &by_pod {
        ev.details.push(pod_line(facts, pod, list));
    }
    let exact = by_pod
        .values()
        .flatten()
        .filter(|s| facts.session_pods.contains_key(&(s.client, s.attempt)))
        .count();
    ev.details.push(if exact as u64 == dropped {
        "every one tied to its pod exactly (proxy route, pod address) or by identity".to_string()
    } else {
        format!(
            "{exact} of {dropped} tied to their pod exactly or by identity; the rest by timing \
             only (the pod that stopped as they ended)"
        )
    });
    if g.len() > 0 {
        ev.details.push(format!(
            "{} in flight or due while reconnecting were lost with them",
            messages(g.len())
        ));
    }
    let refused = refused_by_stopped_pods(facts);
    if refused > 0 {
        ev.failures += refused;
        ev.details.push(format!(
            "{} could not open on a pod that had stopped but was still routed (reconnections \
             landing on the dying pod: its readiness did not fail first)",
            sessions(refused)
        ));
    }
    context_lines(facts, &mut ev.details);
    let sleep = fixes::prestop_for_lag(slowest(facts.lag));
    Some(finding(
        FindingId::WsDroppedWithoutClose,
        Severity::Error,
        format!(
            "{} on {} ended without a close frame (1006) as {} terminated",
            sessions(dropped),
            pod_list(&ev.pods),
            if ev.pods.len() == 1 { "it" } else { "they" }
        ),
        ev,
        "The server process went away (exit or kill) with its WebSocket sessions still open, so \
         their TCP connections closed under them without a close frame: clients see 1006, lose \
         what was in flight and cannot tell a deploy from a crash. Stopping the listener does \
         not close sessions (Node `ws` server.close() and Go's http.Server.Shutdown leave them \
         open).",
        format!(
            "On SIGTERM, fail readiness at once, send every open session close 1001 (going \
             away) and wait for the clients' close replies before exiting (Node `ws`: \
             `for (const ws of wss.clients) ws.close(1001)`; Go: close hijacked connections \
             from RegisterOnShutdown); put a preStop sleep of about {sleep} s before the signal \
             so the Service stops routing new sessions first; and give clients reconnection \
             with exponential backoff and jitter."
        ),
        Some(fixes::websocket_shutdown(&facts.target, sleep)),
    ))
}

/// Sessions that never opened because the pod they were routed to had already stopped
/// serving (its stop signal or exit came before the attempt).
fn refused_by_stopped_pods(facts: &Facts<'_>) -> u64 {
    facts
        .recorded
        .sessions
        .log
        .iter()
        .filter(|s| s.class == SessionClass::HandshakeFailed)
        .filter(|s| {
            let Some(k) = facts.session_pods.get(&(s.client, s.attempt)) else {
                return false;
            };
            facts.pods.get(&k.pod).is_some_and(|p| {
                p.stop_signal
                    .or_else(|| p.gone())
                    .is_some_and(|t| s.due.plus(facts.input.slack) >= t)
            })
        })
        .count() as u64
}

/// What else the run's sessions say: the goodbyes other sessions got, and reconnection.
fn context_lines(facts: &Facts<'_>, details: &mut Vec<String>) {
    let s = &facts.recorded.sessions;
    let goodbyes: u64 = [
        SessionClass::Close1000,
        SessionClass::Close1001,
        SessionClass::Close1012,
    ]
    .into_iter()
    .map(|c| s.counts.get(c))
    .sum();
    if goodbyes > 0 {
        details.push(format!(
            "{} closed by the server with a goodbye (1000/1001/1012) instead",
            sessions(goodbyes)
        ));
    }
    if s.reconnects > 0 {
        details.push(format!(
            "clients reconnected {} times; time to reconnect p50 {}, max {}",
            thousands(s.reconnects),
            crate::model::numbers::fmt_us(s.reconnect_time.p50_us),
            crate::model::numbers::fmt_us(s.reconnect_time.max_us)
        ));
    } else {
        details.push(
            "no client reconnected (without --reconnect a dropped session stays gone)".into(),
        );
    }
}

fn pod_line(facts: &Facts<'_>, pod: &str, list: &[&SessionRecord]) -> String {
    let first = list.iter().map(|s| s.ended).min().unwrap_or(At::ZERO);
    let last = list.iter().map(|s| s.ended).max().unwrap_or(At::ZERO);
    let lost: u64 = list.iter().map(|s| u64::from(s.lost)).sum();
    let mut what = Vec::new();
    if let Some(p) = facts.pods.get(pod) {
        if let Some(t) = p.stop_signal.or(p.terminating) {
            what.push(format!("stop began {t}"));
        }
        if let Some(x) = &p.exit {
            what.push(format!("exited {}", x.at));
        }
        if let Some(k) = p.killed {
            what.push(format!("killed {k}"));
        }
    }
    let span = if first == last {
        format!("at {first}")
    } else {
        format!(
            "between {first} and {last} ({})",
            secs(last.saturating_sub(first))
        )
    };
    format!(
        "{pod}: {} dropped {span}, {} lost in flight{}",
        sessions(list.len() as u64),
        messages(lost),
        if what.is_empty() {
            String::new()
        } else {
            format!("; {}", what.join(", "))
        }
    )
}

/// `ws-messages-lost-at-close`: messages in flight when the server said goodbye, or due while
/// the client reconnected and never sent in time.
pub fn lost_at_close(g: &Group<'_>, facts: &Facts<'_>) -> Finding {
    let mut ev = g.evidence();
    let codes: BTreeSet<String> = g
        .items
        .iter()
        .filter_map(|(f, _)| f.error.clone())
        .collect();
    for c in codes.iter().take(3) {
        ev.details.push(c.clone());
    }
    let s = &facts.recorded.sessions;
    if s.reconnects > 0 {
        ev.details.push(format!(
            "time to reconnect p50 {}, max {}",
            crate::model::numbers::fmt_us(s.reconnect_time.p50_us),
            crate::model::numbers::fmt_us(s.reconnect_time.max_us)
        ));
    }
    finding(
        FindingId::WsMessagesLostAtClose,
        Severity::Warning,
        format!(
            "{} never answered: in flight when the server closed their session with a goodbye, \
             or due while the client reconnected",
            messages(g.len())
        ),
        ev,
        "A server that closes a session sends no data after its close frame (RFC 6455 §5.5.1), \
         so a message crossing the close on the wire is never answered; messages due while the \
         client was reconnecting wait for the next session.",
        "Make clients resend what was unanswered when a session closed (an id per message, \
         at-least-once), reconnect promptly (a short first backoff with jitter), and keep \
         closing sessions spread over the drain rather than all at once."
            .into(),
        None,
    )
}
