//! WebSocket sessions under the open model (`--ws`): clients arrive on a schedule, each opens a
//! session and sends a message at a fixed rate, expecting a reply; every message is a request
//! record (latency from its due instant), every session's end a session record.
//!
//! - Arrival: `--sessions N` clients held open for the whole load, their arrivals spread over
//!   the first message interval (at most a second) so their messages interleave; or
//!   `--session-rate R` clients arriving at a constant rate, each living `--session-duration`.
//!   Client *k*'s message *n* (n ≥ 1) is due at `arrival_k + n / message_rate`, whatever
//!   happened before — a fixed grid, as requests have.
//! - A message due while the in-flight cap is reached is `dropped_by_generator`, never
//!   delayed. A reply pairs with the oldest unanswered message of its session and is judged by
//!   [`Expect`]; a message unanswered after `--timeout` is `ws_message_timeout`; one still
//!   unanswered when its session ended is `ws_message_lost`.
//! - A session ends by our close (its duration ran out, or the load ended: in-flight messages
//!   are answered first, then close 1000), by the server's close frame (1000, 1001, 1012, …)
//!   or by the connection going away without one (1006). With `--reconnect` the client opens a
//!   new session after a [`Backoff`]; messages due meanwhile are sent as soon as it opens
//!   (their latency counts the gap), or recorded `ws_not_sent` once their timeout has passed.
//!
//! Runs on the engine's thread: every client is a local task; nothing is locked or handed to
//! another thread. Connections are dialled by the engine's `RunState` (its addresses, TLS
//! and connection numbers), so a session carries the same connection identity as a request.
//!
//! - `backoff`: the reconnection wait; `expect`: judging a reply (both pure).
//! - `client`: one client's life, its sessions and reconnections.
//! - `session`: one open session: sending, pairing replies, and how it ended.

pub mod backoff;
mod client;
pub mod expect;
mod session;

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures::FutureExt as _;
use tokio::sync::Notify;

pub use backoff::Backoff;
pub use expect::Expect;

use super::state::RunState;
use crate::model::clock::At;

/// How clients arrive.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrival {
    /// `sessions` clients, opened at the start and held open until the load ends.
    Held { sessions: u64 },
    /// Clients arriving at `rate` per second, each living `session_duration`.
    Rate {
        rate: f64,
        session_duration: Duration,
    },
}

/// Everything the WebSocket engine needs beyond the request spec (URL, headers, identity
/// header) and the engine's limits (timeouts, the in-flight cap).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionSpec {
    pub arrival: Arrival,
    /// Messages per second on each session.
    pub message_rate: f64,
    /// The message text; `{client}` and `{seq}` are replaced by the client's number and the
    /// message's number on it.
    pub message: String,
    pub expect: Expect,
    /// Reconnect after a session ended by the server (or a failed handshake).
    pub reconnect: Option<Backoff>,
    /// At-least-once clients: messages unanswered when the server ended a session are sent
    /// again, first thing, on the client's next session (their latency counts from their due
    /// instant); those still unsent after their timeout are lost.
    pub resend: bool,
    /// How long clients keep arriving / sessions are held (`load`); `None`: until stopped.
    pub duration: Option<Duration>,
    pub max_in_flight: usize,
    /// This generator takes clients `index`, `index + count`, … (an Indexed Job's share).
    pub shard: (u64, u64),
}

impl SessionSpec {
    /// The interval between two messages of one session.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.message_rate.max(1e-9))
    }

    /// When client `k` arrives, from the load's start; `None` past the schedule's end.
    pub fn arrival(&self, k: u64) -> Option<Duration> {
        let at = match &self.arrival {
            Arrival::Held { sessions } => {
                if k >= *sessions {
                    return None;
                }
                // Spread over one message interval (at most a second) so the sessions'
                // messages interleave instead of leaving in bursts.
                let spread = self.interval().min(Duration::from_secs(1));
                spread.mul_f64(k as f64 / *sessions as f64)
            }
            Arrival::Rate { rate, .. } => Duration::from_secs_f64(k as f64 / rate),
        };
        match self.duration {
            Some(d) if at >= d => None,
            _ => Some(at),
        }
    }

    /// How long client `k` lives from its arrival (`None`: until the load ends).
    pub fn lifetime(&self) -> Option<Duration> {
        match &self.arrival {
            Arrival::Held { .. } => None,
            Arrival::Rate {
                session_duration, ..
            } => Some(*session_duration),
        }
    }
}

/// The load's stop, seen by every client: set once, never cleared.
#[derive(Default)]
pub(super) struct StopFlag {
    set: Cell<bool>,
    at: Cell<At>,
    notify: Notify,
}

impl StopFlag {
    fn stop(&self, at: At) {
        if !self.set.get() {
            self.at.set(at);
            self.set.set(true);
            self.notify.notify_waiters();
        }
    }

    pub(super) fn is_set(&self) -> bool {
        self.set.get()
    }

    /// When the load stopped (meaningful once set).
    pub(super) fn at(&self) -> At {
        self.at.get()
    }

    /// Resolves once the load has stopped.
    pub(super) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.set.get() {
                return;
            }
            notified.await;
        }
    }
}

/// What every client of one run shares.
pub(super) struct Ctx {
    pub(super) sh: Rc<RunState>,
    pub(super) spec: SessionSpec,
    /// The `ws://` or `wss://` URL with the user's headers, as the handshake sends it.
    pub(super) request: http::Request<()>,
    pub(super) identity_header: Option<http::HeaderName>,
    pub(super) stop: StopFlag,
    pub(super) start: At,
}

/// Runs every client of `spec` from `start` until the schedule ends or `stop` resolves, then
/// lets each session finish (in-flight messages answered, close 1000). Returns (messages due,
/// schedule completed).
pub(super) async fn run(
    sh: &Rc<RunState>,
    spec: &SessionSpec,
    request: http::Request<()>,
    identity_header: Option<http::HeaderName>,
    start: At,
    stop: impl Future<Output = ()>,
) -> (u64, bool) {
    let ctx = Rc::new(Ctx {
        sh: sh.clone(),
        spec: spec.clone(),
        request,
        identity_header,
        stop: StopFlag::default(),
        start,
    });
    let mut stop = std::pin::pin!(stop.fuse());
    let clients = arrivals(&ctx, &mut stop).await;
    // Held sessions (and the last arrivals' lives) go on until the load's end.
    let completed = match spec.duration {
        Some(d) if !ctx.stop.is_set() => {
            let end = sh.clock.instant(start.plus(d));
            tokio::select! {
                _ = &mut stop => false,
                _ = tokio::time::sleep_until(end.into()) => true,
            }
        }
        Some(_) => false,
        None => {
            if !ctx.stop.is_set() {
                stop.await;
            }
            false
        }
    };
    // A schedule that ran its course stops at its end instant, whenever this thread got to it.
    let at = match spec.duration {
        Some(d) if completed => start.plus(d),
        _ => sh.now(),
    };
    ctx.stop.stop(at);
    let mut due = 0;
    for c in futures::future::join_all(clients).await {
        due += c.unwrap_or(0);
    }
    (due, completed)
}

/// Starts each client at its arrival; returns their tasks (each yields its messages due).
async fn arrivals(
    ctx: &Rc<Ctx>,
    stop: &mut (impl Unpin + futures::future::FusedFuture<Output = ()>),
) -> Vec<tokio::task::JoinHandle<u64>> {
    let (index, count) = ctx.spec.shard;
    let t0 = ctx.sh.clock.instant(ctx.start);
    let mut clients = Vec::new();
    let mut k = index;
    while let Some(offset) = ctx.spec.arrival(k) {
        tokio::select! {
            biased;
            _ = &mut *stop => {
                ctx.stop.stop(ctx.sh.now());
                break;
            }
            _ = tokio::time::sleep_until((t0 + offset).into()) => {}
        }
        let arrival = ctx.start.plus(offset);
        clients.push(tokio::task::spawn_local(client::run(
            ctx.clone(),
            k,
            arrival,
        )));
        k += count.max(1);
    }
    clients
}
