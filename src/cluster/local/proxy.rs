//! The service proxy: a TCP proxy standing in for a Kubernetes Service and kube-proxy.
//!
//! Each client connection is pinned, for its whole life, to one backend chosen when it is
//! accepted — round robin over the ready endpoints (as IPVS's default scheduler does), falling
//! back to serving-but-terminating endpoints only when none is ready. So a keep-alive connection
//! stays on a terminating replica exactly as it would behind a ClusterIP. Backend changes reach
//! the proxy through the [`EndpointTable`], after its propagation delay.
//!
//! With no endpoint at all the proxy stops listening, so connects are *refused* — what
//! kube-proxy's REJECT rule does for a Service without endpoints — and it listens again as soon
//! as an endpoint appears (the port stays reserved meanwhile). If the chosen backend refuses or
//! resets, the client connection is reset. With DNAT the client's own SYN would have been
//! refused; a userspace proxy has already accepted by then, so it waits for the client's first
//! bytes (at most [`RESET_WAIT`]) and then resets: the client sees `connection_reset` on an
//! established connection whose address it knows, which keeps the failure attributable to the
//! pod (a reset during the handshake would leave the client without its own address).
//!
//! Every connection's route (client address → pod) is recorded on the timeline, which is how a
//! failure seen by the load engine is attributed to its replica exactly. The proxy runs on its
//! own thread and runtime so it never competes with the rollout's bookkeeping; it copies bytes
//! with `copy_bidirectional` and does not parse HTTP.

use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use super::config::Balance;
use super::endpoints::{Backend, EndpointTable};
use crate::timeline::{ConnectionRoute, TimelineRecorder};

/// How long a connection that cannot be proxied waits for the client's first bytes before the
/// reset (see the module doc).
pub const RESET_WAIT: Duration = Duration::from_secs(1);

/// What the proxy did, for reports and tests.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub accepted: AtomicU64,
    /// Client connections reset because no endpoint existed at accept time.
    pub no_endpoint: AtomicU64,
    /// Client connections reset because the chosen backend could not be reached.
    pub backend_unreachable: AtomicU64,
    /// Client connections routed to a serving-but-terminating endpoint (no ready one existed).
    pub to_terminating: AtomicU64,
}

/// A running proxy; stops (and closes every connection) when dropped.
pub struct ServiceProxy {
    addr: SocketAddr,
    stats: Arc<ProxyStats>,
    listening: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServiceProxy {
    /// Reserves `listen` (port 0: a free port) and starts proxying to `table`'s endpoints.
    pub fn start(
        listen: SocketAddr,
        table: Arc<EndpointTable>,
        recorder: TimelineRecorder,
        balance: Balance,
    ) -> std::io::Result<ServiceProxy> {
        let socket = reserve(listen)?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("the listen socket has no IP address"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let stats = Arc::new(ProxyStats::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (listening_tx, listening) = watch::channel(false);
        let st = stats.clone();
        let thread = std::thread::Builder::new()
            .name("zerodrop-proxy".into())
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(
                    &runtime,
                    serve(socket, table, recorder, st, balance, listening_tx, stop_rx),
                );
            })?;
        Ok(ServiceProxy {
            addr,
            stats,
            listening,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    /// Waits until the proxy listens (it does whenever an endpoint exists), at most `timeout`.
    /// Returns whether it listens.
    pub async fn wait_listening(&self, timeout: Duration) -> bool {
        let mut rx = self.listening.clone();
        let wait = rx.wait_for(|l| *l);
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(_)))
    }

    /// Stops accepting and closes every proxied connection.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServiceProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the listen socket without listening yet. A kernel-chosen port would be released when
/// the proxy stops listening (no endpoints), so the port is first found, then bound explicitly.
fn reserve(listen: SocketAddr) -> std::io::Result<Socket> {
    let domain = Domain::for_address(listen);
    let new = || -> std::io::Result<Socket> {
        let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        Ok(s)
    };
    let probe = new()?;
    probe.bind(&listen.into())?;
    let port = probe
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .unwrap_or(listen.port());
    let socket = new()?;
    socket.bind(&SocketAddr::new(listen.ip(), port).into())?;
    drop(probe);
    socket.set_nonblocking(true)?;
    Ok(socket)
}

async fn serve(
    socket: Socket,
    table: Arc<EndpointTable>,
    recorder: TimelineRecorder,
    stats: Arc<ProxyStats>,
    balance: Balance,
    listening: watch::Sender<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut versions = table.subscribe();
    let mut picker = Picker::new(balance);
    loop {
        // No endpoint: stay unlistened, so connects are refused.
        while table.snapshot().is_empty() {
            tokio::select! {
                _ = &mut stop => return,
                r = versions.changed() => if r.is_err() { return },
            }
        }
        let listener = match listen(&socket) {
            Ok(l) => l,
            Err(e) => {
                // Cannot happen for a bound socket short of resource exhaustion; retry shortly
                // rather than give up the run.
                eprintln!("zerodrop: service proxy could not listen: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        listening.send_replace(true);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                r = versions.changed() => {
                    if r.is_err() {
                        return;
                    }
                    if table.snapshot().is_empty() {
                        // Stop listening: pending and new connects are refused from here on.
                        let _ = socket.shutdown(Shutdown::Read);
                        listening.send_replace(false);
                        break;
                    }
                }
                r = listener.accept() => match r {
                    Ok((client, peer)) => {
                        stats.accepted.fetch_add(1, Ordering::Relaxed);
                        let backend = choose(&table, &mut picker, &stats);
                        tokio::task::spawn_local(proxy(
                            client,
                            peer,
                            backend,
                            recorder.clone(),
                            stats.clone(),
                        ));
                    }
                    // Per-connection failures (a client that reset before accept, fd limits)
                    // must not end the proxy; back off briefly on resource errors.
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                },
            }
        }
        drop(listener);
    }
}

/// Starts listening on the reserved socket and hands a duplicate to tokio (the original keeps
/// the port bound while not listening).
fn listen(socket: &Socket) -> std::io::Result<TcpListener> {
    socket.listen(1024)?;
    let dup = socket.try_clone()?;
    dup.set_nonblocking(true)?;
    TcpListener::from_std(dup.into())
}

/// Picks among `n` backends: in turn, or at random (a per-proxy random key hashing a counter:
/// uniform enough to spread connections as iptables' probabilities do, and no dependency).
struct Picker {
    balance: Balance,
    next: u64,
    key: std::collections::hash_map::RandomState,
}

impl Picker {
    fn new(balance: Balance) -> Picker {
        Picker {
            balance,
            next: 0,
            key: std::collections::hash_map::RandomState::new(),
        }
    }

    fn pick(&mut self, n: usize) -> usize {
        use std::hash::{BuildHasher, Hasher};
        let i = self.next;
        self.next = self.next.wrapping_add(1);
        let v = match self.balance {
            Balance::RoundRobin => i,
            Balance::Random => {
                let mut h = self.key.build_hasher();
                h.write_u64(i);
                h.finish()
            }
        };
        (v % n as u64) as usize
    }
}

/// The backend for a new connection: picked over ready endpoints, else over
/// serving-but-terminating ones, else none.
fn choose(table: &EndpointTable, picker: &mut Picker, stats: &ProxyStats) -> Option<Backend> {
    let snap = table.snapshot();
    let pool = if !snap.ready.is_empty() {
        &snap.ready
    } else {
        if !snap.serving_terminating.is_empty() {
            stats.to_terminating.fetch_add(1, Ordering::Relaxed);
        }
        &snap.serving_terminating
    };
    if pool.is_empty() {
        return None;
    }
    Some(pool[picker.pick(pool.len())].clone())
}

/// Closes `stream` with an RST instead of a FIN.
fn reset(stream: &TcpStream) {
    let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// Resets a connection that cannot be proxied, once the client has spoken (see the module doc).
async fn refuse(client: TcpStream) {
    // `peek` waits for real data (`readable` may wake spuriously on a fresh socket).
    let mut byte = [0u8; 1];
    let _ = tokio::time::timeout(RESET_WAIT, client.peek(&mut byte)).await;
    reset(&client);
}

async fn proxy(
    mut client: TcpStream,
    peer: SocketAddr,
    backend: Option<Backend>,
    recorder: TimelineRecorder,
    stats: Arc<ProxyStats>,
) {
    let Some(backend) = backend else {
        // The last endpoint went away between accept and now.
        stats.no_endpoint.fetch_add(1, Ordering::Relaxed);
        refuse(client).await;
        return;
    };
    let clock = recorder.clock();
    // The route is recorded before dialling, so a failed dial is attributed to its pod too.
    recorder.route_opened(ConnectionRoute {
        client: peer,
        pod: backend.pod.to_string(),
        backend: backend.addr,
        opened: clock.now(),
        closed: None,
    });
    // Closed on every path out, including cancellation when the proxy stops.
    let _route = RouteGuard {
        recorder: &recorder,
        peer,
    };
    let _ = client.set_nodelay(true);
    match TcpStream::connect(backend.addr).await {
        Ok(mut server) => {
            let _ = server.set_nodelay(true);
            if tokio::io::copy_bidirectional(&mut client, &mut server)
                .await
                .is_err()
            {
                // The backend reset (or the client did): pass the reset on, as DNAT would.
                reset(&client);
                reset(&server);
            }
        }
        Err(_) => {
            stats.backend_unreachable.fetch_add(1, Ordering::Relaxed);
            refuse(client).await;
        }
    }
}

/// Marks a connection's route closed when dropped.
struct RouteGuard<'a> {
    recorder: &'a TimelineRecorder,
    peer: SocketAddr,
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        self.recorder
            .route_closed(self.peer, self.recorder.clock().now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::local::endpoints::RecordAt;
    use crate::model::clock::RunClock;
    use crate::model::event::EndpointConditions;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    const READY: Option<EndpointConditions> = Some(EndpointConditions {
        ready: true,
        serving: true,
        terminating: false,
    });
    const TERMINATING: Option<EndpointConditions> = Some(EndpointConditions {
        ready: false,
        serving: true,
        terminating: true,
    });

    /// A backend that answers every connection with its name and closes.
    async fn named_backend(name: &'static str) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = s.write_all(name.as_bytes()).await;
            }
        });
        addr
    }

    async fn read_name(addr: SocketAddr) -> std::io::Result<String> {
        let mut s = TcpStream::connect(addr).await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }

    async fn wait_ready(table: &EndpointTable, n: usize, empty: bool) {
        for _ in 0..500 {
            let s = table.snapshot();
            if s.ready.len() == n && (s.is_empty() == empty) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("endpoints never reached {n}");
    }

    #[tokio::test]
    async fn connections_rotate_over_ready_backends_and_are_recorded() {
        let rec = TimelineRecorder::new(RunClock::start());
        let table = EndpointTable::start(Duration::ZERO, rec.clone(), RecordAt::Effect);
        table.propose("a", named_backend("a").await, READY);
        table.propose("b", named_backend("b").await, READY);
        wait_ready(&table, 2, false).await;
        let proxy = ServiceProxy::start(
            "127.0.0.1:0".parse().expect("addr"),
            table,
            rec.clone(),
            Balance::RoundRobin,
        )
        .expect("proxy");
        assert!(proxy.wait_listening(Duration::from_secs(10)).await);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(read_name(proxy.addr()).await.expect("proxied"));
        }
        seen.sort();
        assert_eq!(seen, vec!["a", "a", "b", "b"]);
        drop(proxy);
        let routes = rec.finish().routes;
        assert_eq!(routes.len(), 4);
        assert!(routes.iter().all(|r| r.closed.is_some()));
    }

    #[tokio::test]
    async fn terminating_backends_are_used_only_when_none_is_ready() {
        let rec = TimelineRecorder::new(RunClock::start());
        let table = EndpointTable::start(Duration::ZERO, rec.clone(), RecordAt::Effect);
        let a = named_backend("a").await;
        let b = named_backend("b").await;
        table.propose("a", a, READY);
        table.propose("b", b, TERMINATING);
        wait_ready(&table, 1, false).await;
        let proxy = ServiceProxy::start(
            "127.0.0.1:0".parse().expect("addr"),
            table.clone(),
            rec.clone(),
            Balance::RoundRobin,
        )
        .expect("proxy");
        assert!(proxy.wait_listening(Duration::from_secs(10)).await);
        for _ in 0..3 {
            assert_eq!(read_name(proxy.addr()).await.expect("proxied"), "a");
        }
        table.propose("a", a, None);
        wait_ready(&table, 0, false).await;
        assert_eq!(read_name(proxy.addr()).await.expect("proxied"), "b");
        assert_eq!(proxy.stats().to_terminating.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn with_no_endpoint_connects_are_refused_until_one_appears() {
        let rec = TimelineRecorder::new(RunClock::start());
        let table = EndpointTable::start(Duration::ZERO, rec.clone(), RecordAt::Effect);
        let proxy = ServiceProxy::start(
            "127.0.0.1:0".parse().expect("addr"),
            table.clone(),
            rec.clone(),
            Balance::RoundRobin,
        )
        .expect("proxy");
        let err = TcpStream::connect(proxy.addr()).await.expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        let a = named_backend("a").await;
        table.propose("a", a, READY);
        assert!(proxy.wait_listening(Duration::from_secs(10)).await);
        assert_eq!(read_name(proxy.addr()).await.expect("proxied"), "a");
        // And refused again, on the same port, once it is gone.
        table.propose("a", a, None);
        wait_ready(&table, 0, true).await;
        let mut refused = false;
        for _ in 0..100 {
            match TcpStream::connect(proxy.addr()).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    refused = true;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        assert!(refused);
    }

    #[tokio::test]
    async fn an_unreachable_backend_resets_the_client_and_is_attributed_to_its_pod() {
        let rec = TimelineRecorder::new(RunClock::start());
        let table = EndpointTable::start(Duration::ZERO, rec.clone(), RecordAt::Effect);
        let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let dead_addr = dead.local_addr().expect("addr");
        drop(dead);
        table.propose("dead", dead_addr, READY);
        wait_ready(&table, 1, false).await;
        let proxy = ServiceProxy::start(
            "127.0.0.1:0".parse().expect("addr"),
            table.clone(),
            rec.clone(),
            Balance::RoundRobin,
        )
        .expect("proxy");
        assert!(proxy.wait_listening(Duration::from_secs(10)).await);
        // Several in a row: each connect completes and the reset comes after the request (a
        // reset during the handshake would hide the client's own address from it).
        let mut local = None;
        for _ in 0..20 {
            let mut s = TcpStream::connect(proxy.addr()).await.expect("accepted");
            local = Some(s.local_addr().expect("addr"));
            let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
            let mut buf = [0u8; 16];
            let r = s.read(&mut buf).await;
            assert!(
                matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
                "{r:?}"
            );
        }
        let local = local.expect("connected");
        drop(proxy);
        let t = rec.finish();
        let route = t
            .route_at(local, rec.clock().now())
            .expect("route recorded");
        assert_eq!(route.pod, "dead");
    }
}
