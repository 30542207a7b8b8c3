//! The flags of `zerodrop lint`. The commands turn them into `lint::LintOptions`; the value
//! enums are lint's own (they derive clap's `ValueEnum`, which needs nothing of this module).

use std::path::PathBuf;

pub use crate::lint::{FailOn, LintFormat};

/// Flags of `zerodrop lint`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LintArgs {
    /// Manifest file to check (multi-document YAML, Helm output welcome; `-` reads standard
    /// input). Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        conflicts_with = "workload"
    )]
    pub files: Vec<PathBuf>,
    /// A live workload to check instead, read-only: deploy/NAME, sts/NAME or ds/NAME.
    #[arg(value_name = "WORKLOAD")]
    pub workload: Option<String>,
    /// Namespace of the live workload (default: the context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity fires.
    #[arg(long, value_enum, default_value = "error")]
    pub fail_on: FailOn,
    /// Report format.
    #[arg(long = "format", value_enum, default_value = "text")]
    pub format: LintFormat,
}
