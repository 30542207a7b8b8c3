//! How failures are tied to pods: address, identity header, timing alone.

use std::time::Duration;

use super::{T0, get, ids};
use crate::analysis::AttributionMethod;
use crate::analysis::fixtures::{Roll, Run, Via};
use crate::model::finding::FindingId;
use crate::model::outcome::OutcomeClass;

/// A rollout with no preStop hook and a 1 s de-registration lag.
fn naive() -> Run {
    Run::rolling(Roll {
        prestop: 0,
        lag: 1000,
        ..Roll::default()
    })
}

#[test]
fn without_a_connection_map_a_failure_is_tied_to_the_pod_whose_lifecycle_matches_by_timing() {
    let mut run = naive();
    // A 503 from a pod that is shutting down: any pod could have answered it, as far as the
    // connection shows (a refused connection would narrow it down: see below).
    run.fail(T0 + 300, 1, OutcomeClass::Http5xx, Via::Service);
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
    let mut run = naive();
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
fn a_pod_naming_itself_by_its_hostname_is_tied_to_the_pod_of_that_first_label() {
    let mut run = naive();
    run.fail(
        T0 + 300,
        1,
        OutcomeClass::ConnectionReset,
        Via::Identity {
            pod: "old-0.web.shop.svc.cluster.local",
        },
    );
    let a = run.analyse();
    assert_eq!(a.attributions[0].pod, "old-0");
    assert_eq!(a.attributions[0].method, AttributionMethod::IdentityHeader);
}

#[test]
fn a_peer_address_that_is_a_pod_address_is_an_exact_attribution() {
    let mut run = naive();
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
fn by_timing_a_terminating_pod_is_suspected_while_an_unobservable_data_path_may_lag() {
    let mut run = Run::rolling(Roll {
        prestop: 0,
        lag: 100,
        ..Roll::default()
    });
    // 1.2 s after termination: long after the EndpointSlice said not ready (0.1 s), within
    // the allowance for kube-proxy.
    run.fail(T0 + 1200, 1, OutcomeClass::Http5xx, Via::Service);
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::TrafficToTerminatingPod]);
    assert_eq!(a.attributions[0].method, AttributionMethod::TimeWindow);
    // Without the allowance (a data path whose events are observed), it matches nothing.
    run.input.unobserved_lag = Duration::ZERO;
    assert!(!ids(&run.analyse()).contains(&FindingId::TrafficToTerminatingPod));
}

#[test]
fn a_refused_connection_while_one_routable_pod_had_stopped_is_that_pods_near_certainly() {
    let mut run = naive();
    // Through the Service, with no connection established: only a pod that no longer
    // listens refuses, and old-0 was the one routable pod told to stop.
    run.fail(T0 + 300, 1, OutcomeClass::ConnectRefused, Via::Service);
    let a = run.analyse();
    assert_eq!(ids(&a), [FindingId::TrafficToTerminatingPod]);
    let at = &a.attributions[0];
    assert_eq!(
        (at.pod.as_str(), at.method),
        ("old-0", AttributionMethod::SoleCandidate)
    );
    assert!(at.confidence >= crate::analysis::NEAR_CERTAIN);
    let old0 = a.pods.iter().find(|p| p.name == "old-0").expect("pod");
    assert_eq!((old0.failures, old0.possible_failures), (1, 0));
    let f = get(&a, FindingId::TrafficToTerminatingPod);
    assert!(
        f.evidence.details.iter().any(|d| d.contains("inferred")),
        "{:?}",
        f.evidence.details
    );
}
