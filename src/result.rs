//! The result of a run as it is saved (`--out FILE.json`), merged and re-rendered: the one
//! document every report is rendered from. It gathers the model's saved words (verdict,
//! thresholds, rollout, the engine's report) with each stage's output: the recorded data, the
//! timeline and the analysis. Its shape is versioned by
//! [`SCHEMA_VERSION`](crate::model::result::SCHEMA_VERSION) and described by
//! `docs/result.schema.json`; bump the version when a field changes meaning or disappears
//! (adding an optional field does not require it).

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::model::result::{Command, LoadReport, RolloutInfo, ThresholdResult, Verdict};
use crate::record::Recorded;
use crate::timeline::Timeline;

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
