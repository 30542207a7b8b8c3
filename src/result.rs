//! The result of a run as it is saved (`--out FILE.json`), merged and re-rendered: the one
//! document every report is rendered from. Its shape is versioned by [`SCHEMA_VERSION`] and
//! described by `docs/result.schema.json`; bump the version when a field changes meaning or
//! disappears (adding an optional field does not require it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::load::engine::LoadReport;
use crate::load::outcome::OutcomeClass;
use crate::record::Recorded;
use crate::timeline::Timeline;

/// Version of the result document's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// Which command produced the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Load,
    Local,
    Run,
    Merge,
}

/// The pass/fail decision and its reasons.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// The process exit code this verdict maps to (see `exit`).
    pub exit_code: u8,
    /// Why, in words, most important first ("12 requests failed during the rollout").
    pub reasons: Vec<String>,
    /// The default gate's measurement, so reports show it without re-deciding (absent in
    /// results written before the gate stored it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_drop: Option<ZeroDropCheck>,
}

/// The default gate: no request may fail outside the baseline, and the generator may drop none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ZeroDropCheck {
    pub passed: bool,
    /// Requests the schedule made due in the whole run.
    pub requests: u64,
    /// Sent requests that failed outside the baseline phase.
    pub failed_outside_baseline: u64,
    /// Those failures by phase (phases with none are left out).
    #[serde(default)]
    pub failed_by_phase: BTreeMap<String, u64>,
    /// Those failures by outcome class.
    #[serde(default)]
    pub classes_outside_baseline: BTreeMap<OutcomeClass, u64>,
    /// Requests never sent because the in-flight cap was reached (anywhere in the run).
    pub dropped_by_generator: u64,
    /// Failures during the baseline: reported, not blamed on the rollout.
    pub baseline_failures: u64,
    /// Whether the run had a baseline phase (without one, every failure counts).
    #[serde(default)]
    pub has_baseline: bool,
}

/// One threshold and how the run measured against it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression as written (`rollout:p(99)<300ms`).
    pub expression: String,
    pub passed: bool,
    /// The measured value, formatted with its unit.
    pub actual: String,
}

/// What happened to the rollout (runs against a cluster or the local runtime).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutInfo {
    /// What was rolled ("deploy/web in shop").
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<crate::clock::At>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<crate::clock::At>,
    /// "complete", "failed: …", "timed out", "interrupted".
    pub outcome: String,
    /// The command of `--trigger exec` and how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<TriggerCommand>,
    /// What `--undo-on-failure` did after a failed rollout ("rolled back to revision 3").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<String>,
}

/// A trigger command (helm upgrade, kubectl apply, …) as it ran.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerCommand {
    pub argv: Vec<String>,
    /// Its exit code; absent when a signal ended it or it did not finish in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// It was stopped at `--rollout-timeout`.
    #[serde(default)]
    pub timed_out: bool,
    /// The tail of its stdout and stderr (bounded).
    pub output: String,
}

/// Everything a run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub schema_version: u32,
    pub zerodrop_version: String,
    pub command: Command,
    /// Wall time of the run axis' zero.
    pub started_at: jiff::Timestamp,
    /// True when the run was cut short by SIGINT/SIGTERM: the data is partial.
    pub interrupted: bool,
    /// The validated plan, with secrets masked.
    pub plan: serde_json::Value,
    pub load: LoadReport,
    pub recorded: Recorded,
    #[serde(default)]
    pub timeline: Timeline,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutInfo>,
    #[serde(default)]
    pub analysis: Analysis,
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    pub verdict: Verdict,
    /// Generators whose results were merged into this one (1 for a single run).
    #[serde(default = "one")]
    pub workers: u32,
}

fn one() -> u32 {
    1
}
