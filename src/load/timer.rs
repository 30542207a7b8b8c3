//! Sub-millisecond waits for the dispatcher.
//!
//! tokio's timer wheel has 1 ms resolution, so requests due within the same millisecond would
//! leave in a burst and sends would trail their due instants by up to a millisecond. A Linux
//! `timerfd` armed with the exact remaining time and awaited through tokio's reactor wakes the
//! dispatcher within tens of microseconds, at the cost of one `timerfd_settime` per wait (the
//! expiry is never read: arming resets it). Where no timerfd can be made, tokio's sleep is the
//! fallback.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

struct TimerFd(OwnedFd);

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Waits below tokio's 1 ms resolution.
pub struct PreciseTimer {
    fd: Option<AsyncFd<TimerFd>>,
}

impl PreciseTimer {
    /// A timer for the current thread. Also lowers this thread's timer slack to 1 µs so the
    /// kernel does not defer the wake-up by its default 50 µs.
    pub fn new() -> PreciseTimer {
        // SAFETY: plain syscalls with constant arguments; the returned fd is checked and owned.
        let fd = unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong, 0, 0, 0);
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        let fd = if fd >= 0 {
            // SAFETY: `fd` is a fresh descriptor nobody else owns; `TimerFd` owns it for the
            // whole life of the `AsyncFd` and always returns that same descriptor.
            let owned = TimerFd(unsafe { OwnedFd::from_raw_fd(fd) });
            if tokio::runtime::Handle::try_current().is_ok() {
                unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
                    .ok()
            } else {
                None
            }
        } else {
            None
        };
        PreciseTimer { fd }
    }

    /// True when the timerfd path is in use (false: 1 ms tokio fallback).
    pub fn is_precise(&self) -> bool {
        self.fd.is_some()
    }

    /// Sleeps until `deadline` (returns at once if it has passed).
    pub async fn sleep_until(&mut self, deadline: Instant) {
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        let Some(fd) = &self.fd else {
            tokio::time::sleep_until(deadline.into()).await;
            return;
        };
        if arm(fd.get_ref().as_raw_fd(), deadline - now).is_err() {
            tokio::time::sleep_until(deadline.into()).await;
            return;
        }
        loop {
            let Ok(mut guard) = fd.readable().await else {
                tokio::time::sleep_until(deadline.into()).await;
                return;
            };
            // The expiry is not read: `timerfd_settime` resets the expiry count when the next
            // wait arms the timer, and each expiry wakes the reactor anew, so a read would only
            // cost a syscall per wake-up. Readiness left from an earlier arming (a wait cut
            // short by a stop) cannot end this wait early: the deadline is checked.
            guard.clear_ready();
            if Instant::now() >= deadline {
                return;
            }
        }
    }
}

impl Default for PreciseTimer {
    fn default() -> Self {
        PreciseTimer::new()
    }
}

fn arm(fd: RawFd, after: Duration) -> io::Result<()> {
    // A zero it_value would disarm the timer; wait at least 1 ns.
    let nanos = after.as_nanos().max(1);
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: (nanos / 1_000_000_000) as _,
            tv_nsec: (nanos % 1_000_000_000) as _,
        },
    };
    // SAFETY: valid fd and a fully initialised itimerspec.
    let rc = unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt as _;

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_after_the_deadline_not_before() {
        let mut t = PreciseTimer::new();
        for _ in 0..20 {
            let deadline = Instant::now() + Duration::from_micros(300);
            t.sleep_until(deadline).await;
            assert!(Instant::now() >= deadline);
        }
    }

    /// A wait cut short (a stop) leaves its expiry unread behind it; the next wait must
    /// still last until its own deadline.
    #[tokio::test(flavor = "current_thread")]
    async fn an_abandoned_wait_does_not_end_the_next_one_early() {
        let mut t = PreciseTimer::new();
        assert!(t.is_precise());
        for _ in 0..5 {
            {
                let first = t.sleep_until(Instant::now() + Duration::from_micros(200));
                let mut first = std::pin::pin!(first);
                assert!(futures::poll!(first.as_mut()).is_pending());
                // Let it expire without being polled again, then drop it.
                std::thread::sleep(Duration::from_millis(2));
                tokio::task::yield_now().await;
            }
            let deadline = Instant::now() + Duration::from_millis(20);
            t.sleep_until(deadline).await;
            assert!(Instant::now() >= deadline);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_past_deadline_returns_at_once() {
        let mut t = PreciseTimer::new();
        // "At once" without timing anything: the wait is complete on its first poll.
        let past = Instant::now() - Duration::from_millis(1);
        assert!(t.sleep_until(past).now_or_never().is_some());
        let now = Instant::now();
        assert!(t.sleep_until(now).now_or_never().is_some());
    }
}
