//! Writing results: the JSON document (atomically, so an interrupted write never leaves half a
//! file) and the reports the plan asks for; and masking secrets in the plan before it is saved.

use std::io::Write as _;
use std::path::Path;

use crate::plan::Plan;
use crate::result::RunResult;

/// Headers whose values never appear in any output.
pub const ALWAYS_REDACTED: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// The plan as JSON with secret header values masked.
pub fn plan_json(plan: &Plan) -> serde_json::Value {
    let mut v = serde_json::to_value(plan).unwrap_or(serde_json::Value::Null);
    let extra: Vec<String> = plan
        .redact_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if let Some(headers) = v
        .pointer_mut("/request/headers")
        .and_then(|h| h.as_array_mut())
    {
        for pair in headers {
            if let Some(arr) = pair.as_array_mut() {
                let name = arr
                    .first()
                    .and_then(|n| n.as_str())
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if ALWAYS_REDACTED.contains(&name.as_str()) || extra.contains(&name) {
                    if let Some(value) = arr.get_mut(1) {
                        *value = serde_json::Value::String("<redacted>".into());
                    }
                }
            }
        }
    }
    v
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)
}

fn tempfile_in(dir: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    for i in 0..100u32 {
        let p = dir.join(format!(".zerodrop-{}-{i}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

/// Writes every output the plan asks for; returns the problems (the run's verdict stands, but
/// a lost report must be said loudly).
pub fn write_outputs(plan: &Plan, result: &RunResult) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(path) = &plan.output.out {
        match serde_json::to_vec_pretty(result) {
            Ok(bytes) => {
                if let Err(e) = write_atomic(path, &bytes) {
                    problems.push(format!("could not write {}: {e}", path.display()));
                }
            }
            Err(e) => problems.push(format!("could not encode the result: {e}")),
        }
    }
    problems
}
