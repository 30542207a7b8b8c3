//! What the server said about its connection, read off the bytes as they arrive: every GOAWAY
//! (its last-stream-id and error code), and whether the connection ended in a reset or a close.
//!
//! h2 reports a GOAWAY only to the streams above its last-stream-id; a stream the server
//! promised to finish and then cut surfaces as a plain I/O error, exactly like a connection
//! that died with no GOAWAY at all. Telling those apart is the point of the gRPC classes, so
//! [`Sniffed`] sits between the socket (after TLS) and h2 and walks the frame headers of the
//! server's byte stream — nine bytes per frame, the payload skipped unread, except a GOAWAY's
//! first eight bytes — recording what it sees in a [`Seen`] the connection's callers share.
//! It never changes a byte. Used by every HTTP/2 client of the engine (`h2`, `grpc`), whose
//! connection lives say how each ended: announced by a GOAWAY, reset, or closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::model::clock::RunClock;
use crate::model::connection::ConnectionEnd;

/// HTTP/2 frame type of GOAWAY (RFC 9113 §6.8).
const GOAWAY: u8 = 0x7;
/// A frame header's length.
const HEADER: usize = 9;

/// One GOAWAY as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoAway {
    /// The highest stream the server says it will process (2^31−1 in the first GOAWAY of a
    /// two-phase shutdown: "stop opening streams, I will still finish everything").
    pub last_stream_id: u32,
    /// Its error code (0 = NO_ERROR).
    pub code: u32,
}

impl GoAway {
    /// The error code's name, as RFC 9113 §7 gives them (`NO_ERROR`).
    pub fn code_name(self) -> String {
        format!("{:?}", h2::Reason::from(self.code))
    }
}

/// What was seen on one connection, shared between its driver and its callers. Atomics, since
/// hyper's HTTP/2 client wants its I/O `Send` (nothing here is contended: one thread reads and
/// writes it).
#[derive(Debug, Default)]
pub struct Seen {
    /// The latest GOAWAY, packed: bit 63 set when one came, the last-stream-id in bits 32–62,
    /// the error code below.
    goaway: AtomicU64,
    /// GOAWAY frames received.
    goaways: AtomicU32,
    /// A read failed with a reset (RST from the peer).
    reset: AtomicBool,
    /// A read returned the end of the stream (FIN from the peer).
    eof: AtomicBool,
    /// When the peer reset or closed it.
    closed_at: OnceLock<Instant>,
    /// When its driver ended (the connection is gone, whoever closed it).
    driver_ended: OnceLock<Instant>,
}

impl Seen {
    pub fn goaway(&self) -> Option<GoAway> {
        let packed = self.goaway.load(Ordering::Relaxed);
        (packed >> 63 == 1).then_some(GoAway {
            last_stream_id: (packed >> 32) as u32 & 0x7fff_ffff,
            code: packed as u32,
        })
    }

    fn set_goaway(&self, g: GoAway) {
        let packed = 1 << 63 | u64::from(g.last_stream_id & 0x7fff_ffff) << 32 | u64::from(g.code);
        self.goaway.store(packed, Ordering::Relaxed);
        self.goaways.fetch_add(1, Ordering::Relaxed);
    }

    pub fn goaways(&self) -> u32 {
        self.goaways.load(Ordering::Relaxed)
    }

    pub fn reset(&self) -> bool {
        self.reset.load(Ordering::Relaxed)
    }

    pub fn eof(&self) -> bool {
        self.eof.load(Ordering::Relaxed)
    }

    /// The connection can take no new call: the server asked us to go away, or it is gone.
    pub fn closing(&self) -> bool {
        self.goaway().is_some() || self.reset() || self.eof() || self.driver_ended.get().is_some()
    }

    /// How the peer ended it, as far as seen: announced by a GOAWAY, reset, or closed.
    pub fn peer_end(&self) -> Option<ConnectionEnd> {
        if self.goaway().is_some() {
            Some(ConnectionEnd::PeerAnnounced)
        } else if self.reset() {
            Some(ConnectionEnd::PeerReset)
        } else if self.eof() {
            Some(ConnectionEnd::PeerClosed)
        } else {
            None
        }
    }

    /// When it ended, if it has (its close or reset, else its driver's end).
    pub fn ended(&self, clock: &RunClock) -> Option<crate::model::clock::At> {
        self.closed_at
            .get()
            .or(self.driver_ended.get())
            .map(|i| clock.at(*i))
    }

    fn closed(&self, reset: bool) {
        if reset {
            self.reset.store(true, Ordering::Relaxed);
        } else {
            self.eof.store(true, Ordering::Relaxed);
        }
        let _ = self.closed_at.set(Instant::now());
    }

    /// Runs a connection's driver as a local task, noting when it ends.
    pub fn drive(self: &Arc<Self>, driver: impl Future<Output = ()> + 'static) {
        let seen = self.clone();
        tokio::task::spawn_local(async move {
            driver.await;
            let _ = seen.driver_ended.set(Instant::now());
        });
    }
}

/// Where the scanner is in the server's frame stream.
#[derive(Debug, Default)]
struct Scan {
    header: [u8; HEADER],
    /// Header bytes gathered so far.
    have: usize,
    /// Payload bytes of the current frame still to pass.
    skip: usize,
    /// The current frame is a GOAWAY: its first eight payload bytes, and how many arrived.
    goaway: Option<([u8; 8], usize)>,
}

impl Scan {
    /// Walks `bytes`, the next bytes of the server's stream.
    fn feed(&mut self, mut bytes: &[u8], seen: &Seen) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                if let Some((buf, got)) = &mut self.goaway {
                    let take = (8 - *got).min(n);
                    buf[*got..*got + take].copy_from_slice(&bytes[..take]);
                    *got += take;
                }
                self.skip -= n;
                bytes = &bytes[n..];
                if self.skip == 0 {
                    self.frame_done(seen);
                }
                continue;
            }
            let n = (HEADER - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == HEADER {
                self.have = 0;
                let h = &self.header;
                self.skip = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                self.goaway = (h[3] == GOAWAY).then_some(([0; 8], 0));
                if self.skip == 0 {
                    self.frame_done(seen);
                }
            }
        }
    }

    fn frame_done(&mut self, seen: &Seen) {
        if let Some((b, 8)) = self.goaway.take() {
            let last = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff;
            let code = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            seen.set_goaway(GoAway {
                last_stream_id: last,
                code,
            });
        }
    }
}

/// A stream whose incoming HTTP/2 frames are watched for GOAWAY, resets and closes.
pub struct Sniffed<T> {
    inner: T,
    scan: Scan,
    seen: Arc<Seen>,
}

impl<T> Sniffed<T> {
    pub fn new(inner: T, seen: Arc<Seen>) -> Sniffed<T> {
        Sniffed {
            inner,
            scan: Scan::default(),
            seen,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Sniffed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        match &r {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if new.is_empty() && buf.remaining() > 0 {
                    me.seen.closed(false);
                } else {
                    me.scan.feed(new, &me.seen);
                }
            }
            Poll::Ready(Err(e)) => me.seen.closed(matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            )),
            Poll::Pending => {}
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Sniffed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ty: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, ty, 0];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn goaway(last: u32, code: u32) -> Vec<u8> {
        let mut p = last.to_be_bytes().to_vec();
        p.extend_from_slice(&code.to_be_bytes());
        p.extend_from_slice(b"draining");
        frame(GOAWAY, 0, &p)
    }

    #[test]
    fn a_goaway_among_other_frames_is_seen_however_the_bytes_are_split() {
        let mut stream = frame(0x4, 0, &[0; 12]); // SETTINGS
        stream.extend(frame(0x0, 1, &[7; 300])); // DATA
        stream.extend(goaway(0x7fff_ffff, 0));
        stream.extend(frame(0x6, 0, &[1; 8])); // PING
        stream.extend(goaway(5, 0));
        for chunk in [1, 2, 5, 9, 10, 64, stream.len()] {
            let seen = Seen::default();
            let mut scan = Scan::default();
            for piece in stream.chunks(chunk) {
                scan.feed(piece, &seen);
            }
            assert_eq!(
                seen.goaway(),
                Some(GoAway {
                    last_stream_id: 5,
                    code: 0
                }),
                "chunk {chunk}"
            );
            assert_eq!(seen.goaways(), 2, "chunk {chunk}");
        }
    }

    #[test]
    fn frames_without_a_goaway_leave_the_connection_open() {
        let seen = Seen::default();
        let mut scan = Scan::default();
        scan.feed(&frame(0x1, 1, &[0; 20]), &seen);
        scan.feed(&frame(0x3, 1, &0x7u32.to_be_bytes()), &seen); // RST_STREAM(REFUSED)
        assert_eq!(seen.goaway(), None);
        assert!(!seen.closing());
    }

    #[test]
    fn the_reserved_bit_of_the_last_stream_id_is_ignored() {
        let seen = Seen::default();
        Scan::default().feed(&goaway(0x8000_0003, 2), &seen);
        let g = seen.goaway().expect("seen");
        assert_eq!((g.last_stream_id, g.code), (3, 2));
        assert_eq!(g.code_name(), "INTERNAL_ERROR");
    }
}
