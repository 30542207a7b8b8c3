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

/// The result with every piece of text that came from outside masked: the plan, the rollout
/// (description, outcome, undo, the trigger command's argv and output), error chains, the
/// timeline's messages (Kubernetes Events, trigger output, replica logs), the analysis
/// (findings' evidence quotes errors and messages) and the verdict's reasons.
pub fn redacted(result: &RunResult, redactor: &Redactor) -> RunResult {
    let mut r = result.clone();
    r.plan = redactor.json(&r.plan);
    if let Some(ro) = &mut r.rollout {
        ro.description = redactor.text(&ro.description);
        ro.outcome = redactor.text(&ro.outcome);
        if let Some(u) = &mut ro.undo {
            *u = redactor.text(u);
        }
        if let Some(c) = &mut ro.command {
            c.argv = redactor.argv(&c.argv);
            c.output = redactor.text(&c.output);
        }
    }
    for f in &mut r.recorded.failures {
        if let Some(e) = &mut f.error {
            *e = redactor.text(e);
        }
        // A failed check's response is the service's own words: it may echo a token.
        if let Some(e) = &mut f.excerpt {
            *e = redactor.text(e);
        }
    }
    r.timeline = mask_strings(&r.timeline, redactor);
    r.analysis = mask_strings(&r.analysis, redactor);
    for reason in &mut r.verdict.reasons {
        *reason = redactor.text(reason);
    }
    r
}

/// `value` with every string in it masked as free text, through its JSON form (these parts of
/// a result hold no encoded data a mask could corrupt). The types are plain serde derives, so
/// the round trip cannot fail short of a bug, which debug builds (and so the tests) catch.
fn mask_strings<T>(value: &T, redactor: &Redactor) -> T
where
    T: Clone + serde::Serialize + serde::de::DeserializeOwned,
{
    fn walk(v: &mut serde_json::Value, redactor: &Redactor) {
        match v {
            serde_json::Value::String(s) => *s = redactor.text(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, redactor)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|i| walk(i, redactor)),
            _ => {}
        }
    }
    let back = serde_json::to_value(value).and_then(|mut v| {
        walk(&mut v, redactor);
        serde_json::from_value(v)
    });
    back.unwrap_or_else(|e| {
        debug_assert!(false, "a part of the result does not survive JSON: {e}");
        value.clone()
    })
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
