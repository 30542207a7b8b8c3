//! The phases of a rollout run (`local`, `run`): the phase flags as typed ([`FlowFlags`]) and
//! their validation, with the scenario file's values under them, into a [`FlowPlan`].

use std::time::Duration;

use super::plan::FlowPlan;
use super::problems::Problems;
use crate::model::units;

/// The phase flags as the user typed them.
#[derive(Clone, Debug, Default)]
pub struct FlowFlags {
    pub baseline: Option<String>,
    pub settle: Option<String>,
    pub rollout_timeout: Option<String>,
}

/// A duration parser.
type Parser = fn(&str) -> Result<Duration, String>;

/// Any duration, zero included: a run may skip its baseline or its settle.
fn any_duration(s: &str) -> Result<Duration, String> {
    Ok(units::duration(s)?)
}

/// The phases; each left unset keeps its default.
pub fn from_args(flow: &FlowFlags, p: &mut Problems<'_>) -> FlowPlan {
    let f = p.file();
    let mut plan = FlowPlan::default();
    // A rollout timeout of 0 could never be met.
    let parsers: [Parser; 3] = [any_duration, any_duration, units::positive_duration];
    let phases = [
        (
            "--baseline",
            "baseline",
            &flow.baseline,
            &f.baseline,
            &mut plan.baseline,
        ),
        (
            "--settle",
            "settle",
            &flow.settle,
            &f.settle,
            &mut plan.settle,
        ),
        (
            "--rollout-timeout",
            "rollout_timeout",
            &flow.rollout_timeout,
            &f.rollout_timeout,
            &mut plan.rollout_timeout,
        ),
    ];
    for ((flag, key, given, file, target), parser) in phases.into_iter().zip(parsers) {
        if let Some((d, _)) = p.value(given.as_deref(), flag, file.as_ref(), key, parser) {
            *target = d;
        }
    }
    plan
}
