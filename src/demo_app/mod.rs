//! `zerodrop demo-app`: a small HTTP server whose shutdown and readiness behaviour can be set to
//! reproduce the failures the analysis finds (ungraceful shutdown, traffic to a terminating pod,
//! the keep-alive close race, early traffic) — and their fixes — for the demo, the tests and the
//! container image.
//!
//! Knobs:
//! - `--shutdown immediate`: no signal handler at all, so the stop signal kills the process and
//!   every in-flight request and open connection with it (ungraceful shutdown).
//!   `--shutdown graceful`: on TERM/INT/QUIT stop accepting, fail readiness, finish in-flight
//!   requests, then exit.
//! - `--keepalive-on-shutdown close-idle`: while draining, idle keep-alive connections are closed
//!   at once (the keep-alive close race); `connection-close`: they stay open and the next
//!   response on each says `Connection: close`, so the client closes it (no race).
//! - `--startup-delay`: listen only after this long (slow starter).
//! - `--warmup` with `--readiness lie`: for this long after listening, requests get 503 while
//!   the readiness path already says ready (early traffic); `--readiness honest` says 503 too.
//! - `--max-connection-age`: HTTP/2 connections older than this (plus up to 10 % jitter) get a
//!   GOAWAY and are drained, as gRPC servers' MAX_CONNECTION_AGE does, so clients reconnect.
//! - `--delay`: time spent on each request (requests in flight at shutdown); with
//!   `--workers N` at most N are served at once and the rest queue, so a replica carries
//!   N / delay requests a second (an overloaded service).
//! - `--anonymous`: responses do not name the replica (most apps do not).
//! - `--api-version v1|v2` with `--compat`: a small JSON API ([`api`]) whose v2 renames a
//!   field (`fullname` → `full_name`, seed 001's migration) or, compatible, serves both — a
//!   breaking release, and its fix, for the old-versus-new checks.
//!
//! - `--ws-path` (default `/ws`): a WebSocket echo endpoint whose sessions follow `--shutdown`
//!   (`immediate`: cut without a close frame; `graceful`: close 1001, then drain) — see its
//!   `ws` module.
//!
//! The same port serves gRPC (`grpc`: HTTP/2 with a gRPC content type): the standard health
//! check and an echo method. On the stop signal HTTP/2 connections get a GOAWAY at once and
//! their streams finish (graceful); with `immediate` they are cut with the process.
//!
//! Every response names the replica in `x-zerodrop-replica` (unless `--anonymous`) and the
//! API version in `x-api-version`.
//!
//! This module owns the server only; it knows nothing of the local runtime that starts it, nor
//! of the command line (the commands turn `demo-app`'s flags into a [`DemoAppConfig`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use grpc::Body;

pub mod api;
mod grpc;
mod ws;

pub use api::{API_VERSION_HEADER, ApiVersion};

/// The header naming the replica that answered.
pub const REPLICA_HEADER: &str = "x-zerodrop-replica";

/// What happens on the stop signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// No handler: the signal kills the process mid-request.
    Immediate,
    /// Stop accepting, finish in-flight requests, then exit.
    Graceful,
}

/// How idle keep-alive connections are treated while draining.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepaliveOnShutdown {
    /// Close them at once: a request already on its way meets a closed connection.
    CloseIdle,
    /// Keep them; answer the next request with `Connection: close`.
    ConnectionClose,
}

/// Whether the readiness path tells the truth during warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Honest,
    Lie,
}

/// How the demo app behaves (`zerodrop demo-app`'s flags, validated).
#[derive(Clone, Debug, PartialEq)]
pub struct DemoAppConfig {
    /// Port to listen on.
    pub port: u16,
    /// Address to listen on.
    pub host: IpAddr,
    /// Replica name sent in `x-zerodrop-replica`.
    pub name: String,
    pub shutdown: ShutdownMode,
    pub keepalive_on_shutdown: KeepaliveOnShutdown,
    /// Longest drain before remaining connections are closed and the process exits.
    pub drain_timeout: Duration,
    /// Listen only after this long.
    pub startup_delay: Duration,
    /// Answer 503 to requests for this long after listening.
    pub warmup: Duration,
    /// During warm-up, `Lie` makes the readiness path say ready anyway.
    pub readiness: Readiness,
    /// Time spent on each request.
    pub delay: Duration,
    /// Requests served at once at most (0: no limit); the others wait their turn, as with
    /// gunicorn's sync workers. A replica then carries `workers / delay` requests a second.
    pub workers: usize,
    /// Leave out `x-zerodrop-replica`: the app does not name itself, as most apps do not.
    pub anonymous: bool,
    pub ready_path: String,
    pub health_path: String,
    /// The version of the JSON API served under `/api/`.
    pub api_version: ApiVersion,
    /// v2 keeps v1's field beside the renamed one (expand, before contract).
    pub compat: bool,
    /// HTTP/2 connections older than this get a GOAWAY (gRPC's MAX_CONNECTION_AGE).
    pub max_connection_age: Option<Duration>,
    /// The WebSocket echo endpoint.
    pub ws_path: String,
}

impl Default for DemoAppConfig {
    /// The flags' defaults; port 0 (any free port).
    fn default() -> Self {
        DemoAppConfig {
            port: 0,
            host: IpAddr::from([127, 0, 0, 1]),
            name: "demo-app".into(),
            shutdown: ShutdownMode::Graceful,
            keepalive_on_shutdown: KeepaliveOnShutdown::ConnectionClose,
            drain_timeout: Duration::from_secs(10),
            startup_delay: Duration::ZERO,
            warmup: Duration::ZERO,
            readiness: Readiness::Honest,
            delay: Duration::ZERO,
            workers: 0,
            anonymous: false,
            ready_path: "/readyz".into(),
            health_path: "/healthz".into(),
            api_version: ApiVersion::V1,
            compat: false,
            max_connection_age: None,
            ws_path: "/ws".into(),
        }
    }
}

/// Why the demo app could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoAppError {
    /// The listen address could not be bound.
    #[error("demo-app: cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    /// The runtime or a signal handler could not be set up.
    #[error("demo-app: {0}")]
    Setup(std::io::Error),
}

struct State {
    args: DemoAppConfig,
    name: HeaderValue,
    listening_since: Instant,
    draining: AtomicBool,
    /// One permit per worker, when the number of workers is limited.
    workers: Option<tokio::sync::Semaphore>,
    /// Turns true when the drain begins: WebSocket sessions close with 1001.
    drain: watch::Receiver<bool>,
    /// WebSocket sessions still open.
    sessions: std::sync::atomic::AtomicUsize,
}

/// Runs the demo app until it has drained after a stop signal (graceful), or forever
/// (immediate: the signal ends the process).
pub fn run(args: DemoAppConfig) -> Result<(), DemoAppError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DemoAppError::Setup)?;
    rt.block_on(async move {
        let name = args.name.clone();
        if !args.startup_delay.is_zero() {
            println!(
                "demo-app {name}: starting (startup delay {:?})",
                args.startup_delay
            );
            tokio::time::sleep(args.startup_delay).await;
        }
        let addr = SocketAddr::new(args.host, args.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|error| DemoAppError::Bind { addr, error })?;
        let stop: std::pin::Pin<Box<dyn Future<Output = ()>>> = match args.shutdown {
            ShutdownMode::Immediate => Box::pin(std::future::pending()),
            ShutdownMode::Graceful => Box::pin(stop_signal()?),
        };
        serve(args, listener, stop).await;
        Ok(())
    })
}

/// Resolves on the first TERM, INT or QUIT.
fn stop_signal() -> Result<impl Future<Output = ()>, DemoAppError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(DemoAppError::Setup)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DemoAppError::Setup)?;
    let mut quit = signal(SignalKind::quit()).map_err(DemoAppError::Setup)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = quit.recv() => {}
        }
    })
}

/// Serves on `listener` until `stop` resolves, then drains as configured and returns.
pub async fn serve(args: DemoAppConfig, listener: TcpListener, stop: impl Future<Output = ()>) {
    let name = HeaderValue::from_str(&args.name).unwrap_or(HeaderValue::from_static("demo-app"));
    let local = listener
        .local_addr()
        .map_or("?".to_string(), |a| a.to_string());
    println!(
        "demo-app {}: listening on {local} (shutdown {:?}, keep-alive on shutdown {:?})",
        args.name, args.shutdown, args.keepalive_on_shutdown
    );
    let args_workers = args.workers;
    let (drain_tx, drain_rx) = watch::channel(false);
    let state = Arc::new(State {
        args,
        name,
        listening_since: Instant::now(),
        draining: AtomicBool::new(false),
        workers: (args_workers > 0).then(|| tokio::sync::Semaphore::new(args_workers)),
        drain: drain_rx.clone(),
        sessions: std::sync::atomic::AtomicUsize::new(0),
    });
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => {
                if let Ok((stream, _)) = r {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(connection(stream, state.clone(), drain_rx.clone()));
                }
                // Accept errors (a reset before accept, fd limits) are per connection.
            }
            // Reap finished connection tasks so the set stays small.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    state.draining.store(true, Ordering::Relaxed);
    println!(
        "demo-app {}: stop signal received; draining {} connection(s)",
        state.args.name,
        conns.len()
    );
    let _ = drain_tx.send(true);
    let deadline = Instant::now() + state.args.drain_timeout + Duration::from_secs(1);
    // WebSocket sessions run beside the connections that upgraded them: wait for their close.
    while state.sessions.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while !conns.is_empty() {
        match tokio::time::timeout_at(deadline, conns.join_next()).await {
            Ok(_) => {}
            Err(_) => {
                conns.abort_all();
                break;
            }
        }
    }
    println!("demo-app {}: drained; exiting", state.args.name);
}

async fn connection(
    stream: tokio::net::TcpStream,
    state: Arc<State>,
    mut drain: watch::Receiver<bool>,
) {
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let st = state.clone();
    // Set by the first HTTP/2 request: the connection speaks HTTP/2, whose clients learn of a
    // shutdown only from a GOAWAY.
    let h2 = Arc::new(AtomicBool::new(false));
    let seen_h2 = h2.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        if req.version() == Version::HTTP_2 {
            seen_h2.store(true, Ordering::Relaxed);
        }
        handle(req, st.clone())
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let aged = max_age(state.args.max_connection_age, h2.clone());
    let draining = async { drain.wait_for(|d| *d).await.is_ok() };
    let aged_out = tokio::select! {
        _ = conn.as_mut() => return,
        _ = draining => false,
        _ = aged => true,
    };
    let http2 = h2.load(Ordering::Relaxed);
    if aged_out {
        // Max connection age (gRFC A9): GOAWAY, finish the streams, and the client
        // reconnects — through a Service, possibly to another pod.
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
        return;
    }
    match state.args.keepalive_on_shutdown {
        _ if http2 => conn.as_mut().graceful_shutdown(),
        KeepaliveOnShutdown::CloseIdle => conn.as_mut().graceful_shutdown(),
        KeepaliveOnShutdown::ConnectionClose => {
            // HTTP/1 connections close after their next response says so; give them the
            // drain timeout, then close whatever is left.
            let timeout = state.args.drain_timeout;
            if tokio::time::timeout(timeout, conn.as_mut()).await.is_ok() {
                return;
            }
            conn.as_mut().graceful_shutdown();
        }
    }
    let _ = conn.await;
}

/// Resolves once an HTTP/2 connection (`h2`, known from its first request) has lived `age`
/// plus up to 10 % jitter (as gRPC servers add, so connections opened together do not all go
/// at once); never without an age, nor for HTTP/1.
async fn max_age(age: Option<Duration>, h2: Arc<AtomicBool>) {
    let Some(age) = age else {
        return std::future::pending().await;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = age.mul_f64(f64::from(nanos % 1000) / 10_000.0);
    tokio::time::sleep(age + jitter).await;
    if !h2.load(Ordering::Relaxed) {
        std::future::pending::<()>().await;
    }
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Result<Response<Body>, Infallible> {
    if grpc::is_grpc(&req) {
        return Ok(grpc::handle(req, state).await);
    }
    let args = &state.args;
    let warming = state.listening_since.elapsed() < args.warmup;
    let draining = state.draining.load(Ordering::Relaxed);
    if req.uri().path() == args.ws_path && ws::is_upgrade(&req) {
        return Ok(ws::accept(req, state.clone()).map(|b| b.boxed()));
    }
    let path = req.uri().path();
    let (status, body): (StatusCode, String) = if path == args.health_path {
        (StatusCode::OK, "ok\n".into())
    } else if path == args.ready_path {
        if draining {
            (StatusCode::SERVICE_UNAVAILABLE, "draining\n".into())
        } else if warming && args.readiness == Readiness::Honest {
            (StatusCode::SERVICE_UNAVAILABLE, "warming up\n".into())
        } else {
            (StatusCode::OK, "ready\n".into())
        }
    } else if warming {
        (StatusCode::SERVICE_UNAVAILABLE, "warming up\n".into())
    } else {
        // Waits for a free worker first, when their number is limited.
        let _worker = match &state.workers {
            Some(w) => w.acquire().await.ok(),
            None => None,
        };
        if !args.delay.is_zero() {
            tokio::time::sleep(args.delay).await;
        }
        api::respond(path, args.api_version, args.compat)
            .unwrap_or_else(|| (StatusCode::OK, format!("hello from {}\n", args.name)))
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if !args.anonymous {
        h.insert(REPLICA_HEADER, state.name.clone());
    }
    h.insert(
        API_VERSION_HEADER,
        HeaderValue::from_static(args.api_version.name()),
    );
    if path.starts_with("/api/") {
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if state.draining.load(Ordering::Relaxed)
        && args.keepalive_on_shutdown == KeepaliveOnShutdown::ConnectionClose
        && req.version() < Version::HTTP_2
    {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    /// Replica `r1` with the defaults.
    fn args() -> DemoAppConfig {
        DemoAppConfig {
            port: 1,
            name: "r1".into(),
            ..DemoAppConfig::default()
        }
    }

    async fn start(
        a: DemoAppConfig,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(a, l, async move {
            let _ = rx.await;
        }));
        (addr, tx, task)
    }

    /// Sends one request on `s` and returns the response head and body as text.
    async fn exchange(s: &mut TcpStream, path: &str) -> std::io::Result<String> {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await?;
        let mut buf = vec![0u8; 4096];
        let mut out = Vec::new();
        // Responses here are small: read until the body (after the blank line) has arrived.
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out);
            if let Some(i) = text.find("\r\n\r\n") {
                if text[i + 4..].ends_with('\n') {
                    return Ok(text.to_string());
                }
            }
        }
    }

    /// The status code of one GET of `path` on `s`.
    async fn status(s: &mut TcpStream, path: &str) -> u16 {
        let r = exchange(s, path).await.expect("response");
        r.get(9..12)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{r}"))
    }

    #[tokio::test]
    async fn responses_name_the_replica_and_health_paths_answer() {
        let (addr, _stop, _task) = start(args()).await;
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let r = exchange(&mut s, "/").await.expect("response");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.contains("x-zerodrop-replica: r1"), "{r}");
        assert_eq!(status(&mut s, "/readyz").await, 200);
        assert_eq!(status(&mut s, "/healthz").await, 200);
    }

    #[tokio::test]
    async fn a_lying_readiness_path_says_ready_while_requests_get_503() {
        let (addr, _stop, _task) = start(DemoAppConfig {
            warmup: Duration::from_secs(60),
            readiness: Readiness::Lie,
            ..args()
        })
        .await;
        let mut s = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(status(&mut s, "/readyz").await, 200);
        assert_eq!(status(&mut s, "/").await, 503);
        let (addr, _stop2, _task2) = start(DemoAppConfig {
            warmup: Duration::from_secs(60),
            ..args()
        })
        .await;
        let mut s = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(status(&mut s, "/readyz").await, 503);
    }

    #[tokio::test]
    async fn draining_with_connection_close_answers_then_closes_the_connection() {
        let (addr, stop, task) = start(DemoAppConfig {
            keepalive_on_shutdown: KeepaliveOnShutdown::ConnectionClose,
            ..args()
        })
        .await;
        let mut s = TcpStream::connect(addr).await.expect("connect");
        exchange(&mut s, "/").await.expect("before drain");
        let _ = stop.send(());
        // Wait for the server to enter draining: new connects are refused once it has.
        for _ in 0..200 {
            if TcpStream::connect(addr).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The idle keep-alive connection still gets an answer, marked close.
        let r = exchange(&mut s, "/")
            .await
            .expect("answered while draining");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.to_ascii_lowercase().contains("connection: close"), "{r}");
        let mut rest = Vec::new();
        assert_eq!(s.read_to_end(&mut rest).await.expect("eof"), 0);
        task.await.expect("server ends once drained");
    }

    #[tokio::test]
    async fn draining_with_close_idle_closes_idle_connections_at_once() {
        let (addr, stop, task) = start(DemoAppConfig {
            keepalive_on_shutdown: KeepaliveOnShutdown::CloseIdle,
            ..args()
        })
        .await;
        let mut s = TcpStream::connect(addr).await.expect("connect");
        exchange(&mut s, "/").await.expect("before drain");
        let _ = stop.send(());
        task.await.expect("server ends");
        // The idle connection was closed without a word: a request on it gets no response.
        let r = exchange(&mut s, "/").await;
        assert!(r.is_err(), "{r:?}");
    }

    #[tokio::test]
    async fn in_flight_requests_finish_during_a_graceful_drain() {
        let (addr, stop, task) = start(DemoAppConfig {
            delay: Duration::from_millis(300),
            keepalive_on_shutdown: KeepaliveOnShutdown::CloseIdle,
            ..args()
        })
        .await;
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req = tokio::spawn(async move { exchange(&mut s, "/").await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop.send(());
        let r = req
            .await
            .expect("join")
            .expect("in-flight request completed");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        task.await.expect("server ends");
    }
}
