//! Drives the schedule: dispatches each request at its due instant on a connection, under a cap
//! on requests in flight, and hands every outcome to the sink.
//!
//! Runs on one thread (a current-thread runtime and a `LocalSet`): the hot path takes no lock
//! and crosses no thread. HTTP/1 keep-alive requests go to the connection pool's long-lived
//! workers (`pool`); HTTP/2 requests and `--no-keepalive` requests each run as a local
//! task. A request due while the in-flight cap is reached is recorded as
//! `dropped_by_generator` at once: never delayed, never silently skipped.
//!
//! The open model's dispatcher, which holds requests due close together back to leave in one
//! wake-up and drives the deferred reads, is `load::dispatch`. The closed-loop capacity mode
//! (`--max`) runs N workers that each send back to back on their own connection, as wrk does.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Uri};

use super::check::Checks;
pub use super::dispatch::dispatch_window;
use super::dispatch::{OpenPlan, drain_open, open_loop};
use super::grpc::{self, GrpcCall};
use super::h2::{self, H2Slot};
use super::pool::{self, Line, Pool, Ticket};
use super::request::StatusSet;
use super::schedule::Schedule;
use super::state::{RunState, spawn_resolver};
use super::timer::PreciseTimer;
use crate::model::clock::{At, RunClock};
use crate::model::request::{LiveStats, Sink};
use crate::model::result::LoadReport;

/// What one request template looks like.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    pub method: Method,
    /// Absolute URL (`http://host:port/path?query` or https); every template of a run goes to
    /// the same scheme, host and port.
    pub url: Uri,
    /// Headers as the user gave them (Host is added when absent).
    pub headers: HeaderMap,
    pub body: Bytes,
    pub accept: StatusSet,
    /// Its relative weight in the mix (ignored with one template).
    pub weight: f64,
    /// Its response checks.
    pub checks: Checks,
}

impl RequestSpec {
    /// A `GET` of `url` accepting 2xx, with no header, body or check.
    pub fn get(url: Uri) -> RequestSpec {
        RequestSpec {
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            accept: StatusSet::default(),
            weight: 1.0,
            checks: Checks::default(),
        }
    }
}

/// Open model (arrivals on a schedule) or closed loop (as fast as N connections allow).
#[derive(Clone, Debug)]
pub enum Mode {
    Open {
        schedule: Schedule,
        max_in_flight: usize,
        /// Connections opened before the first request (keep-alive), or HTTP/2 connections.
        connections: usize,
        /// How long a due request may wait to leave with later ones in one wake-up; `None`:
        /// [`dispatch_window`] at the schedule's rate.
        send_window: Option<Duration>,
    },
    Closed {
        connections: usize,
        duration: Option<Duration>,
    },
    /// WebSocket sessions (`--ws`): clients arrive, each sends messages on its session.
    Sessions(super::ws::SessionSpec),
}

/// Everything the engine needs; built from a validated plan.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// The request templates, at least one. With several, each request's template is picked by
    /// a [`Mix`](super::mix::Mix) of their weights seeded by `seed`, from the request's global
    /// number.
    pub requests: Vec<RequestSpec>,
    pub seed: u64,
    /// A response header naming who answered (e.g. the pod), remembered per connection.
    pub identity_header: Option<HeaderName>,
    /// A response header naming the version that answered, remembered per connection.
    pub version_header: Option<HeaderName>,
    /// The most of a response body read for the checks that need it (`--max-body`).
    pub max_body: usize,
    /// Unary gRPC calls instead of HTTP requests: the (one) request's URL names the server (its
    /// path is unused), its headers are the call's metadata, and every call goes over a pool of
    /// HTTP/2 connections (`connections` of them).
    pub grpc: Option<GrpcCall>,
    pub mode: Mode,
    pub keepalive: bool,
    pub http2: bool,
    pub insecure: bool,
    /// Bound on one request from its send to the end of its response.
    pub timeout: Duration,
    /// Bound on establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Where new connections go, fed by the caller as it changes (`--via endpoints`: the
    /// Service's routable endpoints), instead of the URL's host looked up in DNS every second.
    /// The URL still names the target (Host, SNI).
    pub addresses: Option<AddressFeed>,
}

/// The addresses new connections go to, as they change.
pub type AddressFeed = tokio::sync::watch::Receiver<Vec<std::net::SocketAddr>>;

/// Why the engine could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The URL has no host, or a scheme other than http/https.
    #[error("target URL `{0}` must be http:// or https:// with a host")]
    BadUrl(String),
    /// The target's host name did not resolve.
    #[error("could not resolve `{host}`: {error}")]
    Resolve { host: String, error: String },
    /// Not one connection could be opened before the run.
    #[error("target {addr} is unreachable: {error}")]
    Unreachable { addr: String, error: String },
    /// The TLS configuration could not be built.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The engine's thread or runtime could not be started.
    #[error("could not start the load engine: {0}")]
    Runtime(String),
}

/// Called once, on the engine thread, with the schedule's start instant, before the first
/// request is dispatched (the place to mark the first phase).
pub type OnStart = Box<dyn FnOnce(At) + Send>;

/// How requests are carried, decided once per run.
pub(super) enum Carrier {
    /// HTTP/1 keep-alive: the pool's workers.
    Pool(Rc<Pool>, Vec<tokio::task::JoinHandle<()>>),
    /// HTTP/2: shared connections, one task per request.
    H2(Rc<[H2Slot]>),
    /// gRPC: a pool of HTTP/2 connections, one task per call.
    Grpc(Rc<[grpc::Slot]>, Rc<grpc::Template>),
    /// A new connection (and task) per request.
    NewConnection,
}

impl Carrier {
    /// Chooses how requests are carried and opens the connections the run starts with
    /// (`connections` of them, keep-alive only). Fails only if not one could be opened.
    async fn open(
        spec: &LoadSpec,
        sh: &Rc<RunState>,
        connections: usize,
    ) -> Result<Carrier, EngineError> {
        if let Some(call) = &spec.grpc {
            let template = grpc::Template::new(&spec.requests[0], call, spec.timeout)?
                .watching(spec.identity_header.clone(), spec.version_header.clone());
            let template = Rc::new(template);
            Ok(Carrier::Grpc(grpc::open(sh, connections).await?, template))
        } else if !spec.keepalive {
            Ok(Carrier::NewConnection)
        } else if spec.http2 {
            Ok(Carrier::H2(open_h2(sh, connections).await?))
        } else {
            let pool = Pool::new(connections);
            let workers = start_workers(sh, &pool).await?;
            Ok(Carrier::Pool(pool, workers))
        }
    }

    /// Sends request `seq` of `template`, due at `due`: hands it to the pool (which queues it
    /// while every connection is busy) or starts its task.
    pub(super) fn send(&self, sh: &Rc<RunState>, seq: u64, due: At, template: u16) {
        match self {
            Carrier::Pool(pool, _) => pool.submit(Ticket { seq, due, template }),
            Carrier::H2(slots) => {
                let (sh, slots) = (sh.clone(), slots.clone());
                tokio::task::spawn_local(h2::request(sh, slots, seq, due, template));
            }
            Carrier::Grpc(slots, t) => {
                let call = grpc::call(sh.clone(), slots.clone(), t.clone(), seq, due);
                tokio::task::spawn_local(call);
            }
            Carrier::NewConnection => {
                let sh = sh.clone();
                tokio::task::spawn_local(new_connection_request(sh, seq, due, template));
            }
        }
    }

    /// True when a request handed over now would wait: every connection of the pool is busy.
    /// (Only the pool's connections are read at wake-ups; the others never wait.)
    pub(super) fn all_busy(&self) -> bool {
        matches!(self, Carrier::Pool(pool, _) if pool.all_busy())
    }

    /// True when requests wait for a connection of the pool.
    pub(super) fn has_queued(&self) -> bool {
        matches!(self, Carrier::Pool(pool, _) if pool.has_queued())
    }

    /// Closes the connections once no request is in flight, reporting their lives.
    async fn close(self, sh: &RunState) {
        match self {
            Carrier::Pool(pool, workers) => {
                pool.close();
                // Workers end once woken; wait so their connections close now.
                futures::future::join_all(workers).await;
            }
            Carrier::H2(slots) => h2::close(sh, &slots),
            Carrier::Grpc(slots, _) => grpc::close(sh, &slots),
            Carrier::NewConnection => {}
        }
    }
}

/// Runs the load described by `spec` until its schedule ends or `stop` resolves, then waits for
/// in-flight requests (each bounded by its timeouts). Must run inside a `LocalSet`.
pub async fn run_load(
    spec: &LoadSpec,
    clock: RunClock,
    sink: Rc<RefCell<dyn Sink>>,
    live: Arc<LiveStats>,
    on_start: Option<OnStart>,
    stop: impl Future<Output = ()>,
) -> Result<LoadReport, EngineError> {
    let sh = Rc::new(RunState::setup(spec, clock, sink, live).await?);
    // The addresses the run started with, whatever the resolver finds later.
    let addrs = sh.addrs.borrow().clone();
    let resolver = spawn_resolver(sh.clone(), spec.addresses.clone());
    // Deferred connections are watched for a close by their peers for the whole run.
    let closes = sh
        .reads
        .clone()
        .map(|reads| tokio::task::spawn_local(async move { reads.watch_closes().await }));
    let (start, requests_due, completed) = match &spec.mode {
        Mode::Open {
            schedule,
            max_in_flight,
            connections,
            send_window,
        } => {
            let plan = OpenPlan {
                schedule,
                max_in_flight: *max_in_flight,
                send_window: *send_window,
            };
            run_open(spec, &sh, *connections, plan, on_start, stop).await?
        }
        Mode::Closed {
            connections,
            duration,
        } => {
            // gRPC callers share a pool of connections; HTTP/1 workers each own one.
            let carrier = match &spec.grpc {
                Some(_) => Some(Carrier::open(spec, &sh, *connections).await?),
                None => None,
            };
            let start = begin(&sh, on_start);
            let (due, completed) =
                closed_loop(&sh, carrier.as_ref(), *connections, *duration, start, stop).await;
            sh.drained().await;
            if let Some(c) = carrier {
                c.close(&sh).await;
            }
            (start, due, completed)
        }
        Mode::Sessions(ws) => {
            // The plan refuses a mix with --ws: its one request is the handshake's.
            let first = spec
                .requests
                .first()
                .ok_or_else(|| EngineError::BadUrl(String::new()))?;
            let request = ws_request(first)?;
            let start = begin(&sh, on_start);
            let identity = spec.identity_header.clone();
            let (due, completed) = super::ws::run(&sh, ws, request, identity, start, stop).await;
            (start, due, completed)
        }
    };
    for task in [resolver, closes].into_iter().flatten() {
        task.abort();
        let _ = task.await;
    }
    Ok(LoadReport {
        start,
        end: sh.now(),
        requests_due,
        connections_opened: sh.conns_opened.get(),
        completed,
        precise_timer: PreciseTimer::new().is_precise(),
        kernel_receive_timestamps: sh.kernel_receive_timestamps(),
        addresses: addrs,
    })
}

/// The open model: opens the carrier's connections, dispatches the schedule, waits for the
/// requests in flight and closes the connections; returns (start, requests due, completed).
async fn run_open(
    spec: &LoadSpec,
    sh: &Rc<RunState>,
    connections: usize,
    plan: OpenPlan<'_>,
    on_start: Option<OnStart>,
    stop: impl Future<Output = ()>,
) -> Result<(At, u64, bool), EngineError> {
    let carrier = Carrier::open(spec, sh, connections).await?;
    let start = begin(sh, on_start);
    let (due, completed) = open_loop(sh, &carrier, plan, start, stop).await;
    drain_open(sh, &carrier).await;
    carrier.close(sh).await;
    Ok((start, due, completed))
}

/// The WebSocket handshake request: the target URL as `ws://` (or `wss://` for https) with
/// the user's headers.
fn ws_request(r: &RequestSpec) -> Result<http::Request<()>, EngineError> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let bad = || EngineError::BadUrl(r.url.to_string());
    let scheme = match r.url.scheme_str() {
        Some("https") => "wss",
        _ => "ws",
    };
    let pq = r.url.path_and_query().map_or("/", |pq| pq.as_str());
    let authority = r.url.authority().ok_or_else(bad)?;
    let url: Uri = format!("{scheme}://{authority}{pq}")
        .parse()
        .map_err(|_| bad())?;
    let mut req = url.into_client_request().map_err(|_| bad())?;
    // A user's header replaces the handshake's own of that name (Host); repeats are kept.
    for name in r.headers.keys() {
        req.headers_mut().remove(name);
    }
    for (name, value) in &r.headers {
        req.headers_mut().append(name, value.clone());
    }
    Ok(req)
}

/// Marks the schedule's start: the instant every due time counts from, handed to `on_start`.
fn begin(sh: &RunState, on_start: Option<OnStart>) -> At {
    let start = sh.now();
    if let Some(f) = on_start {
        f(start);
    }
    start
}

/// Opens every HTTP/2 connection ahead of the first request. Fails only if the first could not
/// be opened; a slot that could not be dialled now is dialled by the first request that needs
/// it.
async fn open_h2(sh: &RunState, connections: usize) -> Result<Rc<[H2Slot]>, EngineError> {
    let slots: Rc<[H2Slot]> = (0..connections.max(1)).map(|_| H2Slot::default()).collect();
    for k in 0..slots.len() {
        if let Err(e) = h2::connection(sh, &slots, k as u64).await {
            if k == 0 {
                return Err(EngineError::Unreachable {
                    addr: e.peer.to_string(),
                    error: e.error,
                });
            }
        }
    }
    Ok(slots)
}

/// Opens the pool's connections ahead of the first request and starts one worker per slot.
/// Fails only if not one connection could be opened.
async fn start_workers(
    sh: &Rc<RunState>,
    pool: &Rc<Pool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, EngineError> {
    let dials: Vec<_> = (0..pool.size()).map(|_| sh.open_h1()).collect();
    let results = futures::future::join_all(dials).await;
    if results.iter().all(|r| r.is_err()) {
        if let Some(Err(e)) = results.into_iter().next() {
            return Err(EngineError::Unreachable {
                addr: e.peer.to_string(),
                error: e.error,
            });
        }
        return Ok(Vec::new());
    }
    Ok(results
        .into_iter()
        .enumerate()
        .map(|(me, r)| tokio::task::spawn_local(pool::worker(sh.clone(), pool.clone(), me, r.ok())))
        .collect())
}

/// One request on a connection of its own, closed afterwards (`--no-keepalive`).
async fn new_connection_request(sh: Rc<RunState>, seq: u64, due: At, template: u16) {
    Line::new(None).serve(&sh, seq, due, template).await;
}

/// `connections` workers, each sending back to back (HTTP/1 on a connection of its own, gRPC
/// calls over the carrier's pool); returns (requests sent, completed).
async fn closed_loop(
    sh: &Rc<RunState>,
    carrier: Option<&Carrier>,
    connections: usize,
    duration: Option<Duration>,
    start: At,
    stop: impl Future<Output = ()>,
) -> (u64, bool) {
    let stopped = Rc::new(Cell::new(false));
    let seq = Rc::new(Cell::new(0u64));
    let deadline = duration.map(|d| sh.clock.instant(start) + d);
    let mut workers = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        let (sh, stopped, seq) = (sh.clone(), stopped.clone(), seq.clone());
        let grpc = match carrier {
            Some(Carrier::Grpc(slots, t)) => Some((slots.clone(), t.clone())),
            _ => None,
        };
        workers.push(tokio::task::spawn_local(async move {
            let mut line = Line::new(None);
            while !stopped.get() && deadline.is_none_or(|d| Instant::now() < d) {
                let i = seq.get();
                seq.set(i + 1);
                let now = sh.now();
                sh.live.due.fetch_add(1, Ordering::Relaxed);
                sh.start_request();
                let template = sh.requests.mix.pick(i);
                let served = match &grpc {
                    Some((slots, t)) => {
                        grpc::call(sh.clone(), slots.clone(), t.clone(), i, now).await
                    }
                    None => line.serve(&sh, i, now, template).await,
                };
                if !served {
                    // Do not spin on a dead target: a failed dial costs at least 1 ms.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            line.release(&sh);
        }));
    }
    let all = futures::future::join_all(workers);
    tokio::select! {
        _ = stop => {
            stopped.set(true);
            (seq.get(), false)
        }
        _ = all => (seq.get(), true),
    }
}
