//! Responses read in batches keep exact latency: on the open loop's plain keep-alive path the
//! engine reads responses only at its own wake-ups (here the next request's, 50 ms after the
//! answer) and takes each response's end from the kernel's receive timestamp. A server that
//! answers 50 ms after each request is measured at 50 ms, and every recorded end lies within
//! 0.2 ms of the instant the server wrote its answer — judged from the records and the
//! server's own log of its writes, not from how long the test took. An answer unread when its
//! request's deadline comes is still a response if it arrived in time, and an answer complete
//! past the timeout is a timeout however soon after it tokio's timer fires.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::engine::{read_head, run_engine_on, serve_each};
use tokio::io::AsyncWriteExt as _;
use zerodrop::load::engine::{LoadSpec, Mode, RequestSpec};
use zerodrop::load::schedule::Schedule;
use zerodrop::model::clock::RunClock;
use zerodrop::model::outcome::OutcomeClass;

const DELAY: Duration = Duration::from_millis(50);
const REQUESTS: u64 = 12;

/// When the server wrote one answer: just before and just after its `write`.
type Writes = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// One connection at a time; each request answered `DELAY` after its head arrived.
fn delaying_server(writes: Writes) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.set_nodelay(true);
            let mut buf = [0u8; 4096];
            let mut head = Vec::new();
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
                while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    head.drain(..end + 4);
                    let answer_at = Instant::now() + DELAY;
                    std::thread::sleep(answer_at.saturating_duration_since(Instant::now()));
                    let before = Instant::now();
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                    writes.lock().expect("log").push((before, Instant::now()));
                }
            }
        }
    });
    addr
}

/// `REQUESTS` requests to `addr`, one every 100 ms (each answer is in before the next is due),
/// on one connection, or a new connection each with `keepalive` off.
fn spec(addr: std::net::SocketAddr, keepalive: bool) -> LoadSpec {
    spec_with(addr, keepalive, 10.0, REQUESTS, Duration::from_secs(2))
}

/// `n` requests at `rate` per second, each given `timeout`.
fn spec_with(
    addr: std::net::SocketAddr,
    keepalive: bool,
    rate: f64,
    n: u64,
    timeout: Duration,
) -> LoadSpec {
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
            schedule: Schedule::constant(rate, Some(Duration::from_secs_f64(n as f64 / rate))),
            max_in_flight: 100,
            connections: 1,
            send_window: None,
        },
        keepalive,
        http2: false,
        insecure: false,
        timeout,
        connect_timeout: Duration::from_secs(2),
        addresses: None,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_50_ms_answer_read_late_is_measured_at_50_ms_from_the_kernel_timestamp() {
    let writes: Writes = Arc::default();
    let addr = delaying_server(writes.clone());
    let spec = spec(addr, true);
    let clock = RunClock::start();
    let run = run_engine_on(spec, clock).await;
    assert!(
        run.report.kernel_receive_timestamps,
        "responses were read in batches, each timed by the kernel"
    );
    let mut records = run.records;
    records.sort_by_key(|r| r.seq);
    let writes = writes.lock().expect("log").clone();
    assert_eq!(records.len() as u64, REQUESTS);
    assert_eq!(writes.len() as u64, REQUESTS, "one answer per request");
    let tolerance = Duration::from_micros(200);
    for (r, (before, after)) in records.iter().zip(&writes) {
        assert_eq!(r.class, OutcomeClass::Ok, "{r:?}");
        let (before, after) = (clock.at(*before), clock.at(*after));
        let service = r.end.saturating_sub(r.sent);
        eprintln!(
            "request {}: service time {service:?}, end {} µs after the server's write began",
            r.seq,
            r.end.0 as i64 - before.0 as i64
        );
        assert!(
            service >= DELAY,
            "never shorter than the delay: {service:?}"
        );
        assert!(
            r.end >= before && r.end <= after.plus(tolerance),
            "request {}: end {:?} must lie within 0.2 ms of the answer's write [{before:?}, {after:?}]",
            r.seq,
            r.end
        );
        // The server wrote DELAY after the request arrived; the record says the same.
        let server_delay = before.saturating_sub(r.sent);
        assert!(
            service <= server_delay + (after.saturating_sub(before)) + tolerance,
            "request {}: service time {service:?} against the server's {server_delay:?}",
            r.seq
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn responses_read_as_they_arrive_are_not_reported_as_kernel_timed() {
    // A new connection per request stays on the reactor: nothing is read late, and the result
    // says its ends are the instants the engine read them.
    let addr = delaying_server(Arc::default());
    let run = run_engine_on(spec(addr, false), RunClock::start()).await;
    assert_eq!(run.records.len() as u64, REQUESTS);
    assert!(run.records.iter().all(|r| r.class == OutcomeClass::Ok));
    assert!(!run.report.kernel_receive_timestamps);
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_in_before_the_timeout_but_not_yet_read_is_a_response_not_a_timeout() {
    // Two requests a second: each answer (50 ms) is in long before the 80 ms timeout, but the
    // engine would read it only at the next request's wake-up, 500 ms on. The deadline's wake
    // reads the socket before it counts, so these are responses, timed by the kernel.
    let addr = delaying_server(Arc::default());
    let spec = spec_with(addr, true, 2.0, 3, Duration::from_millis(80));
    let run = run_engine_on(spec, RunClock::start()).await;
    assert!(run.report.kernel_receive_timestamps);
    assert_eq!(run.records.len(), 3);
    for r in &run.records {
        assert_eq!(r.class, OutcomeClass::Ok, "{r:?}");
        let service = r.end.saturating_sub(r.sent);
        assert!(
            service >= DELAY && service < Duration::from_millis(80),
            "request {}: {service:?}",
            r.seq
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_later_than_the_timeout_is_still_a_timeout_when_reads_are_deferred() {
    let addr = delaying_server(Arc::default());
    let spec = spec_with(addr, true, 2.0, 2, Duration::from_millis(30));
    let run = run_engine_on(spec, RunClock::start()).await;
    assert_eq!(run.records.len(), 2);
    assert!(
        run.records
            .iter()
            .all(|r| r.class == OutcomeClass::RequestTimeout),
        "{:?}",
        run.records
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_a_fraction_of_a_millisecond_past_the_timeout_is_a_timeout() {
    // Each answer is written 50 ms after its request arrived, so it is complete 50 ms and a
    // little after it was sent: past a 49.8 ms timeout by well under tokio's 1 ms timer
    // granularity. The deadline's wake-up reads the socket first (see above) and would find
    // the answer in; judged by the kernel's instant it came in late, and no response is
    // recorded slower than the timeout.
    let addr = delaying_server(Arc::default());
    let timeout = DELAY - Duration::from_micros(200);
    let spec = spec_with(addr, true, 4.0, 6, timeout);
    let run = run_engine_on(spec, RunClock::start()).await;
    assert!(run.report.kernel_receive_timestamps);
    assert_eq!(run.records.len(), 6);
    for r in &run.records {
        assert_eq!(r.class, OutcomeClass::RequestTimeout, "{r:?}");
        assert_eq!(r.status, None, "{r:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_a_fraction_of_a_millisecond_past_the_timeout_read_as_it_arrives_is_a_timeout() {
    // A new connection per request is read on the reactor as bytes arrive; the answer is read
    // before tokio's timer fires all the same, and is judged by the instant it was read.
    let addr = delaying_server(Arc::default());
    let spec = spec_with(addr, false, 4.0, 6, DELAY - Duration::from_micros(200));
    let run = run_engine_on(spec, RunClock::start()).await;
    assert!(!run.report.kernel_receive_timestamps);
    assert_eq!(run.records.len(), 6);
    for r in &run.records {
        assert_eq!(r.class, OutcomeClass::RequestTimeout, "{r:?}");
    }
}

/// Two connections carry 1,000 req/s from a server that answers at once, with a 5 ms send
/// window: five requests leave together, three wait for a connection, and each answer frees one
/// as it comes in. Read only at the dispatcher's wake-ups, the two connections would carry two
/// requests per 5 ms (400 req/s): the queue would grow until the in-flight cap of 200 dropped
/// requests (about 400 of the 1,000). Now none is dropped and none waits long.
// The server answers on the runtime's worker thread, the engine runs on the test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_small_pool_takes_its_next_request_as_each_answer_comes_in() {
    let addr = serve_each(|_, mut s| async move {
        let _ = s.set_nodelay(true);
        while read_head(&mut s).await {
            if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .is_err()
            {
                return;
            }
        }
    })
    .await;
    let mut spec = spec_with(addr, true, 1000.0, 1000, Duration::from_secs(2));
    spec.mode = Mode::Open {
        schedule: Schedule::constant(1000.0, Some(Duration::from_secs(1))),
        max_in_flight: 200,
        connections: 2,
        send_window: Some(Duration::from_millis(5)),
    };
    let run = run_engine_on(spec, RunClock::start()).await;
    assert!(run.report.kernel_receive_timestamps, "reads were deferred");
    assert_eq!(run.records.len(), 1000);
    let dropped = run
        .records
        .iter()
        .filter(|r| r.class == OutcomeClass::DroppedByGenerator)
        .count();
    let ok = run
        .records
        .iter()
        .filter(|r| r.class == OutcomeClass::Ok)
        .count();
    assert_eq!(
        (ok, dropped),
        (1000, 0),
        "every request answered, none dropped"
    );
    let mut late: Vec<u64> = run
        .records
        .iter()
        .map(|r| r.sent.saturating_sub(r.due).as_micros() as u64)
        .collect();
    late.sort_unstable();
    let p99 = late[late.len() * 99 / 100];
    assert!(
        p99 < 100_000,
        "requests wait for an answer, not for a wake-up: send lateness p99 {p99} µs"
    );
}
