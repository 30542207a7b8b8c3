//! The engine tells its own delay from the target's: how late the open model's dispatcher
//! handed each request over (a generator short of CPU) is reported apart from a request's wait
//! for a free connection (a target too slow for the pool). The baseline's judge reads the
//! first to say "zerodrop fell behind" instead of "the service does not sustain the rate".

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::engine::{read_head, run_engine_beside, serve_each};
use tokio::io::AsyncWriteExt as _;
use zerodrop::load::engine::{LoadSpec, Mode, RequestSpec};
use zerodrop::load::schedule::Schedule;
use zerodrop::model::clock::RunClock;
use zerodrop::model::outcome::OutcomeClass;

/// A keep-alive server answering every request after `delay`.
async fn server(delay: Duration) -> SocketAddr {
    serve_each(move |_, mut s| async move {
        let _ = s.set_nodelay(true);
        while read_head(&mut s).await {
            tokio::time::sleep(delay).await;
            if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .is_err()
            {
                return;
            }
        }
    })
    .await
}

/// `rate` requests a second for `duration` over a keep-alive pool of `connections`.
fn open(addr: SocketAddr, rate: f64, duration: Duration, connections: usize) -> LoadSpec {
    LoadSpec {
        requests: vec![RequestSpec::get(
            format!("http://{addr}/").parse().expect("url"),
        )],
        seed: 0,
        identity_header: None,
        version_header: None,
        max_body: 64 * 1024,
        grpc: None,
        mode: Mode::Open {
            schedule: Schedule::constant(rate, Some(duration)),
            max_in_flight: 1_000,
            connections,
            send_window: None,
        },
        keepalive: true,
        http2: false,
        insecure: false,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        addresses: None,
    }
}

/// Microseconds between due and send, the largest of the run.
fn most_send_lateness(records: &[zerodrop::model::request::RequestRecord]) -> u64 {
    records
        .iter()
        .map(|r| r.sent.saturating_sub(r.due).as_micros() as u64)
        .max()
        .unwrap_or(0)
}

// The server answers on the runtime's worker thread, the engine runs on the test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocked_engine_thread_is_the_dispatchers_own_delay() {
    let addr = server(Duration::ZERO).await;
    let spec = open(addr, 1_000.0, Duration::from_millis(500), 50);
    // 150 ms in, the engine's thread is taken for 100 ms, as a starved CPU would take it.
    let block = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        std::thread::sleep(Duration::from_millis(100));
    };
    let (run, live) = run_engine_beside(spec, RunClock::start(), block).await;
    assert!(
        run.records.iter().all(|r| r.class == OutcomeClass::Ok),
        "every request answered"
    );
    let late = live.dispatch_late_max_us.load(Ordering::Relaxed);
    // The request due as the block began was handed over when it ended.
    assert!(late >= 90_000, "dispatcher late by only {late} µs");
    assert!(most_send_lateness(&run.records) >= late);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_wait_for_a_busy_connection_is_not_the_dispatchers_delay() {
    // One connection to a server answering in 40 ms carries 25 req/s; 50 are offered for half
    // a second, so the last of them waits about half a second for the connection.
    let addr = server(Duration::from_millis(40)).await;
    let spec = open(addr, 50.0, Duration::from_millis(500), 1);
    let (run, live) = run_engine_beside(spec, RunClock::start(), async {}).await;
    assert_eq!(run.records.len(), 25);
    let waited = most_send_lateness(&run.records);
    assert!(waited >= 300_000, "queued for only {waited} µs");
    let late = live.dispatch_late_max_us.load(Ordering::Relaxed);
    assert!(
        late * 4 < waited,
        "the dispatcher was on time ({late} µs) while requests waited {waited} µs for the connection"
    );
}
