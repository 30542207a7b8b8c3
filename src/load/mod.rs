//! The load engine: an open-model, constant-arrival-rate HTTP generator (and a closed-loop
//! capacity mode). It knows nothing of Kubernetes: it takes a [`LoadSpec`], a [`Sink`] for its
//! records, a clock and a stop signal, and reports every request's outcome with its connection
//! identity.
//!
//! - [`sample`]: a few requests whose response headers are kept whole (finding a pod-naming header).
//! - [`schedule`]: when each request is due (pure).
//! - [`mix`]: which template each request of a weighted mix is (pure, seeded, shardable).
//! - [`check`]: response checks (status, header, JSON Pointer, body) and their evaluation.
//! - [`classify`]: how transport errors map onto the outcome taxonomy.
//! - [`conn`]: dialling and TLS: a stream and its identity (local and peer address).
//! - `h1`: the engine's own HTTP/1.1 client (request serialised once, head parsed in place).
//! - `h2`: HTTP/2 on hyper, a few shared connections.
//! - `shared`: a connection many requests share at once (HTTP/2, gRPC) and its life.
//! - [`grpc`]: unary gRPC calls over a pool of HTTP/2 connections (the h2 crate), each call's
//!   end classified exactly (GOAWAY graceful or abrupt, refused or reset streams, statuses).
//! - `request`: what each template's requests look like, built once; the result of one
//!   exchange, checks applied.
//! - `deferred`: the open loop's plain connections read in batches at the dispatcher's
//!   wake-ups, each response timed by the kernel's receive timestamp.
//! - `pool`: the keep-alive pool — one long-lived worker per connection, fed due requests.
//! - `state`: `RunState`, what every request path of a run shares (clock, sink,
//!   addresses, in-flight).
//! - `endpoints`: `--via endpoints`: connections balanced over fed addresses, retired when
//!   their address leaves the feed.
//! - [`sniff`]: what an HTTP/2 server said about its connection (GOAWAY, reset, close).
//! - [`ws`]: WebSocket sessions (tokio-tungstenite): clients, messages, reconnection.
//! - [`timer`]: sub-millisecond waits (tokio's timer has 1 ms resolution).
//! - [`engine`]: drives the schedule under the in-flight cap; the closed loop.
//! - [`thread`]: runs the engine on a thread of its own.
//!
//! [`Sink`]: crate::model::request::Sink

pub mod check;
pub mod classify;
pub mod conn;
mod deferred;
mod dispatch;
mod endpoints;
pub mod engine;
pub mod grpc;
mod h1;
mod h2;
pub mod mix;
mod pool;
mod request;
pub mod sample;
pub mod schedule;
mod shared;
pub mod sniff;
mod state;
pub mod thread;
pub mod timer;
pub mod ws;

pub use engine::{AddressFeed, EngineError, LoadSpec, Mode, RequestSpec, run_load};
pub use grpc::GrpcCall;
pub use request::StatusSet;
pub use thread::{EngineThread, StopHandle};
