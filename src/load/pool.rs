//! The HTTP/1 keep-alive pool: one long-lived worker per connection slot. The dispatcher hands
//! each due request (a [`Ticket`]) straight to the longest-idle worker, or queues it until a
//! worker is free; no task is spawned per request.
//!
//! Idle workers are taken in FIFO order, so requests rotate over every connection — and thus
//! over every pod a Service pins connections to. The pool never grows past its size: a stalled
//! target shows up as queued tickets (send lateness), never as a storm of new sockets. A worker
//! whose connection was closed dials a new one for its next ticket; dialling counts as send
//! lateness, and a failed dial is that ticket's outcome (refused, timed out, …).
//!
//! Each worker also polls its connection's driver (hyper's connection future) itself, while it
//! waits for a ticket and while a request is out: a response is read, parsed and handed to the
//! request in one task, with no task switch, and a close by the peer while idle is still seen
//! at once.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

use super::conn::{Conn, Driver};
use super::shared::Shared;
use crate::clock::At;

/// A request that is due: its schedule index and due instant.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticket {
    pub(super) seq: u64,
    pub(super) due: At,
}

#[derive(Default)]
struct Slot {
    ticket: Cell<Option<Ticket>>,
    waker: Cell<Option<Waker>>,
}

pub(super) struct Pool {
    slots: Vec<Slot>,
    /// Workers waiting for a ticket, longest-waiting first.
    idle: RefCell<VecDeque<usize>>,
    /// Tickets waiting for a worker, in due order.
    pending: RefCell<VecDeque<Ticket>>,
    closing: Cell<bool>,
}

impl Pool {
    pub(super) fn new(size: usize) -> Rc<Pool> {
        Rc::new(Pool {
            slots: (0..size.max(1)).map(|_| Slot::default()).collect(),
            idle: RefCell::new(VecDeque::new()),
            pending: RefCell::new(VecDeque::new()),
            closing: Cell::new(false),
        })
    }

    pub(super) fn size(&self) -> usize {
        self.slots.len()
    }

    /// Hands a due request to the longest-idle worker, or queues it.
    #[inline]
    pub(super) fn submit(&self, t: Ticket) {
        let worker = self.idle.borrow_mut().pop_front();
        match worker {
            Some(w) => {
                let slot = &self.slots[w];
                slot.ticket.set(Some(t));
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
            None => self.pending.borrow_mut().push_back(t),
        }
    }

    /// Lets every worker finish the queued tickets and then end.
    pub(super) fn close(&self) {
        self.closing.set(true);
        let idle: Vec<usize> = self.idle.borrow_mut().drain(..).collect();
        for w in idle {
            if let Some(waker) = self.slots[w].waker.take() {
                waker.wake();
            }
        }
    }

    /// The next ticket for worker `me`: a queued one, or the next one submitted; `None` once
    /// the pool is closing and nothing is queued.
    async fn next(&self, me: usize) -> Option<Ticket> {
        if let Some(t) = self.pending.borrow_mut().pop_front() {
            return Some(t);
        }
        if self.closing.get() {
            return None;
        }
        self.idle.borrow_mut().push_back(me);
        let slot = &self.slots[me];
        std::future::poll_fn(|cx| {
            if let Some(t) = slot.ticket.take() {
                return Poll::Ready(Some(t));
            }
            if self.closing.get() {
                return Poll::Ready(None);
            }
            slot.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

/// Polls `fut` to completion while also polling the connection's driver, if any. The driver
/// is dropped once it ends (the connection closed). `fut` is polled before and after the driver
/// so that a request it queues is written, and a response the driver reads is taken, in the
/// same wake-up.
async fn driving<F: Future>(driver: &mut Option<Driver>, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        let Some(d) = driver.as_mut() else {
            return Poll::Pending;
        };
        if d.as_mut().poll(cx).is_ready() {
            *driver = None;
        }
        fut.as_mut().poll(cx)
    })
    .await
}

/// One worker: serves tickets on its connection (dialling when it has none) until the pool
/// closes. `conn` is the connection opened for it ahead of the run, if any.
pub(super) async fn worker(
    sh: Rc<Shared>,
    pool: Rc<Pool>,
    me: usize,
    conn: Option<(Conn, Driver)>,
) {
    let (mut conn, mut driver) = match conn {
        Some((c, d)) => (Some(c), Some(d)),
        None => (None, None),
    };
    while let Some(t) = driving(&mut driver, pool.next(me)).await {
        let usable = conn.take().filter(|c| !c.sender.is_closed());
        let mut c = match usable {
            Some(c) => c,
            None => {
                let started = sh.now();
                match sh.dial_driven().await {
                    Ok((c, d)) => {
                        driver = Some(d);
                        c
                    }
                    Err(e) => {
                        let r = sh.failure(t.seq, t.due, started, e);
                        sh.record(r);
                        sh.finish_request();
                        continue;
                    }
                }
            }
        };
        let (record, reusable) = driving(&mut driver, sh.h1_exchange(&mut c, t.seq, t.due)).await;
        sh.record(record);
        sh.finish_request();
        if reusable {
            conn = Some(c);
        } else {
            // Dropping the driver closes the socket now.
            driver = None;
        }
    }
}
