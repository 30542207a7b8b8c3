//! The open model's dispatcher: sends request *i* at `start + due(i)` on the run's carrier,
//! holding requests due close together back by at most one window so they leave in one
//! wake-up ([`dispatch_window`], or the user's `--send-window`), and drives the deferred reads
//! ([`super::deferred`]): at each wake-up, while requests wait for a connection, and while the
//! run drains.

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::FutureExt as _;

use super::deferred::{Arrivals, DRAIN_TICK, Ticker};
use super::engine::Carrier;
use super::schedule::Schedule;
use super::state::RunState;
use super::timer::PreciseTimer;
use crate::model::clock::At;

/// How long the dispatcher may hold due requests back to send them together, at `rate`
/// requests per second: 400 µs up to 10,000 req/s, then growing by 0.16 µs per req/s to 2 ms
/// at 20,000 req/s and above. 400 µs keeps send lateness p99 under half a millisecond (the
/// window plus the wake-up's own delay) while waking at most 2,500 times a second.
///
/// Every wake-up of an idle thread costs a context switch, at high rates more CPU than the
/// requests' own work, so requests due within one window of the last wake-up leave together at
/// the next: exactness first where it is cheap, cost first where batches are large anyway (the
/// measurements behind the bounds are in `docs/benchmarks.md`). Requests due further apart than
/// the window leave at their exact due instant, and never early. Send lateness is always
/// measured and reported, and latency is measured from the due instant either way.
/// `--send-window` replaces this choice with the user's own.
pub fn dispatch_window(rate: f64) -> Duration {
    let micros = (400.0 + (rate - 10_000.0) * 0.16).clamp(400.0, 2_000.0);
    Duration::from_micros(micros as u64)
}

/// What the open model sends: its schedule, under a cap on requests in flight, held back by at
/// most the send window.
pub(super) struct OpenPlan<'a> {
    pub(super) schedule: &'a Schedule,
    pub(super) max_in_flight: usize,
    /// `None`: [`dispatch_window`] at the schedule's rate.
    pub(super) send_window: Option<Duration>,
}

/// Dispatches request *i* at `start + due(i)`; returns (requests due, schedule completed).
pub(super) async fn open_loop(
    sh: &Rc<RunState>,
    carrier: &Carrier,
    plan: OpenPlan<'_>,
    start: At,
    stop: impl Future<Output = ()>,
) -> (u64, bool) {
    let OpenPlan {
        schedule,
        max_in_flight,
        send_window,
    } = plan;
    let t0 = sh.clock.instant(start);
    let mut timer = PreciseTimer::new();
    let mut stop = std::pin::pin!(stop.fuse());
    let mut i: u64 = 0;
    let mut last_wake = Instant::now();
    // Responses were read during this wake-up's sends already (to free a connection or make
    // room under the cap); the next read is the next wake-up's.
    let mut read_this_wake = false;
    // Responses followed as they come in, while requests wait for a connection.
    let mut arrivals: Option<Arrivals> = None;
    loop {
        let Some(offset) = schedule.due(i) else {
            return (i, true);
        };
        let due_instant = t0 + offset;
        let now = Instant::now();
        if now < due_instant {
            // Sparse requests leave exactly when due; dense ones together, at most one
            // dispatch window after the last wake-up.
            let window =
                send_window.unwrap_or_else(|| dispatch_window(schedule.own_rate_at(offset)));
            let due_wake = due_instant.max(last_wake + window);
            let mut wake = due_wake;
            if let Some(reads) = &sh.reads {
                // Responses that came in are read now, after this wake-up's sends (the tasks
                // run in the order woken); those still out are read no later than `wake`.
                if !std::mem::take(&mut read_this_wake) {
                    reads.tick();
                }
                wake = reads.wake_by(wake, now, sh.in_flight.get() > 0);
                follow_arrivals(&mut arrivals, reads, carrier);
            }
            // Woken early only to read: once those reads leave nothing in flight (they run
            // after this task yields), sleep on to the due wake-up instead.
            let read_wake = wake < due_wake;
            tokio::select! {
                biased;
                _ = &mut stop => return (i, false),
                _ = timer.sleep_until(wake) => {}
                _ = sh.drained(), if read_wake => continue,
                // A response came in while requests wait for a connection: read it now.
                () = arrived(arrivals.as_ref()) => continue,
            }
            let woke = Instant::now();
            if woke < due_instant {
                // Woken only to read responses: the request is not due yet.
                continue;
            }
            last_wake = woke;
        } else if i % 64 == 0 && (&mut stop).now_or_never().is_some() {
            // Behind schedule: still notice a stop without awaiting.
            return (i, false);
        }
        let due = sh.clock.at(due_instant);
        sh.live.due.fetch_add(1, Ordering::Relaxed);
        // The dispatcher's own delay (a wait for a connection comes after, in the pool).
        sh.live.handed_over(Instant::now() - due_instant);
        let template = sh.requests.mix.pick(schedule.global(i));
        read_if_starved(sh, carrier, max_in_flight, &mut read_this_wake).await;
        if sh.in_flight.get() >= max_in_flight {
            sh.record(sh.dropped(i, due, template));
        } else {
            sh.start_request();
            carrier.send(sh, i, due, template);
        }
        i += 1;
    }
}

/// Before a request waits for a connection or is dropped at the cap, reads what came in (once a
/// wake-up): a connection whose answer is in is free, and its request no longer in flight.
async fn read_if_starved(
    sh: &RunState,
    carrier: &Carrier,
    max_in_flight: usize,
    read_this_wake: &mut bool,
) {
    if *read_this_wake {
        return;
    }
    let starved = sh.in_flight.get() >= max_in_flight || carrier.all_busy();
    if starved && let Some(reads) = &sh.reads {
        *read_this_wake = true;
        reads.tick();
        after_woken_tasks().await;
    }
}

/// Waits until no request is in flight, ticking the deferred reads ([`super::deferred`]) so
/// that their responses are read: every [`DRAIN_TICK`], and as they come in while requests
/// still wait for a connection.
pub(super) async fn drain_open(sh: &RunState, carrier: &Carrier) {
    let Some(reads) = &sh.reads else {
        return sh.drained().await;
    };
    let mut timer = PreciseTimer::new();
    let mut arrivals = None;
    while sh.in_flight.get() > 0 {
        follow_arrivals(&mut arrivals, reads, carrier);
        tokio::select! {
            _ = timer.sleep_until(Instant::now() + DRAIN_TICK) => {}
            () = arrived(arrivals.as_ref()) => {}
        }
        reads.tick();
    }
}

/// Puts the deferred connections' arrivals on the reactor while requests wait for a connection
/// (each answer frees one), and takes them off once none waits.
fn follow_arrivals(arrivals: &mut Option<Arrivals>, reads: &Rc<Ticker>, carrier: &Carrier) {
    let waiting = carrier.has_queued();
    if waiting && arrivals.is_none() {
        *arrivals = Arrivals::follow(reads);
    } else if !waiting {
        *arrivals = None;
    }
}

/// Resolves when a response comes in on a followed deferred connection; never without one.
async fn arrived(arrivals: Option<&Arrivals>) {
    match arrivals {
        Some(a) => a.next().await,
        None => std::future::pending().await,
    }
}

/// Returns once every task woken before this call has run (the readers a tick woke), without
/// a syscall: the engine's `LocalSet` runs woken tasks in the order they were woken.
async fn after_woken_tasks() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dispatch_window_grows_with_the_rate_between_its_bounds() {
        assert_eq!(dispatch_window(100.0), Duration::from_micros(400));
        assert_eq!(dispatch_window(2_500.0), Duration::from_micros(400));
        assert_eq!(dispatch_window(5_000.0), Duration::from_micros(400));
        assert_eq!(dispatch_window(10_000.0), Duration::from_micros(400));
        assert_eq!(dispatch_window(15_000.0), Duration::from_micros(1_200));
        assert_eq!(dispatch_window(20_000.0), Duration::from_micros(2_000));
        assert_eq!(dispatch_window(200_000.0), Duration::from_micros(2_000));
    }
}
