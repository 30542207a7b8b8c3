//! The small saved parts of a run's result, every stage's words for how a run went: the
//! schema version, which command ran, what the load engine reports of its own run, what
//! happened to the rollout, each threshold's measurement and the verdict. The result document
//! that gathers them with the recorded data, timeline and analysis is `crate::result`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::clock::At;
use super::outcome::OutcomeClass;
use super::session::SessionClass;

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
    /// The default gate's WebSocket part (runs with `--ws` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionCheck>,
}

/// The default gate for WebSocket sessions: no session may end other than gracefully outside
/// the baseline (a close by us, or the server's 1000 / 1001 / 1012). Its messages are judged by
/// [`ZeroDropCheck`] like requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionCheck {
    pub passed: bool,
    /// Every session of the run (reconnections included).
    pub sessions: u64,
    /// Sessions that ended other than gracefully outside the baseline, by class.
    pub failed_outside_baseline: u64,
    #[serde(default)]
    pub classes_outside_baseline: BTreeMap<SessionClass, u64>,
    /// Of those, ended by 1006 (the connection gone without a close frame).
    pub dropped: u64,
    /// Sessions that ended other than gracefully during the baseline: reported, not blamed.
    pub baseline_failures: u64,
    /// Sessions a reconnection opened, and messages lost (whole run): shown, judged by the
    /// message check and by thresholds.
    pub reconnects: u64,
    pub messages_lost: u64,
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
    pub triggered_at: Option<At>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<At>,
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

/// What the engine reports about its own run (the requests themselves went to the sink).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The instant the schedule started (request 0's due time).
    pub start: At,
    /// When the last in-flight request finished.
    pub end: At,
    /// Requests the schedule made due (sent or dropped).
    pub requests_due: u64,
    /// Connections the engine opened.
    pub connections_opened: u64,
    /// False if a stop came before the schedule ended.
    pub completed: bool,
    /// Whether sub-millisecond timing (timerfd) was available.
    pub precise_timer: bool,
    /// Whether responses were read in batches at the dispatcher's wake-ups and each timed by
    /// the kernel's receive timestamp (`SO_TIMESTAMPNS`). False where they were read as they
    /// arrived: TLS, HTTP/2, `--no-keepalive`, the closed loop, or a kernel without the option.
    #[serde(default)]
    pub kernel_receive_timestamps: bool,
    /// Addresses the target resolved to at the start.
    pub addresses: Vec<SocketAddr>,
}
