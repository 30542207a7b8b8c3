//! The gRPC words of the outcome taxonomy: how a unary call over HTTP/2 can end besides `ok`
//! and the transport failures it shares with HTTP (a refused or timed-out connect, DNS, TLS).
//!
//! A gRPC call rides one stream of a long-lived HTTP/2 connection, so the ways it fails are
//! the stream's and the connection's, and telling them apart is how a rollout's cause is found:
//!
//! - the server answered with a grpc-status other than `OK`: one class per status, by name
//!   (`grpc_unavailable`, `grpc_deadline_exceeded`, …);
//! - the server refused the stream before processing it (`RST_STREAM(REFUSED_STREAM)`, RFC 9113
//!   §8.7: safe to retry even when not idempotent): `refused_stream`;
//! - the stream was reset with any other code: `stream_reset`;
//! - a GOAWAY came and the stream was above its last-stream-id, so the server never processed
//!   it (RFC 9113 §6.8, retryable): `goaway_graceful`; or the stream was one the GOAWAY said the
//!   server would finish, and the connection was cut before it did: `goaway_abrupt`;
//! - the connection was reset (`reset_without_goaway`) or closed (`closed_without_goaway`) with
//!   no GOAWAY at all: nothing says whether the server processed the call;
//! - our own deadline (`--timeout`) passed first: `client_deadline`.
//!
//! gRPC clients (grpc-go, so ghz and k6) retry refused and GOAWAY'd streams without telling
//! anyone; these classes exist so that zerodrop never does.

use serde::{Deserialize, Serialize};

/// A gRPC status code other than `OK` (0), as the gRPC specification numbers and names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GrpcCode {
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl GrpcCode {
    pub const ALL: [GrpcCode; 16] = [
        GrpcCode::Cancelled,
        GrpcCode::Unknown,
        GrpcCode::InvalidArgument,
        GrpcCode::DeadlineExceeded,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::ResourceExhausted,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unimplemented,
        GrpcCode::Internal,
        GrpcCode::Unavailable,
        GrpcCode::DataLoss,
        GrpcCode::Unauthenticated,
    ];

    /// The code for a grpc-status value: `None` for 0 (`OK`); a value the specification does
    /// not define is `UNKNOWN`, as gRPC's own clients read it.
    pub fn from_status(n: u32) -> Option<GrpcCode> {
        match n {
            0 => None,
            1..=16 => Some(Self::ALL[n as usize - 1]),
            _ => Some(GrpcCode::Unknown),
        }
    }

    /// The number on the wire.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The specification's name (`UNAVAILABLE`).
    pub fn name(self) -> &'static str {
        match self {
            GrpcCode::Cancelled => "CANCELLED",
            GrpcCode::Unknown => "UNKNOWN",
            GrpcCode::InvalidArgument => "INVALID_ARGUMENT",
            GrpcCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            GrpcCode::NotFound => "NOT_FOUND",
            GrpcCode::AlreadyExists => "ALREADY_EXISTS",
            GrpcCode::PermissionDenied => "PERMISSION_DENIED",
            GrpcCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            GrpcCode::FailedPrecondition => "FAILED_PRECONDITION",
            GrpcCode::Aborted => "ABORTED",
            GrpcCode::OutOfRange => "OUT_OF_RANGE",
            GrpcCode::Unimplemented => "UNIMPLEMENTED",
            GrpcCode::Internal => "INTERNAL",
            GrpcCode::Unavailable => "UNAVAILABLE",
            GrpcCode::DataLoss => "DATA_LOSS",
            GrpcCode::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The outcome class's name (`grpc_unavailable`).
    pub fn class_name(self) -> &'static str {
        match self {
            GrpcCode::Cancelled => "grpc_cancelled",
            GrpcCode::Unknown => "grpc_unknown",
            GrpcCode::InvalidArgument => "grpc_invalid_argument",
            GrpcCode::DeadlineExceeded => "grpc_deadline_exceeded",
            GrpcCode::NotFound => "grpc_not_found",
            GrpcCode::AlreadyExists => "grpc_already_exists",
            GrpcCode::PermissionDenied => "grpc_permission_denied",
            GrpcCode::ResourceExhausted => "grpc_resource_exhausted",
            GrpcCode::FailedPrecondition => "grpc_failed_precondition",
            GrpcCode::Aborted => "grpc_aborted",
            GrpcCode::OutOfRange => "grpc_out_of_range",
            GrpcCode::Unimplemented => "grpc_unimplemented",
            GrpcCode::Internal => "grpc_internal",
            GrpcCode::Unavailable => "grpc_unavailable",
            GrpcCode::DataLoss => "grpc_data_loss",
            GrpcCode::Unauthenticated => "grpc_unauthenticated",
        }
    }

    /// The code a gRPC client derives from an HTTP status when a response carries no
    /// grpc-status (a proxy or load balancer answered instead of the server), as the gRPC
    /// specification maps them.
    pub fn from_http(status: u16) -> GrpcCode {
        match status {
            400 => GrpcCode::Internal,
            401 => GrpcCode::Unauthenticated,
            403 => GrpcCode::PermissionDenied,
            404 => GrpcCode::Unimplemented,
            429 | 502 | 503 | 504 => GrpcCode::Unavailable,
            _ => GrpcCode::Unknown,
        }
    }
}

/// How a gRPC call ended, when that is neither `ok` nor a transport failure it shares with
/// HTTP. One class of [`OutcomeClass`](super::outcome::OutcomeClass) each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrpcClass {
    /// The server answered with this grpc-status.
    Status(GrpcCode),
    /// `RST_STREAM(REFUSED_STREAM)`: refused before any processing; safe to retry.
    RefusedStream,
    /// `RST_STREAM` with any other code (kept in the error).
    StreamReset,
    /// A GOAWAY whose last-stream-id is below this stream: never processed; retryable.
    GoawayGraceful,
    /// A GOAWAY said the server would finish this stream, then the connection was cut (or the
    /// GOAWAY carried an error code) before it did.
    GoawayAbrupt,
    /// The connection was reset (RST) with no GOAWAY before it.
    ResetWithoutGoaway,
    /// The connection was closed (FIN) with no GOAWAY before it.
    ClosedWithoutGoaway,
    /// Our own deadline (`--timeout`) passed before the call completed.
    ClientDeadline,
}

impl GrpcClass {
    pub const COUNT: usize = GrpcCode::ALL.len() + 7;

    pub const ALL: [GrpcClass; Self::COUNT] = {
        let mut out = [GrpcClass::RefusedStream; Self::COUNT];
        let mut i = 0;
        while i < GrpcCode::ALL.len() {
            out[i] = GrpcClass::Status(GrpcCode::ALL[i]);
            i += 1;
        }
        let rest = [
            GrpcClass::RefusedStream,
            GrpcClass::StreamReset,
            GrpcClass::GoawayGraceful,
            GrpcClass::GoawayAbrupt,
            GrpcClass::ResetWithoutGoaway,
            GrpcClass::ClosedWithoutGoaway,
            GrpcClass::ClientDeadline,
        ];
        let mut j = 0;
        while j < rest.len() {
            out[i + j] = rest[j];
            j += 1;
        }
        out
    };

    /// Position in [`GrpcClass::ALL`].
    pub const fn index(self) -> usize {
        let statuses = GrpcCode::ALL.len();
        match self {
            GrpcClass::Status(code) => code as usize - 1,
            GrpcClass::RefusedStream => statuses,
            GrpcClass::StreamReset => statuses + 1,
            GrpcClass::GoawayGraceful => statuses + 2,
            GrpcClass::GoawayAbrupt => statuses + 3,
            GrpcClass::ResetWithoutGoaway => statuses + 4,
            GrpcClass::ClosedWithoutGoaway => statuses + 5,
            GrpcClass::ClientDeadline => statuses + 6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GrpcClass::Status(code) => code.class_name(),
            GrpcClass::RefusedStream => "refused_stream",
            GrpcClass::StreamReset => "stream_reset",
            GrpcClass::GoawayGraceful => "goaway_graceful",
            GrpcClass::GoawayAbrupt => "goaway_abrupt",
            GrpcClass::ResetWithoutGoaway => "reset_without_goaway",
            GrpcClass::ClosedWithoutGoaway => "closed_without_goaway",
            GrpcClass::ClientDeadline => "client_deadline",
        }
    }

    /// The connection went away under the call with no GOAWAY to say so.
    pub fn cut_without_goaway(self) -> bool {
        matches!(
            self,
            GrpcClass::ResetWithoutGoaway | GrpcClass::ClosedWithoutGoaway
        )
    }

    /// The server provably never processed the call: a client may retry it safely.
    pub fn provably_unprocessed(self) -> bool {
        matches!(self, GrpcClass::RefusedStream | GrpcClass::GoawayGraceful)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_sits_at_its_index() {
        for (i, c) in GrpcClass::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i, "{c:?}");
        }
    }

    #[test]
    fn status_numbers_map_to_their_names_and_unknown_numbers_are_unknown() {
        assert_eq!(GrpcCode::from_status(0), None);
        assert_eq!(GrpcCode::from_status(14), Some(GrpcCode::Unavailable));
        assert_eq!(
            GrpcCode::from_status(4).map(GrpcCode::name),
            Some("DEADLINE_EXCEEDED")
        );
        assert_eq!(GrpcCode::from_status(99), Some(GrpcCode::Unknown));
        for c in GrpcCode::ALL {
            assert_eq!(GrpcCode::from_status(c.number()), Some(c));
            assert_eq!(c.class_name(), format!("grpc_{}", c.name().to_lowercase()));
        }
    }

    #[test]
    fn http_statuses_without_grpc_status_map_as_the_specification_says() {
        assert_eq!(GrpcCode::from_http(503), GrpcCode::Unavailable);
        assert_eq!(GrpcCode::from_http(404), GrpcCode::Unimplemented);
        assert_eq!(GrpcCode::from_http(500), GrpcCode::Unknown);
    }
}
