//! Each trigger checked by what reached the fake API server, and the errors users hit, each
//! with one clear message and the right exit code.

mod support;

use std::time::Duration;

use serde_json::json;
use support::fake_apiserver::FakeApiServer;
use support::scenario::{self, NS, Web};
use zerodrop::cluster::kube::{
    ConnectOptions, KubeCluster, KubeConfig, PatchKind, Trigger, WorkloadRef,
};
use zerodrop::cluster::{Cluster, ClusterError, EventKind};
use zerodrop::model::clock::RunClock;
use zerodrop::timeline::TimelineRecorder;

struct Env {
    server: FakeApiServer,
    dir: tempfile::TempDir,
    rec: TimelineRecorder,
}

async fn env(replicas: usize) -> Env {
    let server = FakeApiServer::start().await;
    Web::install(&server, replicas);
    Env {
        server,
        dir: tempfile::tempdir().expect("tmp"),
        rec: TimelineRecorder::new(RunClock::start()),
    }
}

impl Env {
    fn cluster(&self, trigger: Trigger, tweak: impl FnOnce(&mut KubeConfig)) -> KubeCluster {
        let mut cfg = KubeConfig {
            connect: ConnectOptions {
                kubeconfig: Some(self.server.write_kubeconfig(self.dir.path(), NS)),
                ..ConnectOptions::default()
            },
            trigger,
            rollout_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(5),
            interval: Duration::from_millis(50),
            ..KubeConfig::new(WorkloadRef::parse("deploy/web").expect("ref"))
        };
        tweak(&mut cfg);
        KubeCluster::new(cfg, self.rec.clone())
    }

    /// Plays the controller finishing a rollout at once: status done, old pods gone.
    fn finish_rollout(&self, replicas: usize) {
        scenario::deploy_status(&self.server, replicas, replicas, replicas);
        for i in 0..replicas {
            self.server.remove("pods", NS, &format!("web-old-{i}"));
        }
    }
}

#[tokio::test]
async fn image_trigger_sends_kubectl_set_images_patch() {
    let e = env(1).await;
    let mut c = e.cluster(
        Trigger::Image {
            container: "web".into(),
            image: "web:2".into(),
        },
        |_| {},
    );
    c.prepare().await.expect("prepare");
    c.trigger().await.expect("trigger");
    let p = &e.server.requests_by("PATCH")[0];
    assert_eq!(p.content_type, "application/strategic-merge-patch+json");
    assert_eq!(
        p.body,
        r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"image":"web:2","name":"web"}]}}}}"#
    );
    let d = e.server.get("deployments", NS, "web").expect("deploy");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 8080,
        "merged by name, not replaced"
    );
    c.shutdown().await;
}

#[tokio::test]
async fn patch_file_trigger_sends_the_file_with_its_patch_type() {
    for (kind, ct, text) in [
        (
            PatchKind::Strategic,
            "application/strategic-merge-patch+json",
            "spec:\n  template:\n    metadata:\n      labels:\n        v: \"2\"\n",
        ),
        (
            PatchKind::Merge,
            "application/merge-patch+json",
            r#"{"spec":{"template":{"metadata":{"labels":{"v":"2"}}}}}"#,
        ),
        (
            PatchKind::Json,
            "application/json-patch+json",
            r#"[{"op":"add","path":"/spec/template/metadata/labels/v","value":"2"}]"#,
        ),
    ] {
        let e = env(1).await;
        let file = e.dir.path().join("patch");
        std::fs::write(&file, text).expect("write");
        let mut c = e.cluster(Trigger::Patch { file, kind }, |_| {});
        c.prepare().await.expect("prepare");
        c.trigger().await.expect("trigger");
        let p = &e.server.requests_by("PATCH")[0];
        assert_eq!(p.content_type, ct);
        let d = e.server.get("deployments", NS, "web").expect("deploy");
        assert_eq!(
            d["spec"]["template"]["metadata"]["labels"]["v"], "2",
            "{kind:?}"
        );
        assert_eq!(d["metadata"]["generation"], 2);
        c.shutdown().await;
    }
}

#[tokio::test]
async fn exec_trigger_keeps_the_commands_output_and_a_failing_command_exits_3() {
    let e = env(1).await;
    let argv: Vec<String> = ["sh", "-c", "echo upgraded"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut c = e.cluster(Trigger::Exec { argv }, |_| {});
    c.prepare().await.expect("prepare");
    c.trigger().await.expect("trigger");
    let out = c.command_outcome().expect("kept");
    assert_eq!((out.code, out.output.as_str()), (Some(0), "upgraded\n"));
    // The command changed nothing in the Deployment: no rollout to wait for.
    let done = c.wait_complete().await.expect("done");
    assert!(done.summary.contains("changed nothing"), "{}", done.summary);
    assert!(e.server.requests_by("PATCH").is_empty());
    c.shutdown().await;

    let argv: Vec<String> = ["sh", "-c", "echo 'Error: UPGRADE FAILED' >&2; exit 1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut c = e.cluster(Trigger::Exec { argv }, |_| {});
    c.prepare().await.expect("prepare");
    let err = c.trigger().await.expect_err("command failed");
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string()
            .contains("exit code 1: Error: UPGRADE FAILED"),
        "{err}"
    );
    assert_eq!(c.command_outcome().and_then(|o| o.code), Some(1));
    c.shutdown().await;
}

#[tokio::test]
async fn external_trigger_sends_nothing_and_waits_for_someone_elses_rollout() {
    let e = env(1).await;
    let mut c = e.cluster(Trigger::External, |_| {});
    c.prepare().await.expect("prepare");
    c.trigger().await.expect("trigger");
    assert!(e.server.requests_by("PATCH").is_empty() && e.server.requests_by("DELETE").is_empty());
    let other = async {
        // The CI deploy step beside zerodrop rolls the Deployment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        e.server.update("deployments", NS, "web", |d| {
            d["metadata"]["generation"] = json!(2)
        });
        e.finish_rollout(1);
    };
    let (_, done) = tokio::join!(other, c.wait_complete());
    assert!(done.expect("completes").summary.contains("1 old pods gone"));
    c.shutdown().await;
}

#[tokio::test]
async fn external_trigger_with_no_rollout_times_out_with_exit_3() {
    let e = env(1).await;
    let mut c = e.cluster(Trigger::External, |c| {
        c.rollout_timeout = Duration::from_millis(800)
    });
    c.prepare().await.expect("prepare");
    c.trigger().await.expect("trigger");
    let err = c.wait_complete().await.expect_err("nothing happened");
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains("waiting for a rollout to start"),
        "{err}"
    );
    c.shutdown().await;
}

#[tokio::test]
async fn kill_pod_deletes_the_pods_one_at_a_time_and_waits_for_them_to_go() {
    let e = env(3).await;
    let mut c = e.cluster(Trigger::KillPod, |_| {});
    c.prepare().await.expect("prepare");
    c.trigger().await.expect("trigger");
    let kubelet = async {
        // Each deleted pod terminates and goes, as a kubelet would make it.
        for i in 0..3 {
            let name = format!("web-old-{i}");
            e.server
                .wait_for_request(Duration::from_secs(10), |r| {
                    r.method == "DELETE" && r.path.ends_with(&name)
                })
                .await;
            e.server.remove("pods", NS, &name);
        }
    };
    let (_, done) = tokio::join!(kubelet, c.wait_complete());
    done.expect("completes");
    let deletes: Vec<String> = e
        .server
        .requests_by("DELETE")
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        deletes,
        ["web-old-0", "web-old-1", "web-old-2"]
            .map(|n| format!("/api/v1/namespaces/shop/pods/{n}"))
    );
    c.shutdown().await;
    let t = e.rec.finish();
    assert_eq!(
        t.events
            .iter()
            .filter(|e| e.kind
                == EventKind::PodTerminating {
                    grace_period: Some(Duration::from_secs(30))
                })
            .count(),
        3
    );
}

#[tokio::test]
async fn selector_trigger_patches_the_service_and_waits_for_endpoints_to_converge() {
    let e = env(1).await;
    e.server.put(&scenario::service(
        "web",
        json!({"app": "web", "version": "blue"}),
    ));
    e.server.update("pods", NS, "web-old-0", |p| {
        p["metadata"]["labels"]["version"] = json!("blue")
    });
    e.server.put(&scenario::pod(
        "web-green-0",
        "web",
        "10.0.2.1",
        true,
        json!({"version": "green"}),
    ));
    let mut c = e.cluster(
        Trigger::Selector {
            key: "version".into(),
            value: "green".into(),
        },
        |c| c.service = Some("web".into()),
    );
    c.prepare().await.expect("prepare");
    c.trigger().await.expect("trigger");
    let p = &e.server.requests_by("PATCH")[0];
    assert_eq!(p.path, "/api/v1/namespaces/shop/services/web");
    assert_eq!(p.content_type, "application/strategic-merge-patch+json");
    assert_eq!(p.body, r#"{"spec":{"selector":{"version":"green"}}}"#);
    let endpoints_controller = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        e.server.put(&scenario::slice(
            "web",
            "web-abcde",
            vec![scenario::endpoint(
                "10.0.2.1",
                "web-green-0",
                true,
                true,
                false,
            )],
        ));
    };
    let (_, done) = tokio::join!(endpoints_controller, c.wait_complete());
    assert!(
        done.expect("converges")
            .summary
            .contains("converged on version=green")
    );
    c.shutdown().await;
}

fn assert_error(err: ClusterError, code: u8, needles: &[&str]) {
    let text = err.to_string();
    assert_eq!(err.exit_code(), code, "{text}");
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in: {text}");
    }
}

#[tokio::test]
async fn no_reachable_cluster_exits_4_naming_the_call() {
    let dir = tempfile::tempdir().expect("tmp");
    let kc = dir.path().join("kubeconfig");
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    std::fs::write(&kc, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n")).expect("write");
    let cfg = KubeConfig {
        connect: ConnectOptions {
            kubeconfig: Some(kc),
            namespace: Some("shop".into()),
            ..Default::default()
        },
        ..KubeConfig::new(WorkloadRef::parse("deploy/web").expect("ref"))
    };
    let mut c = KubeCluster::new(cfg, TimelineRecorder::new(RunClock::start()));
    let err = c.prepare().await.expect_err("nothing listening");
    assert_error(
        err,
        4,
        &[
            "cannot reach the Kubernetes API server",
            "get deployments.apps/web in namespace shop",
        ],
    );
}

#[tokio::test]
async fn a_missing_kubeconfig_file_exits_4() {
    let cfg = KubeConfig {
        connect: ConnectOptions {
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            ..Default::default()
        },
        ..KubeConfig::new(WorkloadRef::parse("deploy/web").expect("ref"))
    };
    let mut c = KubeCluster::new(cfg, TimelineRecorder::new(RunClock::start()));
    assert_error(
        c.prepare().await.expect_err("no config"),
        4,
        &["cannot read kubeconfig /nonexistent/kubeconfig"],
    );
}

#[tokio::test]
async fn rbac_forbidden_exits_4_with_the_missing_rule() {
    let e = env(1).await;
    e.server.deny("list", "endpointslices");
    let mut c = e.cluster(Trigger::Restart, |_| {});
    assert_error(
        c.prepare().await.expect_err("forbidden"),
        4,
        &[
            "may not list endpointslices.discovery.k8s.io in namespace shop",
            "- apiGroups: [\"discovery.k8s.io\"]\n  resources: [\"endpointslices\"]\n  verbs: [\"list\"]",
        ],
    );
    let e = env(1).await;
    e.server.deny("patch", "deployments");
    let mut c = e.cluster(Trigger::Restart, |_| {});
    c.prepare().await.expect("prepare");
    assert_error(
        c.trigger().await.expect_err("forbidden"),
        4,
        &["may not patch deployments.apps/web", "verbs: [\"patch\"]"],
    );
    c.shutdown().await;
}

#[tokio::test]
async fn a_refused_watch_is_reported_as_the_missing_watch_permission() {
    let e = env(1).await;
    e.server.deny("watch", "pods");
    let mut c = e.cluster(Trigger::Restart, |_| {});
    assert_error(
        c.prepare().await.expect_err("forbidden"),
        4,
        &["may not watch pods in namespace shop", "verbs: [\"watch\"]"],
    );
    c.shutdown().await;
}

#[tokio::test]
async fn a_missing_workload_or_service_is_bad_input() {
    let e = env(1).await;
    let mut c = e.cluster(Trigger::Restart, |c| {
        c.workload = WorkloadRef::parse("deploy/wbe").expect("ref")
    });
    assert_error(
        c.prepare().await.expect_err("not found"),
        2,
        &["deployment/wbe not found in namespace shop"],
    );
    let mut c = e.cluster(Trigger::Restart, |c| c.service = Some("nope".into()));
    assert_error(
        c.prepare().await.expect_err("not found"),
        2,
        &["service/nope not found"],
    );
}

#[tokio::test]
async fn several_matching_services_are_listed_and_none_is_chosen() {
    let e = env(1).await;
    e.server
        .put(&scenario::service("web-internal", json!({"app": "web"})));
    let mut c = e.cluster(Trigger::Restart, |_| {});
    assert_error(
        c.prepare().await.expect_err("ambiguous"),
        2,
        &["several Services", "web, web-internal", "--service"],
    );
}

#[tokio::test]
async fn a_service_without_ready_endpoints_exits_4() {
    let e = env(1).await;
    e.server.put(&scenario::slice(
        "web",
        "web-abcde",
        vec![scenario::endpoint(
            "10.0.0.10",
            "web-old-0",
            false,
            false,
            false,
        )],
    ));
    let mut c = e.cluster(Trigger::Restart, |_| {});
    assert_error(
        c.prepare().await.expect_err("no endpoints"),
        4,
        &["Service web has no ready endpoints (1 listed)"],
    );
    c.shutdown().await;
}

#[tokio::test]
async fn a_paused_deployment_is_not_restarted() {
    let e = env(1).await;
    e.server.update("deployments", NS, "web", |d| {
        d["spec"]["paused"] = json!(true)
    });
    let mut c = e.cluster(Trigger::Restart, |_| {});
    assert_error(
        c.prepare().await.expect_err("paused"),
        2,
        &["can't restart paused deployment (run rollout resume first)"],
    );
    assert!(e.server.requests_by("PATCH").is_empty());
}

#[tokio::test]
async fn a_slow_api_is_waited_for_and_a_silent_one_exits_4() {
    let e = env(1).await;
    e.server.set_delay(Duration::from_millis(300));
    let mut c = e.cluster(Trigger::Restart, |_| {});
    c.prepare().await.expect("slow but answering");
    c.shutdown().await;
    e.server.set_delay(Duration::from_secs(3));
    let mut c = e.cluster(Trigger::Restart, |c| {
        c.request_timeout = Duration::from_millis(500)
    });
    assert_error(
        c.prepare().await.expect_err("too slow"),
        4,
        &["did not answer get deployments.apps/web"],
    );
}

#[tokio::test]
async fn the_services_cluster_address_is_offered_as_target_only_when_asked() {
    let e = env(1).await;
    // A --target was given: the load goes there, not to the Service's DNS name.
    let mut c = e.cluster(Trigger::Restart, |_| {});
    assert_eq!(c.prepare().await.expect("prepare").target, None);
    c.shutdown().await;
    // In a pod without --target: the Service's cluster DNS name and port.
    let mut c = e.cluster(Trigger::Restart, |c| c.service_target = true);
    assert_eq!(
        c.prepare().await.expect("prepare").target.as_deref(),
        Some("http://web.shop.svc:80")
    );
    c.shutdown().await;
}
