//! `zerodrop merge RESULT… [--out FILE]`: combines the results of a distributed run's
//! generators into one result, and prints its summary and verdict.
//!
//! Each input is a result file written by `--out`, or a log (`-` for standard input) holding
//! any number of results after zerodrop's marker line — `kubectl logs -l
//! batch.kubernetes.io/job-name=NAME --tail=-1` gives every generator's at once. The merging
//! itself is `crate::merge`'s; this module reads, parses and writes.

use std::io::Read as _;

use crate::cli::OutputArgs;
use crate::commands::error;
use crate::commands::output::write_atomic;
use crate::exit;
use crate::merge::{self, Input, results_in};
use crate::result::{RunResult, SCHEMA_VERSION};

/// `zerodrop merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Results to merge: JSON files written by --out, or logs holding results after zerodrop's
    /// marker line; `-` reads standard input (several generators' logs at once).
    #[arg(value_name = "RESULT", required = true)]
    pub inputs: Vec<String>,
    /// Merge even when some generators' results are missing (the merged result then fails).
    #[arg(long)]
    pub partial: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Why an input could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The input could not be read.
    #[error("cannot read {origin}: {source}")]
    Read {
        origin: String,
        source: std::io::Error,
    },
    /// The input holds no result.
    #[error(
        "{origin}: no zerodrop result found (expected JSON written by --out, or a log with the line `{}` before it)",
        crate::worker::RESULT_MARKER
    )]
    NotFound { origin: String },
    /// A result does not parse.
    #[error("{origin}: not a zerodrop result: {source}")]
    Parse {
        origin: String,
        source: serde_json::Error,
    },
    /// A result from a newer zerodrop.
    #[error(
        "{origin}: result schema version {found} is newer than this zerodrop reads ({SCHEMA_VERSION}); upgrade zerodrop"
    )]
    Newer { origin: String, found: u64 },
}

/// Every result in one input's text; `origin` names the input in errors.
pub fn parse_all(text: &str, origin: &str) -> Result<Vec<Input>, InputError> {
    let docs = results_in(text);
    if docs.is_empty() {
        return Err(InputError::NotFound {
            origin: origin.to_string(),
        });
    }
    let several = docs.len() > 1;
    docs.into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let origin = if several {
                format!("{origin} (result {})", i + 1)
            } else {
                origin.to_string()
            };
            let v: serde_json::Value =
                serde_json::from_str(doc).map_err(|source| InputError::Parse {
                    origin: origin.clone(),
                    source,
                })?;
            if let Some(found) = v.get("schema_version").and_then(|v| v.as_u64())
                && found > u64::from(SCHEMA_VERSION)
            {
                return Err(InputError::Newer { origin, found });
            }
            let result: RunResult =
                serde_json::from_value(v).map_err(|source| InputError::Parse {
                    origin: origin.clone(),
                    source,
                })?;
            Ok(Input { origin, result })
        })
        .collect()
}

fn read(path: &str) -> Result<(String, String), InputError> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|source| InputError::Read {
                origin: "standard input".into(),
                source,
            })?;
        Ok((s, "standard input".into()))
    } else {
        let s = std::fs::read_to_string(path).map_err(|source| InputError::Read {
            origin: path.to_string(),
            source,
        })?;
        Ok((s, path.to_string()))
    }
}

/// Merges, prints the summary, writes `--out`; returns the merged verdict's exit code.
pub fn run(args: MergeArgs) -> u8 {
    let mut inputs = Vec::new();
    for path in &args.inputs {
        match read(path).and_then(|(text, origin)| parse_all(&text, &origin)) {
            Ok(found) => inputs.extend(found),
            Err(e) => {
                error(e);
                return exit::BAD_INPUT;
            }
        }
    }
    let merged = match merge::merge(inputs, args.partial) {
        Ok(m) => m,
        Err(e) => {
            error(&e);
            return e.exit_code();
        }
    };
    if !args.output.quiet {
        print!("{}", crate::verdict::summary(&merged));
    }
    if let Some(path) = &args.output.out {
        let written = serde_json::to_vec_pretty(&merged)
            .map_err(|e| e.to_string())
            .and_then(|b| write_atomic(path, &b).map_err(|e| e.to_string()));
        if let Err(e) = written {
            error(format!("could not write {}: {e}", path.display()));
            return exit::COULD_NOT_RUN;
        }
    }
    if args.output.html.is_some() || args.output.junit.is_some() {
        error("--html and --junit are rendered by `zerodrop report MERGED.json`");
        return exit::BAD_INPUT;
    }
    merged.verdict.exit_code
}
