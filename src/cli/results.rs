//! The flags of the commands that read saved results: `zerodrop report` and `zerodrop merge`.

use clap::Args;

use super::OutputArgs;

/// `zerodrop report`: re-render a saved result without running again.
#[derive(Clone, Debug, Args)]
pub struct ReportArgs {
    /// The saved result: a JSON file written by --out, `-` for standard input, or a log in which
    /// the result follows zerodrop's marker line (an in-cluster Job's log)
    #[arg(value_name = "RESULT")]
    pub result: String,
    /// Judge the result against these thresholds instead of the ones it was run with
    /// (repeatable; k6 style, e.g. 'p(99)<500ms', 'rollout:rate<0.001')
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Mask the value of this request header in every output (repeatable; Authorization,
    /// Proxy-Authorization, Cookie and Set-Cookie are always masked)
    #[arg(long = "redact-header", value_name = "NAME")]
    pub redact_headers: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `zerodrop merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Results to merge: JSON files written by --out, or logs holding results after zerodrop's
    /// marker line; `-` reads standard input (several generators' logs at once).
    #[arg(value_name = "RESULT", required = true)]
    pub inputs: Vec<String>,
    /// Merge even when some generators' results are missing (the merged result then fails).
    #[arg(long)]
    pub partial: bool,
    /// Mask the value of this request header in every output (repeatable; Authorization,
    /// Proxy-Authorization, Cookie and Set-Cookie always are).
    #[arg(long = "redact-header", value_name = "NAME")]
    pub redact_headers: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}
