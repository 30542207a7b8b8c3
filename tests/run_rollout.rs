//! The real `zerodrop run` binary against the fake API server, with the load aimed at a small
//! HTTP service on 127.0.0.1: a scripted rolling update is triggered with kubectl's exact patch,
//! completed at the right event and recorded in order; a service failing mid-rollout fails the
//! gate (exit 1); a rollout that never completes exits 3; a cut watch loses and repeats nothing
//! and leaves its gap in the saved JSON.

mod support;

use std::time::Duration;

use support::fake_apiserver::FakeApiServer;
use support::run::{TestService, Zerodrop, result, run_args};
use support::scenario::{self, NS, Web, roll};
use zerodrop::cluster::{EventKind, LifecycleEvent};
use zerodrop::result::RunResult;

/// The lifecycle kinds a rolling update script produces.
const SCRIPTED: [&str; 11] = [
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
    "workload_status",
];

struct Env {
    server: FakeApiServer,
    web: Web,
    service: TestService,
    dir: tempfile::TempDir,
}

impl Env {
    async fn new(replicas: usize) -> Env {
        let server = FakeApiServer::start().await;
        let web = Web::install(&server, replicas);
        Env {
            server,
            web,
            service: TestService::start().await,
            dir: tempfile::tempdir().expect("tmp"),
        }
    }

    fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("result.json")
    }

    fn spawn(&self, extra: &[&str]) -> Zerodrop {
        let kc = self.server.write_kubeconfig(self.dir.path(), NS);
        Zerodrop::spawn(&run_args(&kc, &self.service.url(), &self.out(), extra))
    }

    /// Waits (bounded) for the trigger's PATCH to arrive and be applied (the Deployment's
    /// generation moves), so the scripted controller acts on the patched object.
    async fn triggered(&self) -> support::fake_apiserver::Recorded {
        let patch = self
            .server
            .wait_for_request(Duration::from_secs(60), |r| r.method == "PATCH")
            .await;
        for _ in 0..2000 {
            let d = self.server.get("deployments", NS, "web").expect("deploy");
            if d["metadata"]["generation"].as_i64() > Some(1) {
                return patch;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the trigger's patch was never applied");
    }
}

/// Scripted events after the trigger, as (pod, kind), in timeline order.
fn scripted_after_trigger(r: &RunResult) -> Vec<(Option<String>, &'static str)> {
    let events = &r.timeline.events;
    let from = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::Trigger { .. }))
        .expect("a trigger event");
    events[from..]
        .iter()
        .filter(|e| SCRIPTED.contains(&e.kind.name()))
        .map(|e| (e.pod.clone(), e.kind.name()))
        .collect()
}

fn position(r: &RunResult, pred: impl Fn(&LifecycleEvent) -> bool) -> usize {
    r.timeline
        .events
        .iter()
        .position(pred)
        .expect("event present")
}

fn count(r: &RunResult, kind: &str) -> usize {
    r.timeline
        .events
        .iter()
        .filter(|e| e.kind.name() == kind)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_rollout_sends_kubectls_restart_patch_records_every_event_in_order_and_exits_0() {
    let env = Env::new(2).await;
    let z = env.spawn(&[]);
    let patch = env.triggered().await;
    // Exactly what `kubectl rollout restart deploy/web` sends.
    assert_eq!(patch.path, "/apis/apps/v1/namespaces/shop/deployments/web");
    assert_eq!(patch.content_type, "application/strategic-merge-patch+json");
    let prefix =
        r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":""#;
    assert!(
        patch.body.starts_with(prefix) && patch.body.ends_with(r#""}}}}}"#),
        "{}",
        patch.body
    );
    let stamp = &patch.body[prefix.len()..patch.body.len() - 6];
    assert!(
        stamp.parse::<jiff::Timestamp>().is_ok(),
        "RFC 3339: {stamp}"
    );
    assert_eq!(env.server.requests_by("PATCH").len(), 1);

    let script = roll(&env.server, &env.web, &z.seen(), &[], false, &|_| None).await;
    let done = z.finish().await;
    assert_eq!(
        done.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );
    assert!(done.stdout.starts_with("PASS"), "{}", done.stdout);

    let r = result(&env.out());
    assert_eq!(r.verdict.exit_code, 0);
    assert!(r.recorded.overall.counts.sent() > 0);
    assert_eq!(r.recorded.overall.counts.failed(), 0);
    // Every scripted lifecycle event is in the saved timeline once, in the scripted order.
    assert_eq!(scripted_after_trigger(&r), script);
    // The trigger instant is the Trigger event, which says what was done.
    let trigger = &r.timeline.events[position(&r, |e| matches!(e.kind, EventKind::Trigger { .. }))];
    let rollout = r.rollout.as_ref().expect("rollout info");
    assert_eq!(rollout.triggered_at, Some(trigger.at));
    assert_eq!(
        trigger.kind,
        EventKind::Trigger {
            description: "restart (kubectl rollout restart)".into()
        }
    );
    // Completion: after kubectl's "successfully rolled out" *and* after the last old pod was
    // deleted; the settle phase begins there.
    let complete = position(&r, |e| e.kind == EventKind::RolloutComplete);
    let status_done = position(
        &r,
        |e| matches!(&e.kind, EventKind::Note { reason, .. } if reason == "RolloutStatusComplete"),
    );
    let last_gone = position(&r, |e| {
        e.pod.as_deref() == Some("web-old-1") && e.kind == EventKind::PodDeleted
    });
    assert!(status_done < complete && last_gone < complete);
    assert_eq!(count(&r, "rollout_complete"), 1);
    assert_eq!(
        rollout
            .completed_at
            .map(|c| c >= r.timeline.events[complete].at),
        Some(true)
    );
    assert!(
        rollout.outcome.starts_with("complete"),
        "{}",
        rollout.outcome
    );
    let phases: Vec<&str> = r.recorded.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(phases, ["baseline", "rollout", "settle"]);
    assert!(r.timeline.gaps().next().is_none(), "no watch was down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_failing_during_the_rollout_fail_the_gate_with_exit_1() {
    let env = Env::new(2).await;
    let z = env.spawn(&[]);
    env.triggered().await;
    // The service answers 503 for a moment as the rollout begins.
    env.service.fail_for(3).await;
    roll(&env.server, &env.web, &z.seen(), &[], false, &|_| None).await;
    let done = z.finish().await;
    assert_eq!(
        done.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );
    assert!(done.stdout.starts_with("FAIL"), "{}", done.stdout);
    let r = result(&env.out());
    assert_eq!(r.verdict.exit_code, 1);
    let failed = r.recorded.overall.counts.failed();
    assert!(failed >= 3, "{failed}");
    assert_eq!(r.recorded.overall.statuses.get(&503).copied(), Some(failed));
    assert!(
        r.verdict.reasons[0].contains("requests failed during the rollout"),
        "{:?}",
        r.verdict.reasons
    );
    // The rollout itself went fine: it is the requests that failed.
    assert!(r.rollout.expect("rollout").outcome.starts_with("complete"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_never_completes_exits_3_saying_what_it_waited_for() {
    let env = Env::new(2).await;
    let z = env.spawn(&["--rollout-timeout", "2s"]);
    env.triggered().await;
    // The controller sees the change and creates nothing.
    scenario::deploy_status(&env.server, 2, 0, 2);
    let done = z.finish().await;
    assert_eq!(
        done.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );
    assert!(
        done.stderr
            .contains("0 out of 2 new replicas have been updated"),
        "{}",
        done.stderr
    );
    let r = result(&env.out());
    assert_eq!(r.verdict.exit_code, 3);
    assert_eq!(count(&r, "rollout_failed"), 1, "recorded once");
    assert_eq!(count(&r, "rollout_complete"), 0);
    let rollout = r.rollout.expect("rollout");
    assert!(
        rollout
            .outcome
            .starts_with("failed: the rollout did not complete within --rollout-timeout 2 s"),
        "{}",
        rollout.outcome
    );
    assert_eq!(rollout.undo, None, "undo was not asked for");
    assert_eq!(env.server.requests_by("PATCH").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_deadline_exceeded_exits_3_and_undo_on_failure_restores_the_previous_revision() {
    let env = Env::new(2).await;
    let deploy = env.server.get("deployments", NS, "web").expect("deploy");
    env.server
        .put(&scenario::replica_set(&deploy, "web-1111", "1", "web:1"));
    let z = env.spawn(&["--trigger", "image web=web:2", "--undo-on-failure"]);
    let set_image = env.triggered().await;
    assert!(
        set_image.body.contains(r#""image":"web:2""#),
        "{}",
        set_image.body
    );
    env.server
        .put(&scenario::replica_set(&deploy, "web-2222", "2", "web:2"));
    env.server.update("deployments", NS, "web", |d| {
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = serde_json::json!("2");
        d["status"]["observedGeneration"] = d["metadata"]["generation"].clone();
        d["status"]["conditions"] = serde_json::json!([{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded"}]);
    });
    let done = z.finish().await;
    assert_eq!(
        done.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );
    assert!(
        done.stderr.contains("exceeded its progress deadline"),
        "{}",
        done.stderr
    );
    assert!(
        done.stdout
            .contains("undo on failure: rolled back to revision 1"),
        "{}",
        done.stdout
    );
    let patches = env.server.requests_by("PATCH");
    assert_eq!(patches.len(), 2, "set image, then undo");
    assert_eq!(patches[1].content_type, "application/json-patch+json");
    let now = env.server.get("deployments", NS, "web").expect("deploy");
    assert_eq!(
        now["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:1"
    );
    let r = result(&env.out());
    assert_eq!(
        r.rollout.expect("rollout").undo.as_deref(),
        Some("rolled back to revision 1")
    );
    assert!(r.timeline.events.iter().any(|e| matches!(&e.kind,
        EventKind::Note { reason, .. } if reason == "RolledBack")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_cut_mid_rollout_loses_and_repeats_nothing_and_the_saved_json_records_the_gap() {
    let env = Env::new(3).await;
    let z = env.spawn(&[]);
    env.triggered().await;
    let server = &env.server;
    let cut = |i: usize| {
        // The streams drop and the API server refuses watches for a while: the watches fail,
        // back off, then resume from their last resourceVersion.
        if i == 1 {
            server.fail_watches_for(Duration::from_millis(1500));
            server.cut_watches();
        }
        None
    };
    let script = roll(&env.server, &env.web, &z.seen(), &[1], false, &cut).await;
    let done = z.finish().await;
    assert_eq!(
        done.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );
    let r = result(&env.out());
    let mut got = scripted_after_trigger(&r);
    let mut want = script;
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "every change arrives exactly once after the resume"
    );
    let gaps: Vec<_> = r.timeline.gaps().collect();
    assert!(
        gaps.iter()
            .any(|(res, from, to)| *res == "pods" && from < to),
        "{gaps:?}"
    );
    assert!(count(&r, "watch_gap") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_trigger_runs_the_command_and_keeps_its_output_and_exit_code() {
    let env = Env::new(1).await;
    // The command rolls the Deployment the way a deploy step would: with the same restart
    // patch, sent by a script through the fake API server's own HTTP interface.
    let url = format!(
        "http://{}/apis/apps/v1/namespaces/shop/deployments/web",
        env.server.addr
    );
    let script = format!(
        "echo upgrading web; curl -sf -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' \
         --data '{{\"spec\":{{\"template\":{{\"metadata\":{{\"annotations\":{{\"deployed\":\"2\"}}}}}}}}}}' {url} >/dev/null \
         && echo 'Release \"web\" has been upgraded.'"
    );
    let z = env.spawn(&["--trigger", "exec", "--", "sh", "-c", &script]);
    env.triggered().await;
    roll(&env.server, &env.web, &z.seen(), &[], false, &|_| None).await;
    let done = z.finish().await;
    assert_eq!(
        done.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );
    assert!(
        done.stdout.contains("trigger command `sh -c")
            && done.stdout.contains("exited with code 0"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("| Release \"web\" has been upgraded."),
        "{}",
        done.stdout
    );
    let r = result(&env.out());
    let cmd = r.rollout.expect("rollout").command.expect("command kept");
    assert_eq!(cmd.argv[..2], ["sh".to_string(), "-c".to_string()]);
    assert_eq!(cmd.exit_code, Some(0));
    assert_eq!(
        cmd.output,
        "upgrading web\nRelease \"web\" has been upgraded.\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_exec_trigger_exits_3_with_its_output_in_the_report() {
    let env = Env::new(1).await;
    let z = env.spawn(&[
        "--trigger",
        "exec",
        "--",
        "sh",
        "-c",
        "echo 'Error: UPGRADE FAILED: timed out' >&2; exit 1",
    ]);
    let done = z.finish().await;
    assert_eq!(
        done.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );
    assert!(
        done.stderr
            .contains("exit code 1: Error: UPGRADE FAILED: timed out"),
        "{}",
        done.stderr
    );
    assert!(
        done.stdout.contains("exited with code 1"),
        "{}",
        done.stdout
    );
    let r = result(&env.out());
    let cmd = r.rollout.expect("rollout").command.expect("command kept");
    assert_eq!(cmd.exit_code, Some(1));
    assert_eq!(cmd.output, "Error: UPGRADE FAILED: timed out\n");
    assert!(env.server.requests_by("PATCH").is_empty());
}
