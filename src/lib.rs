//! zerodrop: prove a Kubernetes rollout drops zero requests.
//!
//! # Layout
//!
//! Data flows one way. Two producers run side by side and meet only in `analysis`:
//!
//! ```text
//!            ┌──► load ──────► record ───┐
//!  config ───┤                           ├──► analysis ──► gate ──► result ──► report
//!            └──► cluster ───► timeline ─┘
//! ```
//!
//! Below all of them, [`model`] holds the words every stage speaks (the clock, outcome classes,
//! request records and the sink, lifecycle events, findings, phase names, the verdict, exit
//! codes) and imports nothing of ours. Above them, [`run`] drives a rollout test and
//! [`commands`] map each subcommand to its exit code.
//!
//! - [`model`]: the shared vocabulary.
//! - [`cli`]: clap types only; seen by [`commands`] alone.
//! - [`config`]: flags as typed + scenario file → the validated `Plan` and the runtimes'
//!   configurations, in two stages; one problem collector (every problem at once), one unit
//!   grammar for durations, rates and counts.
//! - [`load`]: the open-model load engine; emits request records to a sink. Knows nothing of
//!   Kubernetes, of the recorder or of the CLI.
//! - [`record`]: the sink that aggregates: per-second buckets, phase histograms, the bounded
//!   failure log; mergeable.
//! - [`cluster`]: the `Cluster` trait; the local and kube runtimes emit lifecycle events.
//! - [`timeline`]: ordered lifecycle events on the run's clock, watch gaps included.
//! - [`analysis`]: pure analysis of records + timeline: phases, attribution, lag, findings.
//! - [`lint`]: static checks of workload manifests for the same risks, before anything runs.
//! - [`gate`]: threshold expressions, the default zero-drop check, the verdict.
//! - [`result`]: the saved result document every report renders from.
//! - [`report`]: terminal, JSON, JUnit and HTML renderers of a result; redaction.
//! - [`run`]: the run flow of `local` and `run`, interrupts, progress.
//! - [`distributed`]: a run as one generator of several, merge, the in-cluster Job manifests.
//! - [`demo_app`]: the built-in HTTP server whose shutdown behaviour reproduces each finding.
//! - [`commands`]: one function per subcommand: config, run, write outputs, exit code.
//! - [`plugin`]: parsing as `kubectl zerodrop` when installed as `kubectl-zerodrop`.

pub mod analysis;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod demo_app;
pub mod distributed;
pub mod gate;
pub mod lint;
pub mod load;
pub mod model;
pub mod plugin;
pub mod record;
pub mod report;
pub mod result;
pub mod run;
pub mod timeline;
