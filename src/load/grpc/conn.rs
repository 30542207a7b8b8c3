//! The gRPC connection pool: `--connections` slots, each holding at most one HTTP/2 connection,
//! opened before the first call and never grown.
//!
//! Call *i* prefers slot `i mod N`, so calls rotate over every connection — and over every pod
//! a Service pinned them to — as a client's round robin over subchannels does. A slot whose
//! connection the server asked to go away (any GOAWAY), or that died, takes no new call: it is
//! re-dialled in the background at once, the way gRPC clients reconnect, and meanwhile its
//! calls take the next usable slot. Only when no slot has a usable connection does a call wait
//! for a dial (that wait is send lateness), and a dial that fails is the outcome of every call
//! that waited for it.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::load::classify::grpc_dial_failure;
use crate::load::conn::DialError;
use crate::load::engine::EngineError;
use crate::load::shared::SharedConn;
use crate::load::sniff::{Seen, Sniffed};
use crate::load::state::RunState;
use crate::model::outcome::OutcomeClass;

/// One live HTTP/2 connection.
pub(super) struct Conn {
    pub(super) shared: SharedConn,
    pub(super) sender: h2::client::SendRequest<Bytes>,
    /// What the server said about it (GOAWAY, reset, close), and whether it is gone.
    pub(super) seen: Arc<Seen>,
}

impl Conn {
    /// It may take a new call: the server has not asked it to go away, and (`--via
    /// endpoints`) its pod is still a routable endpoint.
    fn usable(&self, sh: &RunState) -> bool {
        !self.seen.closing() && !sh.retired(self.shared.id)
    }

    /// Reports its life once it is let go (`at_end`: the load is over).
    fn report(&self, sh: &RunState, at_end: bool) {
        self.shared.report_seen(sh, &self.seen, at_end);
    }
}

/// One place in the pool.
#[derive(Default)]
pub(crate) struct Slot {
    conn: RefCell<Option<Rc<Conn>>>,
    dialing: Cell<bool>,
    ready: Notify,
    /// How the last dial failed, for the calls that waited for it.
    failed: RefCell<Option<(OutcomeClass, SocketAddr, String)>>,
}

impl Slot {
    fn usable(&self, sh: &RunState) -> Option<Rc<Conn>> {
        self.conn
            .borrow()
            .as_ref()
            .filter(|c| c.usable(sh))
            .cloned()
    }
}

/// Opens every connection of the pool ahead of the first call. Fails only if the first could
/// not be opened; a slot that could not be dialled now is dialled when a call needs it.
pub(crate) async fn open(sh: &RunState, connections: usize) -> Result<Rc<[Slot]>, EngineError> {
    let slots: Rc<[Slot]> = (0..connections.max(1)).map(|_| Slot::default()).collect();
    for (k, slot) in slots.iter().enumerate() {
        match dial(sh).await {
            Ok(c) => *slot.conn.borrow_mut() = Some(Rc::new(c)),
            Err(e) if k == 0 => {
                return Err(EngineError::Unreachable {
                    addr: e.peer.to_string(),
                    error: e.error,
                });
            }
            Err(_) => {}
        }
    }
    Ok(slots)
}

/// Drops every slot's connection (end of run), reporting each one's life: h2 closes each once
/// its streams are done.
pub(crate) fn close(sh: &RunState, slots: &[Slot]) {
    for s in slots {
        if let Some(c) = s.conn.borrow_mut().take() {
            c.report(sh, true);
        }
    }
}

/// Opens a connection (TCP, TLS with ALPN h2 when https) and starts HTTP/2 on it; its driver
/// runs as a local task.
async fn dial(sh: &RunState) -> Result<Conn, DialError> {
    let (id, opened) = sh.open().await?;
    let peer = opened.peer;
    opened.require_h2()?;
    let seen = Arc::new(Seen::default());
    let io = Sniffed::new(opened.io, seen.clone());
    let (sender, driver) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| {
            let (class, error) = grpc_dial_failure(&e, &seen);
            DialError { class, peer, error }
        })?;
    seen.drive(async move {
        let _ = driver.await;
    });
    Ok(Conn {
        shared: SharedConn::new(id, opened.local, peer, sh.now()),
        sender,
        seen,
    })
}

/// Dials slot `k` and wakes the calls waiting for it.
async fn redial(sh: Rc<RunState>, slots: Rc<[Slot]>, k: usize) {
    let slot = &slots[k];
    slot.dialing.set(true);
    let old = slot.conn.borrow_mut().take();
    if let Some(c) = old {
        c.report(&sh, false);
    }
    match dial(&sh).await {
        Ok(c) => {
            *slot.conn.borrow_mut() = Some(Rc::new(c));
            slot.failed.borrow_mut().take();
        }
        Err(e) => *slot.failed.borrow_mut() = Some((e.class, e.peer, e.error)),
    }
    slot.dialing.set(false);
    slot.ready.notify_waiters();
}

/// The connection call `seq` goes out on (see the module doc), or why there is none.
pub(super) async fn pick(
    sh: &Rc<RunState>,
    slots: &Rc<[Slot]>,
    seq: u64,
) -> Result<Rc<Conn>, DialError> {
    let n = slots.len();
    let k = seq as usize % n;
    if let Some(c) = slots[k].usable(sh) {
        return Ok(c);
    }
    // Registered before the dial can finish, so its wake-up cannot be missed.
    let woken = slots[k].ready.notified();
    if !slots[k].dialing.get() {
        slots[k].dialing.set(true);
        tokio::task::spawn_local(redial(sh.clone(), slots.clone(), k));
    }
    if let Some(c) = (1..n).find_map(|j| slots[(k + j) % n].usable(sh)) {
        return Ok(c);
    }
    // Nothing usable anywhere: this call waits for its slot's dial (bounded by the dial's own
    // timeouts, TCP and TLS, plus a margin).
    let bound = sh.dialer.connect_timeout * 2 + Duration::from_secs(1);
    let woke = tokio::time::timeout(bound, woken).await.is_ok();
    // The dial's connection, even one already cut again (a proxy that accepted for a backend
    // gone away): the call then goes out on it and meets what it met, with its identity.
    if let Some(c) = slots[k].conn.borrow().clone() {
        return Ok(c);
    }
    let failed = slots[k].failed.borrow().clone();
    Err(match failed {
        Some((class, peer, error)) if woke => DialError { class, peer, error },
        _ => DialError {
            class: OutcomeClass::ConnectTimeout,
            peer: SocketAddr::from(([0, 0, 0, 0], sh.port)),
            error: format!("no HTTP/2 connection could be opened within {bound:?}"),
        },
    })
}
