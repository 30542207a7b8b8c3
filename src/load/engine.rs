//! Drives the schedule: dispatches each request at its due instant on a connection, under a cap
//! on requests in flight, and hands every outcome to the sink.
//!
//! Runs on one thread (a current-thread runtime and a `LocalSet`): the hot path takes no lock
//! and crosses no thread. Per request it spawns one local task that takes an idle connection
//! from a FIFO pool (spreading requests over connections, and so over the pods a Service pins
//! them to), or dials a new one while under the cap. A request due while the cap is reached is
//! recorded as `dropped_by_generator` at once: never delayed, never silently skipped.
//!
//! The closed-loop capacity mode (`--max`) runs N workers that each send back to back on their
//! own connection, as wrk does.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full};
use tokio::sync::Notify;

use super::conn::{Conn, DialError, Dialer, Sender, tls_config};
use super::outcome::{ConnId, OutcomeClass, Stage, StatusSet, classify, error_chain};
use super::schedule::Schedule;
use super::timer::PreciseTimer;
use crate::clock::{At, RunClock};
use crate::record::{LiveStats, RequestRecord, Sink};

/// What each request looks like.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    pub method: Method,
    /// Absolute URL (`http://host:port/path?query` or https).
    pub url: Uri,
    /// Headers as the user gave them (Host is added when absent).
    pub headers: HeaderMap,
    pub body: Bytes,
    pub accept: StatusSet,
    /// A response header naming who answered (e.g. the pod), remembered per connection.
    pub identity_header: Option<HeaderName>,
}

/// Open model (arrivals on a schedule) or closed loop (as fast as N connections allow).
#[derive(Clone, Debug)]
pub enum Mode {
    Open {
        schedule: Schedule,
        max_in_flight: usize,
        /// Connections opened before the first request (keep-alive), or HTTP/2 connections.
        connections: usize,
    },
    Closed {
        connections: usize,
        duration: Option<Duration>,
    },
}

/// Everything the engine needs; built from a validated plan.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub request: RequestSpec,
    pub mode: Mode,
    pub keepalive: bool,
    pub http2: bool,
    pub insecure: bool,
    /// Bound on one request from its send to the end of its response.
    pub timeout: Duration,
    /// Bound on establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
}

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

/// What the engine reports about its own run (the requests themselves went to the sink).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadReport {
    /// The instant the schedule started (request 0's due time).
    pub start: At,
    /// When the last in-flight request finished.
    pub end: At,
    /// Requests the schedule made due (sent or dropped).
    pub requests_due: u64,
    /// Connections the engine opened.
    pub connections_opened: u64,
    /// False if a stop came before the schedule ended.
    pub completed: bool,
    /// Whether sub-millisecond timing (timerfd) was available.
    pub precise_timer: bool,
    /// Addresses the target resolved to at the start.
    pub addresses: Vec<SocketAddr>,
}

/// Keep-alive dials allowed at once once the pre-opened connections are all busy.
const MAX_CONCURRENT_DIALS: usize = 8;

/// Called once, on the engine thread, with the schedule's start instant, before the first
/// request is dispatched (the place to mark the first phase).
pub type OnStart = Box<dyn FnOnce(At) + Send>;

struct Shared {
    clock: RunClock,
    sink: Rc<RefCell<dyn Sink>>,
    live: Arc<LiveStats>,
    dialer: Dialer,
    host: String,
    port: u16,
    addrs: RefCell<Vec<SocketAddr>>,
    resolve_error: RefCell<Option<String>>,
    rr: Cell<usize>,
    idle: RefCell<VecDeque<Conn>>,
    /// Requests waiting for a connection to come back or a dial slot to free up.
    waiters: RefCell<VecDeque<tokio::sync::oneshot::Sender<Option<Conn>>>>,
    /// Dials under way, and how many may be at once.
    dialing: Cell<usize>,
    max_dials: usize,
    h2_slots: Vec<H2Slot>,
    next_conn: Cell<u64>,
    in_flight: Cell<usize>,
    drained: Notify,
    conns_opened: Cell<u64>,
    keepalive: bool,
    timeout: Duration,
    template: Template,
}

#[derive(Default)]
struct H2Slot {
    conn: RefCell<Option<Rc<H2Conn>>>,
    dialing: Cell<bool>,
    ready: Notify,
}

struct H2Conn {
    id: u64,
    local: SocketAddr,
    peer: SocketAddr,
    sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    uses: Cell<u64>,
    identity: RefCell<Option<Arc<str>>>,
}

/// The parts of every request, built once.
struct Template {
    method: Method,
    origin_uri: Uri,
    absolute_uri: Uri,
    h1_headers: HeaderMap,
    h2_headers: HeaderMap,
    body: Bytes,
    accept: StatusSet,
    identity_header: Option<HeaderName>,
}

impl Template {
    fn new(spec: &RequestSpec, keepalive: bool) -> Result<Template, EngineError> {
        let bad = || EngineError::BadUrl(spec.url.to_string());
        let authority = spec.url.authority().ok_or_else(bad)?.clone();
        let origin_uri: Uri = spec
            .url
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|_| bad())?;
        let mut h1_headers = spec.headers.clone();
        if !h1_headers.contains_key(http::header::HOST) {
            let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?;
            h1_headers.insert(http::header::HOST, host);
        }
        if !keepalive {
            h1_headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        let mut h2_headers = spec.headers.clone();
        h2_headers.remove(http::header::CONNECTION);
        Ok(Template {
            method: spec.method.clone(),
            origin_uri,
            absolute_uri: spec.url.clone(),
            h1_headers,
            h2_headers,
            body: spec.body.clone(),
            accept: spec.accept.clone(),
            identity_header: spec.identity_header.clone(),
        })
    }

    #[inline]
    fn build(&self, h2: bool) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        if h2 {
            *req.uri_mut() = self.absolute_uri.clone();
            *req.headers_mut() = self.h2_headers.clone();
        } else {
            *req.uri_mut() = self.origin_uri.clone();
            *req.headers_mut() = self.h1_headers.clone();
        }
        req
    }
}

/// The result of one exchange on an established connection.
struct Exchange {
    class: OutcomeClass,
    status: Option<u16>,
    error: Option<String>,
    /// The identity header's value in this response, if present.
    identity: Option<HeaderValue>,
    /// The connection may carry another request.
    reusable: bool,
}

impl Shared {
    fn now(&self) -> At {
        self.clock.now()
    }

    fn record(&self, r: RequestRecord) {
        self.sink.borrow_mut().record(&r);
    }

    fn next_addr(&self) -> Result<SocketAddr, String> {
        let addrs = self.addrs.borrow();
        if addrs.is_empty() {
            return Err(self
                .resolve_error
                .borrow()
                .clone()
                .unwrap_or_else(|| format!("`{}` resolved to no address", self.host)));
        }
        let i = self.rr.get();
        self.rr.set(i.wrapping_add(1));
        Ok(addrs[i % addrs.len()])
    }

    async fn dial(&self) -> Result<Conn, DialError> {
        let peer = match self.next_addr() {
            Ok(a) => a,
            Err(error) => {
                return Err(DialError {
                    class: OutcomeClass::Dns,
                    peer: SocketAddr::from(([0, 0, 0, 0], self.port)),
                    error,
                });
            }
        };
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        let conn = self.dialer.dial(id, peer).await?;
        self.conns_opened.set(self.conns_opened.get() + 1);
        Ok(conn)
    }

    /// An idle keep-alive connection that the peer has not closed, oldest first.
    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        while let Some(c) = idle.pop_front() {
            if !c.sender.is_closed() {
                return Some(c);
            }
        }
        None
    }

    /// A connection for the next request: an idle one, a new one while dial slots are free, or
    /// the first one handed back by a finishing request. Bounding concurrent dials keeps a
    /// stalled target from turning every due request into a new socket (the open-loop collapse).
    async fn acquire(&self) -> Result<Conn, DialError> {
        loop {
            if let Some(c) = self.take_idle() {
                return Ok(c);
            }
            if self.dialing.get() < self.max_dials {
                self.dialing.set(self.dialing.get() + 1);
                let dialed = self.dial().await;
                self.dialing.set(self.dialing.get() - 1);
                // A slot is free again: let one waiter try its own dial.
                self.wake_waiter(None);
                return dialed;
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.waiters.borrow_mut().push_back(tx);
            if let Ok(Some(c)) = rx.await {
                if !c.sender.is_closed() {
                    return Ok(c);
                }
            }
        }
    }

    /// Hands `conn` (or a free dial slot, for `None`) to the first request still waiting.
    /// Returns the connection if nobody was waiting.
    fn wake_waiter(&self, mut conn: Option<Conn>) -> Option<Conn> {
        loop {
            let Some(w) = self.waiters.borrow_mut().pop_front() else {
                return conn;
            };
            match w.send(conn) {
                Ok(()) => return None,
                // That waiter is gone (its task ended); try the next.
                Err(back) => conn = back,
            }
        }
    }

    /// Returns a reusable connection to a waiter or to the idle pool.
    fn release(&self, conn: Conn) {
        if conn.sender.is_closed() {
            self.wake_waiter(None);
            return;
        }
        if let Some(c) = self.wake_waiter(Some(conn)) {
            self.idle.borrow_mut().push_back(c);
        }
    }

    fn finish_request(&self) {
        let n = self.in_flight.get() - 1;
        self.in_flight.set(n);
        self.live.in_flight.store(n as u64, Ordering::Relaxed);
        if n == 0 {
            self.drained.notify_waiters();
        }
    }

    fn failure(&self, seq: u64, due: At, sent: At, e: DialError) -> RequestRecord {
        RequestRecord {
            seq,
            due,
            sent,
            end: self.now(),
            class: e.class,
            status: None,
            conn: None,
            dialed: Some(e.peer),
            error: Some(e.error),
            identity: None,
        }
    }

    /// Sends one request on `sender` and reads its whole response, within the timeout.
    async fn exchange(&self, sender: &mut Sender) -> Exchange {
        let t = &self.template;
        let fut = async {
            let resp = match sender {
                Sender::H1(s) => {
                    if let Err(e) = s.ready().await {
                        return Err((classify(Stage::Exchange, &e), error_chain(&e), false));
                    }
                    s.send_request(t.build(false)).await
                }
                Sender::H2(s) => {
                    if let Err(e) = s.ready().await {
                        return Err((classify(Stage::Exchange, &e), error_chain(&e), false));
                    }
                    s.send_request(t.build(true)).await
                }
            };
            let resp = resp.map_err(|e| (classify(Stage::Exchange, &e), error_chain(&e), false))?;
            let status = resp.status().as_u16();
            let identity = t
                .identity_header
                .as_ref()
                .and_then(|h| resp.headers().get(h).cloned());
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                if let Err(e) = frame {
                    let class = match classify(Stage::Exchange, &e) {
                        // The head arrived: this was not a close before the response.
                        OutcomeClass::ClosedBeforeResponse => OutcomeClass::Other,
                        c => c,
                    };
                    return Err((
                        class,
                        format!("response body cut short: {}", error_chain(&e)),
                        true,
                    ));
                }
            }
            Ok((status, identity))
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok((status, identity))) => Exchange {
                class: t.accept.classify(status),
                status: Some(status),
                error: if t.accept.classify(status) == OutcomeClass::Other {
                    Some(format!("unexpected status {status}"))
                } else {
                    None
                },
                identity,
                reusable: self.keepalive,
            },
            Ok(Err((class, error, _))) => Exchange {
                class,
                status: None,
                error: Some(error),
                identity: None,
                reusable: false,
            },
            Err(_) => Exchange {
                class: OutcomeClass::RequestTimeout,
                status: None,
                error: Some(format!("no complete response within {:?}", self.timeout)),
                identity: None,
                reusable: false,
            },
        }
    }
}

/// Keeps the identity header's value for a connection, allocating only when it changes.
fn remember_identity(slot: &mut Option<Arc<str>>, value: Option<HeaderValue>) {
    let Some(v) = value else { return };
    let Ok(s) = v.to_str() else { return };
    if slot.as_deref() != Some(s) {
        *slot = Some(Arc::from(s));
    }
}

/// One HTTP/1 request, keep-alive or not. `sent` is the instant the request is handed to a
/// connection: waiting for one, or dialling it, counts as send lateness, not service time.
async fn h1_request(sh: Rc<Shared>, seq: u64, due: At) {
    let started = sh.now();
    let conn = if sh.keepalive {
        sh.acquire().await
    } else {
        sh.dial().await
    };
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => {
            let r = sh.failure(seq, due, started, e);
            sh.record(r);
            sh.finish_request();
            return;
        }
    };
    let sent = sh.now();
    let reused = conn.uses > 0;
    conn.uses += 1;
    let ex = sh.exchange(&mut conn.sender).await;
    remember_identity(&mut conn.identity, ex.identity);
    let record = RequestRecord {
        seq,
        due,
        sent,
        end: sh.now(),
        class: ex.class,
        status: ex.status,
        conn: Some(ConnId {
            id: conn.id,
            local: conn.local,
            peer: conn.peer,
            reused,
        }),
        dialed: None,
        error: ex.error,
        identity: conn.identity.clone(),
    };
    sh.record(record);
    if ex.reusable {
        sh.release(conn);
    } else {
        // A dropped connection frees room for a waiter's dial.
        sh.wake_waiter(None);
    }
    sh.finish_request();
}

/// A live HTTP/2 connection from slot `seq % slots`, dialling it if it is gone.
async fn h2_conn(sh: &Shared, seq: u64) -> Result<Rc<H2Conn>, DialError> {
    let n = sh.h2_slots.len();
    // Prefer the request's own slot, then any live one.
    for k in 0..n {
        let slot = &sh.h2_slots[(seq as usize + k) % n];
        if let Some(c) = slot
            .conn
            .borrow()
            .as_ref()
            .filter(|c| !c.sender.is_closed())
        {
            return Ok(c.clone());
        }
    }
    let slot = &sh.h2_slots[seq as usize % n];
    if slot.dialing.get() {
        let wait = slot.ready.notified();
        let _ = tokio::time::timeout(sh.dialer.connect_timeout, wait).await;
        if let Some(c) = slot
            .conn
            .borrow()
            .as_ref()
            .filter(|c| !c.sender.is_closed())
        {
            return Ok(c.clone());
        }
    }
    slot.dialing.set(true);
    let dialed = sh.dial().await;
    slot.dialing.set(false);
    let result = dialed.and_then(|c| match c.sender {
        Sender::H2(sender) => Ok(Rc::new(H2Conn {
            id: c.id,
            local: c.local,
            peer: c.peer,
            sender,
            uses: Cell::new(0),
            identity: RefCell::new(None),
        })),
        Sender::H1(_) => Err(DialError {
            class: OutcomeClass::Other,
            peer: c.peer,
            error: "the server did not negotiate HTTP/2 (ALPN)".to_string(),
        }),
    });
    if let Ok(c) = &result {
        *slot.conn.borrow_mut() = Some(c.clone());
    }
    slot.ready.notify_waiters();
    result
}

/// One HTTP/2 request: a stream on a shared connection.
async fn h2_request(sh: Rc<Shared>, seq: u64, due: At) {
    let started = sh.now();
    let conn = match h2_conn(&sh, seq).await {
        Ok(c) => c,
        Err(e) => {
            let r = sh.failure(seq, due, started, e);
            sh.record(r);
            sh.finish_request();
            return;
        }
    };
    let sent = sh.now();
    let reused = conn.uses.get() > 0;
    conn.uses.set(conn.uses.get() + 1);
    let mut sender = Sender::H2(conn.sender.clone());
    let ex = sh.exchange(&mut sender).await;
    remember_identity(&mut conn.identity.borrow_mut(), ex.identity);
    let record = RequestRecord {
        seq,
        due,
        sent,
        end: sh.now(),
        class: ex.class,
        status: ex.status,
        conn: Some(ConnId {
            id: conn.id,
            local: conn.local,
            peer: conn.peer,
            reused,
        }),
        dialed: None,
        error: ex.error,
        identity: conn.identity.borrow().clone(),
    };
    sh.record(record);
    sh.finish_request();
}

fn spawn_request(sh: &Rc<Shared>, http2: bool, seq: u64, due: At) {
    let n = sh.in_flight.get() + 1;
    sh.in_flight.set(n);
    sh.live.in_flight.store(n as u64, Ordering::Relaxed);
    if http2 {
        tokio::task::spawn_local(h2_request(sh.clone(), seq, due));
    } else {
        tokio::task::spawn_local(h1_request(sh.clone(), seq, due));
    }
}

async fn wait_drained(sh: &Shared) {
    loop {
        let notified = sh.drained.notified();
        if sh.in_flight.get() == 0 {
            return;
        }
        notified.await;
    }
}

/// Resolves the target once before the run; afterwards the address list is refreshed every
/// second in the background, so a DNS change during a run (a blue-green flip behind a name) is
/// followed by new connections, as a real client would.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(it) => {
            let v: Vec<SocketAddr> = it.collect();
            if v.is_empty() {
                Err(format!("`{host}` resolved to no address"))
            } else {
                Ok(v)
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

fn spawn_resolver(sh: Rc<Shared>, stop: Rc<Cell<bool>>) {
    if sh
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok()
    {
        return;
    }
    tokio::task::spawn_local(async move {
        while !stop.get() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match resolve(&sh.host, sh.port).await {
                Ok(a) => {
                    *sh.addrs.borrow_mut() = a;
                    *sh.resolve_error.borrow_mut() = None;
                }
                Err(e) => {
                    sh.addrs.borrow_mut().clear();
                    *sh.resolve_error.borrow_mut() = Some(e);
                }
            }
        }
    });
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
    let url = &spec.request.url;
    let https = match url.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(EngineError::BadUrl(url.to_string())),
    };
    let host = url
        .host()
        .ok_or_else(|| EngineError::BadUrl(url.to_string()))?
        .to_string();
    let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
    let (tls, server_name) = if https {
        let cfg =
            tls_config(spec.insecure, spec.http2).map_err(|e| EngineError::Tls(e.to_string()))?;
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name = rustls::pki_types::ServerName::try_from(bare)
            .map_err(|e| EngineError::Tls(e.to_string()))?;
        (
            Some(tokio_rustls::TlsConnector::from(Arc::new(cfg))),
            Some(name),
        )
    } else {
        (None, None)
    };
    let addrs = resolve(&host, port)
        .await
        .map_err(|error| EngineError::Resolve {
            host: host.clone(),
            error,
        })?;
    let (connections, open) = match &spec.mode {
        Mode::Open { connections, .. } => (*connections, true),
        Mode::Closed { connections, .. } => (*connections, false),
    };
    let h2_slots = if spec.http2 && spec.keepalive {
        connections.max(1)
    } else {
        0
    };
    let sh = Rc::new(Shared {
        clock,
        sink,
        live,
        dialer: Dialer {
            tls,
            server_name,
            http2: spec.http2,
            connect_timeout: spec.connect_timeout,
        },
        host,
        port,
        addrs: RefCell::new(addrs.clone()),
        resolve_error: RefCell::new(None),
        rr: Cell::new(0),
        idle: RefCell::new(VecDeque::new()),
        waiters: RefCell::new(VecDeque::new()),
        dialing: Cell::new(0),
        max_dials: MAX_CONCURRENT_DIALS,
        h2_slots: (0..h2_slots).map(|_| H2Slot::default()).collect(),
        next_conn: Cell::new(0),
        in_flight: Cell::new(0),
        drained: Notify::new(),
        conns_opened: Cell::new(0),
        keepalive: spec.keepalive,
        timeout: spec.timeout,
        template: Template::new(&spec.request, spec.keepalive)?,
    });
    let resolver_stop = Rc::new(Cell::new(false));
    spawn_resolver(sh.clone(), resolver_stop.clone());

    // Open connections ahead of the first request, so the schedule does not start by dialling.
    if spec.keepalive && open {
        preconnect(&sh, connections).await?;
    }

    let start = sh.now();
    if let Some(f) = on_start {
        f(start);
    }
    let result = match &spec.mode {
        Mode::Open {
            schedule,
            max_in_flight,
            ..
        } => {
            open_loop(
                &sh,
                schedule,
                *max_in_flight,
                spec.http2 && spec.keepalive,
                start,
                stop,
            )
            .await
        }
        Mode::Closed {
            connections,
            duration,
        } => closed_loop(&sh, *connections, *duration, start, stop).await,
    };
    wait_drained(&sh).await;
    resolver_stop.set(true);
    // Close idle connections now rather than when the runtime is dropped.
    sh.idle.borrow_mut().clear();
    for slot in &sh.h2_slots {
        slot.conn.borrow_mut().take();
    }
    let (requests_due, completed) = result;
    Ok(LoadReport {
        start,
        end: sh.now(),
        requests_due,
        connections_opened: sh.conns_opened.get(),
        completed,
        precise_timer: PreciseTimer::new().is_precise(),
        addresses: addrs,
    })
}

async fn preconnect(sh: &Rc<Shared>, n: usize) -> Result<(), EngineError> {
    if !sh.h2_slots.is_empty() {
        for seq in 0..sh.h2_slots.len() {
            if let Err(e) = h2_conn(sh, seq as u64).await {
                if seq == 0 {
                    return Err(EngineError::Unreachable {
                        addr: e.peer.to_string(),
                        error: e.error,
                    });
                }
            }
        }
        return Ok(());
    }
    let dials: Vec<_> = (0..n.max(1)).map(|_| sh.dial()).collect();
    let results = futures::future::join_all(dials).await;
    let mut first_err = None;
    for r in results {
        match r {
            Ok(c) => sh.idle.borrow_mut().push_back(c),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if sh.idle.borrow().is_empty() {
        if let Some(e) = first_err {
            return Err(EngineError::Unreachable {
                addr: e.peer.to_string(),
                error: e.error,
            });
        }
    }
    Ok(())
}

/// Dispatches request *i* at `start + due(i)`; returns (requests due, schedule completed).
async fn open_loop(
    sh: &Rc<Shared>,
    schedule: &Schedule,
    max_in_flight: usize,
    http2: bool,
    start: At,
    stop: impl Future<Output = ()>,
) -> (u64, bool) {
    let t0 = sh.clock.instant(start);
    let mut timer = PreciseTimer::new();
    let mut stop = std::pin::pin!(stop.fuse());
    let mut i: u64 = 0;
    loop {
        let Some(offset) = schedule.due(i) else {
            return (i, true);
        };
        let due_instant = t0 + offset;
        if Instant::now() < due_instant {
            tokio::select! {
                biased;
                _ = &mut stop => return (i, false),
                _ = timer.sleep_until(due_instant) => {}
            }
        } else if i % 64 == 0 && (&mut stop).now_or_never().is_some() {
            // Behind schedule: still notice a stop without awaiting.
            return (i, false);
        }
        let due = sh.clock.at(due_instant);
        sh.live.due.fetch_add(1, Ordering::Relaxed);
        if sh.in_flight.get() >= max_in_flight {
            sh.record(RequestRecord {
                seq: i,
                due,
                sent: due,
                end: due,
                class: OutcomeClass::DroppedByGenerator,
                status: None,
                conn: None,
                dialed: None,
                error: None,
                identity: None,
            });
        } else {
            spawn_request(sh, http2, i, due);
        }
        i += 1;
    }
}

/// `connections` workers, each sending back to back; returns (requests sent, completed).
async fn closed_loop(
    sh: &Rc<Shared>,
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
        workers.push(tokio::task::spawn_local(async move {
            let mut conn: Option<Conn> = None;
            while !stopped.get() && deadline.is_none_or(|d| Instant::now() < d) {
                let i = seq.get();
                seq.set(i + 1);
                let now = sh.now();
                sh.live.due.fetch_add(1, Ordering::Relaxed);
                sh.in_flight.set(sh.in_flight.get() + 1);
                let mut c = match conn
                    .take()
                    .filter(|c| sh.keepalive && !c.sender.is_closed())
                {
                    Some(c) => c,
                    None => match sh.dial().await {
                        Ok(c) => c,
                        Err(e) => {
                            let r = sh.failure(i, now, now, e);
                            sh.record(r);
                            sh.finish_request();
                            // Do not spin on a dead target: a failed dial costs at least 1 ms.
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                    },
                };
                let reused = c.uses > 0;
                c.uses += 1;
                let ex = sh.exchange(&mut c.sender).await;
                remember_identity(&mut c.identity, ex.identity);
                sh.record(RequestRecord {
                    seq: i,
                    due: now,
                    sent: now,
                    end: sh.now(),
                    class: ex.class,
                    status: ex.status,
                    conn: Some(ConnId {
                        id: c.id,
                        local: c.local,
                        peer: c.peer,
                        reused,
                    }),
                    dialed: None,
                    error: ex.error,
                    identity: c.identity.clone(),
                });
                sh.finish_request();
                if ex.reusable {
                    conn = Some(c);
                }
            }
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
