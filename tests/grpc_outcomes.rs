//! Every gRPC outcome class, produced by real sockets on 127.0.0.1 and classified exactly:
//! each grpc-status by a real grpcio server, and the stream and connection classes — refused
//! and reset streams, a GOAWAY's graceful and abrupt halves, connections reset or closed with
//! no GOAWAY, our own deadline — by a server written frame by frame here, since no library
//! server misbehaves on cue.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zerodrop::load::GrpcCall;
use zerodrop::load::engine::{LoadSpec, Mode, RequestSpec};
use zerodrop::load::schedule::Schedule;
use zerodrop::model::connection::{ConnectionEnd, ConnectionLife};
use zerodrop::model::grpc::{GrpcClass, GrpcCode};
use zerodrop::model::outcome::OutcomeClass;
use zerodrop::model::request::RequestRecord;

use support::engine::{Collected, run_engine};
use support::tool::{GRPCIO, python_with, require_tool};

/// `calls` unary calls of `message`, 20 ms apart, over one connection to `addr`.
fn spec(addr: SocketAddr, path: &str, message: &[u8], calls: u64, timeout: Duration) -> LoadSpec {
    LoadSpec {
        requests: vec![RequestSpec {
            method: http::Method::POST,
            ..RequestSpec::get(format!("http://{addr}").parse().expect("url"))
        }],
        seed: 0,
        identity_header: None,
        version_header: None,
        max_body: 64 * 1024,
        grpc: Some(GrpcCall {
            path: path.to_string(),
            message: bytes::Bytes::copy_from_slice(message),
        }),
        mode: Mode::Open {
            schedule: Schedule::constant(50.0, Some(Duration::from_millis(20 * calls))),
            max_in_flight: 100,
            connections: 1,
            send_window: None,
        },
        keepalive: true,
        http2: true,
        insecure: false,
        timeout,
        connect_timeout: Duration::from_millis(500),
        addresses: None,
    }
}

async fn run(spec: LoadSpec) -> Vec<RequestRecord> {
    run_with_lives(spec).await.0
}

/// The calls' records in schedule order, and the lives of the connections they used.
async fn run_with_lives(spec: LoadSpec) -> (Vec<RequestRecord>, Vec<ConnectionLife>) {
    let Collected {
        mut records,
        mut connections,
        ..
    } = run_engine(spec).await;
    records.sort_by_key(|r| r.seq);
    connections.sort_by_key(|c| c.id);
    (records, connections)
}

/// How connection `id` ended, by its life.
fn end_of(lives: &[ConnectionLife], id: u64) -> ConnectionEnd {
    lives
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.end)
        .unwrap_or_else(|| panic!("no life for connection {id}: {lives:#?}"))
}

fn grpc(c: GrpcClass) -> OutcomeClass {
    OutcomeClass::Grpc(c)
}

// ---- a server written frame by frame --------------------------------------------------------

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

/// One server-side HTTP/2 connection, spoken frame by frame.
struct Raw {
    s: TcpStream,
}

impl Raw {
    /// Reads the client's preface and sends our (empty) SETTINGS.
    async fn start(mut s: TcpStream) -> Raw {
        let mut preface = [0u8; 24];
        s.read_exact(&mut preface).await.expect("preface");
        assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let mut raw = Raw { s };
        raw.send(SETTINGS, 0, 0, &[]).await;
        raw
    }

    async fn send(&mut self, ty: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, ty, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        let _ = self.s.write_all(&f).await;
    }

    /// The next frame (type, flags, stream), acknowledging SETTINGS on the way.
    async fn frame(&mut self) -> Option<(u8, u8, u32)> {
        loop {
            let mut h = [0u8; 9];
            self.s.read_exact(&mut h).await.ok()?;
            let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
            let mut payload = vec![0u8; len];
            self.s.read_exact(&mut payload).await.ok()?;
            let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
            if h[3] == SETTINGS && h[4] & ACK == 0 {
                self.send(SETTINGS, ACK, 0, &[]).await;
                continue;
            }
            return Some((h[3], h[4], stream));
        }
    }

    /// Reads until stream `id` has sent its whole request (its DATA with END_STREAM).
    async fn request(&mut self, id: u32) {
        while let Some((ty, flags, stream)) = self.frame().await {
            if stream == id && (ty == DATA || ty == HEADERS) && flags & END_STREAM != 0 {
                return;
            }
        }
        panic!("the connection ended before stream {id}'s request");
    }

    async fn goaway(&mut self, last: u32, code: u32) {
        let mut p = last.to_be_bytes().to_vec();
        p.extend_from_slice(&code.to_be_bytes());
        self.send(GOAWAY, 0, 0, &p).await;
    }

    async fn reset_stream(&mut self, id: u32, code: u32) {
        self.send(RST_STREAM, 0, id, &code.to_be_bytes()).await;
    }

    /// Drops the connection with an RST (SO_LINGER 0).
    fn reset(self) {
        let sock = socket2::Socket::from(self.s.into_std().expect("std"));
        let _ = sock.set_linger(Some(Duration::ZERO));
    }

    /// Sends a FIN and keeps the socket a moment, so the peer reads the close, not a reset.
    async fn close(mut self) {
        let _ = self.s.shutdown().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    /// A whole gRPC answer on stream `id`: 200, one empty message, grpc-status `status`.
    async fn answer(&mut self, id: u32, status: u8) {
        // :status 200 (static index 8), content-type (literal, indexed name 31).
        let mut head = vec![0x88, 0x0f, 0x10, 16];
        head.extend_from_slice(b"application/grpc");
        self.send(HEADERS, END_HEADERS, id, &head).await;
        self.send(DATA, 0, id, &[0, 0, 0, 0, 0]).await;
        let mut trailers = vec![0x00, 11];
        trailers.extend_from_slice(b"grpc-status");
        trailers.extend_from_slice(&[1, status]);
        self.send(HEADERS, END_HEADERS | END_STREAM, id, &trailers)
            .await;
    }
}

/// A listener whose connection `i` is served by `f(i, Raw)`.
async fn raw_server<F, Fut>(f: F) -> SocketAddr
where
    F: Fn(usize, Raw) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let f = Arc::new(f);
    tokio::spawn(async move {
        let mut i = 0;
        while let Ok((s, _)) = l.accept().await {
            let f = f.clone();
            tokio::spawn(async move { f(i, Raw::start(s).await).await });
            i += 1;
        }
    });
    addr
}

/// Holds a connection open, reading (and acknowledging) whatever comes, until the test ends.
async fn hold(mut raw: Raw) {
    while raw.frame().await.is_some() {}
}

const METHOD: &str = "/zerodrop.test.v1.T/Call";

#[tokio::test]
async fn a_complete_answer_with_status_zero_is_ok_with_its_connection() {
    let addr = raw_server(|_, mut raw| async move {
        raw.request(1).await;
        raw.answer(1, b'0').await;
        hold(raw).await;
    })
    .await;
    let (recs, lives) = run_with_lives(spec(addr, METHOD, b"", 1, Duration::from_secs(2))).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].class, OutcomeClass::Ok, "{:?}", recs[0]);
    assert_eq!(recs[0].status, Some(200));
    assert_eq!(recs[0].conn.map(|c| c.peer), Some(addr));
    // Its life: one call, still open when the load ended.
    assert_eq!(lives.len(), 1, "{lives:#?}");
    assert_eq!((lives[0].requests, lives[0].failures), (1, 0));
    assert_eq!(lives[0].end, ConnectionEnd::OpenAtEnd);
}

#[tokio::test]
async fn refused_stream_is_its_own_class() {
    let addr = raw_server(|_, mut raw| async move {
        for id in [1, 3] {
            raw.request(id).await;
            raw.reset_stream(id, 0x7).await;
        }
        hold(raw).await;
    })
    .await;
    let recs = run(spec(addr, METHOD, b"", 2, Duration::from_secs(2))).await;
    let got: Vec<_> = recs.iter().map(|r| r.class).collect();
    assert_eq!(got, vec![grpc(GrpcClass::RefusedStream); 2], "{recs:#?}");
    assert!(
        recs[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("REFUSED_STREAM")
    );
}

#[tokio::test]
async fn a_stream_reset_with_another_code_is_stream_reset_naming_the_code() {
    let addr = raw_server(|_, mut raw| async move {
        raw.request(1).await;
        raw.reset_stream(1, 0x2).await;
        hold(raw).await;
    })
    .await;
    let recs = run(spec(addr, METHOD, b"", 1, Duration::from_secs(2))).await;
    assert_eq!(recs[0].class, grpc(GrpcClass::StreamReset), "{recs:#?}");
    assert!(
        recs[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("INTERNAL_ERROR")
    );
}

#[tokio::test]
async fn a_goaway_refuses_the_streams_above_it_and_a_cut_after_it_is_abrupt() {
    // Stream 1 is accepted, stream 3 arrives, then GOAWAY(last-stream-id 1) and a close: 3 was
    // never processed (graceful: safe to retry); 1 was promised and then cut (abrupt).
    let addr = raw_server(|i, mut raw| async move {
        if i > 0 {
            return hold(raw).await;
        }
        raw.request(1).await;
        raw.request(3).await;
        raw.goaway(1, 0).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        raw.close().await;
    })
    .await;
    let (recs, lives) = run_with_lives(spec(addr, METHOD, b"", 2, Duration::from_secs(2))).await;
    let got: Vec<_> = recs.iter().map(|r| r.class).collect();
    assert_eq!(
        got,
        vec![
            grpc(GrpcClass::GoawayAbrupt),
            grpc(GrpcClass::GoawayGraceful)
        ],
        "{recs:#?}"
    );
    // The connection's life says the server announced its end.
    assert_eq!(end_of(&lives, 0), ConnectionEnd::PeerAnnounced);
    assert!(recs.iter().all(|r| r.conn.is_some()), "{recs:#?}");
    let graceful = recs[1].error.as_deref().unwrap_or("");
    assert!(
        graceful.contains("last-stream-id 1, NO_ERROR"),
        "{graceful}"
    );
}

#[tokio::test]
async fn a_connection_reset_with_no_goaway_is_reset_without_goaway() {
    let addr = raw_server(|i, mut raw| async move {
        if i > 0 {
            return hold(raw).await;
        }
        raw.request(1).await;
        raw.reset();
    })
    .await;
    let (recs, lives) = run_with_lives(spec(addr, METHOD, b"", 1, Duration::from_secs(2))).await;
    assert_eq!(
        recs[0].class,
        grpc(GrpcClass::ResetWithoutGoaway),
        "{recs:#?}"
    );
    assert_eq!(end_of(&lives, 0), ConnectionEnd::PeerReset);
    let conn = recs[0].conn.expect("the connection is known");
    assert_eq!(conn.peer, addr);
}

#[tokio::test]
async fn a_connection_closed_with_no_goaway_is_closed_without_goaway() {
    let addr = raw_server(|i, mut raw| async move {
        if i > 0 {
            return hold(raw).await;
        }
        raw.request(1).await;
        raw.close().await;
    })
    .await;
    let (recs, lives) = run_with_lives(spec(addr, METHOD, b"", 1, Duration::from_secs(2))).await;
    assert_eq!(
        recs[0].class,
        grpc(GrpcClass::ClosedWithoutGoaway),
        "{recs:#?}"
    );
    assert_eq!(end_of(&lives, 0), ConnectionEnd::PeerClosed);
}

#[tokio::test]
async fn no_answer_within_our_deadline_is_client_deadline() {
    let addr = raw_server(|_, raw| hold(raw)).await;
    let recs = run(spec(addr, METHOD, b"", 1, Duration::from_millis(300))).await;
    assert_eq!(recs[0].class, grpc(GrpcClass::ClientDeadline), "{recs:#?}");
}

const LATE_CALLS: u32 = 12;
const LATE_DEADLINE: Duration = Duration::from_millis(10);

/// A server answering each of `LATE_CALLS` streams (one at a time, in order) with a whole gRPC
/// answer 10.05 ms after it read the request: past a 10 ms deadline by less than tokio's 1 ms
/// timer granularity, so some answers are read before the client's timer fires. It has a
/// thread of its own, so its exact waits do not hold up the client.
fn answering_just_late() -> SocketAddr {
    support::on_own_thread(|| {
        raw_server(|_, mut raw| async move {
            // The answer's three frames leave at once, not held back by Nagle.
            raw.s.set_nodelay(true).expect("nodelay");
            for id in (1..2 * LATE_CALLS).step_by(2) {
                raw.request(id).await;
                let at = std::time::Instant::now() + LATE_DEADLINE + Duration::from_micros(50);
                std::thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
                raw.answer(id, b'0').await;
            }
            hold(raw).await;
        })
    })
}

#[tokio::test]
async fn an_answer_a_fraction_of_a_millisecond_past_our_deadline_is_client_deadline() {
    // Calls 20 ms apart, each answered just after its deadline: judged by when the answer came
    // in, every call missed it (without that, 9 of 12 were recorded as answers).
    let addr = answering_just_late();
    let calls = u64::from(LATE_CALLS);
    let recs = run(spec(addr, METHOD, b"", calls, LATE_DEADLINE)).await;
    assert_eq!(recs.len(), LATE_CALLS as usize);
    for r in &recs {
        assert_eq!(r.class, grpc(GrpcClass::ClientDeadline), "{recs:#?}");
    }
}

#[tokio::test]
async fn a_plain_http2_answer_a_fraction_of_a_millisecond_past_the_timeout_is_a_timeout() {
    // The same server read as plain HTTP/2 (`--http2`, a GET): each answer is a 200 with a
    // body and trailers, complete just after the request's timeout.
    let addr = answering_just_late();
    let calls = u64::from(LATE_CALLS);
    let recs = run(LoadSpec {
        requests: vec![RequestSpec::get(
            format!("http://{addr}").parse().expect("url"),
        )],
        grpc: None,
        ..spec(addr, METHOD, b"", calls, LATE_DEADLINE)
    })
    .await;
    assert_eq!(recs.len(), LATE_CALLS as usize);
    for r in &recs {
        assert_eq!(r.class, OutcomeClass::RequestTimeout, "{recs:#?}");
    }
}

#[tokio::test]
async fn an_http_error_without_grpc_status_is_read_as_the_specification_maps_it() {
    let addr = raw_server(|_, mut raw| async move {
        raw.request(1).await;
        // :status 503 as a literal with the indexed name :status (8).
        raw.send(
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            &[0x08, 3, b'5', b'0', b'3'],
        )
        .await;
        hold(raw).await;
    })
    .await;
    let recs = run(spec(addr, METHOD, b"", 1, Duration::from_secs(2))).await;
    assert_eq!(
        recs[0].class,
        grpc(GrpcClass::Status(GrpcCode::Unavailable)),
        "{recs:#?}"
    );
    assert_eq!(recs[0].status, Some(503));
}

// ---- a real server: grpcio ------------------------------------------------------------------

/// grpcio on a free port; killed when dropped.
struct Grpcio {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Grpcio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn grpcio() -> Option<Grpcio> {
    let python = require_tool(
        GRPCIO,
        python_with(&["grpc", "grpc_health.v1", "grpc_reflection.v1alpha"]),
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grpc/grpcio_server.py"
    );
    let child = std::process::Command::new(python)
        .args([script, "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs");
    // Owned at once, so the process is killed and reaped whatever happens next.
    let server = Grpcio {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(server.addr).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("grpcio did not listen on {}", server.addr);
}

/// EchoRequest { message: text }.
fn echo(text: &str) -> Vec<u8> {
    let mut m = vec![0x0a, text.len() as u8];
    m.extend_from_slice(text.as_bytes());
    m
}

#[tokio::test]
async fn every_grpc_status_a_real_server_sends_is_classed_by_its_name() {
    let Some(server) = grpcio() else { return };
    let path = "/zerodrop.demo.v1.Echo/Echo";
    let ok = run(spec(
        server.addr,
        path,
        &echo("hello"),
        1,
        Duration::from_secs(5),
    ))
    .await;
    assert_eq!(ok[0].class, OutcomeClass::Ok, "{ok:#?}");
    for code in GrpcCode::ALL {
        let asked = echo(&format!("status:{}", code.number()));
        let recs = run(spec(server.addr, path, &asked, 1, Duration::from_secs(5))).await;
        assert_eq!(
            recs[0].class,
            grpc(GrpcClass::Status(code)),
            "{code:?}: {recs:#?}"
        );
        let error = recs[0].error.as_deref().unwrap_or("");
        assert!(
            error.starts_with(&format!("grpc-status {} {}", code.number(), code.name())),
            "{error}"
        );
    }
    let unknown = run(spec(
        server.addr,
        "/zerodrop.demo.v1.Echo/Nope",
        b"",
        1,
        Duration::from_secs(5),
    ))
    .await;
    assert_eq!(
        unknown[0].class,
        grpc(GrpcClass::Status(GrpcCode::Unimplemented))
    );
}
