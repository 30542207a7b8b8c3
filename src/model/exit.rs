//! The CI contract: process exit codes, named.
//!
//! `main` maps a run's verdict or error to one of these and nothing else does; the numbers are
//! documented in the README's exit-code table (and docs/reports.md) and must never change
//! meaning.

/// The run passed its gate.
pub const PASSED: u8 = 0;
/// The gate failed: dropped requests or a threshold.
pub const GATE_FAILED: u8 = 1;
/// Bad input or usage: nothing was run.
pub const BAD_INPUT: u8 = 2;
/// The rollout failed or timed out.
pub const ROLLOUT_FAILED: u8 = 3;
/// Could not run: cluster or target unreachable, unhealthy baseline.
pub const COULD_NOT_RUN: u8 = 4;
/// Interrupted by SIGINT or SIGTERM; a partial report was still written.
pub const INTERRUPTED: u8 = 130;
