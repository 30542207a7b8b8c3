//! Reports of a run, all rendered from the one [`RunResult`] document: the terminal summary
//! ([`text`]), JSON ([`json`], with its schema), JUnit XML ([`junit`]) and the self-contained
//! HTML page ([`html`]); secrets are masked in every one ([`redact`]).
//!
//! This module also owns reading a saved result back — from a file, standard input, or a log in
//! which the result follows [`RESULT_MARKER`] (an in-cluster Job's output). Writing files is the commands' job (`commands::output`).
//!
//! Renderers format what the analysis and the gate decided; they never aggregate or re-decide.

pub mod fmt;
pub mod html;
pub mod json;
pub mod junit;
pub mod redact;
pub mod text;

use std::io::{Read as _, Write};

use crate::gate::{self, ThresholdError};
use crate::model::exit;
use crate::model::result::SCHEMA_VERSION;
use crate::result::RunResult;

use redact::Redactor;

/// The line a run prints before its result as one line of JSON, so the result can be recovered
/// from a log (`kubectl logs job/zerodrop | zerodrop report -`).
pub const RESULT_MARKER: &str = "=== zerodrop result (JSON on the next line) ===";

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The saved result could not be read.
    #[error("cannot read {origin}: {source}")]
    Read {
        origin: String,
        source: std::io::Error,
    },
    /// The input holds no result: neither a JSON document nor the marker line.
    #[error(
        "{origin}: no zerodrop result found (expected the JSON written by --out, or a log with the line `{RESULT_MARKER}` before it)"
    )]
    NotFound { origin: String },
    /// The JSON is not a result document.
    #[error("{origin}: not a zerodrop result: {source}")]
    Parse {
        origin: String,
        source: serde_json::Error,
    },
    /// The result was written by a newer zerodrop whose document this one cannot read.
    #[error(
        "{origin}: result schema version {found} is newer than this zerodrop reads ({SCHEMA_VERSION}); upgrade zerodrop"
    )]
    NewerVersion { origin: String, found: u64 },
    /// Thresholds given to `report --threshold` do not parse (every one is listed).
    #[error("{}", list(.0))]
    Thresholds(Vec<ThresholdError>),
    /// The result could not be written out.
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// The result could not be serialised (a non-finite number in it).
    #[error("cannot serialise the result: {0}")]
    Serialize(#[from] serde_json::Error),
}

fn list(errors: &[ThresholdError]) -> String {
    let lines: Vec<String> = errors
        .iter()
        .map(|e| format!("bad threshold {e}"))
        .collect();
    lines.join("\n")
}

impl ReportError {
    /// The exit code of the CI contract this error maps to.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReportError::Read { .. }
            | ReportError::NotFound { .. }
            | ReportError::Parse { .. }
            | ReportError::NewerVersion { .. }
            | ReportError::Thresholds(_) => exit::BAD_INPUT,
            ReportError::Write { .. } | ReportError::Serialize(_) => exit::COULD_NOT_RUN,
        }
    }
}

/// The result document inside `text`: everything after the last [`RESULT_MARKER`] when there
/// is one (a log; anything before the JSON on its line, such as a timestamp, is skipped), else
/// the text itself when it is a JSON object. `None` when there is no such document.
pub fn extract_json(text: &str) -> Option<&str> {
    let marker = text.rfind(RESULT_MARKER);
    let from = marker.map_or(0, |i| i + RESULT_MARKER.len());
    let start = from + text[from..].find('{')?;
    if marker.is_none() && !text[..start].trim().is_empty() {
        return None;
    }
    let doc = &text[start..];
    // Stop at the end of the first JSON value: log lines may follow it.
    let mut values = serde_json::Deserializer::from_str(doc).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => Some(&doc[..values.byte_offset()]),
        // Let the parser report what is wrong with it.
        _ => Some(doc),
    }
}

/// Reads a result from `text`; `origin` names it in errors.
pub fn parse_result(text: &str, origin: &str) -> Result<RunResult, ReportError> {
    let doc = extract_json(text).ok_or_else(|| ReportError::NotFound {
        origin: origin.to_string(),
    })?;
    let value: serde_json::Value =
        serde_json::from_str(doc).map_err(|source| ReportError::Parse {
            origin: origin.to_string(),
            source,
        })?;
    if let Some(found) = value.get("schema_version").and_then(|v| v.as_u64())
        && found > u64::from(SCHEMA_VERSION)
    {
        return Err(ReportError::NewerVersion {
            origin: origin.to_string(),
            found,
        });
    }
    serde_json::from_value(value).map_err(|source| ReportError::Parse {
        origin: origin.to_string(),
        source,
    })
}

/// Reads a result from a file, or standard input for `-`.
pub fn load(path: &str) -> Result<RunResult, ReportError> {
    let (text, origin) = read_input(path)?;
    parse_result(&text, &origin)
}

/// The text of a file, or of standard input for `-`, with the name errors give it.
pub fn read_input(path: &str) -> Result<(String, String), ReportError> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|source| ReportError::Read {
                origin: "standard input".into(),
                source,
            })?;
        Ok((s, "standard input".to_string()))
    } else {
        let s = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
            origin: path.to_string(),
            source,
        })?;
        Ok((s, path.to_string()))
    }
}

/// Colour when the stream is a terminal and `NO_COLOR` is unset or empty (no-color.org).
pub fn use_color(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Prints the result after [`RESULT_MARKER`] as one line of JSON (an in-cluster Job's log).
pub fn write_to_log(
    result: &RunResult,
    redactor: &Redactor,
    w: &mut dyn Write,
) -> Result<(), ReportError> {
    let line = json::render_line(result, redactor)?;
    writeln!(w, "{RESULT_MARKER}\n{line}")
        .and_then(|_| w.flush())
        .map_err(|source| ReportError::Write {
            path: "the log".into(),
            source,
        })
}

/// Reads the saved result at `path` and, when `thresholds` are given, judges it again against
/// them (replacing the thresholds it was run with).
pub fn reload(path: &str, thresholds: &[String]) -> Result<RunResult, ReportError> {
    let mut result = load(path)?;
    if !thresholds.is_empty() {
        let thresholds = gate::parse_all(thresholds).map_err(ReportError::Thresholds)?;
        // A run the flow stopped early (bad input, could not run, rollout failed, interrupted)
        // keeps that outcome: new thresholds cannot turn it into a pass.
        let saved = &result.verdict;
        let stopped =
            (!matches!(saved.exit_code, exit::PASSED | exit::GATE_FAILED)).then(|| gate::Stopped {
                exit_code: saved.exit_code,
                reason: saved.reasons.first().cloned().unwrap_or_default(),
            });
        gate::apply_stopped(&thresholds, &mut result, stopped.as_ref());
    }
    Ok(result)
}

#[cfg(test)]
mod tests;
