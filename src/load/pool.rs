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
//! While it waits for a ticket, a worker watches its idle connection, so a close by the peer is
//! seen at once and the connection replaced, as a real client's pool would.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::task::{Poll, Waker};

use super::h1::H1Conn;
use super::state::RunState;
use crate::model::clock::At;

/// A request that is due: its schedule index, due instant and template.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticket {
    pub(super) seq: u64,
    pub(super) due: At,
    pub(super) template: u16,
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

    /// True when no worker is free: a ticket submitted now would wait for one.
    pub(super) fn all_busy(&self) -> bool {
        self.idle.borrow().is_empty()
    }

    /// True when tickets wait for a worker.
    pub(super) fn has_queued(&self) -> bool {
        !self.pending.borrow().is_empty()
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

/// One connection slot: the connection, when it has one. Serves one request at a time,
/// dialling first when the connection is gone.
pub(super) struct Line {
    conn: Option<H1Conn>,
}

impl Line {
    pub(super) fn new(conn: Option<H1Conn>) -> Line {
        Line { conn }
    }

    /// Waits for `fut` while watching the idle connection: if the peer closes it meanwhile, it
    /// is let go (and the next request dials), as a real client's pool would.
    async fn idle<F: Future>(&mut self, sh: &RunState, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        loop {
            let Some(c) = self.conn.as_mut().filter(|c| c.usable()) else {
                return fut.await;
            };
            tokio::select! {
                biased;
                out = &mut fut => return out,
                _ = c.closed_while_idle() => {}
            }
            self.release(sh);
        }
    }

    /// Lets the connection go, reporting its life (once: the line no longer holds it).
    pub(super) fn release(&mut self, sh: &RunState) {
        if let Some(c) = self.conn.take() {
            sh.h1_ended(&c);
        }
    }

    /// Serves request `seq` (of template `template`) due at `due` and records it; returns false
    /// if no connection could be opened for it (its failure is recorded).
    pub(super) async fn serve(&mut self, sh: &RunState, seq: u64, due: At, template: u16) -> bool {
        // A deferred connection's close may have been seen while the worker was not polled:
        // look before sending.
        if let Some(c) = self.conn.as_mut().filter(|c| c.usable()) {
            c.closed_now();
        }
        if !self
            .conn
            .as_ref()
            .is_some_and(|c| sh.keepalive && c.usable() && !sh.retired(c.id))
        {
            self.release(sh);
        }
        let mut c = match self.conn.take() {
            Some(c) => c,
            None => {
                let started = sh.now();
                match sh.open_h1().await {
                    Ok(c) => c,
                    Err(e) => {
                        sh.end_without_connection(seq, due, started, template, e);
                        return false;
                    }
                }
            }
        };
        let (record, reusable) = sh.h1_exchange(&mut c, seq, due, template).await;
        sh.record(record);
        sh.finish_request();
        if reusable {
            self.conn = Some(c);
        } else {
            sh.h1_ended(&c);
        }
        true
    }
}

/// One worker: serves tickets on its connection (dialling when it has none) until the pool
/// closes. `opened` is the connection opened for it ahead of the run, if any.
pub(super) async fn worker(sh: Rc<RunState>, pool: Rc<Pool>, me: usize, opened: Option<H1Conn>) {
    let mut line = Line::new(opened);
    while let Some(t) = line.idle(&sh, pool.next(me)).await {
        line.serve(&sh, t.seq, t.due, t.template).await;
    }
    line.release(&sh);
}
