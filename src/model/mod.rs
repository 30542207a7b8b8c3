//! The vocabulary every stage of a run speaks, below all of them: it imports nothing of ours.
//!
//! A producer never owns the words its consumers read. The load engine and the recorder meet
//! here (request records, the sink), the cluster runtimes and the analysis meet here (lifecycle
//! events), and the analysis, lint, gate and reports meet here (findings, phases, the verdict).
//!
//! - [`clock`]: the run's one clock; everything recorded is an [`At`](clock::At) on its axis.
//! - [`outcome`]: the outcome taxonomy and the connection identity each outcome carries.
//! - [`grpc`]: the gRPC classes of the taxonomy (grpc-status names, refused and reset streams,
//!   GOAWAY graceful or abrupt, connections cut without one, our deadline).
//! - [`connection`]: the life of one connection: opened, what it carried, how it ended.
//! - [`request`]: one finished request, the sink the engine reports to, live figures.
//! - [`session`]: WebSocket sessions: how each ended (close code or drop), its record.
//! - [`event`]: the lifecycle events both cluster runtimes emit.
//! - [`finding`]: finding ids, severities and the shape of a finding.
//! - [`phase`]: the phase names of a rollout run.
//! - [`result`]: the small saved parts of a result (verdict, thresholds, rollout, load report).
//! - [`units`]: the one grammar of durations, rates and counts every flag, scenario key and
//!   threshold is read with.
//! - [`exit`]: the exit codes of the CI contract.
//! - [`numbers`]: how every text spells counts and durations.

pub mod clock;
pub mod connection;
pub mod event;
pub mod exit;
pub mod finding;
pub mod grpc;
pub mod numbers;
pub mod outcome;
pub mod phase;
pub mod request;
pub mod result;
pub mod session;
pub mod units;
