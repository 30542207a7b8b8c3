//! Tests of the pure converters: every pod, endpoint and Event transition of a rolling update,
//! built from JSON with the API's real field names.

use serde_json::json;

use super::*;

const T0: &str = "2026-11-03T10:00:00Z";

fn pod(extra: serde_json::Value) -> PodView {
    let mut base = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "uid": "u1", "creationTimestamp": T0},
        "spec": {"containers": [{"name": "app", "image": "web:1", "ports": [{"containerPort": 8080}]}],
                 "terminationGracePeriodSeconds": 30},
        "status": {"phase": "Pending"}
    });
    merge(&mut base, extra);
    let p: Pod = serde_json::from_value(base).expect("pod json");
    PodView::from_pod(&p)
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn running(ready: bool) -> serde_json::Value {
    json!({"status": {
        "phase": "Running", "podIP": "10.0.0.7",
        "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                        "reason": if ready {serde_json::Value::Null} else {json!("ContainersNotReady")},
                        "lastTransitionTime": "2026-11-03T10:00:05Z"}],
        "containerStatuses": [{"name": "app", "image": "web:1", "imageID": "", "ready": ready,
                               "restartCount": 0,
                               "state": {"running": {"startedAt": "2026-11-03T10:00:02Z"}}}]
    }})
}

fn kinds(evs: &[LifecycleEvent]) -> Vec<&'static str> {
    evs.iter().map(|e| e.kind.name()).collect()
}

fn diff(old: Option<&PodView>, new: Option<&PodView>) -> Vec<LifecycleEvent> {
    let mut out = Vec::new();
    pod_events(old, new, Revision::New, At(7), &mut out);
    out
}

#[test]
fn a_pod_is_created_with_its_revisions_name_from_the_controllers_label() {
    let deployment =
        pod(json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"}}}));
    let evs = diff(None, Some(&deployment));
    assert_eq!(
        evs[0].kind,
        EventKind::PodCreated {
            revision: Revision::New,
            revision_name: Some("7d9f8c6b5".into()),
        }
    );
    let stateful = pod(json!({"metadata": {"labels": {"controller-revision-hash": "web-5b6c4d"}}}));
    assert_eq!(stateful.revision_name().as_deref(), Some("web-5b6c4d"));
    assert_eq!(pod(json!({})).revision_name(), None);
}

#[test]
fn a_new_pending_pod_is_created_with_the_api_servers_creation_time() {
    let evs = diff(None, Some(&pod(json!({}))));
    assert_eq!(kinds(&evs), ["pod_created"]);
    assert_eq!(
        evs[0].kind,
        EventKind::PodCreated {
            revision: Revision::New,
            revision_name: None,
        }
    );
    assert_eq!(evs[0].source_time, Some(T0.parse().expect("ts")));
    assert_eq!(evs[0].at, At(7));
    assert_eq!(evs[0].pod.as_deref(), Some("web-1"));
}

#[test]
fn containers_running_means_started_with_the_pod_address() {
    let evs = diff(Some(&pod(json!({}))), Some(&pod(running(false))));
    assert_eq!(kinds(&evs), ["pod_started"]);
    assert_eq!(
        evs[0].kind,
        EventKind::PodStarted {
            address: Some("10.0.0.7:8080".into())
        }
    );
    assert_eq!(
        evs[0].source_time,
        Some("2026-11-03T10:00:02Z".parse().expect("ts"))
    );
}

#[test]
fn ready_condition_turning_true_is_ready_at_its_transition_time() {
    let evs = diff(Some(&pod(running(false))), Some(&pod(running(true))));
    assert_eq!(kinds(&evs), ["pod_ready"]);
    assert_eq!(
        evs[0].source_time,
        Some("2026-11-03T10:00:05Z".parse().expect("ts"))
    );
}

#[test]
fn ready_turning_false_carries_the_conditions_reason() {
    let evs = diff(Some(&pod(running(true))), Some(&pod(running(false))));
    assert_eq!(
        evs[0].kind,
        EventKind::PodNotReady {
            reason: Some("ContainersNotReady".into())
        }
    );
}

#[test]
fn a_pod_first_seen_already_ready_yields_its_whole_history_in_order() {
    let evs = diff(None, Some(&pod(running(true))));
    assert_eq!(kinds(&evs), ["pod_created", "pod_started", "pod_ready"]);
}

#[test]
fn deletion_timestamp_means_terminating_since_deletion_minus_grace() {
    let mut deleting = running(true);
    merge(
        &mut deleting,
        json!({"metadata": {"deletionTimestamp": "2026-11-03T10:01:30Z", "deletionGracePeriodSeconds": 30}}),
    );
    let evs = diff(Some(&pod(running(true))), Some(&pod(deleting)));
    assert_eq!(kinds(&evs), ["pod_terminating"]);
    assert_eq!(
        evs[0].kind,
        EventKind::PodTerminating {
            grace_period: Some(std::time::Duration::from_secs(30))
        }
    );
    // deletionTimestamp is when the grace period ends; termination began 30 s before it.
    assert_eq!(
        evs[0].source_time,
        Some("2026-11-03T10:01:00Z".parse().expect("ts"))
    );
}

#[test]
fn an_unchanged_pod_yields_nothing() {
    let p = pod(running(true));
    assert!(diff(Some(&p), Some(&p)).is_empty());
}

fn terminated(code: i32, reason: &str, deleting: bool) -> serde_json::Value {
    let mut v = json!({"status": {
        "phase": "Running", "podIP": "10.0.0.7",
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
        "containerStatuses": [{"name": "app", "image": "web:1", "imageID": "", "ready": false,
                               "restartCount": 0,
                               "state": {"terminated": {"exitCode": code, "reason": reason,
                                                        "finishedAt": "2026-11-03T10:01:31Z"}}}]
    }});
    if deleting {
        merge(
            &mut v,
            json!({"metadata": {"deletionTimestamp": "2026-11-03T10:01:30Z", "deletionGracePeriodSeconds": 30}}),
        );
    }
    v
}

#[test]
fn a_clean_exit_is_reported_with_its_code_and_no_signal() {
    let before = pod(terminated(0, "Completed", true));
    let mut b = before.clone();
    b.terminations.clear();
    let evs = diff(Some(&b), Some(&before));
    assert_eq!(
        evs.iter()
            .find(|e| e.kind.name() == "container_exited")
            .map(|e| &e.kind),
        Some(&EventKind::ContainerExited {
            code: Some(0),
            signal: None,
            reason: Some("Completed".into())
        })
    );
    assert!(!kinds(&evs).contains(&"killed_at_grace_deadline"));
}

#[test]
fn sigkill_of_a_terminating_pod_is_a_kill_at_the_grace_deadline() {
    let mut deleting = running(true);
    merge(
        &mut deleting,
        json!({"metadata": {"deletionTimestamp": "2026-11-03T10:01:30Z", "deletionGracePeriodSeconds": 30}}),
    );
    let evs = diff(
        Some(&pod(deleting)),
        Some(&pod(terminated(137, "Error", true))),
    );
    assert!(evs.contains(&LifecycleEvent {
        at: At(7),
        source_time: Some("2026-11-03T10:01:31Z".parse().expect("ts")),
        pod: Some("web-1".into()),
        kind: EventKind::ContainerExited {
            code: Some(137),
            signal: Some(9),
            reason: Some("Error".into())
        },
    }));
    assert!(kinds(&evs).contains(&"killed_at_grace_deadline"));
}

#[test]
fn an_oom_kill_is_not_blamed_on_the_grace_period() {
    let evs = diff(
        Some(&pod(running(true))),
        Some(&pod(terminated(137, "OOMKilled", true))),
    );
    assert!(!kinds(&evs).contains(&"killed_at_grace_deadline"));
}

#[test]
fn a_restart_reports_the_previous_run_once() {
    let restarted = json!({"status": {"containerStatuses": [{
        "name": "app", "image": "web:1", "imageID": "", "ready": true, "restartCount": 1,
        "state": {"running": {"startedAt": "2026-11-03T10:02:00Z"}},
        "lastState": {"terminated": {"exitCode": 143, "reason": "Error"}}}]}});
    let mut r = running(true);
    merge(&mut r, restarted);
    let before = pod(running(true));
    let after = pod(r);
    let evs = diff(Some(&before), Some(&after));
    assert_eq!(
        evs.iter()
            .filter(|e| e.kind.name() == "container_exited")
            .count(),
        1
    );
    // Seen again (a re-list), the same run is not reported twice.
    assert!(diff(Some(&after), Some(&after)).is_empty());
}

#[test]
fn a_vanished_pod_is_deleted() {
    let evs = diff(Some(&pod(running(true))), None);
    assert_eq!(kinds(&evs), ["pod_deleted"]);
}

#[test]
fn a_same_named_pod_with_a_new_uid_is_a_delete_then_a_create() {
    let old = pod(running(true));
    let mut new = pod(json!({"metadata": {"uid": "u2"}}));
    new.name = old.name.clone();
    let evs = diff(Some(&old), Some(&new));
    assert_eq!(kinds(&evs), ["pod_deleted", "pod_created"]);
}

fn slice(name: &str, eps: serde_json::Value) -> SliceView {
    let s: EndpointSlice = serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": eps
    }))
    .expect("slice json");
    SliceView::from_slice(&s)
}

fn ep(
    ip: &str,
    pod: &str,
    ready: Option<bool>,
    serving: Option<bool>,
    term: Option<bool>,
) -> serde_json::Value {
    json!({"addresses": [ip], "targetRef": {"kind": "Pod", "name": pod, "namespace": "shop"},
           "conditions": {"ready": ready, "serving": serving, "terminating": term}})
}

fn ep_events(old: &[SliceView], new: &[SliceView]) -> Vec<LifecycleEvent> {
    let mut out = Vec::new();
    endpoint_events(&merge_slices(old), &merge_slices(new), At(3), &mut out);
    out
}

#[test]
fn slice_conditions_follow_the_api_defaults() {
    let s = slice("web-a", json!([{"addresses": ["10.0.0.1"]}]));
    assert_eq!(s.service, "web");
    assert_eq!(
        s.endpoints[0].conditions,
        EndpointConditions {
            ready: true,
            serving: true,
            terminating: false
        }
    );
    let s = slice(
        "web-a",
        json!([ep("10.0.0.1", "p", Some(false), None, None)]),
    );
    assert!(
        !s.endpoints[0].conditions.serving,
        "nil serving defers to ready"
    );
}

#[test]
fn endpoints_are_added_changed_and_removed_with_their_pod() {
    let a = slice(
        "web-a",
        json!([ep("10.0.0.1", "old", Some(true), Some(true), Some(false))]),
    );
    let b = slice(
        "web-a",
        json!([
            ep("10.0.0.1", "old", Some(false), Some(true), Some(true)),
            ep("10.0.0.2", "new", Some(true), Some(true), Some(false))
        ]),
    );
    let evs = ep_events(&[a], std::slice::from_ref(&b));
    // In address order: 10.0.0.1 changed, 10.0.0.2 added.
    assert_eq!(kinds(&evs), ["endpoint_changed", "endpoint_added"]);
    assert_eq!(evs[1].pod.as_deref(), Some("new"));
    assert_eq!(
        evs[0].kind,
        EventKind::EndpointChanged {
            address: "10.0.0.1:8080".into(),
            conditions: EndpointConditions {
                ready: false,
                serving: true,
                terminating: true
            }
        }
    );
    let c = slice(
        "web-a",
        json!([ep("10.0.0.2", "new", Some(true), Some(true), Some(false))]),
    );
    let evs = ep_events(&[b], &[c]);
    assert_eq!(kinds(&evs), ["endpoint_removed"]);
    assert_eq!(evs[0].pod.as_deref(), Some("old"));
}

#[test]
fn an_endpoint_moving_between_slices_of_one_service_is_not_a_change() {
    let a = slice(
        "web-a",
        json!([ep("10.0.0.1", "p", Some(true), None, None)]),
    );
    let b = slice(
        "web-b",
        json!([ep("10.0.0.1", "p", Some(true), None, None)]),
    );
    assert!(ep_events(&[a], &[b]).is_empty());
}

#[test]
fn a_ready_entry_wins_when_an_address_is_in_two_slices() {
    let a = slice(
        "web-a",
        json!([ep("10.0.0.1", "p", Some(false), None, None)]),
    );
    let b = slice(
        "web-b",
        json!([ep("10.0.0.1", "p", Some(true), None, None)]),
    );
    let m = merge_slices([&a, &b]);
    assert!(m["10.0.0.1:8080"].conditions.ready);
}

fn event(reason: &str, message: &str, kind: &str, name: &str, count: i32) -> EventView {
    let e: Event = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "e1", "namespace": "shop"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "shop"},
        "reason": reason, "message": message, "count": count,
        "lastTimestamp": "2026-11-03T10:00:09Z"
    }))
    .expect("event json");
    EventView::from_event(&e)
}

#[test]
fn a_pod_event_becomes_a_note_on_that_pod_with_its_timestamp() {
    let e = event("Killing", "Stopping container app", "Pod", "web-1", 1);
    let n = event_note(None, &e, At(1)).expect("note");
    assert_eq!(n.pod.as_deref(), Some("web-1"));
    assert_eq!(
        n.kind,
        EventKind::Note {
            reason: "Killing".into(),
            message: "Stopping container app".into()
        }
    );
    assert_eq!(
        n.source_time,
        Some("2026-11-03T10:00:09Z".parse().expect("ts"))
    );
}

#[test]
fn a_workload_event_names_its_object() {
    let e = event(
        "ScalingReplicaSet",
        "Scaled up replica set web-2 to 1",
        "Deployment",
        "web",
        1,
    );
    let n = event_note(None, &e, At(1)).expect("note");
    assert_eq!(n.pod, None);
    assert!(
        matches!(n.kind, EventKind::Note { message, .. } if message == "Deployment web: Scaled up replica set web-2 to 1")
    );
}

#[test]
fn readiness_probe_failures_are_probe_events() {
    let e = event(
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        "Pod",
        "web-1",
        1,
    );
    let n = event_note(None, &e, At(1)).expect("note");
    assert!(matches!(n.kind, EventKind::ProbeFailed { probe, .. } if probe == "readiness"));
}

#[test]
fn a_repeated_event_is_noted_again_only_when_its_count_moves() {
    let e1 = event("Unhealthy", "Readiness probe failed", "Pod", "web-1", 1);
    let e2 = event("Unhealthy", "Readiness probe failed", "Pod", "web-1", 2);
    assert!(event_note(Some(&e1), &e1, At(1)).is_none());
    assert!(event_note(Some(&e1), &e2, At(1)).is_some());
}
