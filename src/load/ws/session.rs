//! One open session: sends the client's messages as they fall due, pairs each reply with the
//! oldest unanswered message, times out the ones left unanswered, and finds out how the session
//! ended — our close after the last reply, the server's close frame with its code, or the
//! connection gone without one (1006: tungstenite's `ResetWithoutClosingHandshake` for an EOF,
//! an io reset otherwise).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::Ctx;
use super::client::{CLOSE_WAIT, Carried, Client, Open, not_sent};
use crate::load::classify::error_chain;
use crate::model::clock::At;
use crate::model::connection::{ConnectionEnd, ConnectionLife};
use crate::model::outcome::{ConnId, OutcomeClass};
use crate::model::request::RequestRecord;
use crate::model::session::{PerSecond, SessionClass, SessionRecord};

/// How and when a session ended, for the client's decision to reconnect.
pub(super) struct Ended {
    pub(super) at: At,
    pub(super) class: SessionClass,
}

/// A message sent and not yet answered.
struct Pending {
    seq: u64,
    due: At,
    sent: At,
    payload: Bytes,
    /// An earlier message went out on this session's connection.
    reused: bool,
    /// Already recorded as timed out: its late reply, if any, is dropped.
    timed_out: bool,
}

/// The session's own figures, for its record.
#[derive(Default)]
struct Tally {
    sent: u32,
    /// Send instants of the first and the last message, for the connection's life.
    first_sent: Option<At>,
    last_sent: Option<At>,
    answered: u32,
    lost: u32,
    per_second: PerSecond,
}

/// Why the loop stopped.
enum Outcome {
    /// We closed after the last reply: the server answered our close, or went away.
    ClientClose { acknowledged: bool },
    /// The server sent a close frame.
    Closed(Option<CloseFrame>),
    /// The connection ended under the session.
    Error(WsError),
}

/// Where a session is: its connection halves, what awaits a reply, its figures.
struct Live<'a> {
    rec: Recorder<'a>,
    tx: Tx,
    rx: Rx,
    pending: VecDeque<Pending>,
    tally: Tally,
}

/// Runs one open session until it ends; emits its messages' records and its own.
pub(super) async fn run(
    ctx: &Ctx,
    c: &mut Client,
    open: Open,
    due: At,
    attempt: u32,
    previous_end: Option<At>,
) -> Ended {
    let Open {
        ws,
        conn,
        identity,
        opened,
    } = open;
    let (tx, rx) = ws.split();
    let mut live = Live {
        rec: Recorder {
            ctx,
            conn,
            identity: identity.clone(),
        },
        tx,
        rx,
        pending: VecDeque::new(),
        tally: Tally::default(),
    };
    // `--resend`: what the last session left unanswered goes first.
    let outcome = match live.resend(c).await {
        Err(e) => Outcome::Error(e),
        Ok(()) => live.drive(c).await,
    };
    let ended = ctx.sh.now();
    if let Outcome::Closed(_) = outcome {
        // Answer the server's close (tungstenite queues the reply; reading flushes it).
        let _ = tokio::time::timeout(CLOSE_WAIT, live.rx.next()).await;
    }
    let (class, code, detail) = describe(&outcome);
    live.unanswered(c, &outcome, class, ended);
    let tally = live.tally;
    // The session's TCP connection is a connection like any other: its life, once.
    ctx.sh.ended(&ConnectionLife {
        id: conn.id,
        local: conn.local,
        peer: conn.peer,
        opened,
        first_request: tally.first_sent,
        last_request: tally.last_sent,
        requests: tally.sent,
        failures: tally.sent - tally.answered,
        ended,
        end: connection_end(&outcome),
    });
    ctx.sh.sink.borrow_mut().session(&SessionRecord {
        client: c.k,
        attempt,
        due,
        opened: Some(opened),
        ended,
        class,
        code,
        detail,
        handshake: None,
        status: None,
        conn: Some(conn),
        dialed: None,
        identity,
        previous_end,
        sent: tally.sent,
        answered: tally.answered,
        lost: tally.lost,
        per_second: tally.per_second,
    });
    Ended { at: ended, class }
}

impl Live<'_> {
    /// Sends, pairs replies and times out until the session ends, or — once the client's end
    /// or the load's stop has come and every message due before it was answered — closes it.
    async fn drive(&mut self, c: &mut Client) -> Outcome {
        let ctx = self.rec.ctx;
        let mut closing = false;
        loop {
            // Messages due before the client's end (or the load's stop) still go out; then close.
            let limit = c.limit(ctx);
            let next = if closing { None } else { c.next_due(ctx) };
            if !closing && next.is_none() && limit.is_some_and(|l| ctx.sh.now() >= l) {
                closing = true;
            }
            let deadline = self
                .pending
                .iter()
                .find(|p| !p.timed_out)
                .map(|p| p.sent.plus(ctx.sh.timeout));
            if closing && deadline.is_none() {
                return close(&mut self.tx, &mut self.rx).await;
            }
            let stopping = ctx.stop.is_set();
            tokio::select! {
                biased;
                m = self.rx.next() => match m {
                    Some(Ok(Message::Text(t))) => self.reply(t.as_bytes()),
                    Some(Ok(Message::Binary(b))) => self.reply(&b),
                    Some(Ok(Message::Close(frame))) => return Outcome::Closed(frame),
                    Some(Ok(_)) => {} // ping (answered by tungstenite), pong
                    Some(Err(e)) => return Outcome::Error(e),
                    None => return Outcome::Error(WsError::ConnectionClosed),
                },
                // Wake-ups only: the loop's head decides.
                _ = ctx.stop.wait(), if !stopping => {}
                _ = sleep_until(ctx, limit), if !closing && next.is_none() && limit.is_some() => {}
                _ = sleep_until(ctx, deadline), if deadline.is_some() => {
                    self.rec.time_out(&mut self.pending);
                }
                _ = sleep_until(ctx, next), if next.is_some() => {
                    if let Err(e) = self.send_next(c).await {
                        // The write failed: the read side says how the session ended.
                        return match tokio::time::timeout(CLOSE_WAIT, self.rx.next()).await {
                            Ok(Some(Ok(Message::Close(frame)))) => Outcome::Closed(frame),
                            Ok(Some(Err(read))) => Outcome::Error(read),
                            _ => Outcome::Error(e),
                        };
                    }
                }
            }
        }
    }

    fn reply(&mut self, reply: &[u8]) {
        self.rec.reply(&mut self.pending, &mut self.tally, reply);
    }

    async fn send_next(&mut self, c: &mut Client) -> Result<(), WsError> {
        self.rec
            .send_next(c, &mut self.tx, &mut self.pending, &mut self.tally)
            .await
    }

    async fn resend(&mut self, c: &mut Client) -> Result<(), WsError> {
        self.rec
            .resend(c, &mut self.tx, &mut self.pending, &mut self.tally)
            .await
    }

    /// Messages still awaited when the session ended: an at-least-once client (`--resend`)
    /// sends them again after it reconnects; others lose them here.
    fn unanswered(&mut self, c: &mut Client, outcome: &Outcome, class: SessionClass, ended: At) {
        let ctx = self.rec.ctx;
        let resend = ctx.spec.resend
            && ctx.spec.reconnect.is_some()
            && class.ended_by_server()
            && !ctx.stop.is_set();
        for p in self.pending.drain(..).filter(|p| !p.timed_out) {
            self.tally.lost += 1;
            if resend {
                c.carry.push(Carried {
                    n: p.seq & 0xFFFF_FFFF,
                    due: p.due,
                    why: lost_reason(outcome),
                });
            } else {
                self.rec.emit(
                    &p,
                    ended,
                    OutcomeClass::WsMessageLost,
                    Some(lost_reason(outcome)),
                );
            }
        }
    }
}

async fn sleep_until(ctx: &Ctx, at: Option<At>) {
    if let Some(at) = at {
        tokio::time::sleep_until(ctx.sh.clock.instant(at).into()).await;
    }
}

type Tx =
    futures::stream::SplitSink<tokio_tungstenite::WebSocketStream<crate::load::conn::Io>, Message>;
type Rx = futures::stream::SplitStream<tokio_tungstenite::WebSocketStream<crate::load::conn::Io>>;

/// Sends close 1000 once nothing is awaited, and waits for the server's answer.
async fn close(tx: &mut Tx, rx: &mut Rx) -> Outcome {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "zerodrop: session done".into(),
    };
    if tx.send(Message::Close(Some(frame))).await.is_err() {
        return Outcome::ClientClose {
            acknowledged: false,
        };
    }
    let acknowledged = tokio::time::timeout(CLOSE_WAIT, async {
        loop {
            match rx.next().await {
                Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    Outcome::ClientClose { acknowledged }
}

/// How the session's connection ended, in the words of every connection's life: a close frame
/// is a close the peer announced; a drop is a FIN or a reset the peer sent unannounced.
fn connection_end(o: &Outcome) -> ConnectionEnd {
    match o {
        Outcome::ClientClose { .. } => ConnectionEnd::LocalClose,
        Outcome::Closed(_) => ConnectionEnd::PeerAnnounced,
        Outcome::Error(WsError::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ) =>
        {
            ConnectionEnd::PeerReset
        }
        Outcome::Error(e) if error_class(e) == SessionClass::Abnormal1006 => {
            ConnectionEnd::PeerClosed
        }
        Outcome::Error(_) => ConnectionEnd::LocalClose,
    }
}

/// The session's class, close code and detail.
fn describe(o: &Outcome) -> (SessionClass, Option<u16>, Option<String>) {
    match o {
        Outcome::ClientClose { acknowledged } => (
            SessionClass::ClientClose,
            None,
            (!acknowledged).then(|| "our close 1000 was not answered by the server".into()),
        ),
        Outcome::Closed(frame) => {
            let code = frame.as_ref().map(|f| u16::from(f.code));
            let reason = frame
                .as_ref()
                .map(|f| f.reason.to_string())
                .filter(|r| !r.is_empty());
            (SessionClass::of_close_code(code), code, reason)
        }
        Outcome::Error(e) => (error_class(e), None, Some(error_detail(e))),
    }
}

/// A read or write error: the connection gone without a close frame (1006), or a protocol
/// violation.
fn error_class(e: &WsError) -> SessionClass {
    match e {
        WsError::Io(_)
        | WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            SessionClass::Abnormal1006
        }
        _ => SessionClass::ProtocolError,
    }
}

fn error_detail(e: &WsError) -> String {
    match e {
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        | WsError::ConnectionClosed => "the connection closed without a close frame (EOF)".into(),
        _ => error_chain(e),
    }
}

fn lost_reason(o: &Outcome) -> String {
    match describe(o) {
        (_, Some(code), _) => format!("the server closed the session ({code}) before the reply"),
        (SessionClass::ClientClose, _, _) => "the session closed before the reply".into(),
        (class, _, detail) => format!(
            "the session ended ({class}: {}) before the reply",
            detail.unwrap_or_default()
        ),
    }
}

/// Emits the session's message records.
struct Recorder<'a> {
    ctx: &'a Ctx,
    conn: ConnId,
    identity: Option<std::sync::Arc<str>>,
}

impl Recorder<'_> {
    fn emit(&self, p: &Pending, end: At, class: OutcomeClass, error: Option<String>) {
        self.ctx.sh.finish_request();
        self.ctx.sh.record(RequestRecord {
            seq: p.seq,
            due: p.due,
            sent: p.sent,
            end,
            class,
            status: None,
            conn: Some(ConnId {
                reused: p.reused,
                ..self.conn
            }),
            dialed: None,
            error,
            identity: self.identity.clone(),
            template: 0,
            checks_failed: 0,
            version: None,
            excerpt: None,
        });
    }

    /// Sends the next due message, or records it dropped (in-flight cap) or not sent (it
    /// waited past its timeout for this session to open).
    async fn send_next(
        &self,
        c: &mut Client,
        tx: &mut Tx,
        pending: &mut VecDeque<Pending>,
        tally: &mut Tally,
    ) -> Result<(), WsError> {
        let ctx = self.ctx;
        let n = c.next;
        let due = c.due(ctx, n);
        c.next += 1;
        c.due_count += 1;
        ctx.sh.live.due.fetch_add(1, Ordering::Relaxed);
        let seq = c.seq(n);
        let now = ctx.sh.now();
        if now >= due.plus(ctx.sh.timeout) {
            ctx.sh.record(not_sent(seq, due, due.plus(ctx.sh.timeout)));
            return Ok(());
        }
        if ctx.sh.in_flight.get() >= ctx.spec.max_in_flight {
            ctx.sh.record(ctx.sh.dropped(seq, due, 0));
            return Ok(());
        }
        let text = c.text(ctx, n);
        let payload = Bytes::from(text.clone());
        ctx.sh.start_request();
        pending.push_back(Pending {
            seq,
            due,
            sent: now,
            payload,
            reused: tally.sent > 0,
            timed_out: false,
        });
        tally.sent += 1;
        tally.first_sent.get_or_insert(now);
        tally.last_sent = Some(now);
        tx.send(Message::text(text)).await
    }

    /// Sends again what the client's last session left unanswered (still in flight: counted
    /// when first sent), before anything else.
    async fn resend(
        &self,
        c: &mut Client,
        tx: &mut Tx,
        pending: &mut VecDeque<Pending>,
        tally: &mut Tally,
    ) -> Result<(), WsError> {
        for m in std::mem::take(&mut c.carry) {
            let text = c.text(self.ctx, m.n);
            pending.push_back(Pending {
                seq: c.seq(m.n),
                due: m.due,
                sent: self.ctx.sh.now(),
                payload: Bytes::from(text.clone()),
                reused: tally.sent > 0,
                timed_out: false,
            });
            tally.sent += 1;
            let now = self.ctx.sh.now();
            tally.first_sent.get_or_insert(now);
            tally.last_sent = Some(now);
            tx.send(Message::text(text)).await?;
        }
        Ok(())
    }

    /// Pairs a reply with the oldest unanswered message and judges it.
    fn reply(&self, pending: &mut VecDeque<Pending>, tally: &mut Tally, reply: &[u8]) {
        let Some(p) = pending.pop_front() else {
            return; // a message the server pushed on its own: not an answer
        };
        if p.timed_out {
            return; // already recorded; its late reply keeps the pairing in order
        }
        let end = self.ctx.sh.now();
        let timeout = self.ctx.sh.timeout;
        if end > p.sent.plus(timeout) {
            // In past its timeout, read before tokio's 1 ms timer fired: still a timeout, so
            // no reply is recorded slower than the timeout.
            self.emit(
                &p,
                end,
                OutcomeClass::WsMessageTimeout,
                Some(format!("no reply within {timeout:?}")),
            );
            return;
        }
        let expect = &self.ctx.spec.expect;
        if expect.matches(&p.payload, reply) {
            tally.answered += 1;
            tally.per_second.add(p.due.second());
            self.emit(&p, end, OutcomeClass::Ok, None);
        } else {
            let shown = String::from_utf8_lossy(&reply[..reply.len().min(120)]).into_owned();
            self.emit(
                &p,
                end,
                OutcomeClass::WsUnexpectedReply,
                Some(format!("expected {}, got `{shown}`", expect.describe())),
            );
        }
    }

    /// Records the oldest message still awaited as timed out.
    fn time_out(&self, pending: &mut VecDeque<Pending>) {
        let now = self.ctx.sh.now();
        let timeout = self.ctx.sh.timeout;
        if let Some(p) = pending
            .iter_mut()
            .find(|p| !p.timed_out && now >= p.sent.plus(timeout))
        {
            p.timed_out = true;
            let p = Pending {
                payload: Bytes::new(),
                ..*p
            };
            self.emit(
                &p,
                now,
                OutcomeClass::WsMessageTimeout,
                Some(format!("no reply within {timeout:?}")),
            );
        }
    }
}
