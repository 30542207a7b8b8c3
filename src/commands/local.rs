//! `zerodrop local`: the user's own server, run as replicas behind the local Service proxy and
//! rolled under load through the shared run flow. Has `config` validate the plan and the
//! runtime's flags in one pass (every problem at once, exit 2), then runs, reports, and returns
//! the exit code.

use crate::cli::LocalArgs;
use crate::cluster::ClusterError;
use crate::cluster::local::{LocalCluster, LocalConfig};
use crate::commands::output::{print_summary, write_outputs};
use crate::commands::{error, with_runtime};
use crate::config::{Plan, PlanError};
use crate::model::clock::RunClock;
use crate::model::exit;
use crate::model::result::Command;
use crate::result::RunResult;
use crate::run::flow::{Flow, Stop};
use crate::run::interrupt::Interrupt;
use crate::timeline::TimelineRecorder;

/// Validates `zerodrop local`'s flags into a plan and the runtime's configuration.
pub fn build(args: &LocalArgs) -> Result<(Plan, LocalConfig), PlanError> {
    crate::config::local(&super::flags::local_input(args))
}

pub fn run(args: LocalArgs) -> u8 {
    let (plan, config) = match build(&args) {
        Ok(x) => x,
        Err(e) => {
            error(e);
            return exit::BAD_INPUT;
        }
    };
    with_runtime(|rt| {
        let code = rt.block_on(async {
            let interrupt = Interrupt::install();
            let (result, stop) = match run_local(&plan, config, interrupt).await {
                Ok(x) => x,
                Err(e) => {
                    error(&e);
                    return e.exit_code();
                }
            };
            let redactor = plan.redactor();
            // A run that never sent a request (a command that does not exist, a replica that
            // never became ready) has nothing to summarise: the error says it all.
            if result.recorded.overall.counts.total() > 0 {
                print_summary(&result, &redactor);
            }
            if let Stop::BadInput(m) | Stop::RolloutFailed(m) | Stop::CouldNotRun(m) = &stop {
                error(redactor.text(m));
            }
            for p in write_outputs(&plan, &result) {
                error(p);
            }
            result.verdict.exit_code
        });
        // Replica processes are gone by now (shutdown, or the runtime's Drop); leave the
        // runtime's remaining tasks (log capture) no chance to hold the exit.
        rt.shutdown_background();
        code
    })
}

/// One local run through the shared flow, with the verdict filled in. `Err` only for a
/// configuration the runtime rejects before starting anything.
pub async fn run_local(
    plan: &Plan,
    config: LocalConfig,
    interrupt: Interrupt,
) -> Result<(RunResult, Stop), ClusterError> {
    let clock = RunClock::start();
    let timeline = TimelineRecorder::new(clock);
    let analysis = analysis_input(&config);
    let mut cluster = LocalCluster::new(config, timeline.clone())?;
    let flow = Flow {
        plan,
        command: Command::Local,
        timeline,
        interrupt,
        analysis,
    };
    let (mut result, stop) = crate::run::flow::run(&mut cluster, flow).await;
    crate::gate::apply_stopped(&plan.thresholds, &mut result, stop.stopped().as_ref());
    Ok((result, stop))
}

/// What the analysis should know of a local run: the runtime's own settings, and how its
/// events were timed. The runtime records its own actions as they happen (no event delay); its
/// endpoint events mark the proxy's switch, or — with `--proxy opaque` — the decision, one
/// propagation delay ahead of the switch. An opaque run's analysis then sets all of this aside
/// for a cluster's assumptions and keeps it only to score itself (`analysis::check`).
fn analysis_input(c: &LocalConfig) -> crate::analysis::AnalysisInput {
    use crate::cluster::local::ProxyEvidence;
    use crate::cluster::local::config::PreStop;
    let opaque = c.proxy == ProxyEvidence::Opaque;
    crate::analysis::AnalysisInput {
        unobserved_lag: std::time::Duration::ZERO,
        event_delay: std::time::Duration::ZERO,
        opaque,
        workload: crate::analysis::WorkloadConfig {
            prestop: match &c.termination.prestop {
                Some(PreStop::Sleep(d)) => Some(*d),
                // A command's duration is not known in advance.
                Some(PreStop::Exec(_)) => None,
                None => Some(std::time::Duration::ZERO),
            },
            grace_period: Some(c.termination.grace_period),
            propagation_delay: opaque.then_some(c.propagation_delay),
            max_surge: Some(c.max_surge.resolve(c.replicas, true)),
            max_unavailable: Some(c.max_unavailable.resolve(c.replicas, false)),
            readiness_probe: Some(c.readiness_probe.is_some()),
            target: None,
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cli::LocalRuntimeArgs;
    use crate::cluster::local::config::PreStop;
    use crate::cluster::local::probe::ProbeAction;
    use crate::cluster::local::rollout::CountOrPercent;
    use crate::config::{LocalFlags, Problem, Problems};
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        local: LocalRuntimeArgs,
        #[arg(last = true)]
        cmd: Vec<String>,
    }

    fn parse(args: &[&str]) -> Cli {
        let mut argv = vec!["zerodrop"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("parses")
    }

    /// The runtime's flags through clap, the conversion and `config`, on their own.
    fn config(args: &[&str]) -> Result<LocalConfig, Vec<Problem>> {
        let cli = parse(args);
        let mut p = Problems::new(None);
        let c = crate::config::local::from_args(
            &super::super::flags::local(&cli.local),
            &cli.cmd,
            &mut p,
        );
        p.finish(c)
            .map_err(|e| e.problems)
            .map(|c| c.expect("a config when there is no problem"))
    }

    #[test]
    fn the_flags_defaults_are_configs_defaults() {
        let cli = parse(&["--", "srv"]);
        assert_eq!(
            super::super::flags::local(&cli.local),
            LocalFlags::default()
        );
    }

    #[test]
    fn defaults_are_kubernetes_defaults() {
        let c = config(&["--", "./srv", "--port", "{port}"]).expect("valid");
        assert_eq!(c.replicas, 3);
        assert_eq!(c.max_surge, CountOrPercent::Percent(25));
        assert_eq!(c.max_unavailable, CountOrPercent::Percent(25));
        assert_eq!(c.termination.grace_period, Duration::from_secs(30));
        assert_eq!(c.termination.stop_signal, nix::sys::signal::Signal::SIGTERM);
        assert_eq!(c.propagation_delay, Duration::from_secs(1));
        assert_eq!(c.readiness_probe, None);
        assert_eq!(c.name, "srv");
        assert_eq!(c.command.args, vec!["--port", "{port}"]);
    }

    #[test]
    fn probe_flags_build_a_probe_with_kubernetes_default_timing() {
        let c = config(&[
            "--readiness-path",
            "/ready",
            "--readiness-failure-threshold",
            "2",
            "--",
            "srv",
        ])
        .expect("valid");
        let p = c.readiness_probe.expect("probe");
        assert_eq!(
            p.action,
            ProbeAction::Http {
                path: "/ready".into()
            }
        );
        assert_eq!(p.period, Duration::from_secs(10));
        assert_eq!(p.timeout, Duration::from_secs(1));
        assert_eq!(p.failure_threshold, 2);
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_its_flag() {
        let errs = config(&[
            "--replicas",
            "0",
            "--max-surge",
            "0",
            "--max-unavailable",
            "0%",
            "--grace-period",
            "soon",
            "--readiness-period",
            "1s",
            "--stop-signal",
            "NOPE",
        ])
        .expect_err("invalid");
        let all: Vec<String> = errs.iter().map(|p| p.to_string()).collect();
        let all = all.join("\n");
        assert!(errs.iter().any(|p| p.place == "--replicas"));
        for needle in [
            "command to run",
            "--replicas",
            "may not be 0 when --max-unavailable is 0",
            "--grace-period",
            "--readiness-*: timing flags",
            "--stop-signal",
        ] {
            assert!(all.contains(needle), "missing {needle} in:\n{all}");
        }
    }

    #[test]
    fn prestop_sleep_and_new_command_are_parsed() {
        let c = config(&[
            "--prestop-sleep",
            "1500ms",
            "--new-cmd",
            "srv --version 'two words' \"v\\\"2\"",
            "--stop-signal",
            "QUIT",
            "--",
            "srv",
        ])
        .expect("valid");
        assert_eq!(
            c.termination.prestop,
            Some(PreStop::Sleep(Duration::from_millis(1500)))
        );
        assert_eq!(c.termination.stop_signal, nix::sys::signal::Signal::SIGQUIT);
        let new = c.new_command.expect("new command");
        assert_eq!(new.program, "srv");
        assert_eq!(new.args, vec!["--version", "two words", "v\"2"]);
    }
}
