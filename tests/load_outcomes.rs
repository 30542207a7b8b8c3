//! Every outcome class of the taxonomy, produced by real sockets on 127.0.0.1 and classified
//! exactly — including the keep-alive close race on a reused connection.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zerodrop::load::StatusSet;
use zerodrop::load::engine::{LoadSpec, Mode, RequestSpec};
use zerodrop::load::schedule::Schedule;
use zerodrop::model::outcome::OutcomeClass;
use zerodrop::model::request::RequestRecord;

use support::engine::{read_head, run_engine, serve_each};

fn spec(url: &str, requests: u64, keepalive: bool) -> LoadSpec {
    LoadSpec {
        requests: vec![RequestSpec::get(url.parse().expect("url"))],
        seed: 0,
        identity_header: None,
        version_header: None,
        max_body: 64 * 1024,
        grpc: None,
        // `requests` requests, 20 ms apart, on a pool of one connection.
        mode: Mode::Open {
            schedule: Schedule::constant(50.0, Some(Duration::from_millis(20 * requests))),
            max_in_flight: 100,
            connections: 1,
            send_window: None,
        },
        keepalive,
        http2: false,
        insecure: false,
        timeout: Duration::from_millis(400),
        connect_timeout: Duration::from_millis(400),
        addresses: None,
    }
}

async fn run(spec: LoadSpec) -> Vec<RequestRecord> {
    run_engine(spec).await.records
}

fn classes(records: &[RequestRecord]) -> Vec<OutcomeClass> {
    let mut v: Vec<_> = records.iter().map(|r| r.class).collect();
    v.sort();
    v.dedup();
    v
}

#[tokio::test]
async fn a_closed_port_is_connect_refused() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let recs = run(spec(&format!("http://{addr}/"), 3, false)).await;
    assert_eq!(recs.len(), 3);
    assert_eq!(classes(&recs), vec![OutcomeClass::ConnectRefused]);
    assert!(
        recs.iter()
            .all(|r| r.conn.is_none() && r.dialed == Some(addr))
    );
}

#[tokio::test]
async fn a_reset_after_reading_the_request_is_connection_reset() {
    let addr = serve_each(|_, mut s| async move {
        if read_head(&mut s).await {
            let std = s.into_std().expect("std");
            let sock = socket2::Socket::from(std);
            let _ = sock.set_linger(Some(Duration::ZERO)); // close() now sends RST
            drop(sock);
        }
    })
    .await;
    let recs = run(spec(&format!("http://{addr}/"), 3, false)).await;
    assert_eq!(
        classes(&recs),
        vec![OutcomeClass::ConnectionReset],
        "{recs:?}"
    );
    assert!(
        recs.iter()
            .all(|r| r.conn.is_some_and(|c| !c.reused && c.peer == addr))
    );
}

#[tokio::test]
async fn a_reused_keepalive_connection_closed_as_the_request_goes_out_is_closed_before_response() {
    // First request answered with keep-alive; the second is read and the connection closed
    // (FIN) without an answer: the shutdown race a draining server causes.
    let addr = serve_each(|_, mut s| async move {
        if read_head(&mut s).await {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
        if read_head(&mut s).await {
            let _ = s.shutdown().await;
        }
    })
    .await;
    let recs = run(spec(&format!("http://{addr}/"), 2, true)).await;
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].class, OutcomeClass::Ok);
    assert_eq!(
        recs[1].class,
        OutcomeClass::ClosedBeforeResponse,
        "{:?}",
        recs[1]
    );
    let c0 = recs[0].conn.expect("conn");
    let c1 = recs[1].conn.expect("conn");
    assert!(
        !c0.reused && c1.reused,
        "second request reused the first connection"
    );
    assert_eq!((c0.id, c0.local), (c1.id, c1.local));
}

#[tokio::test]
async fn a_server_that_never_answers_is_request_timeout() {
    let addr = serve_each(|_, mut s| async move {
        read_head(&mut s).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let recs = run(spec(&format!("http://{addr}/"), 2, false)).await;
    assert_eq!(classes(&recs), vec![OutcomeClass::RequestTimeout]);
    assert!(
        recs.iter()
            .all(|r| r.service_time() >= Duration::from_millis(400))
    );
}

#[tokio::test]
async fn a_full_accept_queue_is_connect_timeout() {
    // A listener that never accepts, with its backlog filled: further SYNs are dropped.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().expect("addr").into())
        .expect("bind");
    sock.listen(0).expect("listen");
    let addr = sock.local_addr().expect("addr").as_socket().expect("inet");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let recs = run(spec(&format!("http://{addr}/"), 2, false)).await;
    assert_eq!(
        classes(&recs),
        vec![OutcomeClass::ConnectTimeout],
        "{recs:?}"
    );
    drop(sock);
}

#[tokio::test]
async fn server_errors_keep_their_exact_status() {
    let addr = serve_each(|i, mut s| async move {
        if read_head(&mut s).await {
            let status = if i % 2 == 0 {
                "503 Service Unavailable"
            } else {
                "404 Not Found"
            };
            let resp =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = s.write_all(resp.as_bytes()).await;
        }
    })
    .await;
    let recs = run(spec(&format!("http://{addr}/"), 4, false)).await;
    assert_eq!(
        classes(&recs),
        vec![OutcomeClass::Http4xx, OutcomeClass::Http5xx]
    );
    for r in &recs {
        match r.class {
            OutcomeClass::Http5xx => assert_eq!(r.status, Some(503)),
            OutcomeClass::Http4xx => assert_eq!(r.status, Some(404)),
            other => panic!("unexpected {other}"),
        }
    }
}

#[tokio::test]
async fn accepted_statuses_count_as_ok() {
    let addr = serve_each(|_, mut s| async move {
        if read_head(&mut s).await {
            let _ = s
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        }
    })
    .await;
    let mut sp = spec(&format!("http://{addr}/"), 2, false);
    sp.requests[0].accept = StatusSet(vec![(200, 299), (404, 404)]);
    let recs = run(sp).await;
    assert_eq!(classes(&recs), vec![OutcomeClass::Ok]);
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_tls() {
    let addr = serve_each(|_, mut s| async move {
        let mut b = [0u8; 512];
        let _ = s.read(&mut b).await;
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
    })
    .await;
    let mut sp = spec(&format!("https://{addr}/"), 2, false);
    sp.insecure = true;
    let recs = run(sp).await;
    assert_eq!(classes(&recs), vec![OutcomeClass::Tls], "{recs:?}");
}

#[tokio::test]
async fn an_identity_header_is_remembered_on_its_connection() {
    let addr = serve_each(|_, mut s| async move {
        let mut first = true;
        while read_head(&mut s).await {
            let resp = if first {
                "HTTP/1.1 200 OK\r\nx-pod: web-1\r\ncontent-length: 0\r\n\r\n"
            } else {
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
            };
            first = false;
            if s.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let mut sp = spec(&format!("http://{addr}/"), 2, true);
    sp.identity_header = Some(http::HeaderName::from_static("x-pod"));
    let recs = run(sp).await;
    assert_eq!(recs[1].class, OutcomeClass::Http5xx);
    assert_eq!(
        recs[1].identity.as_deref(),
        Some("web-1"),
        "the failure names the pod seen earlier on its connection"
    );
}

#[tokio::test]
async fn the_in_flight_cap_drops_and_counts_instead_of_delaying() {
    // A server that never answers: after `max_in_flight` requests are open, every further due
    // request is counted as dropped_by_generator at its due instant.
    let addr = serve_each(|_, mut s| async move { while read_head(&mut s).await {} }).await;
    let mut sp = spec(&format!("http://{addr}/"), 10, true);
    if let Mode::Open { max_in_flight, .. } = &mut sp.mode {
        *max_in_flight = 3;
    }
    let recs = run(sp).await;
    assert_eq!(recs.len(), 10, "every due request is accounted for");
    let dropped: Vec<_> = recs
        .iter()
        .filter(|r| r.class == OutcomeClass::DroppedByGenerator)
        .collect();
    assert!(dropped.len() >= 6, "{recs:?}");
    assert!(
        dropped
            .iter()
            .all(|r| r.sent == r.due && r.end == r.due && r.conn.is_none())
    );
    assert_eq!(
        recs.iter()
            .filter(|r| r.class == OutcomeClass::RequestTimeout)
            .count(),
        10 - dropped.len()
    );
}

#[tokio::test]
async fn a_busy_pool_queues_requests_instead_of_dialling_more_connections() {
    // Slow answers (100 ms) at 50/s for 0.2 s on a pool of one connection: requests queue for
    // it in order and no other connection is opened; every request still succeeds.
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let addr = serve_each(move |_, mut s| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            while read_head(&mut s).await {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    })
    .await;
    let mut sp = spec(&format!("http://{addr}/"), 20, true);
    sp.timeout = Duration::from_secs(3);
    let recs = run(sp).await;
    assert_eq!(classes(&recs), vec![OutcomeClass::Ok]);
    let conns = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        conns <= 1 + 8,
        "at most the pre-opened connection plus the dial limit: {conns}"
    );
    // Connection waits show up as send lateness, not as service time.
    assert!(
        recs.iter()
            .all(|r| r.service_time() < Duration::from_millis(1_000))
    );
}

#[tokio::test]
async fn a_keepalive_connection_closed_while_idle_is_replaced_without_a_failure() {
    // Each connection answers one request, then closes while idle (FIN) well before the next
    // request is due: a client must notice and dial again, as a real pool would.
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let addr = serve_each(move |_, mut s| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            if read_head(&mut s).await {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                tokio::time::sleep(Duration::from_millis(5)).await;
                let _ = s.shutdown().await;
            }
        }
    })
    .await;
    let recs = run(spec(&format!("http://{addr}/"), 4, true)).await;
    assert_eq!(classes(&recs), vec![OutcomeClass::Ok], "{recs:?}");
    assert!(
        recs.iter().all(|r| r.conn.is_some_and(|c| !c.reused)),
        "each request on a fresh connection"
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 4);
}
