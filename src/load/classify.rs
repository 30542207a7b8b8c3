//! Transport errors mapped onto the outcome taxonomy ([`OutcomeClass`]), beside the clients
//! that raise them: this is the only place that looks at hyper, h2, rustls and io error types.
//! gRPC calls are classed here too, from h2's error and what their connection had seen.
//! Classification looks only at the error chain and the stage the request was in.

use super::sniff::Seen;
use crate::model::grpc::GrpcClass;
use crate::model::outcome::OutcomeClass;

/// How far a request got before it ended; classification depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Resolve,
    Connect,
    Tls,
    /// The request was (being) written or its response awaited / read.
    Exchange,
}

/// Classifies a transport error by its chain and the stage it happened in.
///
/// The chain is walked from the outermost error inward; the innermost `io::Error` kind decides
/// between reset and refused, hyper's "incomplete message" (a FIN before any response) means
/// `closed_before_response`, and an HTTP/2 `REFUSED_STREAM` or graceful GOAWAY is treated the
/// same way because the server never processed the request.
pub fn classify(stage: Stage, err: &(dyn std::error::Error + 'static)) -> OutcomeClass {
    use std::io::ErrorKind;
    let mut io_kind = None;
    let mut incomplete = false;
    let mut h2_refused = false;
    let mut tls = false;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                tls = true;
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() {
                incomplete = true;
            }
            if h.is_timeout() {
                io_kind = Some(ErrorKind::TimedOut);
            }
        }
        if e.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            // The server never processed the stream: refused, or cut off by a GOAWAY.
            h2_refused |= h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                || (h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR));
        }
        cur = e.source();
    }
    match stage {
        Stage::Resolve => OutcomeClass::Dns,
        Stage::Tls if tls || io_kind.is_none() => OutcomeClass::Tls,
        Stage::Connect => match io_kind {
            Some(ErrorKind::ConnectionRefused) => OutcomeClass::ConnectRefused,
            Some(ErrorKind::TimedOut) => OutcomeClass::ConnectTimeout,
            Some(ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                OutcomeClass::ConnectionReset
            }
            _ => OutcomeClass::Other,
        },
        Stage::Tls | Stage::Exchange => {
            if tls {
                return OutcomeClass::Tls;
            }
            match io_kind {
                Some(
                    ErrorKind::ConnectionReset
                    | ErrorKind::BrokenPipe
                    | ErrorKind::ConnectionAborted,
                ) => OutcomeClass::ConnectionReset,
                Some(ErrorKind::TimedOut) => OutcomeClass::RequestTimeout,
                _ if incomplete || h2_refused => OutcomeClass::ClosedBeforeResponse,
                Some(ErrorKind::UnexpectedEof) => OutcomeClass::ClosedBeforeResponse,
                _ => OutcomeClass::Other,
            }
        }
    }
}

/// Classifies a failed gRPC stream by what h2 reported and what its connection had seen
/// (`seen`: GOAWAY, reset, close), returning the class and the error in words. `stream` is the
/// stream's id when it was opened.
///
/// h2 reports `RST_STREAM` as a reset with its reason, and a GOAWAY only to streams above its
/// last-stream-id (never processed: graceful). A stream the GOAWAY promised to finish that
/// then fails saw its connection cut under it: abrupt. With no GOAWAY, a reset or a close of
/// the connection is all there is to say.
pub fn grpc_stream_failure(
    e: &h2::Error,
    seen: &Seen,
    stream: Option<u32>,
) -> (OutcomeClass, String) {
    let on = stream.map_or_else(String::new, |s| format!(" (stream {s})"));
    if e.is_reset() && e.is_remote() {
        let reason = e.reason().unwrap_or(h2::Reason::INTERNAL_ERROR);
        let class = if reason == h2::Reason::REFUSED_STREAM {
            GrpcClass::RefusedStream
        } else {
            GrpcClass::StreamReset
        };
        let words = format!("the server reset the stream{on} with {reason:?}");
        return (OutcomeClass::Grpc(class), words);
    }
    if e.is_go_away() && e.is_remote() {
        let g = seen.goaway();
        let words = match g {
            Some(g) => format!(
                "GOAWAY (last-stream-id {}, {}) before this stream{on}: never processed",
                g.last_stream_id,
                g.code_name()
            ),
            None => format!("GOAWAY before this stream{on}: never processed"),
        };
        return (OutcomeClass::Grpc(GrpcClass::GoawayGraceful), words);
    }
    if e.is_go_away() || e.is_reset() {
        // Our own h2 found the server breaking the protocol.
        return (OutcomeClass::Other, format!("HTTP/2 protocol error: {e}"));
    }
    if classify(Stage::Exchange, e) == OutcomeClass::Tls {
        return (OutcomeClass::Tls, error_chain(e));
    }
    connection_cut(e, seen, &on)
}

/// A connection that failed while we started HTTP/2 on it: cut with or without GOAWAY.
pub fn grpc_dial_failure(e: &h2::Error, seen: &Seen) -> (OutcomeClass, String) {
    if classify(Stage::Exchange, e) == OutcomeClass::Tls {
        return (OutcomeClass::Tls, error_chain(e));
    }
    connection_cut(e, seen, " (starting HTTP/2)")
}

/// The stream's connection ended under it: after a GOAWAY (abrupt) or with none (reset or
/// closed).
fn connection_cut(e: &h2::Error, seen: &Seen, on: &str) -> (OutcomeClass, String) {
    use std::io::ErrorKind;
    let chain = error_chain(e);
    if let Some(g) = seen.goaway() {
        let words = format!(
            "the connection ended{on} after GOAWAY (last-stream-id {}, {}) had promised to \
             finish this stream: {chain}",
            g.last_stream_id,
            g.code_name()
        );
        return (OutcomeClass::Grpc(GrpcClass::GoawayAbrupt), words);
    }
    let io_reset = e.get_io().is_some_and(|io| {
        matches!(
            io.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
        )
    });
    if seen.reset() || io_reset {
        let words = format!("the connection was reset{on} with no GOAWAY: {chain}");
        (OutcomeClass::Grpc(GrpcClass::ResetWithoutGoaway), words)
    } else {
        let words = format!("the connection was closed{on} with no GOAWAY: {chain}");
        (OutcomeClass::Grpc(GrpcClass::ClosedWithoutGoaway), words)
    }
}

/// The error chain as one line: "outer: inner: innermost".
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn refused_connect_is_connect_refused() {
        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(Stage::Connect, &e), OutcomeClass::ConnectRefused);
    }

    #[test]
    fn reset_during_exchange_is_connection_reset() {
        let e = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify(Stage::Exchange, &e), OutcomeClass::ConnectionReset);
    }

    #[test]
    fn reset_during_connect_is_connection_reset_not_refused() {
        let e = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify(Stage::Connect, &e), OutcomeClass::ConnectionReset);
    }

    #[test]
    fn resolve_failures_are_dns() {
        let e = io::Error::other("no such host");
        assert_eq!(classify(Stage::Resolve, &e), OutcomeClass::Dns);
    }

    #[test]
    fn error_chain_joins_sources() {
        #[derive(Debug)]
        struct Outer(io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("request failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        ));
        assert_eq!(error_chain(&e), "request failed: connection reset by peer");
    }
}
