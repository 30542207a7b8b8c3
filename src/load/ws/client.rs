//! One client's life: open a session (dial, upgrade), run it, and — with `--reconnect` — open
//! the next after a backoff whenever the server ended one or a handshake failed. Emits one
//! session record per session, and the records of messages that fell due while it had none.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;

use super::Ctx;
use super::backoff::Jitter;
use super::session::{self, Ended};
use crate::load::classify::{Stage, classify, error_chain};
use crate::load::conn::Io;
use crate::load::request::within;
use crate::model::clock::At;
use crate::model::outcome::{ConnId, OutcomeClass};
use crate::model::request::RequestRecord;
use crate::model::session::{PerSecond, SessionClass, SessionRecord};

/// A client's progress through its message grid, shared by its sessions.
pub(super) struct Client {
    /// The client's number (unique across generators: the arrival index).
    pub(super) k: u64,
    pub(super) arrival: At,
    /// When it stops sending and closes (`--session-duration`); `None`: at the load's end.
    pub(super) end: Option<At>,
    /// The next message's number (from 1).
    pub(super) next: u64,
    /// Messages that fell due (sent or not).
    pub(super) due_count: u64,
    /// `--resend`: messages unanswered when the server ended the last session, to send again
    /// first on the next one, and why they were unanswered.
    pub(super) carry: Vec<Carried>,
}

/// A message to send again on the next session.
pub(super) struct Carried {
    pub(super) n: u64,
    pub(super) due: At,
    pub(super) why: String,
}

impl Client {
    /// When message `n` is due.
    pub(super) fn due(&self, ctx: &Ctx, n: u64) -> At {
        self.arrival.plus(ctx.spec.interval().mul_f64(n as f64))
    }

    /// The instant after which no message is due: the client's end or the load's stop.
    pub(super) fn limit(&self, ctx: &Ctx) -> Option<At> {
        let stop = ctx.stop.is_set().then(|| ctx.stop.at());
        match (self.end, stop) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message's due instant, if it falls before the limit.
    pub(super) fn next_due(&self, ctx: &Ctx) -> Option<At> {
        let due = self.due(ctx, self.next);
        match self.limit(ctx) {
            Some(l) if due >= l => None,
            _ => Some(due),
        }
    }

    /// A message's record number: the client in the high half, the message in the low half,
    /// so numbers are unique across clients and generators.
    pub(super) fn seq(&self, n: u64) -> u64 {
        (self.k << 32) | (n & 0xFFFF_FFFF)
    }

    /// The text of message `n`.
    pub(super) fn text(&self, ctx: &Ctx, n: u64) -> String {
        ctx.spec
            .message
            .replace("{client}", &self.k.to_string())
            .replace("{seq}", &n.to_string())
    }

    /// Records the carried messages whose timeout passed before a session could take them
    /// (all of them when `all`), as lost with the session that left them unanswered.
    pub(super) fn lose_carried(&mut self, ctx: &Ctx, now: At, all: bool) {
        let timeout = ctx.sh.timeout;
        let (lost, kept): (Vec<Carried>, Vec<Carried>) = std::mem::take(&mut self.carry)
            .into_iter()
            .partition(|m| all || now >= m.due.plus(timeout));
        self.carry = kept;
        for m in lost {
            ctx.sh.finish_request();
            ctx.sh.record(RequestRecord {
                seq: self.seq(m.n),
                due: m.due,
                sent: m.due,
                end: now.min(m.due.plus(timeout)).max(m.due),
                class: OutcomeClass::WsMessageLost,
                status: None,
                conn: None,
                dialed: None,
                error: Some(format!("{}; not sent again in time", m.why)),
                identity: None,
                template: 0,
                checks_failed: 0,
                version: None,
                excerpt: None,
            });
        }
    }

    /// Records every message due up to `until` that no session can carry any more: the
    /// client is giving up (stopped, out of attempts) while it has no session.
    fn not_sent_until(&mut self, ctx: &Ctx, until: At) {
        while let Some(due) = self.next_due(ctx).filter(|d| *d <= until) {
            let n = self.next;
            self.next += 1;
            self.due_count += 1;
            ctx.sh.live.due.fetch_add(1, Ordering::Relaxed);
            let end = due.plus(ctx.sh.timeout).min(until.max(due));
            ctx.sh.record(not_sent(self.seq(n), due, end));
        }
    }
}

/// The record of a message due while its client had no session, never sent.
pub(super) fn not_sent(seq: u64, due: At, end: At) -> RequestRecord {
    RequestRecord {
        seq,
        due,
        sent: due,
        end,
        class: OutcomeClass::WsNotSent,
        status: None,
        conn: None,
        dialed: None,
        error: Some("due while the client had no open session (reconnecting)".into()),
        identity: None,
        template: 0,
        checks_failed: 0,
        version: None,
        excerpt: None,
    }
}

/// A session that opened, and what its handshake said.
pub(super) struct Open {
    pub(super) ws: WebSocketStream<Io>,
    pub(super) conn: ConnId,
    pub(super) identity: Option<Arc<str>>,
    pub(super) opened: At,
}

/// A handshake that failed: how, and against what.
struct Failed {
    class: OutcomeClass,
    status: Option<u16>,
    conn: Option<ConnId>,
    dialed: Option<std::net::SocketAddr>,
    detail: String,
}

/// Client `k`'s whole life from its arrival; returns how many of its messages fell due.
pub(super) async fn run(ctx: Rc<Ctx>, k: u64, arrival: At) -> u64 {
    // A session's own life (`--session-duration`) and the load's (`--duration`), on the
    // schedule's axis: a stalled thread must not make more messages due than were asked for.
    let life = ctx.spec.lifetime().map(|d| arrival.plus(d));
    let load = ctx.spec.duration.map(|d| ctx.start.plus(d));
    let mut c = Client {
        k,
        arrival,
        end: match (life, load) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        next: 1,
        due_count: 0,
        carry: Vec::new(),
    };
    let mut jitter = Jitter::new(k ^ ctx.sh.clock.anchor_wall().as_nanosecond() as u64);
    let mut attempt: u32 = 0;
    let mut in_a_row: u32 = 0;
    let mut previous_end: Option<At> = None;
    let mut due = arrival;
    loop {
        let ended = match handshake(&ctx).await {
            Ok(open) => {
                in_a_row = 0;
                c.lose_carried(&ctx, open.opened, false);
                live_sessions(&ctx, 1);
                let e = session::run(&ctx, &mut c, open, due, attempt, previous_end).await;
                live_sessions(&ctx, -1);
                e
            }
            Err(f) => {
                let end = ctx.sh.now();
                ctx.sh
                    .sink
                    .borrow_mut()
                    .session(&failed(&c, attempt, due, end, f));
                Ended {
                    at: end,
                    class: SessionClass::HandshakeFailed,
                }
            }
        };
        previous_end = Some(ended.at);
        let Some(backoff) = ctx
            .spec
            .reconnect
            .filter(|_| reconnects(&ctx, &c, ended.class))
        else {
            break;
        };
        in_a_row += 1;
        if in_a_row > backoff.attempts {
            break;
        }
        let wait = backoff.delay(in_a_row, jitter.unit());
        let wake = ctx.sh.clock.instant(ended.at.plus(wait));
        tokio::select! {
            _ = ctx.stop.wait() => break,
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
        if c.next_due(&ctx).is_none() && c.limit(&ctx).is_some_and(|l| ctx.sh.now() >= l) {
            break;
        }
        attempt += 1;
        due = ctx.sh.now();
    }
    // Messages that fell due while the client was without a session, up to its giving up.
    let until = c.limit(&ctx).map_or(ctx.sh.now(), |l| l.min(ctx.sh.now()));
    c.lose_carried(&ctx, ctx.sh.now(), true);
    if previous_end.is_some() && ctx.spec.reconnect.is_some() {
        c.not_sent_until(&ctx, until);
    }
    c.due_count
}

/// Whether a client reconnects after a session that ended as `class`: after the server
/// ended it or a handshake failed, while the client still has messages to send.
fn reconnects(ctx: &Ctx, c: &Client, class: SessionClass) -> bool {
    let wanted = class.ended_by_server()
        || matches!(
            class,
            SessionClass::HandshakeFailed | SessionClass::ProtocolError
        );
    wanted && !ctx.stop.is_set() && c.next_due(ctx).is_some()
}

fn live_sessions(ctx: &Ctx, delta: i64) {
    let live = &ctx.sh.live.sessions_open;
    if delta > 0 {
        live.fetch_add(1, Ordering::Relaxed);
    } else {
        live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Dials the target and upgrades, within the connect timeout (TCP, TLS) and the request
/// timeout (the upgrade).
async fn handshake(ctx: &Ctx) -> Result<Open, Failed> {
    let (id, opened) = ctx.sh.open().await.map_err(|e| Failed {
        class: e.class,
        status: None,
        conn: None,
        dialed: Some(e.peer),
        detail: e.error,
    })?;
    let conn = ConnId {
        id,
        local: opened.local,
        peer: opened.peer,
        reused: false,
    };
    let upgrade = tokio_tungstenite::client_async_with_config(
        ctx.request.clone(),
        opened.io,
        Some(tungstenite::protocol::WebSocketConfig::default()),
    );
    let fail = |class, status, detail| Failed {
        class,
        status,
        conn: Some(conn),
        dialed: None,
        detail,
    };
    match within(ctx.sh.timeout, upgrade).await {
        Some(Ok((ws, response))) => {
            let identity = ctx
                .identity_header
                .as_ref()
                .and_then(|h| response.headers().get(h))
                .and_then(|v| v.to_str().ok())
                .map(Arc::from);
            Ok(Open {
                ws,
                conn,
                identity,
                opened: ctx.sh.now(),
            })
        }
        Some(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let class = match status {
                400..=499 => OutcomeClass::Http4xx,
                500..=599 => OutcomeClass::Http5xx,
                _ => OutcomeClass::Other,
            };
            Err(fail(
                class,
                Some(status),
                format!("the server refused the upgrade with HTTP {status}"),
            ))
        }
        Some(Err(e)) => Err(fail(
            handshake_class(&e),
            None,
            format!("upgrade failed: {}", error_chain(&e)),
        )),
        None => Err(fail(
            OutcomeClass::RequestTimeout,
            None,
            format!("no upgrade response within {:?}", ctx.sh.timeout),
        )),
    }
}

/// How an upgrade that failed below HTTP failed: the transport's classes.
fn handshake_class(e: &tungstenite::Error) -> OutcomeClass {
    match e {
        tungstenite::Error::Io(io) => classify(Stage::Exchange, io),
        tungstenite::Error::Tls(_) => OutcomeClass::Tls,
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::HandshakeIncomplete
            | tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => OutcomeClass::ClosedBeforeResponse,
        _ => OutcomeClass::Other,
    }
}

/// The record of a session that never opened.
fn failed(c: &Client, attempt: u32, due: At, end: At, f: Failed) -> SessionRecord {
    SessionRecord {
        client: c.k,
        attempt,
        due,
        opened: None,
        ended: end,
        class: SessionClass::HandshakeFailed,
        code: None,
        detail: Some(f.detail),
        handshake: Some(f.class),
        status: f.status,
        conn: f.conn,
        dialed: f.dialed,
        identity: None,
        previous_end: None,
        sent: 0,
        answered: 0,
        lost: 0,
        per_second: PerSecond::default(),
    }
}

/// Waits at most this long for the server's answer to our close frame.
pub(super) const CLOSE_WAIT: Duration = Duration::from_secs(2);
