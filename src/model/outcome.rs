//! The outcome taxonomy: every class a request can end in, and the connection identity every
//! outcome carries.
//!
//! Telling failure classes apart is how causes are found, so nothing here lumps them together:
//! a refused connect, a reset, a keep-alive connection closed as the request went out, and a
//! timeout are different classes. How transport errors map onto these classes is the load
//! engine's business (`load::classify`), beside the clients that raise them.
//!
//! Long-lived protocols add their own classes beside the HTTP ones, never folded into them:
//! WebSocket messages' as variants here, gRPC calls' in [`super::grpc`], one variant here.
//! Classes are counted in arrays indexed by [`OutcomeClass::index`]: the HTTP classes keep
//! their places, WebSocket's come next, then gRPC's.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::grpc::GrpcClass;

/// One class of the taxonomy. `DroppedByGenerator` is not something the target did: it counts
/// requests that were due while the in-flight cap was reached and were therefore never sent.
/// Serialised as its [`name`](OutcomeClass::name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutcomeClass {
    /// A 2xx response, or any status the plan accepts.
    Ok,
    /// A 4xx response the plan does not accept (exact code kept beside the class).
    Http4xx,
    /// A 5xx response the plan does not accept (exact code kept beside the class).
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
    /// How a gRPC call ended (grpc-status, refused or reset stream, GOAWAY, cut connection,
    /// our deadline).
    Grpc(GrpcClass),
}

impl OutcomeClass {
    /// The classes of HTTP requests (and of the transport every protocol shares), a failed
    /// response check among them.
    pub const HTTP: [OutcomeClass; 13] = [
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
    ];

    /// The classes of WebSocket messages.
    pub const WS: [OutcomeClass; 4] = [
        OutcomeClass::WsMessageLost,
        OutcomeClass::WsMessageTimeout,
        OutcomeClass::WsUnexpectedReply,
        OutcomeClass::WsNotSent,
    ];

    pub const COUNT: usize = Self::HTTP.len() + Self::WS.len() + GrpcClass::COUNT;

    /// Every class, in index order: the HTTP classes, WebSocket's, then gRPC's.
    pub const ALL: [OutcomeClass; Self::COUNT] = {
        let mut out = [OutcomeClass::Ok; Self::COUNT];
        let mut i = 0;
        while i < Self::HTTP.len() {
            out[i] = Self::HTTP[i];
            i += 1;
        }
        let mut w = 0;
        while w < Self::WS.len() {
            out[i] = Self::WS[w];
            i += 1;
            w += 1;
        }
        let mut j = 0;
        while j < GrpcClass::COUNT {
            out[i + j] = OutcomeClass::Grpc(GrpcClass::ALL[j]);
            j += 1;
        }
        out
    };

    /// Position in [`OutcomeClass::ALL`]: where its count is kept.
    #[inline]
    pub fn index(self) -> usize {
        match self {
            OutcomeClass::Ok => 0,
            OutcomeClass::Http4xx => 1,
            OutcomeClass::Http5xx => 2,
            OutcomeClass::ConnectRefused => 3,
            OutcomeClass::ConnectTimeout => 4,
            OutcomeClass::ConnectionReset => 5,
            OutcomeClass::ClosedBeforeResponse => 6,
            OutcomeClass::RequestTimeout => 7,
            OutcomeClass::Dns => 8,
            OutcomeClass::Tls => 9,
            OutcomeClass::Other => 10,
            OutcomeClass::CheckFailed => 11,
            OutcomeClass::DroppedByGenerator => 12,
            OutcomeClass::WsMessageLost => 13,
            OutcomeClass::WsMessageTimeout => 14,
            OutcomeClass::WsUnexpectedReply => 15,
            OutcomeClass::WsNotSent => 16,
            OutcomeClass::Grpc(g) => Self::HTTP.len() + Self::WS.len() + g.index(),
        }
    }

    /// A class of the HTTP taxonomy (shared by every protocol's transport), as opposed to one
    /// a long-lived protocol adds.
    pub fn is_http(self) -> bool {
        self.index() < Self::HTTP.len()
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
            OutcomeClass::Grpc(g) => g.name(),
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

    /// The request reached the target and got an answer (of any status): an HTTP response, a
    /// gRPC status the server sent, a WebSocket reply. A cut connection, a timeout or a drop
    /// has no answer, and its time to fail is no response time.
    pub fn got_response(self) -> bool {
        matches!(
            self,
            OutcomeClass::Ok
                | OutcomeClass::Http4xx
                | OutcomeClass::Http5xx
                | OutcomeClass::CheckFailed
                | OutcomeClass::WsUnexpectedReply
                | OutcomeClass::Grpc(GrpcClass::Status(_))
        )
    }
}

impl Serialize for OutcomeClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for OutcomeClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        OutcomeClass::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown outcome class `{name}`")))
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
    fn every_class_sits_at_its_index_and_http_classes_keep_their_places() {
        for (i, c) in OutcomeClass::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i, "{c:?}");
        }
        // Saved results and every array of counts rely on these places.
        assert_eq!(OutcomeClass::Ok.index(), 0);
        assert_eq!(OutcomeClass::CheckFailed.index(), 11);
        assert_eq!(OutcomeClass::DroppedByGenerator.index(), 12);
        assert_eq!(OutcomeClass::WsNotSent.index(), 16);
        assert!(OutcomeClass::HTTP.iter().all(|c| c.is_http()));
        assert!(!OutcomeClass::Grpc(GrpcClass::GoawayGraceful).is_http());
        assert!(!OutcomeClass::WsNotSent.is_http());
    }

    #[test]
    fn class_names_are_unique() {
        let names: std::collections::BTreeSet<&str> =
            OutcomeClass::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), OutcomeClass::COUNT);
    }

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
