//! The outcome taxonomy: every class a request can end in, and the connection identity every
//! outcome carries.
//!
//! Telling failure classes apart is how causes are found, so nothing here lumps them together:
//! a refused connect, a reset, a keep-alive connection closed as the request went out, and a
//! timeout are different classes. How transport errors map onto these classes is the load
//! engine's business (`load::classify`), beside the clients that raise them.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// One class of the taxonomy. `DroppedByGenerator` is not something the target did: it counts
/// requests that were due while the in-flight cap was reached and were therefore never sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    /// A 2xx response, or any status the plan accepts.
    Ok,
    /// A 4xx response the plan does not accept (exact code kept beside the class).
    #[serde(rename = "http_4xx")]
    Http4xx,
    /// A 5xx response the plan does not accept (exact code kept beside the class).
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// The connect was refused (nothing listening: RST to the SYN).
    ConnectRefused,
    /// The connect did not complete within the connect timeout.
    ConnectTimeout,
    /// The peer reset the connection (RST) before the response was complete.
    ConnectionReset,
    /// The peer closed the connection (FIN) before any response arrived: on a reused keep-alive
    /// connection, the classic shutdown race.
    ClosedBeforeResponse,
    /// No complete response within the request timeout.
    RequestTimeout,
    /// The target's host name could not be resolved.
    Dns,
    /// The TLS handshake failed.
    Tls,
    /// Anything else, with its error chain (including statuses neither accepted, 4xx nor 5xx).
    Other,
    /// A response with an accepted status that failed one of its template's response checks
    /// (not marked `warn`): the record's `checks_failed` names which, its `error` says why.
    /// Never folded into the `http_*` classes: a wrong body is not a dropped request.
    CheckFailed,
    /// Due while the in-flight cap was reached: never sent, counted, never delayed.
    DroppedByGenerator,

    // ---- WebSocket messages (`--ws`): each message is a record like a request; how its
    // session ended is a `model::session::SessionClass`, never one of these.
    /// A message sent on a session that ended (close frame or drop) before its reply came.
    WsMessageLost,
    /// A message sent on an open session whose reply did not come within the timeout.
    WsMessageTimeout,
    /// A reply that did not match the expectation (the echo, or `--expect`).
    WsUnexpectedReply,
    /// A message due while its client had no open session (reconnecting), never sent: the
    /// session did not come back within the timeout, or before the load ended.
    WsNotSent,
}

impl OutcomeClass {
    pub const ALL: [OutcomeClass; 17] = [
        OutcomeClass::Ok,
        OutcomeClass::Http4xx,
        OutcomeClass::Http5xx,
        OutcomeClass::ConnectRefused,
        OutcomeClass::ConnectTimeout,
        OutcomeClass::ConnectionReset,
        OutcomeClass::ClosedBeforeResponse,
        OutcomeClass::RequestTimeout,
        OutcomeClass::Dns,
        OutcomeClass::Tls,
        OutcomeClass::Other,
        OutcomeClass::CheckFailed,
        OutcomeClass::DroppedByGenerator,
        // WebSocket messages.
        OutcomeClass::WsMessageLost,
        OutcomeClass::WsMessageTimeout,
        OutcomeClass::WsUnexpectedReply,
        OutcomeClass::WsNotSent,
    ];

    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            OutcomeClass::Ok => "ok",
            OutcomeClass::Http4xx => "http_4xx",
            OutcomeClass::Http5xx => "http_5xx",
            OutcomeClass::ConnectRefused => "connect_refused",
            OutcomeClass::ConnectTimeout => "connect_timeout",
            OutcomeClass::ConnectionReset => "connection_reset",
            OutcomeClass::ClosedBeforeResponse => "closed_before_response",
            OutcomeClass::RequestTimeout => "request_timeout",
            OutcomeClass::Dns => "dns",
            OutcomeClass::Tls => "tls",
            OutcomeClass::Other => "other",
            OutcomeClass::CheckFailed => "check_failed",
            OutcomeClass::DroppedByGenerator => "dropped_by_generator",
            // WebSocket messages.
            OutcomeClass::WsMessageLost => "ws_message_lost",
            OutcomeClass::WsMessageTimeout => "ws_message_timeout",
            OutcomeClass::WsUnexpectedReply => "ws_unexpected_reply",
            OutcomeClass::WsNotSent => "ws_not_sent",
        }
    }

    pub fn from_name(name: &str) -> Option<OutcomeClass> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// A failed request: anything but `ok`. Generator drops count as failures of the run
    /// (a request the user asked for did not happen) but are reported apart.
    pub fn is_failure(self) -> bool {
        self != OutcomeClass::Ok
    }

    /// A WebSocket message that never got its answer because its session ended or was down:
    /// what the `messages_lost` threshold counts.
    pub fn is_message_lost(self) -> bool {
        matches!(self, OutcomeClass::WsMessageLost | OutcomeClass::WsNotSent)
    }

    /// The request reached the target and got an answer (of any status).
    pub fn got_response(self) -> bool {
        matches!(
            self,
            OutcomeClass::Ok
                | OutcomeClass::Http4xx
                | OutcomeClass::Http5xx
                | OutcomeClass::CheckFailed
        )
    }
}

impl std::fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which connection a request used: how later analysis attributes it to a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnId {
    /// The engine's own number for this connection (unique within one run).
    pub id: u64,
    /// Our side of the TCP connection; the service proxy sees this as the client address.
    pub local: SocketAddr,
    /// The address we connected to.
    pub peer: SocketAddr,
    /// True if the connection had carried an earlier request (keep-alive reuse).
    pub reused: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_round_trips_through_its_name() {
        for c in OutcomeClass::ALL {
            assert_eq!(OutcomeClass::from_name(c.name()), Some(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.name())
            );
        }
    }
}
