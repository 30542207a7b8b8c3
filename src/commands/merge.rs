//! `zerodrop merge RESULT… [--out FILE] [--html FILE] [--junit FILE]`: combines the results of
//! a distributed run's generators into one result, prints its summary and exits with its
//! verdict.
//!
//! Each input is a result file written by `--out`, or a log (`-` for standard input) holding
//! any number of results after zerodrop's marker line — `kubectl logs -l
//! batch.kubernetes.io/job-name=NAME --tail=-1` gives every generator's at once. Merging is
//! `crate::distributed::merge`'s, reading one result `report`'s, rendering the reports `commands::output`'s.

use crate::cli::MergeArgs;
use crate::commands::error;
use crate::commands::output::finish_saved;
use crate::distributed::merge::{self, MergeInput, results_in};
use crate::report::redact::Redactor;
use crate::report::{ReportError, parse_result, read_input};

/// Every result in one input's text; `origin` names the input in errors.
pub fn parse_all(text: &str, origin: &str) -> Result<Vec<MergeInput>, ReportError> {
    let docs = results_in(text);
    if docs.is_empty() {
        return Err(ReportError::NotFound {
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
            let result = parse_result(doc, &origin)?;
            Ok(MergeInput { origin, result })
        })
        .collect()
}

/// Merges, prints the summary, writes the reports; returns the merged verdict's exit code.
pub fn run(args: MergeArgs) -> u8 {
    let mut inputs = Vec::new();
    for path in &args.inputs {
        match read_input(path).and_then(|(text, origin)| parse_all(&text, &origin)) {
            Ok(found) => inputs.extend(found),
            Err(e) => {
                error(&e);
                return e.exit_code();
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
    finish_saved(&merged, &args.output, &Redactor::new(&args.redact_headers))
}
