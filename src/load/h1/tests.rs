//! The HTTP/1.1 client against scripted servers on 127.0.0.1: framing, persistence, interim
//! responses, the identity header, and what each way of failing is called.

use crate::load::conn::Io;
use crate::model::clock::At;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use bytes::Bytes;

fn wire(method: http::Method, close: bool) -> Wire {
    Wire::new(
        &method,
        "/x?y=1",
        "example:80",
        &http::HeaderMap::new(),
        &Bytes::new(),
        close,
    )
}

/// Reads one request head from a test server's socket; false once the client is gone.
async fn read_request_head(s: &mut TcpStream, buf: &mut [u8]) -> bool {
    let mut have = Vec::new();
    while !have.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => have.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// A server that, for each request it reads, writes the next of `answers` (then closes if the
/// answer is `None`). Returns the connected client.
async fn scripted(answers: Vec<Option<&'static [u8]>>) -> H1Conn {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 4096];
        for answer in answers {
            if !read_request_head(&mut s, &mut buf).await {
                return;
            }
            match answer {
                Some(bytes) => {
                    if s.write_all(bytes).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = s.shutdown().await;
                    return;
                }
            }
        }
        // Keep the connection open until the client is done.
        let _ = s.read(&mut buf).await;
    });
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let local = tcp.local_addr().expect("local");
    H1Conn::new(0, local, addr, Io::Plain(tcp), At::ZERO)
}

async fn go(c: &mut H1Conn, w: &Wire) -> Exchange {
    go_checked(c, w, Checks::default()).await
}

/// One exchange of a template sending `w` with `checks`, watching `x-pod` and `x-version`.
async fn go_checked(c: &mut H1Conn, w: &Wire, checks: Checks) -> Exchange {
    let t = Template::for_test(w.clone(), checks);
    let watched = Watched {
        identity: Some(HeaderName::from_static("x-pod")),
        version: Some(HeaderName::from_static("x-version")),
    };
    c.exchange(&t, &watched, Duration::from_secs(2), 64 * 1024)
        .await
}

#[test]
fn the_request_is_serialised_once_with_host_and_length() {
    let mut h = http::HeaderMap::new();
    h.insert("x-env", http::HeaderValue::from_static("staging"));
    let w = Wire::new(
        &http::Method::POST,
        "/a",
        "svc:8080",
        &h,
        &Bytes::from_static(b"{}"),
        false,
    );
    assert_eq!(
        &w.bytes[..],
        &b"POST /a HTTP/1.1\r\nhost: svc:8080\r\nx-env: staging\r\ncontent-length: 2\r\n\r\n{}"[..]
    );
    let get = wire(http::Method::GET, true);
    assert_eq!(
        &get.bytes[..],
        &b"GET /x?y=1 HTTP/1.1\r\nhost: example:80\r\nconnection: close\r\n\r\n"[..]
    );
}

#[tokio::test]
async fn content_length_responses_keep_the_connection() {
    let mut c = scripted(vec![
        Some(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-pod: web-1\r\n\r\nhello"),
        Some(b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n"),
    ])
    .await;
    let w = wire(http::Method::GET, false);
    let a = go(&mut c, &w).await;
    assert_eq!(
        (a.class, a.status, a.reusable),
        (OutcomeClass::Ok, Some(200), true)
    );
    assert_eq!(c.identity.as_deref(), Some("web-1"));
    let b = go(&mut c, &w).await;
    assert_eq!(
        (b.class, b.status, b.reusable),
        (OutcomeClass::Http5xx, Some(503), true)
    );
    assert_eq!(c.uses, 2);
    assert_eq!(
        c.identity.as_deref(),
        Some("web-1"),
        "remembered across responses"
    );
}

#[tokio::test]
async fn chunked_bodies_with_trailers_are_read_to_the_end() {
    let mut c = scripted(vec![
        Some(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\ntrailer: x\r\n\r\n"),
        Some(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
    ])
    .await;
    let w = wire(http::Method::GET, false);
    assert!(go(&mut c, &w).await.reusable);
    let second = go(&mut c, &w).await;
    assert_eq!(
        (second.class, second.reusable),
        (OutcomeClass::Ok, true),
        "the chunked body was consumed exactly"
    );
}

/// A server that reads one request, writes `answer`, then closes its side.
async fn answer_then_close(answer: &'static [u8]) -> H1Conn {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let mut buf = vec![0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(answer).await;
            let _ = s.shutdown().await;
        }
    });
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let local = tcp.local_addr().expect("local");
    H1Conn::new(0, local, addr, Io::Plain(tcp), At::ZERO)
}

#[tokio::test]
async fn a_body_without_length_is_read_until_close_and_the_connection_retired() {
    let mut c = answer_then_close(b"HTTP/1.1 200 OK\r\n\r\nall of it, then FIN").await;
    let ex = go(&mut c, &wire(http::Method::GET, false)).await;
    assert_eq!(
        (ex.class, ex.status, ex.reusable),
        (OutcomeClass::Ok, Some(200), false)
    );
    assert!(!c.usable());
}

#[tokio::test]
async fn head_and_204_responses_have_no_body_whatever_their_length_says() {
    let mut c = scripted(vec![
        Some(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"),
        Some(b"HTTP/1.1 204 No Content\r\n\r\n"),
    ])
    .await;
    let head = wire(http::Method::HEAD, false);
    assert!(go(&mut c, &head).await.reusable);
    let get = wire(http::Method::GET, false);
    let b = go(&mut c, &get).await;
    assert_eq!((b.status, b.reusable), (Some(204), true));
}

#[tokio::test]
async fn interim_responses_are_skipped() {
    let mut c = scripted(vec![Some(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")]).await;
    let ex = go(&mut c, &wire(http::Method::GET, false)).await;
    assert_eq!((ex.class, ex.status), (OutcomeClass::Ok, Some(201)));
}

#[tokio::test]
async fn connection_close_and_http10_retire_the_connection() {
    let mut c = scripted(vec![Some(
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )])
    .await;
    let ex = go(&mut c, &wire(http::Method::GET, false)).await;
    assert_eq!((ex.class, ex.reusable), (OutcomeClass::Ok, false));
    assert!(!c.usable());
    let mut c = scripted(vec![Some(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n")]).await;
    assert!(
        !go(&mut c, &wire(http::Method::GET, false)).await.reusable,
        "HTTP/1.0 without keep-alive"
    );
    let mut c = scripted(vec![Some(
        b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n",
    )])
    .await;
    assert!(
        go(&mut c, &wire(http::Method::GET, false)).await.reusable,
        "HTTP/1.0 with keep-alive"
    );
}

#[tokio::test]
async fn a_close_before_any_byte_is_closed_before_response() {
    let mut c = scripted(vec![None]).await;
    let ex = go(&mut c, &wire(http::Method::GET, false)).await;
    assert_eq!(
        ex.class,
        OutcomeClass::ClosedBeforeResponse,
        "{:?}",
        ex.error
    );
}

#[tokio::test]
async fn a_response_cut_in_the_body_is_other_with_the_byte_count() {
    let mut c =
        answer_then_close(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b").await;
    let ex = go(&mut c, &wire(http::Method::GET, false)).await;
    assert_eq!(ex.class, OutcomeClass::Other);
    assert!(
        ex.error
            .as_deref()
            .is_some_and(|e| e.contains("in the body")),
        "{:?}",
        ex.error
    );
}

#[tokio::test]
async fn garbage_is_a_protocol_error_not_a_success() {
    let mut c = scripted(vec![Some(b"SSH-2.0-OpenSSH\r\n\r\n")]).await;
    let ex = go(&mut c, &wire(http::Method::GET, false)).await;
    assert_eq!(ex.class, OutcomeClass::Other);
    assert!(
        ex.error
            .as_deref()
            .is_some_and(|e| e.contains("invalid response head")),
        "{:?}",
        ex.error
    );
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_peer_is_noticed() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        if let Ok((s, _)) = l.accept().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(s);
        }
    });
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let local = tcp.local_addr().expect("local");
    let mut idle = H1Conn::new(1, local, addr, Io::Plain(tcp), At::ZERO);
    assert!(idle.usable());
    tokio::time::timeout(Duration::from_secs(2), idle.closed_while_idle())
        .await
        .expect("close seen");
    assert!(!idle.usable());
}

/// The request timeout is one timer moved for each request on the connection, not a budget
/// the connection spends: three answers 150 ms late each fit a 400 ms timeout (the third ends
/// 450 ms after the first began), and a fourth, never answered, times out.
#[tokio::test]
async fn the_request_timeout_restarts_with_every_request_on_a_connection() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 4096];
        for _ in 0..3 {
            if !read_request_head(&mut s, &mut buf).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if s.write_all(ok).await.is_err() {
                return;
            }
        }
        // The fourth request is read and never answered.
        let _ = s.read(&mut buf).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let local = tcp.local_addr().expect("local");
    let mut c = H1Conn::new(0, local, addr, Io::Plain(tcp), At::ZERO);
    let t = Template::for_test(wire(http::Method::GET, false), Checks::default());
    let watched = Watched::default();
    let timeout = Duration::from_millis(400);
    for i in 0..3 {
        let ex = c.exchange(&t, &watched, timeout, 0).await;
        assert_eq!(ex.class, OutcomeClass::Ok, "request {i}: {:?}", ex.error);
        assert!(c.usable());
    }
    let ex = c.exchange(&t, &watched, timeout, 0).await;
    assert_eq!(ex.class, OutcomeClass::RequestTimeout);
    assert!(!c.usable());
}
