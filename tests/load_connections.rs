//! Every connection's life, recorded by the engine from real sockets on 127.0.0.1: when it
//! opened, the requests it carried, and how it ended — a FIN or an RST from the peer, a close
//! the peer announced, one of ours, or still open at the end. Through a Service these ends are
//! what ties a connection to the pod that went away under it.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zerodrop::load::engine::{LoadSpec, Mode, RequestSpec};
use zerodrop::load::schedule::Schedule;
use zerodrop::model::connection::ConnectionEnd;
use zerodrop::model::outcome::OutcomeClass;

use support::engine::{Collected, read_head, run_engine, serve_each};

/// `requests` requests 20 ms apart over one pooled connection (or one each without
/// keep-alive).
fn spec(addr: SocketAddr, requests: u64, keepalive: bool) -> LoadSpec {
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

async fn run(spec: LoadSpec) -> Collected {
    run_engine(spec).await
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

fn reset(s: TcpStream) {
    let sock = socket2::Socket::from(s.into_std().expect("std"));
    let _ = sock.set_linger(Some(Duration::ZERO));
    drop(sock);
}

#[tokio::test]
async fn a_keepalive_connection_still_open_at_the_end_reports_every_request_it_carried() {
    let addr = serve_each(|_, mut s| async move {
        while read_head(&mut s).await {
            if s.write_all(OK).await.is_err() {
                return;
            }
        }
    })
    .await;
    let out = run(spec(addr, 5, true)).await;
    assert_eq!(out.records.len(), 5);
    assert_eq!(out.connections.len(), 1, "{:?}", out.connections);
    let c = &out.connections[0];
    assert_eq!(c.end, ConnectionEnd::OpenAtEnd);
    assert_eq!((c.requests, c.failures), (5, 0));
    let first = out.records.iter().map(|r| r.sent).min();
    let last = out.records.iter().map(|r| r.sent).max();
    assert_eq!((c.first_request, c.last_request), (first, last));
    assert!(
        c.opened <= c.first_request.expect("first") && c.ended >= c.last_request.expect("last")
    );
    let id = out.records[0].conn.expect("conn");
    assert_eq!((c.id, c.local, c.peer), (id.id, id.local, addr));
}

#[tokio::test]
async fn a_fin_from_the_peer_while_idle_ends_the_connection_as_peer_closed() {
    // The first connection answers twice, then closes (FIN) while idle; the pool replaces it.
    let addr = serve_each(|i, mut s| async move {
        let answers = if i == 0 { 2 } else { usize::MAX };
        let mut n = 0;
        while n < answers && read_head(&mut s).await {
            if s.write_all(OK).await.is_err() {
                return;
            }
            n += 1;
        }
        let _ = s.shutdown().await;
    })
    .await;
    let out = run(spec(addr, 4, true)).await;
    let first = out
        .connections
        .iter()
        .find(|c| c.requests == 2)
        .expect("first");
    assert_eq!(
        first.end,
        ConnectionEnd::PeerClosed,
        "{:?}",
        out.connections
    );
    assert_eq!(first.failures, 0);
    assert!(
        out.records.iter().all(|r| r.class == OutcomeClass::Ok),
        "{:?}",
        out.records
    );
}

#[tokio::test]
async fn an_rst_under_a_request_ends_the_connection_as_peer_reset_with_its_failure() {
    // The first request is answered, the second read and the connection reset.
    let addr = serve_each(|i, mut s| async move {
        if i == 0
            && read_head(&mut s).await
            && s.write_all(OK).await.is_ok()
            && read_head(&mut s).await
        {
            reset(s);
            return;
        }
        while read_head(&mut s).await {
            if s.write_all(OK).await.is_err() {
                return;
            }
        }
    })
    .await;
    let out = run(spec(addr, 3, true)).await;
    let cut = out
        .connections
        .iter()
        .find(|c| c.failures > 0)
        .expect("a failed connection");
    assert_eq!(cut.end, ConnectionEnd::PeerReset, "{:?}", out.connections);
    assert_eq!((cut.requests, cut.failures), (2, 1));
    let failed = out
        .records
        .iter()
        .find(|r| r.class.is_failure())
        .expect("failure");
    assert_eq!(failed.class, OutcomeClass::ConnectionReset);
    assert_eq!(failed.conn.expect("conn").id, cut.id);
    assert!(cut.ended >= failed.sent);
}

#[tokio::test]
async fn connection_close_from_the_server_is_an_announced_end_not_evidence() {
    let addr = serve_each(|_, mut s| async move {
        if read_head(&mut s).await {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
                .await;
            let _ = s.shutdown().await;
        }
    })
    .await;
    let out = run(spec(addr, 3, true)).await;
    assert!(out.records.iter().all(|r| r.class == OutcomeClass::Ok));
    assert!(!out.connections.is_empty());
    for c in &out.connections {
        assert_eq!(c.end, ConnectionEnd::PeerAnnounced, "{:?}", out.connections);
        assert!(!c.end.by_peer());
    }
}

#[tokio::test]
async fn without_keepalive_each_connection_ends_by_our_own_close() {
    let addr = serve_each(|_, mut s| async move {
        if read_head(&mut s).await {
            let _ = s.write_all(OK).await;
            // Like most servers, wait for the client that asked for the close.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        }
    })
    .await;
    let out = run(spec(addr, 3, false)).await;
    assert_eq!(out.connections.len(), 3, "{:?}", out.connections);
    assert!(
        out.connections
            .iter()
            .all(|c| c.end == ConnectionEnd::LocalClose && c.requests == 1)
    );
}

#[tokio::test]
async fn a_request_timeout_ends_its_connection_by_our_own_close() {
    let addr = serve_each(|_, mut s| async move {
        read_head(&mut s).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    })
    .await;
    let out = run(spec(addr, 1, true)).await;
    assert_eq!(out.records[0].class, OutcomeClass::RequestTimeout);
    let c = out
        .connections
        .iter()
        .find(|c| c.requests == 1)
        .expect("its connection");
    assert_eq!((c.end, c.failures), (ConnectionEnd::LocalClose, 1));
}
