//! HTTP/2 on hyper: a few shared connections (slots) carrying one stream per request. A dead
//! slot is re-dialled by the first request that needs it; the others wait for that dial rather
//! than opening connections of their own. Each connection's life is reported when it is
//! replaced or the load ends, its end read off its frames (`sniff`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::Notify;

use super::classify::{Stage, classify, error_chain};
use super::conn::DialError;
use super::request::{Exchange, Template};
use super::sniff::{Seen, Sniffed};
use super::state::{RunState, SharedConn};
use crate::model::clock::At;
use crate::model::outcome::OutcomeClass;

type Sender = http2::SendRequest<Full<Bytes>>;

#[derive(Default)]
pub(super) struct H2Slot {
    conn: RefCell<Option<Rc<H2Conn>>>,
    dialing: Cell<bool>,
    ready: Notify,
}

struct H2Conn {
    shared: SharedConn,
    sender: Sender,
    /// How the server ended it (GOAWAY, reset, close), for its life's record.
    seen: Arc<Seen>,
}

/// The slot's connection, if it may take a new request: open, and (`--via endpoints`) still
/// to a routable endpoint.
fn live(sh: &RunState, slot: &H2Slot) -> Option<Rc<H2Conn>> {
    slot.conn
        .borrow()
        .as_ref()
        .filter(|c| !c.sender.is_closed() && !sh.retired(c.shared.id))
        .cloned()
}

/// Makes sure slot `seq % slots` (or another) has a live connection.
pub(super) async fn connection(sh: &RunState, slots: &[H2Slot], seq: u64) -> Result<(), DialError> {
    conn(sh, slots, seq).await.map(|_| ())
}

/// Opens a connection and performs the HTTP/2 handshake; its driver runs as a local task.
async fn dial(sh: &RunState) -> Result<H2Conn, DialError> {
    let (id, opened) = sh.open().await?;
    let peer = opened.peer;
    opened.require_h2()?;
    let seen = Arc::new(Seen::default());
    let io = Sniffed::new(opened.io, seen.clone());
    let (sender, driver) = http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| DialError {
            class: classify(Stage::Exchange, &e),
            peer,
            error: error_chain(&e),
        })?;
    seen.drive(async move {
        let _ = driver.await;
    });
    Ok(H2Conn {
        shared: SharedConn::new(id, opened.local, peer, sh.now()),
        sender,
        seen,
    })
}

async fn conn(sh: &RunState, slots: &[H2Slot], seq: u64) -> Result<Rc<H2Conn>, DialError> {
    let n = slots.len();
    let slot = &slots[seq as usize % n];
    // A retired connection (`--via endpoints`) is replaced by the first request of its slot;
    // a dead one only when no other slot is live.
    let replace = slot
        .conn
        .borrow()
        .as_ref()
        .is_some_and(|c| sh.retired(c.shared.id));
    if !replace || slot.dialing.get() {
        for k in 0..n {
            if let Some(c) = live(sh, &slots[(seq as usize + k) % n]) {
                return Ok(c);
            }
        }
    }
    if slot.dialing.get() {
        let wait = slot.ready.notified();
        let _ = tokio::time::timeout(sh.dialer.connect_timeout, wait).await;
        if let Some(c) = live(sh, slot) {
            return Ok(c);
        }
    }
    slot.dialing.set(true);
    let dialed = dial(sh).await.map(Rc::new);
    slot.dialing.set(false);
    if let Ok(c) = &dialed {
        let old = slot.conn.borrow_mut().replace(c.clone());
        if let Some(old) = old {
            old.shared.report_seen(sh, &old.seen, false);
        }
    }
    slot.ready.notify_waiters();
    dialed
}

/// Sends one request as a stream on `sender` and reads its whole response within `timeout`.
async fn exchange(t: &Template, sender: &mut Sender, timeout: Duration) -> Exchange {
    let fut = async {
        if let Err(e) = sender.ready().await {
            return Err((classify(Stage::Exchange, &e), error_chain(&e)));
        }
        let resp = sender
            .send_request(t.h2_request())
            .await
            .map_err(|e| (classify(Stage::Exchange, &e), error_chain(&e)))?;
        let status = resp.status().as_u16();
        let identity = t
            .identity_header
            .as_ref()
            .and_then(|h| resp.headers().get(h).cloned());
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            if let Err(e) = frame {
                let class = match classify(Stage::Exchange, &e) {
                    // The head arrived: this was not a close before the response.
                    OutcomeClass::ClosedBeforeResponse => OutcomeClass::Other,
                    c => c,
                };
                return Err((
                    class,
                    format!("response body cut short: {}", error_chain(&e)),
                ));
            }
        }
        Ok((status, identity))
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok((status, identity))) => {
            let class = t.accept.classify(status);
            Exchange {
                class,
                status: Some(status),
                error: (class == OutcomeClass::Other)
                    .then(|| format!("unexpected status {status}")),
                identity,
                reusable: true,
            }
        }
        Ok(Err((class, error))) => Exchange {
            class,
            status: None,
            error: Some(error),
            identity: None,
            reusable: false,
        },
        Err(_) => Exchange {
            class: OutcomeClass::RequestTimeout,
            status: None,
            error: Some(format!("no complete response within {timeout:?}")),
            identity: None,
            reusable: false,
        },
    }
}

/// One HTTP/2 request: a stream on a shared connection.
pub(super) async fn request(sh: Rc<RunState>, slots: Rc<[H2Slot]>, seq: u64, due: At) {
    let started = sh.now();
    let c = match conn(&sh, &slots, seq).await {
        Ok(c) => c,
        Err(e) => return sh.end_without_connection(seq, due, started, e),
    };
    let sent = sh.now();
    let reused = c.shared.take_turn(sent);
    let mut sender = c.sender.clone();
    let ex = exchange(&sh.template, &mut sender, sh.timeout).await;
    c.shared.end(&sh, (seq, due, sent), reused, ex);
}

/// Drops every slot's connection (end of run), reporting each one's life.
pub(super) fn close(sh: &RunState, slots: &[H2Slot]) {
    for s in slots {
        if let Some(c) = s.conn.borrow_mut().take() {
            c.shared.report_seen(sh, &c.seen, true);
        }
    }
}
