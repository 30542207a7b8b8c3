//! `zerodrop report`: re-render a saved result (a file, standard input, or a Job's log) without
//! running again, optionally judging it against other thresholds; exits with its verdict's code.

use crate::cli::ReportArgs;
use crate::commands::error;
use crate::commands::output::{Reports, print_summary, write_reports};
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
    let redactor = Redactor::new(&args.redact_headers);
    if !args.output.quiet {
        print_summary(&result, &redactor);
    }
    let problems = write_reports(
        &result,
        &Reports {
            json: args.output.out.as_deref(),
            html: args.output.html.as_deref(),
            junit: args.output.junit.as_deref(),
        },
        &redactor,
    );
    if !problems.is_empty() {
        for p in problems {
            error(p);
        }
        return crate::model::exit::COULD_NOT_RUN;
    }
    result.verdict.exit_code
}
