//! Fixture tests of the analysis: each finding fires on its evidence, and not on a clean run.
//! One file per family; this one holds the helpers and the run-wide behaviours.

mod attribution;
mod capacity;
mod connections;
mod inference;
mod sessions;
mod shutdown;

use super::Analysis;
use super::fixtures::{Roll, Run, STEP, TRIGGER, Via};
use crate::model::finding::{Finding, FindingId, Severity};
use crate::model::outcome::OutcomeClass;

pub(super) fn ids(a: &Analysis) -> Vec<FindingId> {
    a.findings.iter().map(|f| f.id).collect()
}

pub(super) fn get(a: &Analysis, id: FindingId) -> &Finding {
    a.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:#?}", a.findings))
}

/// When old-0 begins terminating in a surge rollout.
pub(super) const T0: u64 = TRIGGER + 1000;

#[test]
fn a_clean_rollout_yields_no_finding_at_all() {
    let a = Run::rolling(Roll::default()).analyse();
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
    assert_eq!(a.unexplained_failures, 0);
    assert!(a.attributions.is_empty());
}

#[test]
fn phases_carry_their_bounds_counts_and_the_p99_ratio() {
    let mut run = Run::rolling(Roll::default());
    run.slow_down(TRIGGER, TRIGGER + 3 * STEP, 8);
    let a = run.analyse();
    let names: Vec<&str> = a.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["baseline", "rollout", "settle"]);
    let base = &a.phases[0];
    assert_eq!((base.start.0, base.end.0), (1_000_000, 10_000_000));
    assert_eq!(base.requests, 900);
    assert_eq!(base.failed, 0);
    let ratio = a.p99_ratio.expect("both phases had requests");
    assert!((ratio - 4.0).abs() < 0.05, "ratio {ratio}");
}

#[test]
fn failures_before_the_trigger_are_baseline_errors_not_blamed_on_the_rollout() {
    let mut run = Run::rolling(Roll::default());
    for k in 0..2 {
        run.fail(
            5_000 + k * 100,
            1,
            OutcomeClass::Http5xx,
            Via::Route {
                pod: "old-0",
                opened: 2_000,
                reused: true,
            },
        );
    }
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::BaselineErrors]);
    let f = get(&a, FindingId::BaselineErrors);
    assert!(f.title.contains("not caused by the rollout"));
    assert_eq!(f.severity, Severity::Warning);
}

#[test]
fn two_causes_at_once_yield_both_findings_each_explaining_its_own_failures() {
    let mut run = Run::rolling(Roll {
        prestop: 0,
        ..Roll::default()
    });
    let mut terminating = Vec::new();
    for k in 0..3 {
        let sent = T0 + 100 + k * 100;
        terminating.push(run.fail(
            sent,
            1,
            OutcomeClass::ConnectionReset,
            Via::Route {
                pod: "old-0",
                opened: sent,
                reused: false,
            },
        ));
    }
    let ready = TRIGGER + STEP + 1000;
    let mut early = Vec::new();
    for k in 0..5 {
        early.push(run.fail(
            ready + 50 + k * 100,
            2,
            OutcomeClass::Http5xx,
            Via::Route {
                pod: "new-1",
                opened: ready + 10,
                reused: true,
            },
        ));
    }
    let a = run.analyse();
    // Ordered by the failures each explains.
    assert_eq!(
        ids(&a),
        [FindingId::EarlyTraffic, FindingId::TrafficToTerminatingPod]
    );
    assert_eq!(get(&a, FindingId::EarlyTraffic).evidence.examples, early);
    assert_eq!(
        get(&a, FindingId::TrafficToTerminatingPod)
            .evidence
            .examples,
        terminating
    );
}

#[test]
fn failures_matching_nothing_are_reported_as_unexplained_and_last() {
    let mut run = Run::rolling(Roll {
        prestop: 0,
        ..Roll::default()
    });
    for k in 0..4 {
        // Past every new pod's early window, and no pod is terminating.
        run.fail(29_500 + k * 10, 1, OutcomeClass::Other, Via::Service);
    }
    let sent = T0 + 100;
    run.fail(
        sent,
        1,
        OutcomeClass::ConnectionReset,
        Via::Route {
            pod: "old-0",
            opened: sent,
            reused: false,
        },
    );
    let a = run.analyse();
    assert_eq!(
        ids(&a),
        [FindingId::TrafficToTerminatingPod, FindingId::Unexplained]
    );
    assert_eq!(a.unexplained_failures, 4);
}

#[test]
fn failures_the_log_could_not_keep_are_counted_as_unexplained_never_hidden() {
    let mut run = Run::rolling(Roll {
        prestop: 0,
        ..Roll::default()
    });
    run.failure_log_limit = 2;
    for k in 0..5 {
        let sent = T0 + 100 + k * 50;
        run.fail(
            sent,
            1,
            OutcomeClass::ConnectionReset,
            Via::Route {
                pod: "old-0",
                opened: sent,
                reused: false,
            },
        );
    }
    let a = run.analyse();
    assert_eq!(
        get(&a, FindingId::TrafficToTerminatingPod)
            .evidence
            .failures,
        2
    );
    let u = get(&a, FindingId::Unexplained);
    assert_eq!(u.evidence.failures, 3);
    assert!(u.evidence.details.iter().any(|d| d.contains("not kept")));
    assert_eq!(a.unexplained_failures, 3);
}

#[test]
fn a_run_stopped_in_its_baseline_blames_nothing_on_a_rollout_that_never_began() {
    let mut run = Run::steady(3);
    run.ok_traffic(1_000, 4_000, 10, 2);
    run.end = 4_000;
    run.fail(
        2_000,
        1,
        OutcomeClass::Http5xx,
        Via::Route {
            pod: "old-1",
            opened: 1_000,
            reused: true,
        },
    );
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::BaselineErrors]);
}

#[test]
fn a_plain_load_run_with_failures_and_no_cluster_reports_them_unexplained() {
    let mut run = Run::steady(0);
    run.desired = None;
    run.phases = vec![(1_000, "load")];
    run.ok_traffic(1_000, 5_000, 10, 2);
    run.end = 5_000;
    run.fail(2_000, 1, OutcomeClass::ConnectRefused, Via::Service);
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::Unexplained]);
    assert_eq!(a.phases.len(), 1);
    assert_eq!(a.p99_ratio, None);
    assert!(a.pods.is_empty());
}
