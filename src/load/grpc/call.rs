//! One unary call: a stream on a pooled connection, its response read to the trailers, and its
//! outcome — the grpc-status by name, or how the stream or its connection ended.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use http::{HeaderMap, HeaderName};

use super::Template;
use super::conn::{Conn, Slot, pick};
use crate::load::classify::grpc_stream_failure;
use crate::load::request::{Exchange, within};
use crate::load::state::RunState;
use crate::model::clock::At;
use crate::model::grpc::{GrpcClass, GrpcCode};
use crate::model::outcome::OutcomeClass;

/// One gRPC call, recorded with the connection it rode on. Returns false if it found no
/// connection (its failure is recorded).
pub(crate) async fn call(
    sh: Rc<RunState>,
    slots: Rc<[Slot]>,
    template: Rc<Template>,
    seq: u64,
    due: At,
) -> bool {
    let started = sh.now();
    let c = match pick(&sh, &slots, seq).await {
        Ok(c) => c,
        Err(e) => {
            sh.end_without_connection(seq, due, started, 0, e);
            return false;
        }
    };
    let sent = sh.now();
    let reused = c.shared.take_turn(sent);
    let ex = exchange(&template, &c, sh.timeout).await;
    c.shared.end(&sh, (seq, due, sent, 0), reused, ex);
    true
}

/// Why a call did not get a response it could judge.
enum Fail {
    /// The stream or the connection failed.
    H2(h2::Error),
    /// The response was an answer, but not a valid gRPC one.
    Answer(Exchange),
}

/// Sends the call and reads its response within our deadline.
async fn exchange(t: &Template, c: &Conn, timeout: Duration) -> Exchange {
    let stream = Cell::new(None);
    let fut = async {
        let mut sender = c.sender.clone();
        futures::future::poll_fn(|cx| sender.poll_ready(cx))
            .await
            .map_err(Fail::H2)?;
        let (response, mut body) = sender.send_request(t.request(), false).map_err(Fail::H2)?;
        stream.set(Some(response.stream_id().as_u32()));
        body.send_data(t.body(), true).map_err(Fail::H2)?;
        let response = response.await.map_err(Fail::H2)?;
        read(t, response).await
    };
    match within(timeout, fut).await {
        Some(Ok(ex) | Err(Fail::Answer(ex))) => ex,
        Some(Err(Fail::H2(e))) => {
            let (class, error) = grpc_stream_failure(&e, &c.seen, stream.get());
            failed(class, None, error)
        }
        // Dropping the stream resets it (CANCEL), as a gRPC client does at its deadline.
        None => failed(
            OutcomeClass::Grpc(GrpcClass::ClientDeadline),
            None,
            format!("no complete response within our deadline of {timeout:?}"),
        ),
    }
}

fn failed(class: OutcomeClass, status: Option<u16>, error: String) -> Exchange {
    Exchange {
        class,
        status,
        error: Some(error),
        reusable: true,
        ..Exchange::default()
    }
}

/// Reads the response: its head, the message (framing checked, never decoded) and the
/// trailers; the grpc-status decides the class.
async fn read(t: &Template, response: http::Response<h2::RecvStream>) -> Result<Exchange, Fail> {
    let (head, mut body) = response.into_parts();
    let status = head.status.as_u16();
    let get = |h: &Option<HeaderName>| h.as_ref().and_then(|h| head.headers.get(h).cloned());
    let (identity, version) = (get(&t.identity_header), get(&t.version_header));
    let with_identity = |mut ex: Exchange| {
        ex.identity = identity.clone();
        ex.version = version.clone();
        ex
    };
    // A Trailers-Only response puts the status in the head.
    if head.headers.contains_key("grpc-status") {
        return Ok(with_identity(judge(&head.headers, status, None)));
    }
    if status != 200 {
        let code = GrpcCode::from_http(status);
        return Err(Fail::Answer(with_identity(failed(
            OutcomeClass::Grpc(GrpcClass::Status(code)),
            Some(status),
            format!(
                "HTTP {status} without grpc-status (a proxy answered?): read as {}",
                code.name()
            ),
        ))));
    }
    let mut framing = Framing::default();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(Fail::H2)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        framing.feed(&chunk);
    }
    let trailers = body.trailers().await.map_err(Fail::H2)?;
    let trailers = trailers.unwrap_or_default();
    Ok(with_identity(judge(&trailers, status, Some(framing))))
}

/// The class of a finished response from its grpc-status (and, for `OK`, its message).
fn judge(fields: &HeaderMap, status: u16, framing: Option<Framing>) -> Exchange {
    let Some(raw) = fields.get("grpc-status") else {
        return failed(
            OutcomeClass::Grpc(GrpcClass::Status(GrpcCode::Internal)),
            Some(status),
            "the response ended without a grpc-status (read as INTERNAL, as gRPC clients do)"
                .into(),
        );
    };
    let number = raw.to_str().ok().and_then(|s| s.trim().parse::<u32>().ok());
    match number.map(GrpcCode::from_status) {
        Some(None) => match framing.map(|f| f.verdict()) {
            Some(Err(why)) => failed(
                OutcomeClass::Grpc(GrpcClass::Status(GrpcCode::Internal)),
                Some(status),
                format!("grpc-status 0 but {why} (read as INTERNAL)"),
            ),
            _ => Exchange {
                class: OutcomeClass::Ok,
                status: Some(status),
                reusable: true,
                ..Exchange::default()
            },
        },
        Some(Some(code)) => {
            let message = fields
                .get("grpc-message")
                .map(|m| percent_decode(m.as_bytes()))
                .unwrap_or_default();
            let sep = if message.is_empty() { "" } else { ": " };
            failed(
                OutcomeClass::Grpc(GrpcClass::Status(code)),
                Some(status),
                format!(
                    "grpc-status {} {}{sep}{message}",
                    code.number(),
                    code.name()
                ),
            )
        }
        None => failed(
            OutcomeClass::Grpc(GrpcClass::Status(GrpcCode::Unknown)),
            Some(status),
            format!("unreadable grpc-status {raw:?} (read as UNKNOWN)"),
        ),
    }
}

/// `grpc-message` is percent-encoded UTF-8.
fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Length-prefixed messages as they arrive in DATA frames: counted and checked, not kept.
#[derive(Default)]
struct Framing {
    prefix: [u8; 5],
    have: usize,
    /// Bytes of the current message still to come.
    remaining: usize,
    messages: u32,
}

impl Framing {
    fn feed(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(b.len());
                self.remaining -= n;
                b = &b[n..];
                continue;
            }
            let n = (5 - self.have).min(b.len());
            self.prefix[self.have..self.have + n].copy_from_slice(&b[..n]);
            self.have += n;
            b = &b[n..];
            if self.have == 5 {
                self.have = 0;
                let p = &self.prefix;
                self.remaining = u32::from_be_bytes([p[1], p[2], p[3], p[4]]) as usize;
                self.messages += 1;
            }
        }
    }

    /// A unary response is exactly one whole message.
    fn verdict(&self) -> Result<(), String> {
        if self.have != 0 || self.remaining != 0 {
            return Err("the response message was cut short".into());
        }
        match self.messages {
            1 => Ok(()),
            0 => Err("no response message".into()),
            n => Err(format!("{n} response messages to a unary call")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn trailers(status: &'static str, message: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", HeaderValue::from_static(status));
        if let Some(m) = message {
            h.insert("grpc-message", HeaderValue::from_static(m));
        }
        h
    }

    fn one_message() -> Framing {
        let mut f = Framing::default();
        f.feed(&[0, 0, 0, 0, 2]);
        f.feed(&[8, 1]);
        f
    }

    #[test]
    fn status_zero_with_one_message_is_ok() {
        let ex = judge(&trailers("0", None), 200, Some(one_message()));
        assert_eq!(ex.class, OutcomeClass::Ok);
    }

    #[test]
    fn a_status_is_classed_by_name_with_its_decoded_message() {
        let ex = judge(
            &trailers("14", Some("shutting%20down")),
            200,
            Some(Framing::default()),
        );
        assert_eq!(
            ex.class,
            OutcomeClass::Grpc(GrpcClass::Status(GrpcCode::Unavailable))
        );
        assert_eq!(
            ex.error.as_deref(),
            Some("grpc-status 14 UNAVAILABLE: shutting down")
        );
    }

    #[test]
    fn ok_without_a_whole_message_is_internal() {
        let mut cut = Framing::default();
        cut.feed(&[0, 0, 0, 0, 9, 1]);
        for f in [Framing::default(), cut] {
            let ex = judge(&trailers("0", None), 200, Some(f));
            assert_eq!(
                ex.class,
                OutcomeClass::Grpc(GrpcClass::Status(GrpcCode::Internal))
            );
        }
    }

    #[test]
    fn no_status_at_all_is_internal_and_garbage_is_unknown() {
        let ex = judge(&HeaderMap::new(), 200, Some(one_message()));
        assert_eq!(
            ex.class,
            OutcomeClass::Grpc(GrpcClass::Status(GrpcCode::Internal))
        );
        let ex = judge(&trailers("x", None), 200, None);
        assert_eq!(
            ex.class,
            OutcomeClass::Grpc(GrpcClass::Status(GrpcCode::Unknown))
        );
    }
}
