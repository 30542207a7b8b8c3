//! The engine's HTTP/1.1 client: one request at a time on one connection, the request written
//! from bytes serialised once at startup, the response head parsed in place with `httparse`,
//! the body framed (Content-Length, chunked, or until close) and discarded. Nothing is
//! allocated per request.
//!
//! Why not hyper here: its client connection does work per request that this one does not (a
//! dispatch channel, a oneshot per request, a header map per response, a channel for the body),
//! which held zerodrop's closed loop below wrk's on the same server (measurements in
//! `docs/benchmarks.md`). HTTP/2 stays on hyper.
//!
//! It also sees the socket as it is, so outcomes are exact: a FIN before any response byte is
//! `closed_before_response`, a reset is `connection_reset`, a response cut after it began is
//! `other` with the byte count — and there are no hidden retries.
//!
//! Knows nothing of pools, schedules or records.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::classify::{Stage, classify, error_chain};
use super::conn::Io;
use super::request::Exchange;
use super::request::StatusSet;
use crate::model::clock::At;
use crate::model::connection::ConnectionEnd;
use crate::model::outcome::OutcomeClass;

/// The largest response head accepted (status line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed per response; more is a protocol error.
const MAX_HEADERS: usize = 100;
/// The read buffer's starting size: a typical response fits in one read.
const BUF: usize = 8 * 1024;

/// A request serialised once, written as is for every request.
#[derive(Clone, Debug)]
pub(super) struct Wire {
    pub(super) bytes: Bytes,
    /// False for HEAD: responses to it have no body whatever their headers say.
    pub(super) expects_body: bool,
    /// The request asks the server to close the connection (`--no-keepalive`).
    pub(super) close: bool,
}

impl Wire {
    /// Serialises a request: request line, Host (unless given), the headers in order,
    /// Content-Length where the method or body needs it, and the body.
    pub(super) fn new(
        method: &http::Method,
        origin: &str,
        host: &str,
        headers: &http::HeaderMap,
        body: &Bytes,
        close: bool,
    ) -> Wire {
        let mut out = Vec::with_capacity(128 + body.len());
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(origin.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if !headers.contains_key(http::header::HOST) {
            out.extend_from_slice(b"host: ");
            out.extend_from_slice(host.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        for (name, value) in headers {
            if name == http::header::CONTENT_LENGTH || name == http::header::CONNECTION {
                continue;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let has_body_semantics = !matches!(
            *method,
            http::Method::GET
                | http::Method::HEAD
                | http::Method::DELETE
                | http::Method::OPTIONS
                | http::Method::TRACE
                | http::Method::CONNECT
        );
        if !body.is_empty() || has_body_semantics {
            out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Wire {
            bytes: Bytes::from(out),
            expects_body: *method != http::Method::HEAD,
            close,
        }
    }
}

/// Why an exchange failed, before classification.
#[derive(Debug)]
enum Fail {
    /// Writing the request failed.
    Write(std::io::Error),
    /// Reading the response failed after `got` bytes of it.
    Read { error: std::io::Error, got: usize },
    /// The peer closed the connection (FIN) before any byte of the response.
    ClosedBeforeResponse,
    /// The peer closed the connection after `got` bytes, before the response was complete.
    Cut { got: usize, during_body: bool },
    /// The response was not valid HTTP/1.
    Protocol(String),
}

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What the head said.
struct Head {
    status: u16,
    http10: bool,
    framing: Framing,
    close: bool,
    keep_alive: bool,
}

/// One HTTP/1.1 connection of the engine.
pub(super) struct H1Conn {
    pub(super) id: u64,
    pub(super) local: SocketAddr,
    pub(super) peer: SocketAddr,
    io: Io,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Bytes of the current response read so far.
    got: usize,
    /// Requests written on this connection.
    pub(super) uses: u64,
    /// Last value of the identity header seen on this connection.
    pub(super) identity: Option<Arc<str>>,
    /// Must not carry another request (closed, or in an unknown state).
    broken: bool,
    /// When it was established, the send instants of its first and last request, and how many
    /// of its requests failed: its life, reported once it ends.
    pub(super) opened: At,
    pub(super) first_sent: Option<At>,
    pub(super) last_sent: Option<At>,
    pub(super) failures: u32,
    /// Why it can carry no more requests, once it cannot.
    pub(super) ending: Option<ConnectionEnd>,
}

impl H1Conn {
    pub(super) fn new(id: u64, local: SocketAddr, peer: SocketAddr, io: Io, opened: At) -> H1Conn {
        H1Conn {
            id,
            local,
            peer,
            io,
            buf: vec![0; BUF],
            start: 0,
            end: 0,
            got: 0,
            uses: 0,
            identity: None,
            broken: false,
            opened,
            first_sent: None,
            last_sent: None,
            failures: 0,
            ending: None,
        }
    }

    /// Whether the connection may carry another request.
    pub(super) fn usable(&self) -> bool {
        !self.broken
    }

    /// Resolves if the peer closes the connection (or sends anything) while no request is
    /// out, marking it unusable: a pool drops such a connection instead of sending on it.
    /// Cancel-safe: dropping it mid-wait loses nothing.
    pub(super) async fn closed_while_idle(&mut self) {
        let read = self.fill().await;
        self.broken = true;
        self.ending = Some(match read {
            Ok(0) => ConnectionEnd::PeerClosed,
            Err(e) if is_reset(&e) => ConnectionEnd::PeerReset,
            Err(_) => ConnectionEnd::PeerClosed,
            // Bytes nobody asked for: the connection cannot be trusted, and we drop it.
            Ok(_) => ConnectionEnd::LocalClose,
        });
    }

    /// Reads more bytes into the buffer; `Ok(0)` is end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.buf.len() * 2).min(MAX_HEAD + BUF);
                if grown == self.buf.len() {
                    return Err(std::io::Error::other("response head larger than 64 KiB"));
                }
                self.buf.resize(grown, 0);
            }
        }
        let n = self.io.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        self.got += n;
        Ok(n)
    }

    /// Reads more, mapping end of stream and errors to the failure they mean.
    async fn more(&mut self, during_body: bool) -> Result<(), Fail> {
        match self.fill().await {
            Ok(0) if self.got == 0 => Err(Fail::ClosedBeforeResponse),
            Ok(0) => Err(Fail::Cut {
                got: self.got,
                during_body,
            }),
            Ok(_) => Ok(()),
            Err(error) => Err(Fail::Read {
                error,
                got: self.got,
            }),
        }
    }

    /// Parses one response head, updating the identity from `identity_header`.
    async fn read_head(&mut self, identity_header: Option<&HeaderName>) -> Result<Head, Fail> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(n)) => {
                    let head = head_of(&resp, identity_header, &mut self.identity)?;
                    self.start += n;
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start >= MAX_HEAD {
                        return Err(Fail::Protocol("response head larger than 64 KiB".into()));
                    }
                }
                Err(e) => return Err(Fail::Protocol(format!("invalid response head: {e}"))),
            }
            self.more(false).await?;
        }
    }

    /// Consumes `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> Result<(), Fail> {
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(n);
            self.start += take as usize;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.more(true).await?;
        }
    }

    /// Consumes one CRLF-terminated line, returning its length without the CRLF.
    async fn line(&mut self) -> Result<usize, Fail> {
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                self.start += i + 2;
                return Ok(i);
            }
            if self.end - self.start > MAX_HEAD {
                return Err(Fail::Protocol("chunk line longer than 64 KiB".into()));
            }
            self.more(true).await?;
        }
    }

    async fn read_body(&mut self, framing: Framing) -> Result<(), Fail> {
        match framing {
            Framing::None => Ok(()),
            Framing::Length(n) => self.skip(n).await,
            Framing::UntilClose => loop {
                self.start = self.end;
                match self.fill().await {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(error) => {
                        return Err(Fail::Read {
                            error,
                            got: self.got,
                        });
                    }
                }
            },
            Framing::Chunked => loop {
                let size = loop {
                    match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                        Ok(httparse::Status::Complete((n, size))) => {
                            self.start += n;
                            break size;
                        }
                        Ok(httparse::Status::Partial) => self.more(true).await?,
                        Err(_) => return Err(Fail::Protocol("invalid chunk size".into())),
                    }
                };
                if size == 0 {
                    // Trailers, then the empty line.
                    while self.line().await? > 0 {}
                    return Ok(());
                }
                self.skip(size).await?;
                if self.line().await? != 0 {
                    return Err(Fail::Protocol("chunk not followed by CRLF".into()));
                }
            },
        }
    }

    async fn round_trip(
        &mut self,
        wire: &Wire,
        identity_header: Option<&HeaderName>,
    ) -> Result<(u16, bool), Fail> {
        self.uses += 1;
        self.got = 0;
        self.io.write_all(&wire.bytes).await.map_err(Fail::Write)?;
        self.io.flush().await.map_err(Fail::Write)?;
        let head = loop {
            let head = self.read_head(identity_header).await?;
            // Interim responses (100 Continue, 103 Early Hints) precede the real one.
            if (100..200).contains(&head.status) && head.status != 101 {
                continue;
            }
            break head;
        };
        let framing =
            if !wire.expects_body || head.status == 204 || head.status == 304 || head.status == 101
            {
                Framing::None
            } else {
                head.framing
            };
        self.read_body(framing).await?;
        let persistent = if head.http10 {
            head.keep_alive
        } else {
            !head.close
        };
        // Bytes after the response were not asked for: the connection cannot be trusted.
        let clean = self.start == self.end;
        Ok((
            head.status,
            persistent
                && framing != Framing::UntilClose
                && !wire.close
                && clean
                && head.status != 101,
        ))
    }

    /// Sends one request and reads its whole response within `timeout`, classifying the
    /// outcome. On anything but a clean, persistent response the connection is marked unusable.
    pub(super) async fn exchange(
        &mut self,
        wire: &Wire,
        identity_header: Option<&HeaderName>,
        accept: &StatusSet,
        timeout: Duration,
    ) -> Exchange {
        let result = tokio::time::timeout(timeout, self.round_trip(wire, identity_header)).await;
        match result {
            Ok(Ok((status, persistent))) => {
                let class = accept.classify(status);
                if !persistent {
                    self.broken = true;
                    // We asked for the close (`--no-keepalive`), or the server announced it.
                    self.ending = Some(if wire.close {
                        ConnectionEnd::LocalClose
                    } else {
                        ConnectionEnd::PeerAnnounced
                    });
                }
                Exchange {
                    class,
                    status: Some(status),
                    error: (class == OutcomeClass::Other)
                        .then(|| format!("unexpected status {status}")),
                    identity: None,
                    reusable: persistent,
                }
            }
            Ok(Err(fail)) => {
                self.broken = true;
                self.ending = Some(ending_of(&fail));
                let (class, error) = describe(fail);
                Exchange {
                    class,
                    status: None,
                    error: Some(error),
                    identity: None,
                    reusable: false,
                }
            }
            Err(_) => {
                self.broken = true;
                self.ending = Some(ConnectionEnd::LocalClose);
                Exchange {
                    class: OutcomeClass::RequestTimeout,
                    status: None,
                    error: Some(format!("no complete response within {timeout:?}")),
                    identity: None,
                    reusable: false,
                }
            }
        }
    }
}

/// How a failed exchange ended its connection.
fn ending_of(fail: &Fail) -> ConnectionEnd {
    match fail {
        Fail::ClosedBeforeResponse | Fail::Cut { .. } => ConnectionEnd::PeerClosed,
        Fail::Read { error, .. } | Fail::Write(error) if is_reset(error) => {
            ConnectionEnd::PeerReset
        }
        Fail::Read { .. } => ConnectionEnd::PeerClosed,
        // A write fails on a connection the peer has closed (EPIPE after its FIN and our RST).
        Fail::Write(_) => ConnectionEnd::PeerClosed,
        Fail::Protocol(_) => ConnectionEnd::LocalClose,
    }
}

/// The peer reset the connection (an RST, however the OS words it).
fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
    )
}

/// The outcome class and error text of a failure.
fn describe(fail: Fail) -> (OutcomeClass, String) {
    match fail {
        Fail::Write(e) => (
            classify(Stage::Exchange, &e),
            format!("writing the request: {}", error_chain(&e)),
        ),
        Fail::Read { error, got } => {
            let class = match classify(Stage::Exchange, &error) {
                OutcomeClass::ClosedBeforeResponse if got > 0 => OutcomeClass::Other,
                c => c,
            };
            (
                class,
                format!(
                    "reading the response after {got} bytes: {}",
                    error_chain(&error)
                ),
            )
        }
        Fail::ClosedBeforeResponse => (
            OutcomeClass::ClosedBeforeResponse,
            "the server closed the connection (FIN) before any byte of the response".into(),
        ),
        Fail::Cut { got, during_body } => (
            OutcomeClass::Other,
            format!(
                "response cut short: the server closed the connection after {got} bytes, in the {}",
                if during_body { "body" } else { "head" }
            ),
        ),
        Fail::Protocol(m) => (OutcomeClass::Other, m),
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

/// What a parsed head says about status, framing and persistence; updates `identity` when
/// the identity header's value changed.
fn head_of(
    resp: &httparse::Response<'_, '_>,
    identity_header: Option<&HeaderName>,
    identity: &mut Option<Arc<str>>,
) -> Result<Head, Fail> {
    let status = resp
        .code
        .ok_or_else(|| Fail::Protocol("response without a status".into()))?;
    let http10 = resp.version == Some(0);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive = false;
    for h in resp.headers.iter() {
        if eq_ignore_case(h.name, "content-length") {
            let v: u64 = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| Fail::Protocol("invalid Content-Length".into()))?;
            if length.is_some_and(|l| l != v) {
                return Err(Fail::Protocol("conflicting Content-Length headers".into()));
            }
            length = Some(v);
        } else if eq_ignore_case(h.name, "transfer-encoding") {
            let v = String::from_utf8_lossy(h.value);
            chunked = v
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if eq_ignore_case(h.name, "connection") {
            for token in String::from_utf8_lossy(h.value).split(',') {
                let t = token.trim();
                close |= t.eq_ignore_ascii_case("close");
                keep_alive |= t.eq_ignore_ascii_case("keep-alive");
            }
        } else if let Some(want) = identity_header {
            if eq_ignore_case(h.name, want.as_str()) {
                if let Ok(v) = std::str::from_utf8(h.value) {
                    if identity.as_deref() != Some(v) {
                        *identity = Some(Arc::from(v));
                    }
                }
            }
        }
    }
    // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3).
    let framing = if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        if n == 0 {
            Framing::None
        } else {
            Framing::Length(n)
        }
    } else {
        Framing::UntilClose
    };
    Ok(Head {
        status,
        http10,
        framing,
        close,
        keep_alive,
    })
}

#[cfg(test)]
mod tests;
