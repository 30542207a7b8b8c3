//! [`RunState`]: what every request path of one engine run shares: the clock and the sink, the
//! target's addresses (refreshed in the background), dialling, the in-flight count, the
//! request templates and the mix that picks one per request, and the builders of request
//! records; set up once from the `LoadSpec` before the first connection.
//! Single-threaded (`Rc`/`Cell`): the engine runs on one thread.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::sync::Notify;

use super::classify::{Stage, classify, error_chain};
use super::conn::{DialError, Dialer, Io, Opened, tls_config};
use super::deferred::{self, Stream, Ticker};
use super::endpoints::Fed;
use super::engine::{AddressFeed, EngineError, LoadSpec, Mode};
use super::h1::H1Conn;
use super::mix::Mix;
use super::request::{Exchange, Template, Watched};
use crate::model::clock::{At, RunClock};
use crate::model::connection::{ConnectionEnd, ConnectionLife};
use crate::model::outcome::{ConnId, OutcomeClass};
use crate::model::request::{LiveStats, RequestRecord, Sink};

/// The state of one engine run, shared by the dispatcher and every request path.
pub(super) struct RunState {
    pub(super) clock: RunClock,
    pub(super) sink: Rc<RefCell<dyn Sink>>,
    pub(super) live: Arc<LiveStats>,
    pub(super) dialer: Dialer,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) addrs: RefCell<Vec<SocketAddr>>,
    /// The addresses are fed by the caller (`LoadSpec::addresses`, `--via endpoints`), not
    /// looked up: the connections open to each.
    fed: Option<Fed>,
    pub(super) resolve_error: RefCell<Option<String>>,
    rr: Cell<usize>,
    next_conn: Cell<u64>,
    pub(super) in_flight: Cell<usize>,
    drained: Notify,
    pub(super) conns_opened: Cell<u64>,
    pub(super) keepalive: bool,
    pub(super) timeout: Duration,
    pub(super) requests: Requests,
    /// The open loop's plain keep-alive connections are read at the dispatcher's ticks, with
    /// kernel receive timestamps ([`deferred`]); `None` on every other path.
    pub(super) reads: Option<Rc<Ticker>>,
    /// A connection was deferred; a deferred read came without a kernel timestamp.
    stamped: Cell<bool>,
    unstamped: Cell<bool>,
}

/// What the requests of a run look like: the templates, the mix that picks one for each
/// request, the headers every response is watched for, and how much of a body checks read.
pub(super) struct Requests {
    pub(super) templates: Box<[Template]>,
    pub(super) mix: Mix,
    pub(super) watched: Watched,
    pub(super) max_body: usize,
}

impl Requests {
    /// Every template serialised once, and the mix of their weights.
    fn new(spec: &LoadSpec) -> Result<Requests, EngineError> {
        let weights: Vec<f64> = spec.requests.iter().map(|r| r.weight).collect();
        Ok(Requests {
            templates: Template::all(&spec.requests, spec.keepalive)?,
            mix: Mix::new(&weights, spec.seed),
            watched: Watched {
                identity: spec.identity_header.clone(),
                version: spec.version_header.clone(),
            },
            max_body: spec.max_body,
        })
    }
}

/// The watched headers' values on a connection when a request ended.
#[derive(Default)]
pub(super) struct Heard {
    pub(super) identity: Option<Arc<str>>,
    pub(super) version: Option<Arc<str>>,
}

impl RunState {
    /// Everything before the first connection: the target taken from the first template's
    /// URL, TLS, the first lookup of its addresses, every template serialised once, and the
    /// run's state.
    pub(super) async fn setup(
        spec: &LoadSpec,
        clock: RunClock,
        sink: Rc<RefCell<dyn Sink>>,
        live: Arc<LiveStats>,
    ) -> Result<RunState, EngineError> {
        let requests = Requests::new(spec)?;
        let url = &spec.requests[0].url;
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
            let (connector, name) = RunState::tls_for(spec, &host)?;
            (Some(connector), Some(name))
        } else {
            (None, None)
        };
        let addrs = match &spec.addresses {
            // Fed by the caller: only what it says (none yet is a target that cannot be
            // reached, not a name that did not resolve).
            Some(feed) => {
                let now = feed.borrow().clone();
                if now.is_empty() {
                    return Err(EngineError::Unreachable {
                        addr: host.clone(),
                        error: super::endpoints::NO_ENDPOINT.into(),
                    });
                }
                now
            }
            None => resolve(&host, port)
                .await
                .map_err(|error| EngineError::Resolve {
                    host: host.clone(),
                    error,
                })?,
        };
        let dialer = Dialer {
            tls,
            server_name,
            http2: spec.http2,
            connect_timeout: spec.connect_timeout,
        };
        Ok(RunState {
            clock,
            sink,
            live,
            dialer,
            host,
            port,
            addrs: RefCell::new(addrs),
            fed: spec.addresses.as_ref().map(|_| Fed::default()),
            resolve_error: RefCell::new(None),
            rr: Cell::new(0),
            next_conn: Cell::new(0),
            in_flight: Cell::new(0),
            drained: Notify::new(),
            conns_opened: Cell::new(0),
            keepalive: spec.keepalive,
            timeout: spec.timeout,
            requests,
            reads: deferred_reads(spec, https).await,
            stamped: Cell::new(false),
            unstamped: Cell::new(false),
        })
    }

    /// Template `i` (the mix never picks beyond the last).
    #[inline]
    pub(super) fn template(&self, i: u16) -> &Template {
        let t = &self.requests.templates;
        &t[(i as usize).min(t.len() - 1)]
    }

    /// The TLS connector and the server name (SNI, certificate checks) for an https target.
    fn tls_for(
        spec: &LoadSpec,
        host: &str,
    ) -> Result<(tokio_rustls::TlsConnector, ServerName<'static>), EngineError> {
        let cfg =
            tls_config(spec.insecure, spec.http2).map_err(|e| EngineError::Tls(e.to_string()))?;
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name = ServerName::try_from(bare).map_err(|e| EngineError::Tls(e.to_string()))?;
        Ok((tokio_rustls::TlsConnector::from(Arc::new(cfg)), name))
    }

    #[inline]
    pub(super) fn now(&self) -> At {
        self.clock.now()
    }

    #[inline]
    pub(super) fn record(&self, r: RequestRecord) {
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
        match &self.fed {
            Some(fed) => Ok(fed.pick(&addrs, i).unwrap_or(addrs[0])),
            None => Ok(addrs[i % addrs.len()]),
        }
    }

    /// With `--via endpoints`, connection `id` takes no new request once retired
    /// ([`super::endpoints`]); never otherwise.
    #[inline]
    pub(super) fn retired(&self, id: u64) -> bool {
        self.fed.as_ref().is_some_and(|f| f.retired(id))
    }

    /// The connections of a `--via endpoints` run.
    pub(super) fn fed(&self) -> Option<&Fed> {
        self.fed.as_ref()
    }

    /// A connection is let go: its life goes to the sink, once (every client reports here).
    pub(super) fn ended(&self, life: &ConnectionLife) {
        if let Some(fed) = &self.fed {
            fed.closed(life.id, life.peer);
        }
        self.sink.borrow_mut().connection(life);
    }

    /// Opens a stream to the next address of the target; returns the connection's number too.
    pub(super) async fn open(&self) -> Result<(u64, Opened), DialError> {
        let peer = match self.next_addr() {
            Ok(a) => a,
            Err(error) => {
                let peer = SocketAddr::from(([0, 0, 0, 0], self.port));
                // No endpoint to route to is what kube-proxy refuses; no address for a name is
                // DNS's failure.
                let class = if self.fed.is_some() {
                    OutcomeClass::ConnectRefused
                } else {
                    OutcomeClass::Dns
                };
                return Err(DialError { class, peer, error });
            }
        };
        let id = self.next_conn.get();
        self.next_conn.set(id + 1);
        let opened = self.dialer.open(peer).await?;
        self.conns_opened.set(self.conns_opened.get() + 1);
        if let Some(fed) = &self.fed {
            fed.opened(id, peer);
        }
        Ok((id, opened))
    }

    /// Opens an HTTP/1.1 connection.
    /// On the open loop's plain keep-alive path the connection is deferred ([`deferred`]).
    pub(super) async fn open_h1(&self) -> Result<H1Conn, DialError> {
        let (id, o) = self.open().await?;
        let io = match (o.io, &self.reads) {
            (Io::Plain(tcp), Some(ticker)) => {
                deferred::stream_for(tcp, ticker).map_err(|e| DialError {
                    class: classify(Stage::Connect, &e),
                    peer: o.peer,
                    error: error_chain(&e),
                })?
            }
            (io, _) => Stream::Reactor(io),
        };
        if matches!(io, Stream::Deferred(_)) {
            self.stamped.set(true);
        }
        Ok(H1Conn::new(id, o.local, o.peer, io, self.now()))
    }

    /// Whether responses were read in batches and timed by the kernel: some connection was
    /// deferred, and every response read on one had its receive timestamp.
    pub(super) fn kernel_receive_timestamps(&self) -> bool {
        self.stamped.get() && !self.unstamped.get()
    }

    pub(super) fn start_request(&self) {
        let n = self.in_flight.get() + 1;
        self.in_flight.set(n);
        self.live.in_flight.store(n as u64, Ordering::Relaxed);
    }

    pub(super) fn finish_request(&self) {
        let n = self.in_flight.get() - 1;
        self.in_flight.set(n);
        self.live.in_flight.store(n as u64, Ordering::Relaxed);
        if n == 0 {
            self.drained.notify_waiters();
        }
    }

    /// Waits until no request is in flight.
    pub(super) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            if self.in_flight.get() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Reports the life of an HTTP/1 connection that is being let go: ended the way it
    /// recorded, or still open (`OpenAtEnd`) when the load is over.
    pub(super) fn h1_ended(&self, c: &H1Conn) {
        let life = ConnectionLife {
            id: c.id,
            local: c.local,
            peer: c.peer,
            opened: c.opened,
            first_request: c.first_sent,
            last_request: c.last_sent,
            requests: u32::try_from(c.uses).unwrap_or(u32::MAX),
            failures: c.failures,
            ended: self.now(),
            end: c.ending.unwrap_or(ConnectionEnd::OpenAtEnd),
        };
        self.ended(&life);
    }

    /// The record of a request that got as far as a connection.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn completed(
        &self,
        seq: u64,
        due: At,
        sent: At,
        template: u16,
        conn: ConnId,
        heard: Heard,
        ex: Exchange,
    ) -> RequestRecord {
        RequestRecord {
            seq,
            due,
            sent,
            end: self.now(),
            class: ex.class,
            status: ex.status,
            conn: Some(conn),
            dialed: None,
            error: ex.error,
            identity: heard.identity,
            template,
            checks_failed: ex.checks_failed,
            version: heard.version,
            excerpt: ex.excerpt,
        }
    }

    /// The record of a request that never got a connection.
    pub(super) fn failure(
        &self,
        seq: u64,
        due: At,
        sent: At,
        template: u16,
        e: DialError,
    ) -> RequestRecord {
        RequestRecord {
            sent,
            end: self.now(),
            class: e.class,
            dialed: Some(e.peer),
            error: Some(e.error),
            ..self.dropped(seq, due, template)
        }
    }

    /// Records a request that got no connection (`e` says why) and ends it.
    pub(super) fn end_without_connection(
        &self,
        seq: u64,
        due: At,
        started: At,
        template: u16,
        e: DialError,
    ) {
        let r = self.failure(seq, due, started, template, e);
        self.record(r);
        self.finish_request();
    }

    /// The record of a request due while the in-flight cap was reached.
    pub(super) fn dropped(&self, seq: u64, due: At, template: u16) -> RequestRecord {
        RequestRecord {
            seq,
            due,
            sent: due,
            end: due,
            class: OutcomeClass::DroppedByGenerator,
            status: None,
            conn: None,
            dialed: None,
            error: None,
            identity: None,
            template,
            checks_failed: 0,
            version: None,
            excerpt: None,
        }
    }

    /// Sends one HTTP/1 request on an established connection; returns its record and whether
    /// the connection may carry another. `sent` is taken here: the moment the request is handed
    /// to a connection.
    pub(super) async fn h1_exchange(
        &self,
        conn: &mut H1Conn,
        seq: u64,
        due: At,
        template: u16,
    ) -> (RequestRecord, bool) {
        let sent = self.now();
        let reused = conn.uses > 0;
        conn.first_sent.get_or_insert(sent);
        conn.last_sent = Some(sent);
        let r = &self.requests;
        let ex = conn
            .exchange(
                self.template(template),
                &r.watched,
                self.timeout,
                r.max_body,
            )
            .await;
        if ex.class.is_failure() {
            conn.failures += 1;
        }
        let reusable = ex.reusable;
        let id = ConnId {
            id: conn.id,
            local: conn.local,
            peer: conn.peer,
            reused,
        };
        let heard = Heard {
            identity: conn.identity.clone(),
            version: conn.version.clone(),
        };
        let mut record = self.completed(seq, due, sent, template, id, heard, ex);
        // A response read late on a deferred connection ends when the kernel received it.
        record.end = match (record.status, conn.arrived()) {
            (Some(_), Some(Some(at))) => self.clock.at(at).max(sent),
            (Some(_), Some(None)) => {
                self.unstamped.set(true);
                record.end
            }
            _ => record.end,
        };
        (record, reusable)
    }
}

/// The ticker of the deferred reads ([`deferred`]) on the open loop's plain HTTP/1 keep-alive
/// path, once the kernel stamps received packets; `None` everywhere else.
async fn deferred_reads(spec: &LoadSpec, https: bool) -> Option<Rc<Ticker>> {
    let plain_h1 = spec.keepalive && !spec.http2 && spec.grpc.is_none() && !https;
    if matches!(spec.mode, Mode::Open { .. }) && plain_h1 {
        Ticker::new().await.map(Rc::new)
    } else {
        None
    }
}

fn is_ip(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok()
}

/// Resolves the target's host (an IP literal needs no lookup).
pub(super) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
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

/// Refreshes the target's addresses every second, so a DNS change during a run (a blue-green
/// flip behind a name) is followed by new connections, as a real client would; a failed
/// lookup makes new dials fail as `dns` until a lookup succeeds again.
/// Returns the task, to abort at the end of the run; `None` for an IP literal.
pub(super) fn spawn_resolver(
    sh: Rc<RunState>,
    feed: Option<AddressFeed>,
) -> Option<tokio::task::JoinHandle<()>> {
    if let Some(feed) = feed {
        return Some(tokio::task::spawn_local(super::endpoints::follow(sh, feed)));
    }
    if is_ip(&sh.host) {
        return None;
    }
    Some(tokio::task::spawn_local(async move {
        loop {
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
    }))
}
