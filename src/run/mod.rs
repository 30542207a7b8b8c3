//! Running a rollout test: the flow shared by `zerodrop local` and `zerodrop run` (prepare,
//! baseline, trigger, rollout, settle, analyse), the load engine started with its recorder,
//! SIGINT/SIGTERM handling, and live progress.
//!
//! - [`flow`]: the run flow over any [`Cluster`](crate::cluster::Cluster).
//! - `baseline`: the baseline, and whether the service carries the load before a rollout.
//! - [`identity`]: finding a response header that names the pod, before the load starts.
//! - [`interrupt`]: SIGINT/SIGTERM as a shared flag and a future to wait on.
//! - [`progress`]: progress bars on a terminal, plain lines elsewhere.

mod baseline;
pub mod flow;
pub mod identity;
pub mod interrupt;
pub mod progress;
