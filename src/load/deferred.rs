//! Deferred reads with kernel receive timestamps: the open loop's plain-HTTP keep-alive
//! connections are taken out of the reactor, so a response arriving does not wake the engine
//! thread. Their tasks instead wait on the [`Ticker`], which the dispatcher ticks at each of its
//! wake-ups, the next request's included (and at most [`READ_DEFER`] after the last one while
//! requests are in flight, for schedules with long pauses); each read is a `recvmsg` that also
//! returns the instant the kernel received the bytes (`SO_TIMESTAMPNS`), so latency stays exact
//! however late the read. A request's deadline reads its socket before it counts
//! (`H1Conn::exchange`), so an answer that came in time is never called late for being unread.
//!
//! A tick reads only the connections bytes came in on: every deferred socket is in an epoll set
//! of our own for `EPOLLIN` (edge-triggered, never on the reactor by itself), and a tick takes
//! its events with one `epoll_wait` and wakes those connections' readers alone. A slow target
//! keeps many requests in flight, and reading each of them at every wake-up cost a `recvmsg` per
//! request in flight per wake-up (105 syscalls per request at 2,000 req/s against a 50 ms
//! server, where the reactor took 5).
//!
//! Why: every wake-up of an idle thread costs a context switch, and a response per request was
//! half of them (measurements in `docs/benchmarks.md`).
//!
//! A close by the peer is still seen at once, without a read per connection: every deferred
//! socket is in one epoll set of our own for `EPOLLRDHUP` only (not `EPOLLIN`), so a response
//! arriving wakes nothing, while a FIN or a reset makes that set readable on the reactor and
//! marks the connection closed. An idle connection therefore costs no syscall at all.
//!
//! A response also frees its connection, and a request waits for a free one when every
//! connection is busy. Read at the next wake-up only, a pool of N connections would carry at
//! most N requests per wake-up, however fast the target answers. So every deferred socket is
//! also in a second set, for `EPOLLIN`, which sits on the reactor only while requests wait for a
//! connection ([`Arrivals`]): then a response wakes the dispatcher as it comes in, as it did
//! before reads were deferred, and costs nothing the rest of the time.
//!
//! The kernel stamps received packets only while some socket asks for it, and turns that on
//! asynchronously: the first packets after the first such socket may come unstamped. So a run
//! first holds a loopback UDP socket with stamps on and waits (a few milliseconds at most) until
//! a datagram it sends itself comes back stamped; it keeps that socket for the whole run so the
//! stamping never lapses between connections. Where the kernel never stamps, reads stay on the
//! reactor (read as their bytes arrive) and the run reports `kernel_receive_timestamps: false`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use super::conn::Io;

/// The longest a response may wait unread while requests are in flight and the dispatcher
/// sleeps towards a distant request (a pause in the schedule). Below that, responses are read
/// at the next request's wake-up: one wake-up per request at low rates, not two.
pub(super) const READ_DEFER: Duration = Duration::from_millis(250);
/// How often the deferred connections are read while the run drains its last responses.
pub(super) const DRAIN_TICK: Duration = Duration::from_millis(1);
/// How long a run waits for the kernel to start stamping before it reads on the reactor.
const STAMPING_WAIT: Duration = Duration::from_millis(50);

/// Wakes the tasks of deferred connections: a reader at the tick after bytes came in on its
/// connection, a writer (whose send buffer was full) at every tick, an idle connection's task
/// when its peer closes it. Its lists keep their capacity, so a tick allocates nothing once the
/// run is warm.
pub(super) struct Ticker {
    writers: RefCell<Vec<Waker>>,
    woken: RefCell<Vec<Waker>>,
    closes: AsyncFd<OwnedFd>,
    /// Every deferred socket for `EPOLLIN`, edge-triggered; on the reactor only while an
    /// [`Arrivals`] follows it.
    arrivals: OwnedFd,
    watched: RefCell<HashMap<u64, Rc<Watch>>>,
    next_token: Cell<u64>,
    /// Held for the run: keeps the kernel stamping received packets.
    _stamping: UdpSocket,
}

/// One deferred connection as the close watcher sees it.
#[derive(Default)]
struct Watch {
    /// The peer sent a FIN or a reset (not yet read).
    closed: Cell<bool>,
    /// The task waiting on the connection while it is idle.
    idle: Cell<Option<Waker>>,
    /// The task waiting to read a response on it.
    reader: Cell<Option<Waker>>,
    /// Bytes came in while no reader waited: the next one reads at once.
    unread: Cell<bool>,
}

impl Ticker {
    /// A ticker for one run, once the kernel stamps received packets; `None` if it does not
    /// (or no epoll set could be made), and reads stay on the reactor.
    pub(super) async fn new() -> Option<Ticker> {
        let stamping = stamping_on().await?;
        // SAFETY: a plain syscall; the descriptor it returns is checked and then owned.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns; the `OwnedFd` keeps it open for
        // the whole life of the `AsyncFd` and always returns that same descriptor.
        let closes = unsafe {
            AsyncFd::register_with_interest(OwnedFd::from_raw_fd(fd), Interest::READABLE)
        }
        .ok()?;
        // SAFETY: as above.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let arrivals = unsafe { OwnedFd::from_raw_fd(fd) };
        Some(Ticker {
            writers: RefCell::new(Vec::new()),
            woken: RefCell::new(Vec::new()),
            closes,
            arrivals,
            watched: RefCell::new(HashMap::new()),
            next_token: Cell::new(0),
            _stamping: stamping,
        })
    }

    /// When the dispatcher must wake at the latest, given it would wake at `wake` and whether
    /// requests are in flight.
    pub(super) fn wake_by(&self, wake: Instant, now: Instant, in_flight: bool) -> Instant {
        if in_flight {
            wake.min(now + READ_DEFER)
        } else {
            wake
        }
    }

    /// Wakes the readers of the connections bytes came in on since the last tick, and every
    /// waiting writer.
    pub(super) fn tick(&self) {
        let mut woken = self.woken.borrow_mut();
        std::mem::swap(&mut *woken, &mut *self.writers.borrow_mut());
        for w in woken.drain(..) {
            w.wake();
        }
        let watched = self.watched.borrow();
        each_ready(self.arrivals.as_raw_fd(), |token| {
            if let Some(w) = watched.get(&token) {
                match w.reader.take() {
                    Some(reader) => reader.wake(),
                    None => w.unread.set(true),
                }
            }
        });
    }

    fn wait_to_write(&self, waker: &Waker) {
        self.writers.borrow_mut().push(waker.clone());
    }

    /// Runs for the whole run: marks the connections their peers closed, and wakes those that
    /// were idle. Ends only if the epoll set fails.
    pub(super) async fn watch_closes(&self) {
        loop {
            let Ok(mut ready) = self.closes.readable().await else {
                return;
            };
            each_ready(self.closes.as_raw_fd(), |token| {
                if let Some(w) = self.watched.borrow().get(&token) {
                    w.closed.set(true);
                    if let Some(waker) = w.idle.take() {
                        waker.wake();
                    }
                }
            });
            ready.clear_ready();
        }
    }

    /// Puts `fd` in the close watcher's set, for a FIN or a reset only, and in the arrivals'
    /// set.
    fn watch(&self, fd: RawFd) -> io::Result<(u64, Rc<Watch>)> {
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        for (set, events) in [
            (self.closes.as_raw_fd(), libc::EPOLLRDHUP),
            (self.arrivals.as_raw_fd(), libc::EPOLLIN),
        ] {
            let mut event = libc::epoll_event {
                events: (events | libc::EPOLLET) as u32,
                u64: token,
            };
            // SAFETY: both descriptors are open; `event` outlives the call.
            if unsafe { libc::epoll_ctl(set, libc::EPOLL_CTL_ADD, fd, &mut event) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let watch = Rc::new(Watch::default());
        self.watched.borrow_mut().insert(token, watch.clone());
        Ok((token, watch))
    }
}

/// Takes every event ready on the epoll set `set`, without waiting, and hands each one's token
/// to `f`.
fn each_ready(set: RawFd, mut f: impl FnMut(u64)) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
    loop {
        // SAFETY: `events` is a live array of the length given; timeout 0 never blocks.
        let n =
            unsafe { libc::epoll_wait(set, events.as_mut_ptr(), events.len() as libc::c_int, 0) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        let n = usize::try_from(n).unwrap_or(0);
        for e in &events[..n] {
            f(e.u64);
        }
        if n < events.len() {
            return;
        }
    }
}

/// Responses coming in on deferred connections, followed on the reactor for as long as this
/// lives (dropping it takes the arrivals' set off the reactor again).
pub(super) struct Arrivals {
    set: AsyncFd<ArrivalSet>,
    /// Keeps the set open while it is on the reactor.
    _ticker: Rc<Ticker>,
}

/// The ticker's arrivals set, borrowed: the ticker owns and closes it.
struct ArrivalSet(RawFd);

impl AsRawFd for ArrivalSet {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Arrivals {
    /// Puts `ticker`'s arrivals on the reactor; `None` if the reactor refuses the set (reads
    /// then wait for the dispatcher's wake-ups, as when nothing waits).
    pub(super) fn follow(ticker: &Rc<Ticker>) -> Option<Arrivals> {
        let set = ArrivalSet(ticker.arrivals.as_raw_fd());
        // SAFETY: the ticker owns the descriptor and the `Rc` kept beside the `AsyncFd` keeps
        // it open until the `AsyncFd` (declared first, so dropped first) is gone.
        let set = unsafe { AsyncFd::register_with_interest(set, Interest::READABLE) }.ok()?;
        Some(Arrivals {
            set,
            _ticker: ticker.clone(),
        })
    }

    /// Resolves once bytes came in on some deferred connection (at once for any that came
    /// before the set was followed, or since the last tick); the caller then ticks, which
    /// reads them and empties the set. Never resolves if the reactor fails it.
    pub(super) async fn next(&self) {
        let Ok(mut ready) = self.set.readable().await else {
            return std::future::pending().await;
        };
        ready.clear_ready();
    }
}

/// A loopback UDP socket with receive stamps on, once the kernel stamps packets as they arrive;
/// `None` if it did not within [`STAMPING_WAIT`].
///
/// A UDP read stamps a packet that came unstamped at the read itself, where TCP gives no stamp
/// at all; so a datagram whose stamp is earlier than the read was stamped on arrival.
async fn stamping_on() -> Option<UdpSocket> {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    enable_timestamps(s.as_raw_fd()).ok()?;
    s.connect(s.local_addr().ok()?).ok()?;
    s.set_nonblocking(true).ok()?;
    let give_up = Instant::now() + STAMPING_WAIT;
    let mut buf = [0u8; 1];
    loop {
        s.send(&[0]).ok()?;
        // Loopback delivers before `send` returns, or soon after: drain what came.
        let read_at = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        while let Ok((_, stamp)) = recv_stamped(s.as_raw_fd(), &mut buf) {
            if stamp.is_some_and(|t| wall(t) < read_at) {
                return Some(s);
            }
        }
        if Instant::now() >= give_up {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A plain TCP connection read only when the [`Ticker`] says so.
pub(super) struct Deferred {
    tcp: std::net::TcpStream,
    ticker: Rc<Ticker>,
    token: u64,
    watch: Rc<Watch>,
    /// Watching an idle connection (woken by a close), not reading a response (ticked).
    idle: bool,
    /// A request just went out: its answer is read at the next tick, not tried for now.
    sent: bool,
    /// Kernel receive instant of the bytes last read; `None` if that read had no timestamp.
    arrived: Option<Instant>,
}

impl Drop for Deferred {
    fn drop(&mut self) {
        // Closing the socket takes it out of the epoll set.
        self.ticker.watched.borrow_mut().remove(&self.token);
    }
}

/// The stream for a new plain connection: deferred with receive timestamps on, or left on the
/// reactor if the kernel refuses them (`Ok(Stream::Reactor)`). Fails only if the socket could
/// not be taken off the reactor.
pub(super) fn stream_for(tcp: tokio::net::TcpStream, ticker: &Rc<Ticker>) -> io::Result<Stream> {
    if enable_timestamps(tcp.as_raw_fd()).is_err() {
        return Ok(Stream::Reactor(Io::Plain(tcp)));
    }
    let tcp = tcp.into_std()?;
    let (token, watch) = ticker.watch(tcp.as_raw_fd())?;
    Ok(Stream::Deferred(Deferred {
        tcp,
        ticker: ticker.clone(),
        token,
        watch,
        idle: false,
        sent: false,
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

/// A kernel timestamp as the wall-clock time since the epoch.
fn wall(stamp: libc::timespec) -> Duration {
    Duration::new(stamp.tv_sec as u64, stamp.tv_nsec as u32)
}

/// The monotonic instant of a kernel (wall-clock) timestamp: now, less its age.
fn instant_of(stamp: libc::timespec) -> Instant {
    let now = Instant::now();
    let stamped = wall(stamp);
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
    /// Marks the connection idle (woken by a close) or carrying a request (read at ticks).
    /// Carrying one forgets the previous response's arrival.
    pub(super) fn set_idle(&mut self, idle: bool) {
        if let Stream::Deferred(d) = self {
            d.idle = idle;
            if !idle {
                d.arrived = None;
                d.sent = true;
            }
        }
    }

    /// On a deferred stream its peer closed, the read that says how (end of stream, a reset,
    /// or stray bytes); `None` when the peer did not close it (or on a reactor stream, which
    /// watches for itself).
    pub(super) fn read_if_closed(&mut self, dst: &mut [u8]) -> Option<io::Result<usize>> {
        let Stream::Deferred(d) = self else {
            return None;
        };
        if !d.watch.closed.get() {
            return None;
        }
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

impl Deferred {
    /// Waits for the tick after bytes come in (reading a response) or for a close by the peer
    /// (idle).
    fn park(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        if self.idle {
            self.watch.idle.set(Some(cx.waker().clone()));
        } else if self.watch.unread.take() {
            // A tick saw bytes while this task was not waiting: read them now.
            cx.waker().wake_by_ref();
        } else {
            self.watch.reader.set(Some(cx.waker().clone()));
        }
        Poll::Pending
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
        // No syscall where nothing can be there yet: an answer to a request just written (it
        // is read at the next tick), or an idle connection its peer has not closed.
        if std::mem::take(&mut d.sent) || (d.idle && !d.watch.closed.get()) {
            return d.park(cx);
        }
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
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return d.park(cx),
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
                    d.ticker.wait_to_write(cx.waker());
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

#[cfg(test)]
#[path = "deferred_tests.rs"]
mod tests;
