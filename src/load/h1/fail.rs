//! Why an HTTP/1 exchange failed, and what each failure is called: its outcome class, its
//! error text, and how it ended the connection.

use super::super::classify::{Stage, classify, error_chain};
use crate::model::connection::ConnectionEnd;
use crate::model::outcome::OutcomeClass;

/// Why an exchange failed, before classification.
#[derive(Debug)]
pub(super) enum Fail {
    /// Writing the request failed.
    Write(std::io::Error),
    /// Reading the response failed after `got` bytes of it.
    Read { error: std::io::Error, got: usize },
    /// The peer closed the connection (FIN) before any byte of the response.
    ClosedBeforeResponse,
    /// The peer closed the connection after `got` bytes, before the response was complete.
    Cut { got: usize, during_body: bool },
    /// The response was not valid HTTP/1.
    Protocol(String),
}

/// How a failed exchange ended its connection.
pub(super) fn ending_of(fail: &Fail) -> ConnectionEnd {
    match fail {
        Fail::ClosedBeforeResponse | Fail::Cut { .. } => ConnectionEnd::PeerClosed,
        Fail::Read { error, .. } | Fail::Write(error) if is_reset(error) => {
            ConnectionEnd::PeerReset
        }
        Fail::Read { .. } => ConnectionEnd::PeerClosed,
        // A write fails on a connection the peer has closed (EPIPE after its FIN and our RST).
        Fail::Write(_) => ConnectionEnd::PeerClosed,
        Fail::Protocol(_) => ConnectionEnd::LocalClose,
    }
}

/// The peer reset the connection (an RST, however the OS words it).
pub(super) fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
    )
}

/// The outcome class and error text of a failure.
pub(super) fn describe(fail: Fail) -> (OutcomeClass, String) {
    match fail {
        Fail::Write(e) => (
            classify(Stage::Exchange, &e),
            format!("writing the request: {}", error_chain(&e)),
        ),
        Fail::Read { error, got } => {
            let class = match classify(Stage::Exchange, &error) {
                OutcomeClass::ClosedBeforeResponse if got > 0 => OutcomeClass::Other,
                c => c,
            };
            (
                class,
                format!(
                    "reading the response after {got} bytes: {}",
                    error_chain(&error)
                ),
            )
        }
        Fail::ClosedBeforeResponse => (
            OutcomeClass::ClosedBeforeResponse,
            "the server closed the connection (FIN) before any byte of the response".into(),
        ),
        Fail::Cut { got, during_body } => (
            OutcomeClass::Other,
            format!(
                "response cut short: the server closed the connection after {got} bytes, in the {}",
                if during_body { "body" } else { "head" }
            ),
        ),
        Fail::Protocol(m) => (OutcomeClass::Other, m),
    }
}
