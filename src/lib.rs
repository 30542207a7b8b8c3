//! zerodrop: prove a Kubernetes rollout drops zero requests.
//!
//! # Layout
//!
//! Two flows meet only in `analysis`:
//!
//! ```text
//!   plan ──► load ──► record ─────────────┐
//!     │                                    ├──► analysis ──► gate ──► report
//!     └────► cluster ──► timeline ────────┘
//! ```
//!
//! - [`cli`]: clap types only, close to the flags.
//! - [`plan`]: flags + scenario file → one validated `Plan`; every problem reported at once.
//! - [`clock`]: the run's one clock; request records and cluster events share its axis.
//! - [`load`]: the open-model load engine. Knows nothing of Kubernetes.
//! - [`record`]: per-second buckets, phase histograms, the bounded failure log; mergeable.
//! - [`cluster`]: the `Cluster` trait and its lifecycle event type; local and kube runtimes.
//! - [`demo_app`]: the built-in HTTP server whose shutdown behaviour reproduces each finding.
//! - [`timeline`]: ordered lifecycle events on the run's clock, watch gaps included.
//! - [`analysis`]: pure analysis of records + timeline: phases, attribution, lag, findings.
//! - [`findings`]: the findings vocabulary shared by analysis and lint.
//! - [`lint`]: static checks of workload manifests for the same risks, before anything runs.
//! - [`gate`]: threshold expressions, the default zero-drop check, the verdict and exit code.
//! - [`report`]: terminal, JSON, JUnit and HTML renderers of a result; redaction; `report`.
//! - [`result`]: the saved result document every report renders from.
//! - [`runner`]: the run flow of `local` and `run`: prepare, baseline, trigger, rollout, settle.
//! - [`commands`]: one function per subcommand: plan, run, write outputs, exit code.
//! - [`interrupt`], [`progress`]: SIGINT/SIGTERM handling and live progress.
//! - [`exit`]: the exit codes of the CI contract.
//! - [`worker`]: a run as one generator of several (an Indexed Job's pod) and where its result
//!   goes besides the terminal (a marker line in the log, a ConfigMap).
//! - [`merge`]: the generators' results combined into one (`zerodrop merge`).
//! - [`plugin`]: parsing as `kubectl zerodrop` when installed as `kubectl-zerodrop`.

pub mod analysis;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod demo_app;
pub mod exit;
pub mod findings;
pub mod gate;
pub mod interrupt;
pub mod lint;
pub mod load;
pub mod merge;
pub mod plan;
pub mod plugin;
pub mod progress;
pub mod record;
pub mod report;
pub mod result;
pub mod runner;
pub mod timeline;
pub mod worker;
