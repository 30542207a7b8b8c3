//! The load engine run in-process on a `LocalSet`, as its thread runs it, collecting every
//! request record and connection life it reports.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use zerodrop::load::engine::{LoadSpec, run_load};
use zerodrop::model::clock::RunClock;
use zerodrop::model::connection::ConnectionLife;
use zerodrop::model::request::{LiveStats, RequestRecord, Sink};
use zerodrop::model::result::LoadReport;

/// What the engine reported, in the order it reported it.
#[derive(Default)]
pub struct Collected {
    pub records: Vec<RequestRecord>,
    pub connections: Vec<ConnectionLife>,
    /// What the engine said about its own run.
    pub report: LoadReport,
}

impl Sink for Collected {
    fn record(&mut self, r: &RequestRecord) {
        self.records.push(r.clone());
    }
    fn connection(&mut self, c: &ConnectionLife) {
        self.connections.push(c.clone());
    }
}

/// Runs `spec` to its end (never stopped early).
pub async fn run_engine(spec: LoadSpec) -> Collected {
    run_engine_on(spec, RunClock::start()).await
}

/// Runs `spec` to its end on `clock`, for a test that turns its own instants into the records'.
pub async fn run_engine_on(spec: LoadSpec, clock: RunClock) -> Collected {
    run_engine_beside(spec, clock, async {}).await.0
}

/// Runs `spec` to its end on `clock` with `beside` running on the engine's own thread (a test
/// that blocks that thread, as a generator short of CPU would be); also returns the engine's
/// live figures.
pub async fn run_engine_beside(
    spec: LoadSpec,
    clock: RunClock,
    beside: impl std::future::Future<Output = ()> + 'static,
) -> (Collected, Arc<LiveStats>) {
    let live = Arc::new(LiveStats::default());
    let figures = live.clone();
    let local = tokio::task::LocalSet::new();
    let collected = local
        .run_until(async move {
            tokio::task::spawn_local(beside);
            let sink = Rc::new(RefCell::new(Collected::default()));
            let dyn_sink: Rc<RefCell<dyn Sink>> = sink.clone();
            let report = run_load(
                &spec,
                clock,
                dyn_sink,
                figures,
                None,
                std::future::pending(),
            )
            .await
            .expect("engine runs");
            Collected {
                report,
                ..sink.take()
            }
        })
        .await;
    (collected, live)
}

/// A loopback listener whose connection `i` is served by `f(i, stream)`, as scripted servers
/// for the engine's tests do.
pub async fn serve_each<F, Fut>(f: F) -> SocketAddr
where
    F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut i = 0;
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(f(i, s));
            i += 1;
        }
    });
    addr
}

/// Reads one HTTP/1 request head (up to the blank line); false once the client is gone.
pub async fn read_head(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    loop {
        match s.read(&mut b).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                buf.extend_from_slice(&b[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    return true;
                }
            }
        }
    }
}
