//! Fixture tests of the analysis: each finding fires on its evidence, and not on a clean run.

use std::time::Duration;

use super::fixtures::{Roll, Run, STEP, TRIGGER, Via};
use super::{Analysis, AttributionMethod};
use crate::findings::{Finding, FindingId, Severity};
use crate::load::outcome::OutcomeClass;

fn ids(a: &Analysis) -> Vec<FindingId> {
    a.findings.iter().map(|f| f.id).collect()
}

fn get(a: &Analysis, id: FindingId) -> &Finding {
    a.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:#?}", a.findings))
}

/// When old-0 begins terminating in a surge rollout.
const T0: u64 = TRIGGER + 1000;

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
fn failures_on_new_connections_to_a_pod_before_its_deregistration_are_traffic_to_a_terminating_pod()
{
    let mut run = Run::rolling(Roll {
        prestop: 0,
        lag: 1400,
        ..Roll::default()
    });
    for k in 0..4 {
        let sent = T0 + 100 + k * 200;
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
    assert_eq!(ids(&a), [FindingId::TrafficToTerminatingPod]);
    let f = get(&a, FindingId::TrafficToTerminatingPod);
    assert_eq!(f.evidence.failures, 4);
    assert_eq!(f.evidence.pods, ["old-0"]);
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.fix
            .contains("at least 2 s (the slowest de-registration here took 1.40 s)"),
        "{}",
        f.fix
    );
    let yaml = f.fix_yaml.as_deref().expect("a snippet");
    assert!(yaml.contains("seconds: 2"), "{yaml}");
    assert!(
        a.attributions
            .iter()
            .all(|x| x.method == AttributionMethod::ProxyRoute && x.confidence == 1.0)
    );
}

#[test]
fn the_same_failures_from_a_pod_that_is_not_terminating_are_not_blamed_on_termination() {
    let mut run = Run::rolling(Roll::default());
    // old-2 terminates only at the third step; before that it is an ordinary, old pod.
    run.fail(
        T0 + 100,
        1,
        OutcomeClass::ConnectionReset,
        Via::Route {
            pod: "old-2",
            opened: T0 + 100,
            reused: false,
        },
    );
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::Unexplained]);
}

#[test]
fn deregistration_lag_is_measured_per_pod_with_median_and_max() {
    let mut run = Run::rolling(Roll {
        lag: 300,
        ..Roll::default()
    });
    // Make old-2 slower to leave: move its not-ready event 1.1 s later.
    let t2 = T0 + 2 * STEP;
    for e in &mut run.events {
        if e.pod.as_deref() == Some("old-2")
            && matches!(
                e.kind,
                crate::cluster::event::EventKind::EndpointChanged { .. }
            )
        {
            e.at = super::fixtures::ms(t2 + 1400);
        }
    }
    let a = run.analyse();
    let lag = &a.deregistration;
    assert_eq!(lag.pods.len(), 3);
    assert_eq!(lag.median_to_not_ready, Some(Duration::from_millis(300)));
    assert_eq!(lag.max_to_not_ready, Some(Duration::from_millis(1400)));
    // Removed 10 ms after the later of exit (preStop 2 s + drain 50 ms) and not-ready.
    assert_eq!(lag.max_to_removed, Some(Duration::from_millis(2060)));
}

#[test]
fn requests_in_flight_when_the_stop_signal_came_are_an_ungraceful_shutdown() {
    let mut run = Run::rolling(Roll::default());
    let stop = T0 + 2000;
    for k in 0..3 {
        run.fail(
            stop - 40 + k * 10,
            45,
            OutcomeClass::ConnectionReset,
            Via::Route {
                pod: "old-0",
                opened: 2_000,
                reused: true,
            },
        );
    }
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::UngracefulShutdown]);
    let f = get(&a, FindingId::UngracefulShutdown);
    assert_eq!(f.evidence.failures, 3);
    assert!(f.fix.contains("SIGTERM"));
}

#[test]
fn closed_reused_connections_to_a_shutting_down_pod_are_a_keepalive_close_race() {
    let mut run = Run::rolling(Roll {
        drain: 300,
        ..Roll::default()
    });
    let stop = T0 + 2000;
    for k in 0..5 {
        run.fail(
            stop + 1 + k * 40,
            1,
            OutcomeClass::ClosedBeforeResponse,
            Via::Route {
                pod: "old-0",
                opened: 2_000,
                reused: true,
            },
        );
    }
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::KeepaliveCloseRace]);
    let f = get(&a, FindingId::KeepaliveCloseRace);
    assert_eq!(f.evidence.failures, 5);
    assert_eq!(
        f.evidence.classes.get(&OutcomeClass::ClosedBeforeResponse),
        Some(&5)
    );
}

#[test]
fn a_closed_new_connection_after_shutdown_began_is_not_a_keepalive_race() {
    let mut run = Run::rolling(Roll {
        drain: 300,
        ..Roll::default()
    });
    let stop = T0 + 2000;
    run.fail(
        stop + 1,
        1,
        OutcomeClass::ClosedBeforeResponse,
        Via::Route {
            pod: "old-0",
            opened: stop + 1,
            reused: false,
        },
    );
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::TrafficToTerminatingPod]);
}

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
fn requests_in_flight_at_the_sigkill_are_killed_at_the_grace_deadline() {
    let mut run = Run::rolling(Roll {
        prestop: 1000,
        drain: 5000,
        ..Roll::default()
    });
    let kill = T0 + 2000;
    run.killed_at("old-0", kill);
    for k in 0..4 {
        let sent = T0 + 1200 + k * 100;
        run.fail(
            sent,
            kill - sent + 1,
            OutcomeClass::ConnectionReset,
            Via::Route {
                pod: "old-0",
                opened: 2_000,
                reused: true,
            },
        );
    }
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::KilledAtGraceDeadline]);
    let f = get(&a, FindingId::KilledAtGraceDeadline);
    assert_eq!(f.evidence.failures, 4);
    assert!(
        f.evidence
            .details
            .iter()
            .any(|d| d.contains("SIGKILL") && d.contains("2.00 s later")),
        "{:?}",
        f.evidence.details
    );
    assert!(
        f.fix_yaml
            .as_deref()
            .is_some_and(|y| y.contains("terminationGracePeriodSeconds"))
    );
}

#[test]
fn an_exit_by_sigkill_after_termination_counts_as_the_deadline_kill_without_an_explicit_event() {
    let mut run = Run::rolling(Roll {
        prestop: 1000,
        drain: 5000,
        ..Roll::default()
    });
    let kill = T0 + 2000;
    run.killed_at("old-0", kill);
    run.events.retain(|e| {
        !matches!(
            e.kind,
            crate::cluster::event::EventKind::KilledAtGraceDeadline
        )
    });
    run.fail(
        T0 + 1500,
        501,
        OutcomeClass::ConnectionReset,
        Via::Route {
            pod: "old-0",
            opened: 2_000,
            reused: true,
        },
    );
    assert_eq!(ids(&run.analyse()), [FindingId::KilledAtGraceDeadline]);
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
fn without_a_connection_map_a_failure_is_tied_to_the_pod_whose_lifecycle_matches_by_timing() {
    let mut run = Run::rolling(Roll {
        prestop: 0,
        lag: 1000,
        ..Roll::default()
    });
    run.fail(T0 + 300, 1, OutcomeClass::ConnectRefused, Via::Service);
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::TrafficToTerminatingPod]);
    let at = &a.attributions[0];
    assert_eq!(at.pod, "old-0");
    assert_eq!(at.method, AttributionMethod::TimeWindow);
    assert!(at.confidence <= 0.5);
    let old0 = a.pods.iter().find(|p| p.name == "old-0").expect("pod");
    assert_eq!((old0.failures, old0.possible_failures), (0, 1));
    let f = get(&a, FindingId::TrafficToTerminatingPod);
    assert!(
        f.evidence
            .details
            .iter()
            .any(|d| d.contains("by timing only"))
    );
}

#[test]
fn a_pod_naming_itself_in_a_header_is_an_identity_attribution() {
    let mut run = Run::rolling(Roll {
        prestop: 0,
        lag: 1000,
        ..Roll::default()
    });
    run.fail(
        T0 + 300,
        1,
        OutcomeClass::ConnectionReset,
        Via::Identity { pod: "old-0" },
    );
    let a = run.analyse();
    assert_eq!(a.attributions[0].method, AttributionMethod::IdentityHeader);
    assert_eq!(a.attributions[0].confidence, 1.0);
    assert_eq!(ids(&a), [FindingId::TrafficToTerminatingPod]);
}

#[test]
fn a_peer_address_that_is_a_pod_address_is_an_exact_attribution() {
    let mut run = Run::rolling(Roll {
        prestop: 0,
        lag: 1000,
        ..Roll::default()
    });
    run.fail(
        T0 + 300,
        1,
        OutcomeClass::ConnectionReset,
        Via::Peer {
            pod: "old-0",
            reused: false,
        },
    );
    let a = run.analyse();
    assert_eq!(a.attributions[0].pod, "old-0");
    assert_eq!(a.attributions[0].method, AttributionMethod::PeerAddress);
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
fn a_request_sent_after_the_stop_signal_and_closed_just_before_exit_is_a_race_not_a_cut() {
    let mut run = Run::rolling(Roll {
        drain: 13,
        ..Roll::default()
    });
    let stop = T0 + 2000;
    // Sent 10 ms after the signal, closed 2 ms later, 1 ms before the app exited.
    run.fail(
        stop + 10,
        2,
        OutcomeClass::ClosedBeforeResponse,
        Via::Route {
            pod: "old-0",
            opened: 2_000,
            reused: true,
        },
    );
    assert_eq!(ids(&run.analyse()), [FindingId::KeepaliveCloseRace]);
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

#[test]
fn by_timing_a_terminating_pod_is_suspected_while_an_unobservable_data_path_may_lag() {
    let mut run = Run::rolling(Roll {
        prestop: 0,
        lag: 100,
        ..Roll::default()
    });
    // 1.2 s after termination: long after the EndpointSlice said not ready (0.1 s), within
    // the allowance for kube-proxy.
    run.fail(T0 + 1200, 1, OutcomeClass::ConnectRefused, Via::Service);
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::TrafficToTerminatingPod]);
    assert_eq!(a.attributions[0].method, AttributionMethod::TimeWindow);
    // Without the allowance (a data path whose events are observed), it matches nothing.
    run.input.unobserved_lag = Duration::ZERO;
    assert!(!ids(&run.analyse()).contains(&FindingId::TrafficToTerminatingPod));
}

#[test]
fn a_failure_from_a_pod_still_in_its_prestop_is_not_blamed_on_its_termination() {
    let mut run = Run::rolling(Roll {
        prestop: 2000,
        lag: 1500,
        ..Roll::default()
    });
    // Routed to old-0 0.5 s into its 2 s preStop: the app had not been told to stop.
    run.fail(
        T0 + 500,
        1,
        OutcomeClass::Http5xx,
        Via::Route {
            pod: "old-0",
            opened: T0 + 500,
            reused: false,
        },
    );
    assert_eq!(ids(&run.analyse()), [FindingId::Unexplained]);
}
