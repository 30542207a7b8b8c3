//! Deferred reads with kernel receive timestamps: the open loop's plain-HTTP keep-alive
//! connections are taken out of the reactor, so a response arriving does not wake the engine
//! thread. Their tasks instead wait on the [`Ticker`], which the dispatcher ticks at each of its
//! wake-ups (and at most [`READ_DEFER`] after the last one while requests are in flight); each
//! read is a `recvmsg` that also returns the instant the kernel received the bytes
//! (`SO_TIMESTAMPNS`), so latency stays exact however late the read.
//!
//! Why: every wake-up of an idle thread costs a context switch, and a response per request was
//! half of them (measurements in `docs/benchmarks.md`). An idle connection is watched for a
//! close by the peer at a slower sweep ([`SWEEP`]), so a server's close is still seen within
//! 20 ms. Where the kernel refuses the socket option, the connection stays on the
//! reactor (read as its bytes arrive) and the run reports `kernel_receive_timestamps: false`.

use std::cell::{Cell, RefCell};
use std::io::{self, Write as _};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::conn::Io;

/// The longest a response may wait unread while requests are in flight.
pub(super) const READ_DEFER: Duration = Duration::from_millis(1);
/// How often idle connections are checked for a close by the peer: at the first wake-up after
/// this long, and at the latest twice this long, after the last check.
pub(super) const SWEEP: Duration = Duration::from_millis(10);

/// Wakes the tasks of deferred connections: readers at every tick, idle watchers every sweep.
/// Its lists keep their capacity, so a tick allocates nothing once the run is warm.
pub(super) struct Ticker {
    readers: RefCell<Vec<Waker>>,
    idle: RefCell<Vec<Waker>>,
    woken: RefCell<Vec<Waker>>,
    next_sweep: Cell<Instant>,
}

impl Ticker {
    pub(super) fn new() -> Ticker {
        Ticker {
            readers: RefCell::new(Vec::new()),
            idle: RefCell::new(Vec::new()),
            woken: RefCell::new(Vec::new()),
            next_sweep: Cell::new(Instant::now() + SWEEP),
        }
    }

    /// When the dispatcher must wake at the latest, given it would wake at `wake` and whether
    /// requests are in flight.
    pub(super) fn wake_by(&self, wake: Instant, now: Instant, in_flight: bool) -> Instant {
        let mut by = wake;
        if in_flight {
            by = by.min(now + READ_DEFER);
        }
        if !self.idle.borrow().is_empty() {
            // A sweep rides on a wake-up due anyway; one of its own only once it is a whole
            // sweep overdue.
            by = by.min(self.next_sweep.get() + SWEEP);
        }
        by
    }

    /// Wakes every waiting reader, and the idle watchers when a sweep is due.
    pub(super) fn tick(&self, now: Instant) {
        let mut woken = self.woken.borrow_mut();
        std::mem::swap(&mut *woken, &mut *self.readers.borrow_mut());
        if now >= self.next_sweep.get() {
            woken.append(&mut self.idle.borrow_mut());
            self.next_sweep.set(now + SWEEP);
        }
        for w in woken.drain(..) {
            w.wake();
        }
    }

    fn wait(&self, waker: &Waker, idle: bool) {
        let list = if idle { &self.idle } else { &self.readers };
        list.borrow_mut().push(waker.clone());
    }
}

/// A plain TCP connection read only when the [`Ticker`] says so.
pub(super) struct Deferred {
    tcp: std::net::TcpStream,
    ticker: Rc<Ticker>,
    /// Watching an idle connection (swept), not reading a response (ticked).
    idle: bool,
    /// Kernel receive instant of the bytes last read; `None` if that read had no timestamp.
    arrived: Option<Instant>,
}

/// The stream for a new plain connection: deferred with receive timestamps on, or left on the
/// reactor if the kernel refuses them (`Ok(Stream::Reactor)`). Fails only if the socket could
/// not be taken off the reactor.
pub(super) fn stream_for(tcp: tokio::net::TcpStream, ticker: &Rc<Ticker>) -> io::Result<Stream> {
    if enable_timestamps(tcp.as_raw_fd()).is_err() {
        return Ok(Stream::Reactor(Io::Plain(tcp)));
    }
    Ok(Stream::Deferred(Deferred {
        tcp: tcp.into_std()?,
        ticker: ticker.clone(),
        idle: false,
        arrived: None,
    }))
}

fn enable_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a descriptor we own, with a pointer to an int of the right size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One non-blocking `recvmsg`: bytes read and the kernel's receive timestamp, if it gave one.
fn recv_stamped(fd: RawFd, dst: &mut [u8]) -> io::Result<(usize, Option<libc::timespec>)> {
    let mut iov = libc::iovec {
        iov_base: dst.as_mut_ptr().cast(),
        iov_len: dst.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` describes live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: walking the control messages the kernel wrote into `control`, as cmsg(3) says.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                stamp = Some(std::ptr::read_unaligned(
                    libc::CMSG_DATA(c).cast::<libc::timespec>(),
                ));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

/// The monotonic instant of a kernel (wall-clock) timestamp: now, less its age.
fn instant_of(stamp: libc::timespec) -> Instant {
    let now = Instant::now();
    let stamped = Duration::new(stamp.tv_sec as u64, stamp.tv_nsec as u32);
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.checked_sub(wall.saturating_sub(stamped)).unwrap_or(now)
}

/// The stream an HTTP/1 connection speaks over: on the reactor, or deferred.
pub(super) enum Stream {
    Reactor(Io),
    Deferred(Deferred),
}

impl From<Io> for Stream {
    fn from(io: Io) -> Stream {
        Stream::Reactor(io)
    }
}

impl Stream {
    /// Marks the connection idle (watched at sweeps) or carrying a request (read at ticks).
    /// Carrying one forgets the previous response's arrival.
    pub(super) fn set_idle(&mut self, idle: bool) {
        if let Stream::Deferred(d) = self {
            d.idle = idle;
            if !idle {
                d.arrived = None;
            }
        }
    }

    /// One read now, never waiting, on an idle deferred stream: `None` when nothing is there
    /// (or on a reactor stream).
    pub(super) fn read_now(&mut self, dst: &mut [u8]) -> Option<io::Result<usize>> {
        let Stream::Deferred(d) = self else {
            return None;
        };
        match recv_stamped(d.tcp.as_raw_fd(), dst) {
            Ok((n, _)) => Some(Ok(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Where the last read's bytes arrived, for a deferred stream with kernel timestamps:
    /// `Some(None)` when the kernel gave none.
    pub(super) fn arrived(&self) -> Option<Option<Instant>> {
        match self {
            Stream::Deferred(d) => Some(d.arrived),
            Stream::Reactor(_) => None,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let d = match self.get_mut() {
            Stream::Reactor(io) => return Pin::new(io).poll_read(cx, buf),
            Stream::Deferred(d) => d,
        };
        loop {
            match recv_stamped(d.tcp.as_raw_fd(), buf.initialize_unfilled()) {
                Ok((n, stamp)) => {
                    if n > 0 {
                        d.arrived = stamp.map(instant_of);
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    d.ticker.wait(cx.waker(), d.idle);
                    return Poll::Pending;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let d = match self.get_mut() {
            Stream::Reactor(io) => return Pin::new(io).poll_write(cx, buf),
            Stream::Deferred(d) => d,
        };
        loop {
            match d.tcp.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A full send buffer: try again at the next tick.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    d.ticker.wait(cx.waker(), false);
                    return Poll::Pending;
                }
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Reactor(io) => Pin::new(io).poll_flush(cx),
            Stream::Deferred(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Reactor(io) => Pin::new(io).poll_shutdown(cx),
            Stream::Deferred(d) => Poll::Ready(d.tcp.shutdown(std::net::Shutdown::Write)),
        }
    }
}
