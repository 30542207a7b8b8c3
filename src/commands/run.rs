//! `zerodrop run`: roll a Kubernetes workload under load through the shared run flow.
//!
//! Has `config` validate the plan, the Kubernetes flags and the workload argument in one pass
//! (every problem at once, exit 2), then runs the flow against a [`KubeCluster`], adds what only
//! the Kubernetes side knows to the result (the trigger command's output, what undo did),
//! prints the summary, writes the outputs and returns the exit code. It owns no rollout logic.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cli::RunArgs;
use crate::cluster::LifecycleEvent;
use crate::cluster::kube::{KubeCluster, KubeConfig};
use crate::cluster::{EventKind, kube::CommandOutcome};
use crate::commands::output::{print_summary, write_outputs};
use crate::commands::{error, with_runtime};
use crate::config::{Plan, PlanError, Worker, in_cluster};
use crate::model::clock::RunClock;
use crate::model::exit;
use crate::model::result::{RolloutInfo, TriggerCommand};
use crate::report::redact::Redactor;
use crate::result::RunResult;
use crate::run::flow::{Flow, Stop};
use crate::run::interrupt::Interrupt;
use crate::timeline::TimelineRecorder;

/// Validates `zerodrop run`'s flags into a plan, the Kubernetes runtime's configuration and the
/// worker settings (this generator's share when several split the load).
pub fn build(args: &RunArgs) -> Result<(Plan, KubeConfig, Worker), PlanError> {
    build_in(args, in_cluster())
}

/// [`build`] as if running inside the cluster (`in_cluster`) or not: `zerodrop manifest`
/// validates flags here that will run in a pod.
pub fn build_in(args: &RunArgs, in_cluster: bool) -> Result<(Plan, KubeConfig, Worker), PlanError> {
    crate::config::run(&super::flags::run_input(args), in_cluster)
}

pub fn run(args: RunArgs) -> u8 {
    let (plan, config, worker) = match build(&args) {
        Ok(x) => x,
        Err(e) => {
            error(e);
            return exit::BAD_INPUT;
        }
    };
    with_runtime(|rt| {
        let show_events = args.kube.events;
        let connect = config.connect.clone();
        let request_timeout = config.request_timeout;
        let code = rt.block_on(async {
            let interrupt = Interrupt::install();
            let (result, stop) = run_kube(&plan, config, interrupt, show_events).await;
            let redactor = plan.redactor();
            // A run that never sent a request (the workload could not be found or reached) has
            // nothing to summarise: the error says it all.
            if result.recorded.overall.counts.total() > 0 {
                print_summary(&result, &redactor);
            }
            if let Some(r) = &result.rollout {
                print!("{}", redactor.text(&rollout_summary(r)));
            }
            if let Stop::BadInput(m) | Stop::RolloutFailed(m) | Stop::CouldNotRun(m) = &stop {
                error(redactor.text(m));
            }
            for p in write_outputs(&plan, &result) {
                error(p);
            }
            for p in crate::distributed::worker::publish(
                &worker,
                &result,
                &redactor,
                &connect,
                request_timeout,
            )
            .await
            {
                error(p);
            }
            result.verdict.exit_code
        });
        // Watches and their retries belong to the run that just ended; none may hold the exit.
        rt.shutdown_timeout(Duration::from_secs(1));
        code
    })
}

/// One run against the cluster through the shared flow, with the verdict filled in.
pub async fn run_kube(
    plan: &Plan,
    config: KubeConfig,
    interrupt: Interrupt,
    show_events: bool,
) -> (RunResult, Stop) {
    let clock = RunClock::start();
    let timeline = TimelineRecorder::new(clock);
    let printer = show_events.then(|| EventPrinter::start(timeline.clone(), plan.redactor()));
    let (mut cluster, analysis) = preflight(plan, config, &timeline).await;
    let flow = Flow {
        plan,
        command: crate::model::result::Command::Run,
        timeline,
        interrupt,
        analysis,
    };
    let (mut result, stop) = crate::run::flow::run(&mut cluster, flow).await;
    if let Some(p) = printer {
        p.finish().await;
    }
    if let Some(r) = result.rollout.as_mut() {
        r.command = cluster.command_outcome().map(trigger_command);
        r.undo = cluster.undo_outcome().map(str::to_string);
    }
    crate::gate::apply_stopped(&plan.thresholds, &mut result, stop.stopped().as_ref());
    (result, stop)
}

/// Before anything runs: connects, lints the live workload read-only and prints what it
/// risks, so the static risk can be set beside the measured result; the analysis gets the
/// workload's preStop, grace period and strategy. Any failure here is left to `prepare`,
/// which reports it in its own words.
async fn preflight(
    plan: &Plan,
    config: KubeConfig,
    timeline: &TimelineRecorder,
) -> (KubeCluster, crate::analysis::AnalysisInput) {
    let mut analysis = crate::analysis::AnalysisInput::default();
    let Ok(conn) = crate::cluster::kube::connect::connect(&config.connect).await else {
        return (KubeCluster::new(config, timeline.clone()), analysis);
    };
    match super::lint::lint_workload(&conn, &config.workload).await {
        Ok(lint) => {
            if !plan.output.quiet {
                for line in crate::lint::summary_lines(&lint.findings) {
                    eprintln!("zerodrop: lint: {line}");
                }
            }
            analysis.workload = lint.workload.unwrap_or_default();
        }
        Err(e) if !plan.output.quiet => eprintln!("zerodrop: lint skipped: {e}"),
        Err(_) => {}
    }
    (
        KubeCluster::with_connection(config, conn, timeline.clone()),
        analysis,
    )
}

fn trigger_command(o: &CommandOutcome) -> TriggerCommand {
    TriggerCommand {
        argv: o.argv.clone(),
        exit_code: o.code,
        timed_out: o.timed_out,
        output: o.output.clone(),
    }
}

/// The Kubernetes side of the summary: the trigger command and what undo did.
pub fn rollout_summary(r: &RolloutInfo) -> String {
    let mut out = String::new();
    if let Some(c) = &r.command {
        let ended = match (c.exit_code, c.timed_out) {
            (_, true) => "was stopped at --rollout-timeout".to_string(),
            (Some(code), _) => format!("exited with code {code}"),
            (None, _) => "was ended by a signal".to_string(),
        };
        let _ = writeln!(out, "  trigger command `{}` {ended}", c.argv.join(" "));
        let lines: Vec<&str> = c.output.lines().collect();
        // The last lines are where helm and kubectl say what went wrong.
        const SHOWN: usize = 10;
        if lines.len() > SHOWN {
            let _ = writeln!(
                out,
                "    … {} earlier lines in the JSON report",
                lines.len() - SHOWN
            );
        }
        for l in lines.iter().skip(lines.len().saturating_sub(SHOWN)) {
            let _ = writeln!(out, "    | {l}");
        }
    }
    if let Some(u) = &r.undo {
        let _ = writeln!(out, "  undo on failure: {u}");
    }
    out
}

/// One lifecycle event as a plain line: `event +3.214s pod_ready web-new-0`.
pub fn event_line(e: &LifecycleEvent) -> String {
    let detail = match &e.kind {
        EventKind::Trigger { description } => format!(" {description}"),
        EventKind::RolloutFailed { reason } => format!(" {reason}"),
        EventKind::Note { reason, message } => {
            format!(" {reason}: {}", message.lines().next().unwrap_or(""))
        }
        kind => match kind.endpoint() {
            Some((address, Some(c))) => format!(
                " {address} ready={} serving={} terminating={}",
                c.ready, c.serving, c.terminating
            ),
            Some((address, None)) => format!(" {address}"),
            None => String::new(),
        },
    };
    format!(
        "event +{:.3}s {} {}{detail}",
        e.at.as_secs_f64(),
        e.kind.name(),
        e.pod.as_deref().unwrap_or("-"),
    )
}

/// `--events`: prints each event as it is recorded, in the order recorded.
struct EventPrinter {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl EventPrinter {
    fn start(timeline: TimelineRecorder, redactor: Redactor) -> EventPrinter {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut printed = 0;
            loop {
                let done = tokio::select! {
                    _ = &mut stopped => true,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => false,
                };
                let events = timeline.events();
                for e in events.iter().skip(printed) {
                    eprintln!("zerodrop: {}", redactor.text(&event_line(e)));
                }
                printed = events.len();
                if done {
                    break;
                }
            }
        });
        EventPrinter { stop, task }
    }

    /// Prints what is left and stops.
    async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::At;

    #[test]
    fn the_summary_shows_the_trigger_commands_exit_code_and_last_lines() {
        let r = RolloutInfo {
            command: Some(TriggerCommand {
                argv: vec!["helm".into(), "upgrade".into(), "web".into()],
                exit_code: Some(1),
                timed_out: false,
                output: (1..=12).map(|i| format!("line {i}\n")).collect(),
            }),
            undo: Some("rolled back to revision 4".into()),
            ..RolloutInfo::default()
        };
        let s = rollout_summary(&r);
        assert!(
            s.contains("trigger command `helm upgrade web` exited with code 1"),
            "{s}"
        );
        assert!(
            s.contains("2 earlier lines") && s.contains("| line 12"),
            "{s}"
        );
        assert!(!s.contains("| line 2\n"), "{s}");
        assert!(
            s.contains("undo on failure: rolled back to revision 4"),
            "{s}"
        );
        assert_eq!(rollout_summary(&RolloutInfo::default()), "");
    }

    #[test]
    fn an_event_line_names_the_instant_kind_and_pod() {
        let e = LifecycleEvent::pod(At::from_secs_f64(3.2141), "web-new-0", EventKind::PodReady);
        assert_eq!(event_line(&e), "event +3.214s pod_ready web-new-0");
        let t = LifecycleEvent {
            at: At::from_secs_f64(1.0),
            source_time: None,
            pod: None,
            kind: EventKind::Trigger {
                description: "restart (kubectl rollout restart)".into(),
            },
        };
        assert_eq!(
            event_line(&t),
            "event +1.000s trigger - restart (kubectl rollout restart)"
        );
    }
}
