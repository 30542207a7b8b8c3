//! Startup and capacity: early traffic, capacity dip, no endpoints, latency regression.

use super::{get, ids};
use crate::analysis::fixtures::{Roll, Run, STEP, TRIGGER, Via};
use crate::model::finding::{FindingId, Severity};
use crate::model::outcome::OutcomeClass;

#[test]
fn failures_from_a_new_pod_just_after_it_became_ready_are_early_traffic() {
    let mut run = Run::rolling(Roll::default());
    let ready = TRIGGER + STEP + 1000; // new-1
    for k in 0..6 {
        run.fail(
            ready + 50 + k * 100,
            2,
            OutcomeClass::Http5xx,
            Via::Route {
                pod: "new-1",
                opened: ready + 10,
                reused: k > 0,
            },
        );
    }
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::EarlyTraffic]);
    let f = get(&a, FindingId::EarlyTraffic);
    assert_eq!(f.evidence.pods, ["new-1"]);
    assert!(
        f.fix_yaml
            .as_deref()
            .is_some_and(|y| y.contains("readinessProbe"))
    );
}

#[test]
fn failures_from_a_new_pod_long_after_it_became_ready_are_not_early_traffic() {
    let mut run = Run::rolling(Roll::default());
    let ready = TRIGGER + STEP + 1000;
    run.fail(
        ready + 15_000,
        2,
        OutcomeClass::Http5xx,
        Via::Route {
            pod: "new-1",
            opened: ready + 10,
            reused: true,
        },
    );
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::Unexplained]);
    let f = get(&a, FindingId::Unexplained);
    assert!(
        f.evidence
            .details
            .iter()
            .any(|d| d.contains("http_5xx 503 on new-1"))
    );
}

#[test]
fn failures_while_ready_endpoints_were_below_desired_are_a_capacity_dip() {
    let mut run = Run::rolling(Roll {
        replicas: 4,
        surge: false,
        startup: 3000,
        ..Roll::default()
    });
    // old-0 leaves at the trigger, its replacement is ready 3 s later: 3 of 4 in between.
    for k in 0..3 {
        run.fail(
            TRIGGER + 1000 + k * 100,
            500,
            OutcomeClass::RequestTimeout,
            Via::Service,
        );
    }
    let a = run.analyse();
    let f = get(&a, FindingId::CapacityDip);
    assert_eq!(f.evidence.failures, 3);
    assert_eq!(f.severity, Severity::Error);
    assert!(f.title.contains("3 of 4"), "{}", f.title);
    assert!(
        f.fix_yaml
            .as_deref()
            .is_some_and(|y| y.contains("maxUnavailable: 0"))
    );
}

#[test]
fn latency_rising_during_a_capacity_dip_is_a_capacity_dip_without_failures() {
    let mut run = Run::rolling(Roll {
        replicas: 4,
        surge: false,
        ..Roll::default()
    });
    run.slow_down(TRIGGER + 500, TRIGGER + 1000, 400);
    let a = run.analyse();
    let f = get(&a, FindingId::CapacityDip);
    assert_eq!(f.evidence.failures, 0);
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.title.starts_with("latency rose"), "{}", f.title);
}

#[test]
fn a_capacity_dip_with_steady_latency_and_no_failures_is_not_reported() {
    let a = Run::rolling(Roll {
        replicas: 4,
        surge: false,
        ..Roll::default()
    })
    .analyse();
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
}

#[test]
fn failures_while_no_endpoint_was_ready_are_no_endpoints() {
    let mut run = Run::rolling(Roll {
        replicas: 1,
        surge: false,
        startup: 3000,
        ..Roll::default()
    });
    for k in 0..5 {
        run.fail(
            TRIGGER + 1000 + k * 300,
            1,
            OutcomeClass::ConnectRefused,
            Via::Service,
        );
    }
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::NoEndpoints]);
    let f = get(&a, FindingId::NoEndpoints);
    assert_eq!(f.evidence.failures, 5);
    assert!(f.title.contains("2.50 s"), "{}", f.title);
    let yaml = f.fix_yaml.as_deref().expect("snippet");
    assert!(yaml.contains("PodDisruptionBudget") && yaml.contains("replicas: 2"));
}

#[test]
fn a_rollout_p99_far_above_the_baseline_is_a_latency_regression() {
    let mut run = Run::rolling(Roll::default());
    run.slow_down(TRIGGER, TRIGGER + 3 * STEP, 400);
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::LatencyRegression]);
    assert_eq!(
        get(&a, FindingId::LatencyRegression).severity,
        Severity::Warning
    );
}

#[test]
fn a_large_ratio_of_tiny_latencies_is_not_a_latency_regression() {
    let mut run = Run::rolling(Roll::default());
    // 2 ms to 8 ms is 4x, but 6 ms is below the minimum increase.
    run.slow_down(TRIGGER, TRIGGER + 3 * STEP, 8);
    assert!(run.analyse().findings.is_empty());
}

#[test]
fn a_p99_made_of_failures_already_explained_is_not_also_a_latency_regression() {
    let mut run = Run::rolling(Roll {
        prestop: 0,
        ..Roll::default()
    });
    // 3 % of the rollout's requests fail slowly; the successes stay fast.
    for k in 0..40 {
        let sent = TRIGGER + 1000 + k * 20;
        run.fail(
            sent,
            3000,
            OutcomeClass::ConnectionReset,
            Via::Route {
                pod: "old-0",
                opened: sent,
                reused: false,
            },
        );
    }
    let found = ids(&run.analyse());
    assert!(
        found.contains(&FindingId::TrafficToTerminatingPod),
        "{found:?}"
    );
    assert!(!found.contains(&FindingId::LatencyRegression), "{found:?}");
}
