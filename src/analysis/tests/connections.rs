//! Long-lived connections: calls cut with no GOAWAY at shutdown, and load that never
//! rebalanced after the rollout.

use super::{T0, get, ids};
use crate::analysis::fixtures::{Roll, Run, STEP, TRIGGER, Via};
use crate::model::finding::{FindingId, Severity};
use crate::model::grpc::{GrpcClass, GrpcCode};
use crate::model::outcome::OutcomeClass;

/// A rolling restart whose old pods stop at once (no preStop).
fn no_prestop() -> Run {
    Run::rolling(Roll {
        prestop: 0,
        ..Roll::default()
    })
}

fn on_old_0(run: &mut Run, sent: u64, took: u64, class: GrpcClass) -> u64 {
    run.fail(
        sent,
        took,
        OutcomeClass::Grpc(class),
        Via::Route {
            pod: "old-0",
            opened: 2_000,
            reused: true,
        },
    )
}

#[test]
fn grpc_calls_cut_with_no_goaway_as_their_pod_stops_are_no_goaway_on_shutdown() {
    let mut run = no_prestop();
    // In flight at the stop signal, and one sent on the idle connection as it was cut.
    on_old_0(&mut run, T0 - 40, 45, GrpcClass::ResetWithoutGoaway);
    on_old_0(&mut run, T0 - 10, 15, GrpcClass::ClosedWithoutGoaway);
    on_old_0(&mut run, T0 + 3, 1, GrpcClass::ClosedWithoutGoaway);
    let a = run.analyse();
    assert_eq!(
        ids(&a),
        [FindingId::NoGoawayOnShutdown],
        "{:#?}",
        a.findings
    );
    let f = get(&a, FindingId::NoGoawayOnShutdown);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.evidence.failures, 3);
    assert_eq!(f.evidence.pods, ["old-0"]);
    assert!(f.fix.contains("GracefulStop()"), "{}", f.fix);
    assert!(f.fix.contains("server.stop(grace)"), "{}", f.fix);
    assert!(f.fix_yaml.as_deref().is_some_and(|y| y.contains("preStop")));
    assert!(
        f.evidence
            .details
            .iter()
            .any(|d| d.starts_with("old-0: 3 calls on 3 connection(s) cut with no GOAWAY")),
        "{:#?}",
        f.evidence.details
    );
}

#[test]
fn a_call_a_stopping_server_cancels_as_it_races_the_goaway_is_an_ungraceful_shutdown() {
    let mut run = no_prestop();
    on_old_0(&mut run, T0 + 1, 2, GrpcClass::Status(GrpcCode::Cancelled));
    let a = run.analyse();
    assert_eq!(
        ids(&a),
        [FindingId::UngracefulShutdown],
        "{:#?}",
        a.findings
    );
}

#[test]
fn a_call_cut_after_a_goaway_is_an_ungraceful_shutdown_not_a_missing_goaway() {
    let mut run = no_prestop();
    on_old_0(&mut run, T0 - 40, 45, GrpcClass::GoawayAbrupt);
    let a = run.analyse();
    assert_eq!(
        ids(&a),
        [FindingId::UngracefulShutdown],
        "{:#?}",
        a.findings
    );
}

/// A rolling restart with one long-lived connection per old pod before it, and `after` the
/// connections' pods once the rollout is done.
fn pinned(after: &[&str]) -> Run {
    let mut run = Run::rolling(Roll::default());
    let done = TRIGGER + 3 * STEP;
    for i in 0..3 {
        run.connection_load(&format!("old-{i}"), 1_000, TRIGGER, 100);
    }
    for pod in after {
        run.connection_load(pod, done, run.end, 100);
    }
    run
}

#[test]
fn connections_left_on_one_new_pod_after_the_rollout_are_not_rebalanced() {
    let a = pinned(&["new-0", "new-0", "new-0"]).analyse();
    assert_eq!(
        ids(&a),
        [FindingId::ConnectionsNotRebalanced],
        "{:#?}",
        a.findings
    );
    let f = get(&a, FindingId::ConnectionsNotRebalanced);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence.failures, 0);
    assert!(
        f.title.contains("new-1 and new-2 carried almost no calls"),
        "{}",
        f.title
    );
    assert!(f.title.contains("new-0 carried 100 %"), "{}", f.title);
    let details = f.evidence.details.join("\n");
    assert!(
        details.contains("new-0: 100 % of the calls after the rollout on 3 connection(s)"),
        "{details}"
    );
    assert!(details.contains("new-1: 0 %"), "{details}");
    assert!(
        details.contains("before the rollout (baseline): old-0 33 %, old-1 33 %, old-2 33 %"),
        "{details}"
    );
    assert!(f.fix.contains("MAX_CONNECTION_AGE"), "{}", f.fix);
    // Each pod's load is there for the lanes.
    let new_0 = a
        .pod_load
        .iter()
        .find(|p| p.pod == "new-0")
        .expect("new-0's load");
    assert_eq!(new_0.connections, 3);
}

#[test]
fn connections_spread_over_the_new_pods_are_not_a_finding() {
    let a = pinned(&["new-0", "new-1", "new-2"]).analyse();
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
    let a = pinned(&["new-0", "new-1", "new-2", "new-0"]).analyse();
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
}

#[test]
fn too_few_connections_to_spread_say_nothing() {
    let a = pinned(&["new-0"]).analyse();
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
}

#[test]
fn load_on_connections_tied_to_no_pod_is_not_judged() {
    let mut run = pinned(&["new-0", "new-0", "new-0"]);
    run.routes.clear();
    let a = run.analyse();
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
    assert!(a.pod_load.is_empty());
    assert!(a.pod_load_unattributed > 0);
}
