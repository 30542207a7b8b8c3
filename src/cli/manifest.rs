//! The flags of `zerodrop manifest job`: `zerodrop run`'s, plus the Job's own.

use super::RunArgs;

/// `zerodrop manifest`.
#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    #[command(subcommand)]
    pub kind: ManifestKind,
}

/// What to generate.
#[derive(Debug, clap::Subcommand)]
pub enum ManifestKind {
    /// A Job (Indexed with --workers N) running `zerodrop run` with these flags in-cluster, with
    /// its least-privilege ServiceAccount, Role and RoleBinding:
    /// `zerodrop manifest job -n shop deploy/web --rate 200 | kubectl apply -f -`.
    Job(Box<JobArgs>),
}

/// `zerodrop manifest job`: `zerodrop run`'s flags plus the Job's own.
#[derive(Debug, clap::Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub job: JobFlags,
}

/// Flags of the Job itself.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Job")]
pub struct JobFlags {
    /// Name of the Job and of the objects it needs (default: zerodrop-WORKLOADNAME).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Container image with zerodrop as its entrypoint (scripts/build-image.sh builds it).
    #[arg(long, value_name = "IMAGE", default_value = concat!("zerodrop:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
}
