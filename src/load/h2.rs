//! HTTP/2: a few shared connections (slots) carrying one stream per request. A dead slot is
//! re-dialled by the first request that needs it; the others wait for that dial rather than
//! opening connections of their own.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::Notify;

use super::conn::{DialError, Sender};
use super::outcome::{ConnId, OutcomeClass};
use super::request::{exchange, remember_identity};
use super::shared::Shared;
use crate::clock::At;

#[derive(Default)]
pub(super) struct H2Slot {
    conn: RefCell<Option<Rc<H2Conn>>>,
    dialing: Cell<bool>,
    ready: Notify,
}

struct H2Conn {
    id: u64,
    local: SocketAddr,
    peer: SocketAddr,
    sender: hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>,
    uses: Cell<u64>,
    identity: RefCell<Option<Arc<str>>>,
}

fn live(slot: &H2Slot) -> Option<Rc<H2Conn>> {
    slot.conn
        .borrow()
        .as_ref()
        .filter(|c| !c.sender.is_closed())
        .cloned()
}

/// A live connection, preferring slot `seq % slots`; dials that slot if none is live.
pub(super) async fn connection(sh: &Shared, slots: &[H2Slot], seq: u64) -> Result<(), DialError> {
    conn(sh, slots, seq).await.map(|_| ())
}

async fn conn(sh: &Shared, slots: &[H2Slot], seq: u64) -> Result<Rc<H2Conn>, DialError> {
    let n = slots.len();
    for k in 0..n {
        if let Some(c) = live(&slots[(seq as usize + k) % n]) {
            return Ok(c);
        }
    }
    let slot = &slots[seq as usize % n];
    if slot.dialing.get() {
        let wait = slot.ready.notified();
        let _ = tokio::time::timeout(sh.dialer.connect_timeout, wait).await;
        if let Some(c) = live(slot) {
            return Ok(c);
        }
    }
    slot.dialing.set(true);
    let dialed = sh.dial().await;
    slot.dialing.set(false);
    let result = dialed.and_then(|c| match c.sender {
        Sender::H2(sender) => Ok(Rc::new(H2Conn {
            id: c.id,
            local: c.local,
            peer: c.peer,
            sender,
            uses: Cell::new(0),
            identity: RefCell::new(None),
        })),
        Sender::H1(_) => Err(DialError {
            class: OutcomeClass::Other,
            peer: c.peer,
            error: "the server did not negotiate HTTP/2 (ALPN)".to_string(),
        }),
    });
    if let Ok(c) = &result {
        *slot.conn.borrow_mut() = Some(c.clone());
    }
    slot.ready.notify_waiters();
    result
}

/// One HTTP/2 request: a stream on a shared connection.
pub(super) async fn request(sh: Rc<Shared>, slots: Rc<[H2Slot]>, seq: u64, due: At) {
    let started = sh.now();
    let c = match conn(&sh, &slots, seq).await {
        Ok(c) => c,
        Err(e) => {
            let r = sh.failure(seq, due, started, e);
            sh.record(r);
            sh.finish_request();
            return;
        }
    };
    let sent = sh.now();
    let reused = c.uses.get() > 0;
    c.uses.set(c.uses.get() + 1);
    let mut sender = Sender::H2(c.sender.clone());
    let mut ex = exchange(&sh.template, &mut sender, sh.timeout, true).await;
    remember_identity(&mut c.identity.borrow_mut(), ex.identity.take());
    let id = ConnId {
        id: c.id,
        local: c.local,
        peer: c.peer,
        reused,
    };
    let identity = c.identity.borrow().clone();
    sh.record(sh.completed(seq, due, sent, id, identity, ex));
    sh.finish_request();
}

/// Drops every slot's connection (end of run).
pub(super) fn close(slots: &[H2Slot]) {
    for s in slots {
        s.conn.borrow_mut().take();
    }
}
