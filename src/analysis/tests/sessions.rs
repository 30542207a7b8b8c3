//! WebSocket sessions on the timeline: drops at a pod's termination found and tied to the pod,
//! goodbyes told apart from drops, and messages per pod per second.

use super::*;
use crate::analysis::AttributionMethod;
use crate::model::session::SessionClass;

/// A rolling restart whose old pods exit 50 ms after SIGTERM with no preStop: old-0 is
/// signalled at 11 s (new-0 ready) and exits at 11.05 s.
fn roll() -> Run {
    Run::rolling(Roll {
        prestop: 0,
        ..Roll::default()
    })
}

const OLD0_EXIT: u64 = TRIGGER + 1_000 + 50;

fn find(a: &Analysis, id: FindingId) -> Option<&Finding> {
    a.findings.iter().find(|f| f.id == id)
}

#[test]
fn sessions_dropped_as_their_pod_exits_are_ws_dropped_without_close_tied_exactly() {
    let mut r = roll();
    for client in 0..3 {
        r.ws_session(
            client,
            Some("old-0"),
            (1_000, OLD0_EXIT),
            SessionClass::Abnormal1006,
            1,
        );
    }
    r.ws_session(
        9,
        Some("old-1"),
        (1_000, r.end),
        SessionClass::ClientClose,
        0,
    );
    let a = r.analyse();
    let f = find(&a, FindingId::WsDroppedWithoutClose).expect("finding");
    assert_eq!(
        a.findings[0].id,
        FindingId::WsDroppedWithoutClose,
        "{:#?}",
        a.findings
    );
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.evidence.pods, ["old-0"]);
    // Three sessions and the three messages lost with them.
    assert_eq!(f.evidence.failures, 6);
    assert!(f.fix.contains("1001"), "{}", f.fix);
    assert!(f.fix_yaml.as_deref().is_some_and(|y| y.contains("preStop")));
    // The lost messages are the finding's, tied to old-0 by the proxy's route.
    let lost: Vec<_> = a.attributions.iter().filter(|x| x.seq >> 32 < 3).collect();
    assert_eq!(lost.len(), 3);
    assert!(
        lost.iter()
            .all(|x| x.pod == "old-0" && x.method == AttributionMethod::ProxyRoute)
    );
    let s = a.sessions.expect("session analysis");
    assert_eq!(s.dropped_at_termination, 3);
    let old0 = s.pods.iter().find(|p| p.pod == "old-0").expect("old-0");
    assert_eq!((old0.sessions.dropped(), old0.lost), (3, 3));
}

#[test]
fn sessions_closed_with_1001_are_not_drops_and_their_lost_messages_are_said_apart() {
    let mut r = roll();
    for client in 0..3 {
        r.ws_session(
            client,
            Some("old-0"),
            (1_000, OLD0_EXIT - 40),
            SessionClass::Close1001,
            1,
        );
    }
    let a = r.analyse();
    assert!(
        find(&a, FindingId::WsDroppedWithoutClose).is_none(),
        "{:#?}",
        a.findings
    );
    let f = find(&a, FindingId::WsMessagesLostAtClose).expect("lost at close");
    assert_eq!(f.evidence.failures, 3);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(a.sessions.expect("sessions").closed_by_server, 3);
}

#[test]
fn a_drop_with_no_route_is_tied_by_timing_to_the_pod_that_stopped_then() {
    let mut r = roll();
    r.ws_session(
        0,
        None,
        (1_000, OLD0_EXIT + 2),
        SessionClass::Abnormal1006,
        0,
    );
    let a = r.analyse();
    let f = find(&a, FindingId::WsDroppedWithoutClose).expect("finding");
    assert_eq!(f.evidence.pods, ["old-0"]);
    assert!(
        f.evidence.details.iter().any(|d| d.contains("by timing")),
        "{:#?}",
        f.evidence.details
    );
    assert_eq!(a.sessions.expect("sessions").unattributed, 1);
}

#[test]
fn a_drop_long_before_any_pod_stopped_is_no_termination_drop() {
    let mut r = roll();
    r.ws_session(
        0,
        Some("old-2"),
        (1_000, 5_000),
        SessionClass::Abnormal1006,
        0,
    );
    let a = r.analyse();
    assert!(
        find(&a, FindingId::WsDroppedWithoutClose).is_none(),
        "{:#?}",
        a.findings
    );
    assert_eq!(a.sessions.expect("sessions").dropped_at_termination, 0);
}

#[test]
fn messages_answered_per_pod_per_second_add_up_over_its_sessions() {
    let mut r = roll();
    r.ws_session(
        0,
        Some("old-1"),
        (2_000, 5_000),
        SessionClass::ClientClose,
        0,
    );
    r.ws_session(
        1,
        Some("old-1"),
        (3_000, 5_000),
        SessionClass::ClientClose,
        0,
    );
    let a = r.analyse();
    let s = a.sessions.expect("sessions");
    let p = s.pods.iter().find(|p| p.pod == "old-1").expect("old-1");
    assert_eq!(p.per_second, [(2, 1), (3, 2), (4, 2)]);
    assert_eq!(p.answered, 5);
    assert_eq!(p.method, Some(AttributionMethod::ProxyRoute));
}
