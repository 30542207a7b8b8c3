//! The run flow against an in-test `Cluster` and a real HTTP server on 127.0.0.1: phases in
//! order, the trigger between baseline and settle, and every exit code the flow can reach.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zerodrop::cluster::{
    Cluster, ClusterError, EndpointConditions, EventKind, Prepared, RolloutDone,
};
use zerodrop::config::{FlowPlan, Pattern, Plan, PlanKind};
use zerodrop::model::clock::RunClock;
use zerodrop::model::result::Command;
use zerodrop::run::flow::{Flow, Stop};
use zerodrop::run::interrupt::Interrupt;
use zerodrop::timeline::TimelineRecorder;

/// A server answering 200, or 503 while `failing` is set.
async fn server(failing: Arc<AtomicBool>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let failing = failing.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    have.extend_from_slice(&buf[..n]);
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        have.drain(..end + 4);
                        let status = if failing.load(Ordering::SeqCst) {
                            "503 Service Unavailable"
                        } else {
                            "200 OK"
                        };
                        let resp = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("http://{addr}/")
}

#[derive(Clone, Copy, PartialEq)]
enum Script {
    Clean,
    FailDuringRollout,
    RolloutNeverCompletes,
    RolloutFails,
    NotReady,
}

struct FakeCluster {
    timeline: TimelineRecorder,
    target: String,
    failing: Arc<AtomicBool>,
    script: Script,
    shut_down: bool,
}

impl Cluster for FakeCluster {
    async fn prepare(&mut self) -> Result<Prepared, ClusterError> {
        if self.script == Script::NotReady {
            return Err(ClusterError::RolloutFailed(
                "replica web-0 never became ready".into(),
            ));
        }
        let ready = EndpointConditions {
            ready: true,
            serving: true,
            terminating: false,
        };
        self.timeline.now(
            Some("web-0"),
            EventKind::EndpointAdded {
                address: "127.0.0.1:1".into(),
                conditions: ready,
            },
        );
        Ok(Prepared {
            target: Some(self.target.clone()),
            desired_replicas: 1,
            ready_endpoints: 1,
            description: "fake".into(),
        })
    }

    async fn trigger(&mut self) -> Result<(), ClusterError> {
        self.timeline.now(
            None,
            EventKind::Trigger {
                description: "restart".into(),
            },
        );
        if self.script == Script::FailDuringRollout {
            self.failing.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    async fn wait_complete(&mut self) -> Result<RolloutDone, ClusterError> {
        match self.script {
            Script::RolloutNeverCompletes => std::future::pending().await,
            Script::RolloutFails => Err(ClusterError::RolloutFailed(
                "ProgressDeadlineExceeded".into(),
            )),
            _ => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                self.failing.store(false, Ordering::SeqCst);
                self.timeline.now(None, EventKind::RolloutComplete);
                Ok(RolloutDone {
                    summary: "1 of 1 updated".into(),
                })
            }
        }
    }

    async fn shutdown(&mut self) {
        self.shut_down = true;
    }
}

async fn run_script(
    script: Script,
    interrupt_after: Option<Duration>,
) -> (zerodrop::result::RunResult, Stop, bool) {
    let failing = Arc::new(AtomicBool::new(false));
    let target = server(failing.clone()).await;
    let mut plan = Plan::new(
        PlanKind::Run,
        Pattern::Rate {
            rate: 200.0,
            duration_s: None,
        },
    );
    plan.flow = FlowPlan {
        baseline: Duration::from_millis(300),
        settle: Duration::from_millis(300),
        rollout_timeout: Duration::from_secs(1),
    };
    plan.output.quiet = true;
    let timeline = TimelineRecorder::new(RunClock::start());
    let mut cluster = FakeCluster {
        timeline: timeline.clone(),
        target,
        failing,
        script,
        shut_down: false,
    };
    let interrupt = Interrupt::never();
    if let Some(after) = interrupt_after {
        let i = interrupt.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            i.raise();
        });
    }
    let flow = Flow {
        analysis: Default::default(),
        plan: &plan,
        command: Command::Run,
        timeline,
        interrupt,
    };
    let (mut result, stop) = zerodrop::run::flow::run(&mut cluster, flow).await;
    zerodrop::gate::apply_stopped(&plan.thresholds, &mut result, stop.stopped().as_ref());
    (result, stop, cluster.shut_down)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_rollout_passes_with_three_phases_in_order() {
    let (r, stop, shut) = run_script(Script::Clean, None).await;
    assert_eq!(stop, Stop::Completed);
    assert!(shut, "the cluster is always shut down");
    let names: Vec<&str> = r.recorded.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["baseline", "rollout", "settle"]);
    assert!(
        r.recorded.phases.iter().all(|p| p.counts.ok() > 0),
        "every phase had load"
    );
    let trigger = r
        .timeline
        .events
        .iter()
        .find(|e| e.kind.name() == "trigger")
        .expect("trigger recorded")
        .at;
    assert!(
        trigger >= r.recorded.phases[1].start,
        "the rollout phase begins before the trigger"
    );
    assert_eq!(
        (r.verdict.passed, r.verdict.exit_code),
        (true, 0),
        "{:?}",
        r.verdict
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_during_the_rollout_fail_the_gate() {
    let (r, stop, _) = run_script(Script::FailDuringRollout, None).await;
    assert_eq!(stop, Stop::Completed);
    let rollout = r.recorded.phase("rollout").expect("rollout phase");
    assert!(rollout.counts.failed() > 0);
    assert_eq!(r.verdict.exit_code, 1, "{:?}", r.verdict);
    assert!(
        r.verdict.reasons[0].contains("failed during the rollout"),
        "{:?}",
        r.verdict
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_never_completes_times_out_with_exit_3() {
    let (r, stop, shut) = run_script(Script::RolloutNeverCompletes, None).await;
    assert!(
        matches!(stop, Stop::RolloutFailed(ref m) if m.contains("--rollout-timeout")),
        "{stop:?}"
    );
    assert!(shut);
    assert_eq!(r.verdict.exit_code, 3);
    assert!(
        r.rollout
            .as_ref()
            .is_some_and(|x| x.outcome.starts_with("failed"))
    );
    assert!(
        r.timeline
            .events
            .iter()
            .any(|e| e.kind.name() == "rollout_failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rollout_is_exit_3() {
    let (r, _, _) = run_script(Script::RolloutFails, None).await;
    assert_eq!(r.verdict.exit_code, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_that_never_gets_ready_stops_before_any_load() {
    let (r, stop, shut) = run_script(Script::NotReady, None).await;
    assert!(matches!(stop, Stop::RolloutFailed(_)));
    assert!(shut);
    assert_eq!(r.recorded.overall.counts.total(), 0);
    assert_eq!(r.verdict.exit_code, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_mid_rollout_keeps_the_partial_result_and_exits_130() {
    let (r, stop, shut) = run_script(
        Script::RolloutNeverCompletes,
        Some(Duration::from_millis(500)),
    )
    .await;
    assert_eq!(stop, Stop::Interrupted);
    assert!(shut);
    assert!(r.interrupted);
    assert!(
        r.recorded.overall.counts.ok() > 0,
        "what was recorded before the interrupt is kept"
    );
    assert_eq!(r.verdict.exit_code, 130);
    assert_eq!(
        r.rollout.as_ref().map(|x| x.outcome.as_str()),
        Some("interrupted")
    );
}
