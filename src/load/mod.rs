//! The load engine: an open-model, constant-arrival-rate HTTP generator (and a closed-loop
//! capacity mode). It knows nothing of Kubernetes: it takes a [`LoadSpec`], a [`Sink`] for its
//! records, a clock and a stop signal, and reports every request's outcome with its connection
//! identity.
//!
//! - [`schedule`]: when each request is due (pure).
//! - [`outcome`]: the outcome taxonomy and how transport errors map onto it.
//! - [`conn`]: dialling, TLS, HTTP/1 and HTTP/2 connections with their identity.
//! - [`timer`]: sub-millisecond waits (tokio's timer has 1 ms resolution).
//! - [`engine`]: drives the schedule under the in-flight cap.
//!
//! [`Sink`]: crate::record::Sink

pub mod conn;
pub mod engine;
mod h1;
mod h2;
pub mod outcome;
mod pool;
mod request;
pub mod schedule;
mod shared;
pub mod thread;
pub mod timer;

pub use engine::{EngineError, LoadReport, LoadSpec, Mode, RequestSpec, run_load};
pub use thread::{EngineThread, StopHandle};
