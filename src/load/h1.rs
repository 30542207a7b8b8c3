//! The engine's HTTP/1.1 client: one request at a time on one connection, the request written
//! from bytes serialised once at startup, the response head parsed in place with `httparse`,
//! the body framed (Content-Length, chunked, or until close) and discarded — or, for a
//! template whose response checks read it, kept up to `--max-body` in a buffer the connection
//! reuses. Nothing is allocated per request (a failed check writes its message).
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
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::check::{Body, Checks, HeaderScan};
use super::deferred::Stream;
use super::request::{Exchange, Template, Watched, past_deadline};
use crate::model::clock::At;
use crate::model::connection::ConnectionEnd;
use crate::model::outcome::OutcomeClass;
use fail::{Fail, describe, ending_of, is_reset};

/// The largest response head accepted (status line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed per response; more is a protocol error.
const MAX_HEADERS: usize = 100;
/// The read buffer's starting size: a typical response fits in one read.
const BUF: usize = 8 * 1024;

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
    /// What the template's header checks found in it.
    scan: HeaderScan,
}

/// What a response head is read for besides its framing: the watched headers' values (kept
/// on the connection, replaced only when they change) and the template's header checks.
struct HeadWatch<'a> {
    watched: &'a Watched,
    checks: &'a Checks,
    identity: &'a mut Option<Arc<str>>,
    version: &'a mut Option<Arc<str>>,
}

/// One HTTP/1.1 connection of the engine.
pub(super) struct H1Conn {
    pub(super) id: u64,
    pub(super) local: SocketAddr,
    pub(super) peer: SocketAddr,
    io: Stream,
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
    /// Last value of the version header seen on this connection.
    pub(super) version: Option<Arc<str>>,
    /// Must not carry another request (closed, or in an unknown state).
    broken: bool,
    /// The current response's body, kept for checks: up to `keep` bytes (0: not kept).
    body: Vec<u8>,
    keep: usize,
    truncated: bool,
    /// When it was established, the send instants of its first and last request, and how many
    /// of its requests failed: its life, reported once it ends.
    pub(super) opened: At,
    pub(super) first_sent: Option<At>,
    pub(super) last_sent: Option<At>,
    pub(super) failures: u32,
    /// Why it can carry no more requests, once it cannot.
    pub(super) ending: Option<ConnectionEnd>,
    /// The request timeout's timer, kept registered for the connection's life and moved for
    /// each request. A fresh timer per request would, whenever no other timer is pending (at
    /// low rates, between requests), make tokio wake its own driver: an `eventfd` write and a
    /// spurious `epoll_wait` return per request.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl H1Conn {
    pub(super) fn new(
        id: u64,
        local: SocketAddr,
        peer: SocketAddr,
        io: impl Into<Stream>,
        opened: At,
    ) -> H1Conn {
        H1Conn {
            id,
            local,
            peer,
            io: io.into(),
            buf: vec![0; BUF],
            start: 0,
            end: 0,
            got: 0,
            uses: 0,
            identity: None,
            version: None,
            broken: false,
            body: Vec::new(),
            keep: 0,
            truncated: false,
            opened,
            first_sent: None,
            last_sent: None,
            failures: 0,
            ending: None,
            deadline: None,
        }
    }

    /// Keeps `bytes` of the body being read, up to `keep` in all.
    #[inline]
    fn keep_body(&mut self, from: usize, to: usize) {
        if self.keep == 0 {
            return;
        }
        let room = self.keep.saturating_sub(self.body.len());
        let n = (to - from).min(room);
        self.body.extend_from_slice(&self.buf[from..from + n]);
        if n < to - from {
            self.truncated = true;
        }
    }

    /// Kernel receive instant of the last bytes read, on a deferred stream (`Some(None)`: the
    /// kernel gave no timestamp); `None` on a stream read as its bytes arrive.
    pub(super) fn arrived(&self) -> Option<Option<std::time::Instant>> {
        self.io.arrived()
    }

    /// Whether the connection may carry another request.
    pub(super) fn usable(&self) -> bool {
        !self.broken
    }

    /// Resolves if the peer closes the connection (or sends anything) while no request is
    /// out, marking it unusable: a pool drops such a connection instead of sending on it.
    /// Cancel-safe: dropping it mid-wait loses nothing.
    pub(super) async fn closed_while_idle(&mut self) {
        self.io.set_idle(true);
        let read = self.fill().await;
        self.closed_by(read);
    }

    /// On a deferred connection, whether its peer closed it while it was idle (looked at now,
    /// without waiting, and marked unusable as above): the close watcher may have seen it
    /// while the dispatcher was busy. A reactor stream watches for itself.
    pub(super) fn closed_now(&mut self) -> bool {
        let read = self.io.read_if_closed(&mut self.buf);
        read.map(|r| self.closed_by(r)).is_some()
    }

    fn closed_by(&mut self, read: std::io::Result<usize>) {
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

    /// Parses one response head, updating the watched headers' values.
    async fn read_head(&mut self, watched: &Watched, checks: &Checks) -> Result<Head, Fail> {
        loop {
            if let Some(head) = self.parse_head(watched, checks)? {
                return Ok(head);
            }
            self.more(false).await?;
        }
    }

    /// A complete response head from the buffer, if one is there (`None`: read more). Not
    /// async on purpose: the parser's header array (3 KiB) lives on this call's stack, not in
    /// every exchange's future, which would otherwise be copied whole each time it moves
    /// (measured: ~1,300 instructions per request in `memcpy`).
    fn parse_head(&mut self, watched: &Watched, checks: &Checks) -> Result<Option<Head>, Fail> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&self.buf[self.start..self.end]) {
            Ok(httparse::Status::Complete(n)) => {
                let watch = HeadWatch {
                    watched,
                    checks,
                    identity: &mut self.identity,
                    version: &mut self.version,
                };
                let head = head_of(&resp, watch)?;
                self.start += n;
                Ok(Some(head))
            }
            Ok(httparse::Status::Partial) if self.end - self.start >= MAX_HEAD => {
                Err(Fail::Protocol("response head larger than 64 KiB".into()))
            }
            Ok(httparse::Status::Partial) => Ok(None),
            Err(e) => Err(Fail::Protocol(format!("invalid response head: {e}"))),
        }
    }

    /// Consumes `n` body bytes (keeping them when the body is kept).
    async fn skip(&mut self, mut n: u64) -> Result<(), Fail> {
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(n);
            self.keep_body(self.start, self.start + take as usize);
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
                self.keep_body(self.start, self.end);
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
        t: &Template,
        watched: &Watched,
    ) -> Result<(u16, bool, HeaderScan), Fail> {
        let wire = &t.wire;
        self.uses += 1;
        self.got = 0;
        self.io.set_idle(false);
        self.io.write_all(&wire.bytes).await.map_err(Fail::Write)?;
        self.io.flush().await.map_err(Fail::Write)?;
        let head = loop {
            let head = self.read_head(watched, &t.checks).await?;
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
            head.scan,
        ))
    }

    /// Sends one request of template `t` and reads its whole response within `timeout`,
    /// classifying the outcome and evaluating the template's checks (reading up to `max_body`
    /// of the body when they need it). On anything but a clean, persistent response the
    /// connection is marked unusable.
    pub(super) async fn exchange(
        &mut self,
        t: &Template,
        watched: &Watched,
        timeout: Duration,
        max_body: usize,
    ) -> Exchange {
        self.keep = if t.checks.needs_body() { max_body } else { 0 };
        self.body.clear();
        self.truncated = false;
        let until = tokio::time::Instant::now() + timeout;
        let mut deadline = match self.deadline.take() {
            Some(mut d) => {
                d.as_mut().reset(until);
                d
            }
            None => Box::pin(tokio::time::sleep_until(until)),
        };
        // The exchange is polled first: on a deferred connection (read only when ticked) an
        // answer that arrived before the deadline may still be unread when the deadline wakes
        // this task, and that poll reads it, so it is not called late.
        let result = tokio::select! {
            biased;
            r = self.round_trip(t, watched) => Ok(r),
            () = deadline.as_mut() => Err(()),
        };
        self.deadline = Some(deadline);
        let done = || {
            self.io
                .arrived()
                .flatten()
                .unwrap_or_else(std::time::Instant::now)
        };
        let result = match result {
            Ok(Ok(_)) if past_deadline(done(), until) => Err(()),
            r => r,
        };
        match result {
            Ok(Ok((status, persistent, scan))) => {
                if !persistent {
                    self.broken = true;
                    // We asked for the close (`--no-keepalive`), or the server announced it.
                    self.ending = Some(if t.wire.close {
                        ConnectionEnd::LocalClose
                    } else {
                        ConnectionEnd::PeerAnnounced
                    });
                }
                let body = (self.keep > 0).then_some(Body {
                    bytes: &self.body,
                    truncated: self.truncated,
                });
                Exchange::response(t, status, &scan, body, persistent)
            }
            Ok(Err(fail)) => {
                self.broken = true;
                self.ending = Some(ending_of(&fail));
                let (class, error) = describe(fail);
                Exchange::failed(class, error)
            }
            Err(_) => {
                self.broken = true;
                self.ending = Some(ConnectionEnd::LocalClose);
                Exchange::failed(
                    OutcomeClass::RequestTimeout,
                    format!("no complete response within {timeout:?}"),
                )
            }
        }
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

/// Replaces `slot` with `value` when it changed (allocating only then).
fn remember(slot: &mut Option<Arc<str>>, value: &[u8]) {
    if let Ok(v) = std::str::from_utf8(value)
        && slot.as_deref() != Some(v)
    {
        *slot = Some(Arc::from(v));
    }
}

fn is(name: &str, want: Option<&HeaderName>) -> bool {
    want.is_some_and(|w| eq_ignore_case(name, w.as_str()))
}

/// What a parsed head says about status, framing and persistence; updates the watched
/// headers' values when they changed and runs the header checks.
fn head_of(resp: &httparse::Response<'_, '_>, watch: HeadWatch<'_>) -> Result<Head, Fail> {
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
        } else {
            if is(h.name, watch.watched.identity.as_ref()) {
                remember(watch.identity, h.value);
            }
            if is(h.name, watch.watched.version.as_ref()) {
                remember(watch.version, h.value);
            }
        }
    }
    let scan = if watch.checks.reads_headers() {
        watch
            .checks
            .scan_headers(resp.headers.iter().map(|h| (h.name, h.value)))
    } else {
        HeaderScan::default()
    };
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
        scan,
    })
}

mod fail;
mod wire;

pub(super) use wire::Wire;

#[cfg(test)]
mod tests;
