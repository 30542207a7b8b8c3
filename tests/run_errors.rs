//! The errors users hit with `zerodrop run`, through the real binary: each gives one clear
//! message and the exit code of the CI contract — bad flags (all at once) and unknown objects
//! 2, an unreachable API server, a missing permission, a Service without endpoints or an
//! unhealthy baseline 4 — and an interrupt mid-rollout ends with 130 and a partial report.

mod support;

use std::time::Duration;

use support::fake_apiserver::FakeApiServer;
use support::run::{Finished, TestService, Zerodrop, result, run_args};
use support::scenario::{self, NS, Web};

struct Env {
    server: FakeApiServer,
    service: TestService,
    dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Env {
        let server = FakeApiServer::start().await;
        Web::install(&server, 2);
        Env {
            server,
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

    async fn run(&self, extra: &[&str]) -> Finished {
        self.spawn(extra).finish().await
    }
}

fn assert_exit(done: &Finished, code: i32, needles: &[&str]) {
    assert_eq!(
        done.code, code,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );
    for n in needles {
        assert!(
            done.stderr.contains(n),
            "missing {n:?} in stderr:\n{}",
            done.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_are_all_reported_at_once_with_exit_2_before_anything_runs() {
    let z = Zerodrop::spawn(
        &[
            "run",
            "pod/web",
            "--trigger",
            "reboot",
            "--rate",
            "0",
            "--interval",
            "soon",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ]
        .map(String::from),
    );
    let done = z.finish().await;
    assert_exit(
        &done,
        2,
        &[
            "invalid input (5 problems)",
            "--rate: ",
            "WORKLOAD: unsupported workload kind 'pod'",
            "--trigger: unknown trigger 'reboot'",
            "--interval: ",
            "--target: required when zerodrop runs outside the cluster",
        ],
    );
    assert!(done.stdout.is_empty(), "{}", done.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_after_dashes_needs_the_exec_trigger() {
    let env = Env::new().await;
    let done = env.run(&["--", "helm", "upgrade"]).await;
    assert_exit(
        &done,
        2,
        &["-- CMD: a command after -- is only run by --trigger exec"],
    );
    assert!(env.server.requests().is_empty(), "nothing was called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_workload_is_bad_input_with_exit_2() {
    let env = Env::new().await;
    let kc = env.server.write_kubeconfig(env.dir.path(), NS);
    let mut args = run_args(&kc, &env.service.url(), &env.out(), &[]);
    args[1] = "deploy/wbe".into();
    let done = Zerodrop::spawn(&args).finish().await;
    assert_exit(&done, 2, &["deployment/wbe not found in namespace shop"]);
    assert!(env.server.requests_by("PATCH").is_empty());
    // Nothing ran, so there is nothing to summarise; the error is the message.
    assert!(done.stdout.is_empty(), "{}", done.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_server_exits_4_naming_the_call() {
    let env = Env::new().await;
    let kc = env.server.write_kubeconfig(env.dir.path(), NS);
    let out = env.out();
    let (service, dir) = (env.service, env.dir);
    // Nothing listens at the kubeconfig's address any more.
    drop(env.server);
    let done = Zerodrop::spawn(&run_args(&kc, &service.url(), &out, &[]))
        .finish()
        .await;
    let _keep = dir;
    assert_exit(
        &done,
        4,
        &[
            "cannot reach the Kubernetes API server",
            "get deployments.apps/web in namespace shop",
        ],
    );
    let r = result(&out);
    assert_eq!(r.verdict.exit_code, 4);
    assert_eq!(r.rollout.expect("rollout").outcome, "not started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_exits_4_and_prints_the_role_rule_that_grants_it() {
    let env = Env::new().await;
    env.server.deny("watch", "pods");
    let done = env.run(&[]).await;
    assert_exit(
        &done,
        4,
        &[
            "forbidden: zerodrop may not watch pods in namespace shop",
            "Grant it with this Role rule:\n- apiGroups: [\"\"]\n  resources: [\"pods\"]\n  verbs: [\"watch\"]",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_ready_endpoints_exits_4() {
    let env = Env::new().await;
    env.server.put(&scenario::slice(
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
    let done = env.run(&[]).await;
    assert_exit(&done, 4, &["Service web has no ready endpoints (1 listed)"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_baseline_exits_4_and_rolls_nothing() {
    let env = Env::new().await;
    env.service.set_failing(true);
    let done = env.run(&[]).await;
    assert_exit(&done, 4, &["the baseline was not healthy"]);
    assert!(
        env.server.requests_by("PATCH").is_empty(),
        "nothing was rolled"
    );
    let r = result(&env.out());
    assert_eq!(r.verdict.exit_code, 4);
    assert!(r.recorded.overall.counts.failed() > 0);
    assert!(!r.timeline.events.iter().any(|e| e.kind.name() == "trigger"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_mid_rollout_exits_130_with_a_partial_report_and_rolls_nothing_back() {
    let env = Env::new().await;
    let z = env.spawn(&["--undo-on-failure", "--rollout-timeout", "10m"]);
    env.server
        .wait_for_request(Duration::from_secs(60), |r| r.method == "PATCH")
        .await;
    z.interrupt();
    let done = z.finish().await;
    assert_eq!(done.code, 130, "stderr:\n{}", done.stderr);
    let r = result(&env.out());
    assert!(r.interrupted);
    assert_eq!(r.verdict.exit_code, 130);
    let rollout = r.rollout.expect("rollout");
    assert!(
        !rollout.outcome.starts_with("complete"),
        "{}",
        rollout.outcome
    );
    // Undo is for a failed rollout, not for one the user stopped watching.
    assert_eq!(rollout.undo, None);
    assert_eq!(env.server.requests_by("PATCH").len(), 1);
}
