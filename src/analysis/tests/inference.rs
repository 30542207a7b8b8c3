//! Through a Service, with no route map: failures tied to pods by how their connections ended,
//! and the opaque local mode's score of that inference against the route map.

use super::{T0, get, ids};
use crate::analysis::fixtures::{Roll, Run, Via};
use crate::analysis::{AttributionMethod, NEAR_CERTAIN};
use crate::model::connection::ConnectionEnd;
use crate::model::finding::FindingId;
use crate::model::outcome::OutcomeClass;

#[test]
fn a_connection_closed_as_one_pod_stopped_carries_its_failures_to_that_pod() {
    let mut run = Run::rolling(Roll {
        drain: 300,
        ..Roll::default()
    });
    let stop = T0 + 2000;
    // Connection 1 opened in the baseline (any old pod); a request timed out on it earlier,
    // and the one racing the close failed as old-0 closed it at its stop signal.
    run.connection(1, 1_500, stop + 2, ConnectionEnd::PeerClosed, (80, 2));
    run.fail(
        stop - 600,
        400,
        OutcomeClass::RequestTimeout,
        Via::Connection {
            id: 1,
            reused: true,
        },
    );
    run.fail(
        stop,
        1,
        OutcomeClass::ClosedBeforeResponse,
        Via::Connection {
            id: 1,
            reused: true,
        },
    );
    let a = run.analyse();
    assert_eq!(a.attributions.len(), 2);
    for at in &a.attributions {
        assert_eq!(
            (at.pod.as_str(), at.method),
            ("old-0", AttributionMethod::ConnectionEnd)
        );
        assert!(at.confidence >= NEAR_CERTAIN);
    }
    assert_eq!(
        ids(&a)[0],
        FindingId::KeepaliveCloseRace,
        "{:#?}",
        a.findings
    );
    let f = get(&a, FindingId::KeepaliveCloseRace);
    assert!(f.evidence.pods == ["old-0"]);
    assert!(
        f.evidence
            .details
            .iter()
            .any(|d| d.contains("inferred from how their connection ended"))
    );
}

#[test]
fn connections_that_close_together_belong_to_the_same_pod() {
    let mut run = Run::rolling(Roll {
        drain: 0,
        ..Roll::default()
    });
    let kill = T0 + 2000;
    // Three connections cut at old-0's stop; the second opened after new-0 was ready, so it
    // could also have reached new-0, which is alive: still one pod went away then.
    run.connection(1, 1_500, kill + 1, ConnectionEnd::PeerReset, (40, 1));
    run.connection(2, T0 - 500, kill + 3, ConnectionEnd::PeerReset, (20, 1));
    run.connection(3, 2_500, kill + 6, ConnectionEnd::PeerReset, (30, 1));
    for id in 1..=3 {
        run.fail(
            kill - 20,
            21 + id,
            OutcomeClass::ConnectionReset,
            Via::Connection { id, reused: true },
        );
    }
    let a = run.analyse();
    assert_eq!(a.attributions.len(), 3, "{:#?}", a.attributions);
    assert!(
        a.attributions
            .iter()
            .all(|x| x.pod == "old-0" && x.method == AttributionMethod::ConnectionEnd)
    );
    assert_eq!(
        ids(&a)[0],
        FindingId::UngracefulShutdown,
        "{:#?}",
        a.findings
    );
}

#[test]
fn a_close_that_matches_no_pod_event_is_left_to_timing_among_the_pods_it_could_reach() {
    let mut run = Run::rolling(Roll::default());
    // Events observed as they happen (as the local runtime records them).
    run.input.event_delay = std::time::Duration::ZERO;
    // Closed 1.5 s after old-0's termination began, long before its stop: no pod event then.
    run.connection(1, 1_500, T0 + 1_500, ConnectionEnd::PeerClosed, (50, 1));
    run.fail(
        T0 + 1_499,
        1,
        OutcomeClass::ClosedBeforeResponse,
        Via::Connection {
            id: 1,
            reused: true,
        },
    );
    let a = run.analyse();
    assert!(
        a.attributions
            .iter()
            .all(|x| x.method != AttributionMethod::ConnectionEnd),
        "{:#?}",
        a.attributions
    );
}

#[test]
fn the_opaque_mode_sets_the_route_map_aside_and_scores_the_inference_against_it() {
    let mut run = Run::rolling(Roll {
        drain: 300,
        ..Roll::default()
    });
    let stop = T0 + 2000;
    // Two racing requests on connections the proxy routed to old-0 (the route map knows);
    // the engine saw both connections close at old-0's stop.
    for (id, sent) in [(1u64, stop), (2, stop + 3)] {
        let seq = run.fail(
            sent,
            1,
            OutcomeClass::ClosedBeforeResponse,
            Via::Route {
                pod: "old-0",
                opened: 2_000,
                reused: true,
            },
        );
        let conn = run
            .records
            .iter()
            .find(|r| r.seq == seq)
            .and_then(|r| r.conn)
            .expect("a connection");
        run.connection(0, 2_000, sent + 1, ConnectionEnd::PeerClosed, (60, 1));
        let last = run.connections.last_mut().expect("just added");
        (last.id, last.local) = (conn.id, conn.local);
        let _ = id;
    }
    run.input.opaque = true;
    let a = run.analyse();
    assert!(
        a.attributions
            .iter()
            .all(|x| x.method == AttributionMethod::ConnectionEnd)
    );
    let check = a.attribution_check.expect("scored against the route map");
    assert_eq!(
        (
            check.checkable,
            check.right,
            check.wrong,
            check.unattributed
        ),
        (2, 2, 0, 0)
    );
    assert_eq!((check.near_certain, check.near_certain_wrong), (2, 0));
    assert_eq!(check.top_finding, Some(FindingId::KeepaliveCloseRace));
    assert_eq!(check.top_finding_exact, Some(FindingId::KeepaliveCloseRace));
    // The same run analysed exactly has no check: the route map is the attribution.
    run.input.opaque = false;
    assert!(run.analyse().attribution_check.is_none());
}
