//! `KubeCluster` against the fake API server: a scripted rolling update is watched, triggered
//! with kubectl's exact patch, completed at the right event, and survives a cut watch stream.

mod support;

use std::time::Duration;

use support::fake_apiserver::FakeApiServer;
use support::scenario::{self, NS, Web, roll};
use zerodrop::clock::RunClock;
use zerodrop::cluster::kube::{ConnectOptions, KubeCluster, KubeConfig, Trigger, WorkloadRef};
use zerodrop::cluster::{Cluster, EventKind, Revision};
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
    assert!(
        s.rec
            .finish()
            .events
            .iter()
            .any(|e| e.kind.name() == "rollout_failed")
    );
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
    assert!(
        text.contains("exceeded its progress deadline")
            && text.contains("rolled back to revision 1"),
        "{text}"
    );
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
    s.cluster.shutdown().await;
}
