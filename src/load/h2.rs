//! HTTP/2 on hyper: a few shared connections (slots) carrying one stream per request. A dead
//! slot is re-dialled by the first request that needs it; the others wait for that dial rather
//! than opening connections of their own. Each connection's life is reported when it is
//! replaced or the load ends, its end read off its frames (`sniff`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::Notify;

use super::check::{Body, HeaderScan};
use super::classify::{Stage, classify, error_chain};
use super::conn::DialError;
use super::request::{Exchange, Template, Watched, within};
use super::shared::SharedConn;
use super::sniff::{Seen, Sniffed};
use super::state::RunState;
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

/// A response as far as it was read: status, watched headers, what the header checks found,
/// and the body when the template's checks need it.
struct Response {
    status: u16,
    identity: Option<HeaderValue>,
    version: Option<HeaderValue>,
    scan: HeaderScan,
    body: Option<(Vec<u8>, bool)>,
}

/// Sends one request of `t` as a stream on `sender` and reads its whole response within
/// `timeout`, keeping up to `max_body` of the body when the template's checks need it.
async fn exchange(
    t: &Template,
    watched: &Watched,
    sender: &mut Sender,
    timeout: Duration,
    max_body: usize,
) -> Exchange {
    let fut = async {
        if let Err(e) = sender.ready().await {
            return Err((classify(Stage::Exchange, &e), error_chain(&e)));
        }
        let resp = sender
            .send_request(t.h2_request())
            .await
            .map_err(|e| (classify(Stage::Exchange, &e), error_chain(&e)))?;
        let status = resp.status().as_u16();
        let headers = resp.headers();
        let get = |h: &Option<HeaderName>| h.as_ref().and_then(|h| headers.get(h).cloned());
        let (identity, version) = (get(&watched.identity), get(&watched.version));
        let scan = t
            .checks
            .scan_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
        let keep = if t.checks.needs_body() { max_body } else { 0 };
        let mut kept = (keep > 0).then(|| (Vec::new(), false));
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
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
            };
            if let (Some((buf, truncated)), Some(data)) = (kept.as_mut(), frame.data_ref()) {
                let n = data.len().min(keep.saturating_sub(buf.len()));
                buf.extend_from_slice(&data[..n]);
                *truncated |= n < data.len();
            }
        }
        Ok(Response {
            status,
            identity,
            version,
            scan,
            body: kept,
        })
    };
    match within(timeout, fut).await {
        Some(Ok(r)) => {
            let body = r.body.as_ref().map(|(bytes, truncated)| Body {
                bytes,
                truncated: *truncated,
            });
            let mut ex = Exchange::response(t, r.status, &r.scan, body, true);
            ex.identity = r.identity;
            ex.version = r.version;
            ex
        }
        Some(Err((class, error))) => Exchange::failed(class, error),
        None => Exchange::failed(
            OutcomeClass::RequestTimeout,
            format!("no complete response within {timeout:?}"),
        ),
    }
}

/// One HTTP/2 request of template `template`: a stream on a shared connection.
pub(super) async fn request(
    sh: Rc<RunState>,
    slots: Rc<[H2Slot]>,
    seq: u64,
    due: At,
    template: u16,
) {
    let started = sh.now();
    let c = match conn(&sh, &slots, seq).await {
        Ok(c) => c,
        Err(e) => return sh.end_without_connection(seq, due, started, template, e),
    };
    let sent = sh.now();
    let reused = c.shared.take_turn(sent);
    let mut sender = c.sender.clone();
    let t = sh.template(template);
    let r = &sh.requests;
    let ex = exchange(t, &r.watched, &mut sender, sh.timeout, r.max_body).await;
    c.shared.end(&sh, (seq, due, sent, template), reused, ex);
}

/// Drops every slot's connection (end of run), reporting each one's life.
pub(super) fn close(sh: &RunState, slots: &[H2Slot]) {
    for s in slots {
        if let Some(c) = s.conn.borrow_mut().take() {
            c.shared.report_seen(sh, &c.seen, true);
        }
    }
}
