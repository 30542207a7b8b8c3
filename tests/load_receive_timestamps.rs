//! Responses read in batches keep exact latency: on the open loop's plain keep-alive path the
//! engine reads responses only at its own wake-ups (up to a millisecond late) and takes each
//! response's end from the kernel's receive timestamp. A server that answers 50 ms after each
//! request is measured at 50 ms, and every recorded end lies within 0.2 ms of the instant the
//! server wrote its answer — judged from the records and the server's own log of its writes,
//! not from how long the test took.

use std::cell::RefCell;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zerodrop::load::StatusSet;
use zerodrop::load::engine::{LoadSpec, Mode, RequestSpec, run_load};
use zerodrop::load::schedule::Schedule;
use zerodrop::model::clock::RunClock;
use zerodrop::model::connection::ConnectionLife;
use zerodrop::model::outcome::OutcomeClass;
use zerodrop::model::request::{LiveStats, RequestRecord, Sink};

const DELAY: Duration = Duration::from_millis(50);
const REQUESTS: u64 = 12;

#[derive(Default)]
struct Collect(Vec<RequestRecord>);

impl Sink for Collect {
    fn record(&mut self, r: &RequestRecord) {
        self.0.push(r.clone());
    }
    fn connection(&mut self, _: &ConnectionLife) {}
}

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

#[tokio::test(flavor = "current_thread")]
async fn a_50_ms_answer_read_late_is_measured_at_50_ms_from_the_kernel_timestamp() {
    let writes: Writes = Arc::default();
    let addr = delaying_server(writes.clone());
    let spec = LoadSpec {
        request: RequestSpec {
            method: http::Method::GET,
            url: format!("http://{addr}/").parse().expect("url"),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
            accept: StatusSet::default(),
            identity_header: None,
        },
        // One request every 100 ms on one connection: each answer is in before the next is due.
        mode: Mode::Open {
            schedule: Schedule::constant(10.0, Some(Duration::from_millis(100 * REQUESTS))),
            max_in_flight: 100,
            connections: 1,
        },
        keepalive: true,
        http2: false,
        insecure: false,
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
    };
    let clock = RunClock::start();
    let sink = Rc::new(RefCell::new(Collect::default()));
    let dyn_sink: Rc<RefCell<dyn Sink>> = sink.clone();
    let local = tokio::task::LocalSet::new();
    let report = local
        .run_until(run_load(
            &spec,
            clock,
            dyn_sink,
            Arc::new(LiveStats::default()),
            None,
            std::future::pending(),
        ))
        .await
        .expect("engine runs");
    assert!(
        report.kernel_receive_timestamps,
        "responses were read in batches, each timed by the kernel"
    );
    let mut records = sink.borrow().0.clone();
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
