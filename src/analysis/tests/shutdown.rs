//! Shutdown family: traffic to a terminating pod, ungraceful shutdown, the keep-alive race,
//! the grace-deadline kill, and the measured de-registration lag they rest on.

use std::time::Duration;

use super::{T0, get, ids};
use crate::analysis::AttributionMethod;
use crate::analysis::fixtures::{Roll, Run, STEP, Via};
use crate::model::finding::{FindingId, Severity};
use crate::model::outcome::OutcomeClass;

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
                crate::model::event::EventKind::EndpointChanged { .. }
            )
        {
            e.at = crate::analysis::fixtures::ms(t2 + 1400);
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
            crate::model::event::EventKind::KilledAtGraceDeadline
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

#[test]
fn a_reused_connection_opened_during_termination_that_fails_after_exit_is_a_keepalive_race() {
    let mut run = Run::rolling(Roll::default());
    let exit = T0 + 2000 + 50;
    // Opened (and routed) while old-0 was still a ready endpoint, reused after the app exited.
    for class in [OutcomeClass::ClosedBeforeResponse, OutcomeClass::Other] {
        run.fail(
            exit + 10,
            8,
            class,
            Via::Route {
                pod: "old-0",
                opened: T0 + 300,
                reused: true,
            },
        );
    }
    assert_eq!(ids(&run.analyse()), [FindingId::KeepaliveCloseRace]);
}
