//! The real `kubectl` against the fake API server: proves the fake speaks the wire format
//! kubectl expects, and that zerodrop's restart and set-image patches are byte for byte the
//! ones kubectl sends. Needs `kubectl` on PATH: under CI a missing kubectl fails these tests,
//! elsewhere they print a SKIP line (see `support::tool`).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::fake_apiserver::FakeApiServer;
use support::scenario::{NS, Web};
use support::tool::{KUBECTL, require_on_path};
use zerodrop::cluster::Cluster;
use zerodrop::cluster::kube::{ConnectOptions, KubeCluster, KubeConfig, Trigger, WorkloadRef};
use zerodrop::model::clock::RunClock;
use zerodrop::timeline::TimelineRecorder;

fn kubectl_binary() -> Option<PathBuf> {
    require_on_path(KUBECTL, &["kubectl"])
}

async fn kubectl(bin: &Path, kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("kubectl finishes")
        .expect("kubectl runs")
}

/// The restartedAt value differs by the second it was taken; compare with it masked.
fn mask_time(body: &str) -> String {
    match body.find("restartedAt\":\"") {
        Some(i) => {
            let start = i + "restartedAt\":\"".len();
            let end = body[start..].find('"').map_or(body.len(), |e| start + e);
            format!("{}<TIME>{}", &body[..start], &body[end..])
        }
        None => body.to_string(),
    }
}

async fn patch_from_zerodrop(trigger: Trigger) -> (String, String) {
    let server = FakeApiServer::start().await;
    Web::install(&server, 1);
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = KubeConfig {
        connect: ConnectOptions {
            kubeconfig: Some(server.write_kubeconfig(dir.path(), NS)),
            ..ConnectOptions::default()
        },
        trigger,
        ..KubeConfig::new(WorkloadRef::parse("deploy/web").expect("ref"))
    };
    let mut c = KubeCluster::new(cfg, TimelineRecorder::new(RunClock::start()));
    c.prepare().await.expect("prepare");
    c.trigger().await.expect("trigger");
    c.shutdown().await;
    let p = server.requests_by("PATCH").remove(0);
    (p.content_type, p.body)
}

async fn patch_from_kubectl(bin: &Path, args: &[&str]) -> (String, String) {
    let server = FakeApiServer::start().await;
    Web::install(&server, 1);
    let dir = tempfile::tempdir().expect("tmp");
    let kc = server.write_kubeconfig(dir.path(), NS);
    let out = kubectl(bin, &kc, args).await;
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = server.requests_by("PATCH").remove(0);
    (p.content_type, p.body)
}

#[tokio::test]
async fn restart_patch_is_the_one_kubectl_rollout_restart_sends() {
    let Some(bin) = kubectl_binary() else {
        return;
    };
    let ours = patch_from_zerodrop(Trigger::Restart).await;
    let theirs = patch_from_kubectl(&bin, &["rollout", "restart", "deploy/web"]).await;
    assert_eq!(ours.0, theirs.0);
    assert_eq!(mask_time(&ours.1), mask_time(&theirs.1));
}

#[tokio::test]
async fn image_patch_is_the_one_kubectl_set_image_sends() {
    let Some(bin) = kubectl_binary() else {
        return;
    };
    let ours = patch_from_zerodrop(Trigger::Image {
        container: "web".into(),
        image: "web:2".into(),
    })
    .await;
    let theirs = patch_from_kubectl(&bin, &["set", "image", "deploy/web", "web=web:2"]).await;
    assert_eq!(ours, theirs);
}

#[tokio::test]
async fn kubectl_lists_and_watches_the_fakes_pods() {
    let Some(bin) = kubectl_binary() else {
        return;
    };
    let server = FakeApiServer::start().await;
    Web::install(&server, 2);
    let dir = tempfile::tempdir().expect("tmp");
    let kc = server.write_kubeconfig(dir.path(), NS);
    let out = kubectl(&bin, &kc, &["get", "pods", "-o", "name"]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pod/web-old-0\npod/web-old-1\n"
    );
    // A watch with kubectl: it must decode the fake's WatchEvents (it exits at the timeout).
    let watch = kubectl(
        &bin,
        &kc,
        &["get", "pods", "-w", "-o", "name", "--request-timeout=3s"],
    );
    let change = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        server.remove("pods", NS, "web-old-1");
    };
    let (out, _) = tokio::join!(watch, change);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.matches("pod/web-old-1").count() >= 2,
        "listed then watched: {text}"
    );
}
