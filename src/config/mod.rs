//! Raw input becomes validated configuration, in two stages as ripgrep's flags do (low args →
//! high args). The first stage is the flags as typed — [`TrafficFlags`], [`FlowFlags`],
//! [`OutputFlags`], [`LocalFlags`], [`KubeFlags`], [`WorkerFlags`], plain data that the commands
//! fill from the command line — and the scenario file ([`scenario::ScenarioFile`]). The second
//! is what the rest of zerodrop reads: the [`Plan`] of a `load`, `local` or `run`, the local
//! runtime's [`LocalConfig`], the Kubernetes runtime's [`KubeConfig`] and the [`Worker`]
//! settings.
//!
//! - `model::units` (below every stage, so the gate's thresholds share it): the one grammar
//!   of durations, rates, counts and percentages.
//! - [`parse`]: the other values users type (stages, statuses, headers, URLs, command lines).
//! - [`problems`]: the one collector: every problem at once, naming the flag or the file's
//!   line and key.
//! - one `from_args` per area: [`request`], [`grpc`] and [`traffic`] (the load), [`mix`] and
//!   [`checks`] (a scenario's request templates and their response checks), [`flow`] (the
//!   phases), [`output`] (reports), [`local`](mod@local), [`kube`] and [`worker`] (the runtimes).
//!
//! Flags override the file; repeatable flags (headers, thresholds, redactions) add to the
//! file's lists. This module knows no clap type: the command line is `cli`'s, seen only by the
//! commands.

pub mod checks;
pub mod flow;
pub mod grpc;
pub mod kube;
pub mod local;
pub mod mix;
pub mod output;
pub mod parse;
pub mod plan;
pub mod problems;
pub mod request;
pub mod scenario;
pub mod traffic;
pub mod worker;
pub mod ws;

use std::path::Path;

pub use crate::cluster::kube::KubeConfig;
pub use crate::cluster::local::LocalConfig;
pub use flow::FlowFlags;
pub use kube::{KubeContext, KubeFlags, in_cluster};
pub use local::{LocalFlags, ProbeFlags};
pub use output::OutputFlags;
pub use plan::{
    FlowPlan, OutputPlan, Pattern, Plan, PlanKind, RequestPlan, Shard, TemplatePlan, TrafficPlan,
    Via,
};
pub use problems::{PlanError, Problem, Problems};
pub use traffic::TrafficFlags;
pub use worker::{Worker, WorkerFlags};
pub use ws::{WsFlags, WsPlan};

use scenario::Scenario;

/// Reads the scenario file named by `--scenario`, if any.
pub fn load_scenario(path: Option<&Path>) -> Result<Option<Scenario>, PlanError> {
    match path {
        None => Ok(None),
        Some(p) => Scenario::load(p)
            .map(Some)
            .map_err(|m| PlanError::single("--scenario", m)),
    }
}

impl Plan {
    /// Validates flags (and the scenario file they name) into a plan for `kind`.
    pub fn build(
        kind: PlanKind,
        t: &TrafficFlags,
        flow: Option<&FlowFlags>,
        out: &OutputFlags,
    ) -> Result<Plan, PlanError> {
        let scenario = load_scenario(t.scenario.as_deref())?;
        let mut problems = Problems::new(scenario.as_ref());
        let plan = Plan::from_args(&mut problems, kind, t, flow, out);
        problems.finish(plan)
    }

    /// Like [`Plan::build`], for callers that validate more settings in the same pass (the
    /// local and kube runtimes' own flags): problems accumulate in `problems`, whose scenario
    /// file is read under the flags.
    pub fn from_args(
        problems: &mut Problems<'_>,
        kind: PlanKind,
        t: &TrafficFlags,
        flow: Option<&FlowFlags>,
        out: &OutputFlags,
    ) -> Plan {
        let (target, request) = request::from_args(kind, t, problems);
        let grpc = grpc::from_args(t, problems);
        let traffic = traffic::from_args(kind, t, problems);
        let flow = flow::from_args(flow.unwrap_or(&FlowFlags::default()), problems);
        let names: Vec<&str> = request.templates.iter().map(|t| t.name.as_str()).collect();
        let output = output::from_args(t, out, &names, problems);
        let ws = ws::from_args(kind, t, problems);
        let mut plan = Plan {
            kind,
            scenario: problems.scenario().map(|s| s.path.clone()),
            description: problems.file().description.clone(),
            target,
            request,
            grpc,
            traffic,
            flow,
            output: output.plan,
            thresholds: output.thresholds,
            redact_headers: output.redact_headers,
            ws: None,
        };
        if let Some(ws) = ws {
            ws::apply(&mut plan, ws);
        }
        plan
    }
}

/// `zerodrop local`'s input, as typed.
#[derive(Clone, Debug, Default)]
pub struct LocalInput {
    pub traffic: TrafficFlags,
    pub flow: FlowFlags,
    pub runtime: LocalFlags,
    pub output: OutputFlags,
    /// The server to run (after `--`).
    pub command: Vec<String>,
}

/// Validates `zerodrop local`'s input into a plan and the runtime's configuration, every
/// problem at once.
pub fn local(input: &LocalInput) -> Result<(Plan, LocalConfig), PlanError> {
    let scenario = load_scenario(input.traffic.scenario.as_deref())?;
    let mut problems = Problems::new(scenario.as_ref());
    let plan = Plan::from_args(
        &mut problems,
        PlanKind::Local,
        &input.traffic,
        Some(&input.flow),
        &input.output,
    );
    let config = local::from_args(&input.runtime, &input.command, &mut problems);
    problems.finish(())?;
    // `finish` succeeded, so the runtime's flags had no problem either.
    config
        .map(|c| (plan, c))
        .ok_or_else(|| PlanError::single("command", "invalid local runtime flags"))
}

/// `zerodrop run`'s input, as typed.
#[derive(Clone, Debug, Default)]
pub struct RunInput {
    pub traffic: TrafficFlags,
    pub flow: FlowFlags,
    pub kube: KubeFlags,
    pub output: OutputFlags,
    pub worker: WorkerFlags,
    /// The workload to roll: deploy/NAME, sts/NAME or ds/NAME.
    pub workload: String,
    /// The command `--trigger exec` runs (after `--`).
    pub command: Vec<String>,
}

/// Validates `zerodrop run`'s input into a plan, the Kubernetes runtime's configuration and the
/// worker settings (this generator's share when several split the load), every problem at once.
/// `in_cluster` says whether the run happens in a pod ([`in_cluster`]; `zerodrop manifest`
/// validates flags that will run in one).
pub fn run(input: &RunInput, in_cluster: bool) -> Result<(Plan, KubeConfig, Worker), PlanError> {
    let scenario = load_scenario(input.traffic.scenario.as_deref())?;
    let mut problems = Problems::new(scenario.as_ref());
    let mut plan = Plan::from_args(
        &mut problems,
        PlanKind::Run,
        &input.traffic,
        Some(&input.flow),
        &input.output,
    );
    let cx = KubeContext {
        workload: &input.workload,
        command: &input.command,
        rollout_timeout: plan.flow.rollout_timeout,
        // A --target the plan could not parse is already a problem of its own.
        target_given: input.traffic.target.is_some() || problems.file().target.is_some(),
        in_cluster,
    };
    let config = kube::from_args(&input.kube, &cx, &mut problems);
    let worker = worker::from_args(&input.worker, &mut problems);
    if let (Some(w), Some(c)) = (&worker, &config) {
        worker::check_trigger(w, &c.trigger, &mut problems);
    }
    problems.finish(())?;
    // `finish` succeeded, so the Kubernetes and worker flags had no problem either.
    match (config, worker) {
        (Some(mut c), Some(w)) => {
            worker::shape(&w, &mut plan, &mut c);
            Ok((plan, c, w))
        }
        _ => Err(PlanError::single("--target", "invalid Kubernetes flags")),
    }
}

#[cfg(test)]
mod tests;
