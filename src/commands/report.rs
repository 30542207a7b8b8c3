//! `zerodrop report`: re-render a saved result (a file, standard input, or a Job's log) without
//! running again, optionally judging it against other thresholds; exits with its verdict's code.

use crate::cli::ReportArgs;
use crate::commands::error;
use crate::commands::output::finish_saved;
use crate::report::redact::Redactor;
use crate::report::{self, ReportError};

pub fn run(args: ReportArgs) -> u8 {
    let result = match report::reload(&args.result, &args.thresholds) {
        Ok(r) => r,
        Err(ReportError::Thresholds(errors)) => {
            for e in errors {
                error(format!("--threshold: {e}"));
            }
            return crate::model::exit::BAD_INPUT;
        }
        Err(e) => {
            error(&e);
            return e.exit_code();
        }
    };
    finish_saved(&result, &args.output, &Redactor::new(&args.redact_headers))
}
