//! Transport errors mapped onto the outcome taxonomy ([`OutcomeClass`]), beside the clients
//! that raise them: this is the only place that looks at hyper, h2, rustls and io error types.
//! Classification looks only at the error chain and the stage the request was in.

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
