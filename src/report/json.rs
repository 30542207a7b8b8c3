//! The JSON result document (`--out FILE.json`) and its schema.
//!
//! The document is [`RunResult`] serialised as it is, with secrets masked once more on the way
//! out. Its schema lives in `docs/result.schema.json` (JSON Schema draft 2020-12) and is compiled
//! into the binary as [`SCHEMA`] so tools can ask for it. This module does not read results
//! back; see [`super::load`].

use crate::result::RunResult;

use super::redact::Redactor;

/// The JSON Schema of the result document.
pub const SCHEMA: &str = include_str!("../../docs/result.schema.json");

/// The result with plan, rollout description and error chains masked.
pub fn redacted(result: &RunResult, redactor: &Redactor) -> RunResult {
    let mut r = result.clone();
    r.plan = redactor.json(&r.plan);
    if let Some(ro) = &mut r.rollout {
        ro.description = redactor.text(&ro.description);
    }
    for f in &mut r.recorded.failures {
        if let Some(e) = &mut f.error {
            *e = redactor.text(e);
        }
    }
    r
}

/// The result as indented JSON, for files people may read.
pub fn render(result: &RunResult, redactor: &Redactor) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(&redacted(result, redactor))?;
    s.push('\n');
    Ok(s)
}

/// The result as one line of JSON, for logs (see [`super::RESULT_MARKER`]).
pub fn render_line(result: &RunResult, redactor: &Redactor) -> Result<String, serde_json::Error> {
    serde_json::to_string(&redacted(result, redactor))
}
