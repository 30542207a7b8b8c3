//! `zerodrop lint`: the flags become `lint`'s options; lint checks and writes its report, and
//! its error, if any, is printed here with its exit code.

use crate::cli::lint::{FailOn, LintArgs, LintFormat};
use crate::commands::error;
use crate::lint::{self, LintOptions};

pub fn run(args: LintArgs) -> u8 {
    match lint::run(
        &options(args),
        &mut std::io::stdin(),
        &mut std::io::stdout(),
    ) {
        Ok(code) => code,
        Err(e) => {
            error(&e);
            e.exit_code()
        }
    }
}

fn options(a: LintArgs) -> LintOptions {
    LintOptions {
        files: a.files,
        workload: a.workload,
        namespace: a.namespace,
        context: a.context,
        kubeconfig: a.kubeconfig,
        fail_on: match a.fail_on {
            FailOn::Info => lint::FailOn::Info,
            FailOn::Warning => lint::FailOn::Warning,
            FailOn::Error => lint::FailOn::Error,
            FailOn::Never => lint::FailOn::Never,
        },
        format: match a.format {
            LintFormat::Text => lint::LintFormat::Text,
            LintFormat::Json => lint::LintFormat::Json,
        },
    }
}
