//! `KubeCluster` against the fake API server: a scripted rolling update is watched, triggered
//! with kubectl's exact patch, completed at the right event, and survives a cut watch stream; a
//! failed rollout is undone as `kubectl rollout undo` would (ReplicaSets for a Deployment,
//! ControllerRevisions for a StatefulSet), and only when the trigger changed something.

mod support;

use std::time::Duration;

use support::fake_apiserver::FakeApiServer;
use support::scenario::{self, NS, Web, roll};
use zerodrop::cluster::kube::{ConnectOptions, KubeCluster, KubeConfig, Trigger, WorkloadRef};
use zerodrop::cluster::{Cluster, EventKind, Revision};
use zerodrop::model::clock::RunClock;
use zerodrop::timeline::TimelineRecorder;

fn config(kubeconfig: std::path::PathBuf, trigger: Trigger) -> KubeConfig {
    KubeConfig {
        connect: ConnectOptions {
            kubeconfig: Some(kubeconfig),
            ..ConnectOptions::default()
        },
        trigger,
        rollout_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(10),
        service_target: true,
        ..KubeConfig::new(WorkloadRef::parse("deploy/web").expect("ref"))
    }
}

/// The lifecycle kinds a rolling update script produces.
const SCRIPTED: [&str; 10] = [
    "pod_created",
    "pod_started",
    "pod_ready",
    "pod_not_ready",
    "pod_terminating",
    "endpoint_added",
    "endpoint_changed",
    "endpoint_removed",
    "container_exited",
    "pod_deleted",
];

fn scripted_since(rec: &TimelineRecorder, from: usize) -> Vec<(Option<String>, &'static str)> {
    rec.finish().events[from..]
        .iter()
        .filter(|e| SCRIPTED.contains(&e.kind.name()) || e.kind.name() == "workload_status")
        .map(|e| (e.pod.clone(), e.kind.name()))
        .collect()
}

/// Has the recorder seen `kind` for `pod` `n` times since event index `from`?
fn seen(
    rec: &TimelineRecorder,
    from: usize,
) -> impl Fn(Option<&str>, &str, usize) -> bool + Sync + '_ {
    move |pod, kind, n| {
        rec.events()[from..]
            .iter()
            .filter(|e| e.pod.as_deref() == pod && e.kind.name() == kind)
            .count()
            >= n
    }
}

struct Setup {
    server: FakeApiServer,
    web: Web,
    rec: TimelineRecorder,
    cluster: KubeCluster,
    _dir: tempfile::TempDir,
}

async fn setup(replicas: usize, trigger: Trigger) -> Setup {
    let server = FakeApiServer::start().await;
    let web = Web::install(&server, replicas);
    let dir = tempfile::tempdir().expect("tmp");
    let kc = server.write_kubeconfig(dir.path(), NS);
    let rec = TimelineRecorder::new(RunClock::start());
    let cluster = KubeCluster::new(config(kc, trigger), rec.clone());
    Setup {
        server,
        web,
        rec,
        cluster,
        _dir: dir,
    }
}

#[tokio::test]
async fn restart_sends_kubectls_patch_and_completes_only_when_old_pods_are_gone() {
    let mut s = setup(2, Trigger::Restart).await;
    let prepared = s.cluster.prepare().await.expect("prepare");
    assert_eq!(prepared.desired_replicas, 2);
    assert_eq!(prepared.ready_endpoints, 2);
    assert_eq!(prepared.target.as_deref(), Some("http://web.shop.svc:80"));
    // The state at prepare is on the timeline: both old pods and their endpoints.
    let t = s.rec.finish();
    assert_eq!(t.pods().get("web-old-0"), Some(&Revision::Old));
    assert_eq!(
        t.events
            .iter()
            .filter(|e| e.kind.name() == "endpoint_added")
            .count(),
        2
    );
    assert_eq!(t.desired_replicas, Some(2));

    let before = s.rec.events().len();
    s.cluster.trigger().await.expect("trigger");
    let patches = s.server.requests_by("PATCH");
    assert_eq!(patches.len(), 1);
    let p = &patches[0];
    assert_eq!(p.path, "/apis/apps/v1/namespaces/shop/deployments/web");
    assert_eq!(p.content_type, "application/strategic-merge-patch+json");
    let prefix =
        r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":""#;
    assert!(
        p.body.starts_with(prefix) && p.body.ends_with(r#""}}}}}"#),
        "{}",
        p.body
    );
    let stamp = &p.body[prefix.len()..p.body.len() - 6];
    assert!(
        stamp.parse::<jiff::Timestamp>().is_ok(),
        "RFC 3339: {stamp}"
    );
    assert_eq!(
        s.server.get("deployments", NS, "web").expect("deploy")["metadata"]["generation"],
        2
    );

    let observer = seen(&s.rec, before);
    let (script, done) = tokio::join!(
        roll(&s.server, &s.web, &observer, &[], false, &|_| None),
        s.cluster.wait_complete()
    );
    let done = done.expect("rollout completes");
    assert!(
        done.summary
            .contains("successfully rolled out; 2 old pods gone"),
        "{}",
        done.summary
    );
    s.cluster.shutdown().await;

    // Every scripted lifecycle event is on the timeline once, in the scripted order.
    assert_eq!(scripted_since(&s.rec, before), script);
    let t = s.rec.finish();
    assert_eq!(t.pods().get("web-new-1"), Some(&Revision::New));
    let pos = |pred: &dyn Fn(&zerodrop::cluster::LifecycleEvent) -> bool| {
        t.events.iter().position(pred).expect("event present")
    };
    let complete = pos(&|e| e.kind == EventKind::RolloutComplete);
    let last_gone =
        pos(&|e| e.pod.as_deref() == Some("web-old-1") && e.kind == EventKind::PodDeleted);
    let status_done = pos(
        &|e| matches!(&e.kind, EventKind::Note { reason, .. } if reason == "RolloutStatusComplete"),
    );
    // kubectl's "successfully rolled out" came with the last status; completion waited for the
    // last old pod to be gone.
    assert!(status_done < complete && last_gone < complete);
    assert_eq!(
        t.events
            .iter()
            .filter(|e| e.kind == EventKind::RolloutComplete)
            .count(),
        1
    );
    assert!(t.gaps().next().is_none(), "no watch was down");
    // The API server's timestamps are kept beside the observation times.
    let terminating = t
        .first("web-old-0", "pod_terminating")
        .expect("terminating");
    assert!(terminating.source_time.is_some());
}

#[tokio::test]
async fn a_cut_watch_that_resumes_from_its_resource_version_loses_and_repeats_nothing_and_records_the_gap()
 {
    let mut s = setup(3, Trigger::Restart).await;
    s.cluster.prepare().await.expect("prepare");
    let before = s.rec.events().len();
    s.cluster.trigger().await.expect("trigger");
    let observer = seen(&s.rec, before);
    let server = &s.server;
    let cut = |i: usize| {
        // The streams drop and the API server refuses watches for a while: the watches fail,
        // back off, then resume from their last resourceVersion.
        if i == 1 {
            server.fail_watches_for(Duration::from_millis(1500));
            server.cut_watches();
        }
        None
    };
    let (script, done) = tokio::join!(
        roll(&s.server, &s.web, &observer, &[1], false, &cut),
        s.cluster.wait_complete()
    );
    done.expect("rollout completes");
    s.cluster.shutdown().await;
    let mut got = scripted_since(&s.rec, before);
    let mut want = script;
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "every change arrives exactly once after the resume"
    );
    let t = s.rec.finish();
    let gaps: Vec<_> = t.gaps().collect();
    assert!(
        gaps.iter().any(|(r, from, to)| *r == "pods" && from < to),
        "{gaps:?}"
    );
}

#[tokio::test]
async fn after_410_gone_the_relist_reports_each_change_once_and_marks_the_gap() {
    let mut s = setup(3, Trigger::Restart).await;
    s.cluster.prepare().await.expect("prepare");
    let before = s.rec.events().len();
    s.cluster.trigger().await.expect("trigger");
    let observer = seen(&s.rec, before);
    let server = &s.server;
    // History is compacted and the streams cut: the resume gets 410 Gone and must re-list.
    let cut = |i: usize| {
        if i == 1 {
            server.compact();
            server.cut_watches();
        }
        None
    };
    let (script, done) = tokio::join!(
        roll(&s.server, &s.web, &observer, &[1], true, &cut),
        s.cluster.wait_complete()
    );
    done.expect("rollout completes");
    s.cluster.shutdown().await;
    let mut got = scripted_since(&s.rec, before);
    let mut want = script;
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "nothing seen before the gap is repeated; every end state arrives once"
    );
    let t = s.rec.finish();
    // web-old-1 went while the watch was down: its deletion is found by the re-list and it is
    // deleted exactly once, inside the recorded gap.
    let deleted: Vec<_> = t
        .pod_events("web-old-1")
        .filter(|e| e.kind == EventKind::PodDeleted)
        .collect();
    assert_eq!(deleted.len(), 1);
    let gap = t
        .gaps()
        .find(|(r, _, _)| *r == "pods")
        .expect("pods gap recorded");
    assert!(gap.1 < gap.2 && deleted[0].at >= gap.2);
    assert!(t.gaps().any(|(r, _, _)| r == "endpointslices"));
}

#[tokio::test]
async fn a_rollout_that_never_completes_fails_with_exit_3_and_kubectls_last_words() {
    let mut s = setup(2, Trigger::Restart).await;
    s.cluster = KubeCluster::new(
        KubeConfig {
            rollout_timeout: Duration::from_millis(1500),
            ..config(
                s.server.write_kubeconfig(s._dir.path(), NS),
                Trigger::Restart,
            )
        },
        s.rec.clone(),
    );
    s.cluster.prepare().await.expect("prepare");
    s.cluster.trigger().await.expect("trigger");
    // The controller sees the change and creates nothing.
    scenario::deploy_status(&s.server, 2, 0, 2);
    let err = s.cluster.wait_complete().await.expect_err("times out");
    assert_eq!(err.exit_code(), 3);
    let text = err.to_string();
    assert!(
        text.contains("did not complete within --rollout-timeout"),
        "{text}"
    );
    assert!(
        text.contains("0 out of 2 new replicas have been updated"),
        "{text}"
    );
    s.cluster.shutdown().await;
    // The run flow records the failure once; the cluster only reports it, and (not asked to)
    // rolls nothing back.
    let t = s.rec.finish();
    assert!(!t.events.iter().any(|e| e.kind.name() == "rollout_failed"));
    assert!(
        !t.events
            .iter()
            .any(|e| e.kind == EventKind::RolloutComplete)
    );
    assert_eq!(s.cluster.undo_outcome(), None);
    assert_eq!(s.server.requests_by("PATCH").len(), 1, "only the restart");
}

#[tokio::test]
async fn progress_deadline_exceeded_fails_and_undo_restores_the_previous_template() {
    let mut s = setup(
        2,
        Trigger::Image {
            container: "web".into(),
            image: "web:2".into(),
        },
    )
    .await;
    let deploy = s.server.get("deployments", NS, "web").expect("deploy");
    s.server
        .put(&scenario::replica_set(&deploy, "web-1111", "1", "web:1"));
    s.server
        .put(&scenario::replica_set(&deploy, "web-2222", "2", "web:2"));
    s.cluster = KubeCluster::new(
        KubeConfig {
            undo_on_failure: true,
            ..config(
                s.server.write_kubeconfig(s._dir.path(), NS),
                Trigger::Image {
                    container: "web".into(),
                    image: "web:2".into(),
                },
            )
        },
        s.rec.clone(),
    );
    s.cluster.prepare().await.expect("prepare");
    s.cluster.trigger().await.expect("trigger");
    s.server.update("deployments", NS, "web", |d| {
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = serde_json::json!("2");
        d["status"]["observedGeneration"] = d["metadata"]["generation"].clone();
        d["status"]["conditions"] = serde_json::json!([{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded"}]);
    });
    let err = s
        .cluster
        .wait_complete()
        .await
        .expect_err("deadline exceeded");
    assert_eq!(err.exit_code(), 3);
    let text = err.to_string();
    assert!(text.contains("exceeded its progress deadline"), "{text}");
    // The rollback happens at shutdown, which the run flow always awaits to its end.
    assert_eq!(
        s.server.requests_by("PATCH").len(),
        1,
        "only set image so far"
    );
    s.cluster.shutdown().await;
    assert_eq!(s.cluster.undo_outcome(), Some("rolled back to revision 1"));
    assert!(s.rec.events().iter().any(|e| matches!(&e.kind,
        EventKind::Note { reason, message } if reason == "RolledBack" && message == "rolled back to revision 1")));
    let patches = s.server.requests_by("PATCH");
    let undo = patches.last().expect("undo patch");
    assert_eq!(undo.content_type, "application/json-patch+json");
    let ops: serde_json::Value = serde_json::from_str(&undo.body).expect("json");
    assert_eq!(ops[0]["path"], "/spec/template");
    assert_eq!(ops[0]["value"]["spec"]["containers"][0]["image"], "web:1");
    assert!(
        ops[0]["value"]["metadata"]["labels"]
            .get("pod-template-hash")
            .is_none()
    );
    let now = s.server.get("deployments", NS, "web").expect("deploy");
    assert_eq!(
        now["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:1"
    );
}

#[tokio::test]
async fn a_failed_stateful_set_rollout_is_undone_with_its_previous_controller_revision() {
    let server = FakeApiServer::start().await;
    scenario::install_stateful_set(&server, "db");
    let dir = tempfile::tempdir().expect("tmp");
    let rec = TimelineRecorder::new(RunClock::start());
    let image = Trigger::Image {
        container: "db".into(),
        image: "db:2".into(),
    };
    let mut cluster = KubeCluster::new(
        KubeConfig {
            workload: WorkloadRef::parse("sts/db").expect("ref"),
            undo_on_failure: true,
            rollout_timeout: Duration::from_millis(800),
            ..config(server.write_kubeconfig(dir.path(), NS), image)
        },
        rec.clone(),
    );
    cluster.prepare().await.expect("prepare");
    cluster.trigger().await.expect("trigger");
    // The controller never brings the new revision up.
    let err = cluster.wait_complete().await.expect_err("times out");
    assert_eq!(err.exit_code(), 3);
    cluster.shutdown().await;
    assert_eq!(cluster.undo_outcome(), Some("rolled back to revision 1"));
    // As `kubectl rollout undo sts/db`: revision 1's recorded data, as a strategic merge patch.
    let patches = server.requests_by("PATCH");
    assert_eq!(patches.len(), 2, "set image, then undo");
    let undo = &patches[1];
    assert_eq!(undo.path, "/apis/apps/v1/namespaces/shop/statefulsets/db");
    assert_eq!(undo.content_type, "application/strategic-merge-patch+json");
    let recorded = server
        .get("controllerrevisions", NS, "db-1")
        .expect("revision 1")["data"]
        .clone();
    let sent: serde_json::Value = serde_json::from_str(&undo.body).expect("json");
    assert_eq!(sent, recorded);
    let now = server.get("statefulsets", NS, "db").expect("sts");
    assert_eq!(
        now["spec"]["template"]["spec"]["containers"][0]["image"],
        "db:1"
    );
}

#[tokio::test]
async fn undo_after_a_trigger_command_that_changed_nothing_rolls_nothing_back() {
    let mut s = setup(1, Trigger::Restart).await;
    let deploy = s.server.get("deployments", NS, "web").expect("deploy");
    s.server
        .put(&scenario::replica_set(&deploy, "web-0000", "0", "web:0"));
    s.server
        .put(&scenario::replica_set(&deploy, "web-1111", "1", "web:1"));
    s.cluster = KubeCluster::new(
        KubeConfig {
            undo_on_failure: true,
            ..config(
                s.server.write_kubeconfig(s._dir.path(), NS),
                Trigger::Exec {
                    argv: ["sh", "-c", "echo 'Error: chart not found' >&2; exit 1"]
                        .map(String::from)
                        .to_vec(),
                },
            )
        },
        s.rec.clone(),
    );
    s.cluster.prepare().await.expect("prepare");
    let err = s.cluster.trigger().await.expect_err("the command failed");
    assert_eq!(err.exit_code(), 3);
    s.cluster.shutdown().await;
    // Rolling back to the revision before would undo someone else's good release.
    assert_eq!(
        s.cluster.undo_outcome(),
        Some("not rolled back: deploy/web was not changed (generation 1)")
    );
    assert!(s.server.requests_by("PATCH").is_empty());
}

/// A Kubernetes Event about `kind`/`name` in the namespace.
fn k8s_event(id: &str, kind: &str, name: &str, reason: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": id, "namespace": NS},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS},
        "reason": reason,
        "message": format!("{reason} for {name}"),
        "count": 1,
        "lastTimestamp": "2026-11-22T07:00:00Z",
    })
}

#[tokio::test]
async fn cluster_events_of_the_workload_are_kept_and_those_of_a_neighbour_with_a_longer_name_are_not()
 {
    let mut s = setup(2, Trigger::Restart).await;
    s.cluster.prepare().await.expect("prepare");
    for (id, kind, name, reason) in [
        // The workload, a pod the pod watch has seen, and a ReplicaSet and pod shaped as the
        // Deployment controller names them (an Event may come before its pod's watch event).
        ("e1", "Deployment", "web", "ScalingReplicaSet"),
        ("e2", "Pod", "web-old-0", "Killing"),
        ("e3", "ReplicaSet", "web-7d4b9c", "SuccessfulCreate"),
        ("e4", "Pod", "web-7d4b9c-x2x9q", "Scheduled"),
        // Neighbours whose names start with `web-`.
        ("n1", "Deployment", "web-worker", "ScalingReplicaSet"),
        ("n2", "ReplicaSet", "web-worker-5f6d7c", "SuccessfulCreate"),
        ("n3", "Pod", "web-worker-5f6d7c-k2x9q", "BackOff"),
        ("n4", "Pod", "web-agent-k2x9q", "Pulled"),
        ("n5", "StatefulSet", "web", "SuccessfulCreate"),
        // Last, so that once it is seen every earlier one has been judged.
        ("e5", "Pod", "web-old-1", "Unhealthy"),
    ] {
        s.server.put_value(k8s_event(id, kind, name, reason));
    }
    let notes = || -> Vec<String> {
        s.rec
            .events()
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Note { reason, message } if message.contains(" for ") => {
                    Some(format!("{reason} {}", e.pod.as_deref().unwrap_or("-")))
                }
                _ => None,
            })
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !notes().iter().any(|n| n.starts_with("Unhealthy"))
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.cluster.shutdown().await;
    assert_eq!(
        notes(),
        [
            "ScalingReplicaSet -",
            "Killing web-old-0",
            "SuccessfulCreate -",
            "Scheduled web-7d4b9c-x2x9q",
            "Unhealthy web-old-1",
        ]
    );
}
