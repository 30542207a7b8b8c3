//! `zerodrop load`: the load engine on its own, against any URL.

use std::time::Duration;

use crate::cli::LoadArgs;
use crate::commands::output::finish;
use crate::commands::{error, with_runtime};
use crate::config::grpc::SpecError;
use crate::config::{Pattern, Plan, PlanKind};
use crate::load::EngineError;
use crate::model::clock::{At, RunClock};
use crate::model::exit;
use crate::model::result::{Command, SCHEMA_VERSION};
use crate::record::PhaseMarks;
use crate::result::RunResult;
use crate::run::interrupt::Interrupt;
use crate::run::progress::{ProgressDisplay, ProgressMode};

pub fn run(args: LoadArgs) -> u8 {
    let traffic = super::flags::traffic(&args.traffic);
    let output = super::flags::output(&args.output);
    let plan = match Plan::build(PlanKind::Load, &traffic, None, &output) {
        Ok(p) => p,
        Err(e) => {
            error(e);
            return exit::BAD_INPUT;
        }
    };
    with_runtime(|rt| rt.block_on(run_plan(plan)))
}

/// The phases of a `load` run: one named `load`, or one per stage.
fn phase_marks(pattern: &Pattern) -> Vec<(Duration, String)> {
    match pattern {
        Pattern::Stages { points } => points
            .windows(2)
            .filter(|w| w[1].0 > w[0].0)
            .enumerate()
            .map(|(i, w)| {
                (
                    Duration::from_secs_f64(w[0].0),
                    format!("stage {} ({:.0}→{:.0}/s)", i + 1, w[0].1, w[1].1),
                )
            })
            .collect(),
        _ => vec![(Duration::ZERO, "load".to_string())],
    }
}

fn engine_exit_code(e: &EngineError) -> u8 {
    match e {
        EngineError::BadUrl(_) | EngineError::Tls(_) => exit::BAD_INPUT,
        EngineError::Resolve { .. } | EngineError::Unreachable { .. } | EngineError::Runtime(_) => {
            exit::COULD_NOT_RUN
        }
    }
}

async fn run_plan(plan: Plan) -> u8 {
    let interrupt = Interrupt::install();
    let spec = match crate::config::grpc::load_spec(&plan, None).await {
        Ok(s) => s,
        Err(e) => {
            error(&e);
            return match e {
                SpecError::Unreachable(_) => exit::COULD_NOT_RUN,
                SpecError::Plan(_) | SpecError::Method(_) => exit::BAD_INPUT,
            };
        }
    };
    let clock = RunClock::start();
    let marks = PhaseMarks::new();
    let planned = phase_marks(&plan.traffic.pattern);
    let marks_engine = marks.clone();
    let on_start = Box::new(move |start: At| {
        for (offset, name) in planned {
            marks_engine.begin(&name, || start.plus(offset));
        }
    });
    let engine = match crate::run::flow::start_engine(&plan, spec, clock, marks, Some(on_start)) {
        Ok(e) => e,
        Err(e) => {
            error(&e);
            return engine_exit_code(&e);
        }
    };
    let total = match &plan.traffic.pattern {
        Pattern::Rate { duration_s, .. } | Pattern::Max { duration_s, .. } => {
            duration_s.map(Duration::from_secs_f64)
        }
        Pattern::Stages { points } => points.last().map(|p| Duration::from_secs_f64(p.0)),
    };
    let progress = ProgressDisplay::start(
        engine.live.clone(),
        total,
        ProgressMode::detect(plan.output.quiet),
    );
    let stopper = engine.stopper();
    let watch_interrupt = interrupt.clone();
    tokio::spawn(async move {
        watch_interrupt.wait().await;
        stopper.stop();
    });
    let joined = crate::run::flow::finish_engine(engine).await;
    progress.finish();
    let (report, recorded) = match joined {
        Ok(r) => r,
        Err(e) => {
            error(&e);
            return engine_exit_code(&e);
        }
    };
    let interrupted = interrupt.is_set();
    let mut result = RunResult {
        schema_version: SCHEMA_VERSION,
        zerodrop_version: env!("CARGO_PKG_VERSION").to_string(),
        command: Command::Load,
        started_at: clock.anchor_wall(),
        interrupted,
        plan: plan.masked_json(),
        load: report,
        recorded,
        timeline: Default::default(),
        rollout: None,
        analysis: Default::default(),
        thresholds: Vec::new(),
        verdict: Default::default(),
        workers: 1,
    };
    finish(&plan, &mut result, None)
}
