//! The command line: every clap type (derive structs and value enums) and nothing else. Every
//! value is taken as the user typed it; the commands hand it to `config`, which validates it,
//! so all problems are reported at once and named. Only `commands` (and `main`/`plugin`, which
//! parse) see this module.
//!
//! - [`traffic`]: the traffic, phase and output flags `load`, `local` and `run` share;
//!   [`grpc`]: the gRPC flags among them.
//! - [`local`]: the local runtime's flags; [`kube`]: the Kubernetes runtime's and the worker's.
//! - [`manifest`], [`results`] (`report`, `merge`), [`lint`], [`demo_app`]: the other commands.

pub mod demo_app;
pub mod grpc;
pub mod kube;
pub mod lint;
pub mod local;
pub mod manifest;
pub mod results;
pub mod traffic;

use clap::{Args, Parser, Subcommand};

pub use demo_app::DemoAppArgs;
pub use kube::{KubeArgs, WorkerArgs};
pub use lint::LintArgs;
pub use local::LocalRuntimeArgs;
pub use manifest::{JobArgs, JobFlags, ManifestArgs, ManifestKind};
pub use results::{MergeArgs, ReportArgs};
pub use traffic::{FlowArgs, OutputArgs, TrafficArgs, WsArgs};

/// Prove a Kubernetes rollout drops zero requests.
#[derive(Debug, Parser)]
#[command(name = "zerodrop", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: CliCommand,
}

// Parsed once at startup and moved once: the size difference between commands costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Open-model HTTP load against a URL (no cluster): a load generator on its own.
    Load(LoadArgs),
    /// Run replicas of your own server here, behind a built-in Service proxy, and roll them
    /// under load the way Kubernetes would: `zerodrop local [OPTIONS] -- CMD ARGS…`.
    Local(Box<LocalArgs>),
    /// Roll a Kubernetes workload under load and prove it drops nothing:
    /// `zerodrop run -n shop deploy/web --target URL`.
    Run(Box<RunArgs>),
    /// A naive configuration that drops requests, then the fixed one at zero (no cluster, <1 min).
    Demo(DemoArgs),
    /// The built-in demo HTTP server (what `demo` rolls; knobs reproduce each finding).
    DemoApp(DemoAppArgs),
    /// Kubernetes manifests that run `zerodrop run` in-cluster:
    /// `zerodrop manifest job -n shop deploy/web | kubectl apply -f -`.
    Manifest(ManifestArgs),
    /// Combine the results of a distributed run's generators into one:
    /// `kubectl logs -l batch.kubernetes.io/job-name=NAME --tail=-1 | zerodrop merge - --out r.json`.
    Merge(MergeArgs),
    /// Shell completion script: `zerodrop completions bash|zsh|fish`.
    Completions(CompletionsArgs),
    /// Re-render a saved result (`--out` JSON, `-` for stdin, or a Job's log) as summary, HTML
    /// and JUnit, and exit with its verdict.
    Report(ReportArgs),
    /// Check a workload for the rollout risks that drop requests, before anything runs:
    /// `zerodrop lint -f deploy.yaml` or, read-only, `zerodrop lint -n shop deploy/web`.
    Lint(LintArgs),
}

/// `zerodrop local`.
#[derive(Debug, Args)]
pub struct LocalArgs {
    #[command(flatten)]
    pub traffic: TrafficArgs,
    #[command(flatten)]
    pub flow: FlowArgs,
    #[command(flatten)]
    pub runtime: LocalRuntimeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// The server to run: each replica gets its port in $PORT (see --port-env) or `{port}`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `zerodrop run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub traffic: TrafficArgs,
    #[command(flatten)]
    pub flow: FlowArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// The workload to roll: deploy/NAME, sts/NAME or ds/NAME (long forms too).
    #[arg(value_name = "WORKLOAD")]
    pub workload: String,
    /// The command `--trigger exec` runs (helm upgrade, kubectl apply, …).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `zerodrop load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub traffic: TrafficArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `zerodrop demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The gRPC demo: calls cut without GOAWAY by a server that dies on SIGTERM, then a
    /// graceful stop (GOAWAY, drain) behind a preStop with a max connection age.
    #[arg(long, conflicts_with = "ws")]
    pub grpc: bool,
    /// The WebSocket demo: sessions dropped without a close frame, then closed with 1001.
    #[arg(long)]
    pub ws: bool,
}

/// `zerodrop completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh or fish.
    #[arg(value_name = "SHELL", value_parser = ["bash", "zsh", "fish"])]
    pub shell: String,
}
