//! `zerodrop local`: the user's own server, run as replicas behind the local Service proxy and
//! rolled under load through the shared run flow. Validates the plan and the runtime's flags in
//! one pass (every problem at once, exit 2), then runs, reports, and returns the exit code.

use crate::cli::LocalArgs;
use crate::cluster::ClusterError;
use crate::cluster::local::{LocalCluster, LocalConfig};
use crate::commands::output::{print_summary, write_outputs};
use crate::commands::{error, with_runtime};
use crate::model::clock::RunClock;
use crate::model::exit;
use crate::model::result::Command;
use crate::plan::{Input, Plan, PlanError, PlanKind, load_scenario};
use crate::result::RunResult;
use crate::run::flow::{Flow, Stop};
use crate::run::interrupt::Interrupt;
use crate::timeline::TimelineRecorder;

/// Validates `zerodrop local`'s flags into a plan and the runtime's configuration.
pub fn build(args: LocalArgs) -> Result<(Plan, LocalConfig), PlanError> {
    let scenario = load_scenario(&args.traffic)?;
    let mut input = Input::new(scenario.as_ref());
    let plan = Plan::build_with(
        &mut input,
        PlanKind::Local,
        &args.traffic,
        Some(&args.flow),
        &args.output,
    );
    let config = match args.runtime.into_config(&args.command) {
        Ok(c) => Some(c),
        Err(problems) => {
            for p in problems {
                input.problem(p.place, p.message);
            }
            None
        }
    };
    input.finish(())?;
    // `finish` succeeded, so the runtime's flags had no problem either.
    config
        .map(|c| (plan, c))
        .ok_or_else(|| PlanError::single("command", "invalid local runtime flags"))
}

pub fn run(args: LocalArgs) -> u8 {
    let (plan, config) = match build(args) {
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

/// What the analysis should know of a local run: the runtime's own settings. Its endpoint
/// events are recorded when the proxy switches, so no data-path lag goes unobserved.
fn analysis_input(c: &LocalConfig) -> crate::analysis::AnalysisInput {
    use crate::cluster::local::config::PreStop;
    crate::analysis::AnalysisInput {
        unobserved_lag: std::time::Duration::ZERO,
        workload: crate::analysis::WorkloadConfig {
            prestop: match &c.termination.prestop {
                Some(PreStop::Sleep(d)) => Some(*d),
                // A command's duration is not known in advance.
                Some(PreStop::Exec(_)) | None => None,
            },
            grace_period: Some(c.termination.grace_period),
            propagation_delay: None,
            max_surge: Some(c.max_surge.resolve(c.replicas, true)),
            max_unavailable: Some(c.max_unavailable.resolve(c.replicas, false)),
            readiness_probe: Some(c.readiness_probe.is_some()),
            target: None,
        },
        ..Default::default()
    }
}
