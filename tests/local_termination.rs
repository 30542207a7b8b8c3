//! Termination in the kubelet's order, observed on the timeline with real processes:
//! endpoint de-registration and preStop begin together, the stop signal follows preStop, and
//! SIGKILL comes at the grace deadline — counted from the start of termination, preStop
//! included, but never less than 2 s after preStop — for a process that ignores the signal.
//! Only lower bounds on time are asserted (the machine may be slow, never fast). Each rollout
//! runs through the real run flow, as `zerodrop local` runs it.

mod local_support;

use std::time::Duration;

use local_support::*;
use zerodrop::cluster::EventKind;
use zerodrop::cluster::local::PreStop;
use zerodrop::cluster::local::probe::{ProbeAction, ProbeSpec};
use zerodrop::model::clock::At;
use zerodrop::run::flow::Stop;

fn first(run: &FlowRun, pod: &str, kind: &str) -> At {
    run.timeline
        .first(pod, kind)
        .unwrap_or_else(|| panic!("{pod} has no {kind}:{}", run.events_text()))
        .at
}

fn old_pods(run: &FlowRun) -> Vec<String> {
    run.timeline
        .pods()
        .into_iter()
        .filter(|(_, r)| *r == zerodrop::cluster::Revision::Old)
        .map(|(p, _)| p)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_ignoring_the_stop_signal_is_killed_at_the_grace_deadline_after_prestop() {
    // SIG_IGN survives exec: the demo app (no handler of its own) ignores TERM.
    let exe = zerodrop_bin();
    let mut cfg = config(command(
        "sh",
        &[
            "-c",
            &format!("trap '' TERM; exec {exe} demo-app --shutdown immediate"),
        ],
    ));
    cfg.replicas = 1;
    cfg.readiness_probe = Some(ProbeSpec {
        period: Duration::from_millis(200),
        ..ProbeSpec::new(ProbeAction::Tcp)
    });
    cfg.propagation_delay = Duration::from_millis(500);
    cfg.termination.prestop = Some(PreStop::Sleep(Duration::from_millis(500)));
    // Shorter than preStop + 2 s: the kubelet's minimum after preStop decides the kill.
    cfg.termination.grace_period = Duration::from_secs(1);
    let traffic = Traffic {
        rate: 20.0,
        ..Traffic::default()
    };
    let run = rollout_through_flow(cfg, traffic).await;
    assert_eq!(run.stop, Stop::Completed, "{}", run.rollout.outcome);
    let pods = old_pods(&run);
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    let term = first(&run, pod, "pod_terminating");
    let signal = first(&run, pod, "stop_signal_sent");
    let killed = first(&run, pod, "killed_at_grace_deadline");
    let exited = first(&run, pod, "container_exited");
    let deregistered = run
        .timeline
        .pod_events(pod)
        .find(|e| {
            matches!(&e.kind, EventKind::EndpointChanged { conditions, .. } if conditions.terminating)
        })
        .map(|e| e.at)
        .expect("endpoint marked terminating");
    // preStop first, then the signal.
    assert!(
        signal.saturating_sub(term) >= Duration::from_millis(500),
        "{}",
        run.events_text()
    );
    // The kill comes no earlier than 2 s after preStop ended (grace 1 s was shorter).
    assert!(
        killed.saturating_sub(signal) >= Duration::from_secs(2),
        "{}",
        run.events_text()
    );
    assert!(killed <= exited);
    match &run
        .timeline
        .first(pod, "container_exited")
        .expect("exit")
        .kind
    {
        EventKind::ContainerExited { signal, .. } => assert_eq!(*signal, Some(9)),
        other => panic!("{other:?}"),
    }
    // De-registration started with termination and reached the proxy after the delay.
    assert!(deregistered.saturating_sub(term) >= Duration::from_millis(500));
    assert!(run.live_groups_after_shutdown.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_prestop_exec_is_recorded_and_termination_goes_on() {
    let mut cfg = config(demo_app(&["--shutdown", "graceful"]));
    cfg.replicas = 1;
    cfg.readiness_probe = Some(ProbeSpec {
        period: Duration::from_millis(200),
        ..ProbeSpec::new(ProbeAction::Http {
            path: "/readyz".into(),
        })
    });
    cfg.propagation_delay = Duration::from_millis(200);
    cfg.termination.prestop = Some(PreStop::Exec("echo draining $PORT; exit 7".into()));
    let traffic = Traffic {
        rate: 20.0,
        ..Traffic::default()
    };
    let run = rollout_through_flow(cfg, traffic).await;
    assert_eq!(run.stop, Stop::Completed, "{}", run.rollout.outcome);
    let pod = &old_pods(&run)[0];
    let note = run
        .timeline
        .pod_events(pod)
        .find_map(|e| match &e.kind {
            EventKind::Note { reason, message } if reason == "FailedPreStopHook" => {
                Some(message.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no FailedPreStopHook:{}", run.events_text()));
    assert!(note.contains("exit code 7"), "{note}");
    // The hook ran with the replica's port, and its output went to the replica's log.
    let logs = run.logs.get(pod).expect("logs");
    assert!(logs.iter().any(|l| l.starts_with("draining ")), "{logs:?}");
    // Graceful demo app: exits by itself on TERM with code 0.
    match &run
        .timeline
        .first(pod, "container_exited")
        .expect("exit")
        .kind
    {
        EventKind::ContainerExited { code, .. } => assert_eq!(*code, Some(0)),
        other => panic!("{other:?}"),
    }
}
