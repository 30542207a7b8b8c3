//! The outcome taxonomy of PRODUCT.md, and the connection identity every outcome carries.
//!
//! Telling failure classes apart is how causes are found, so nothing here lumps them together:
//! a refused connect, a reset, a keep-alive connection closed as the request went out, and a
//! timeout are different classes. Classification of transport errors into these classes lives
//! in [`classify`]; it looks only at the error chain and the phase the request was in.

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
    /// Due while the in-flight cap was reached: never sent, counted, never delayed.
    DroppedByGenerator,
}

impl OutcomeClass {
    pub const ALL: [OutcomeClass; 12] = [
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
        OutcomeClass::DroppedByGenerator,
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
            OutcomeClass::DroppedByGenerator => "dropped_by_generator",
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

    /// The request reached the target and got an answer (of any status).
    pub fn got_response(self) -> bool {
        matches!(
            self,
            OutcomeClass::Ok | OutcomeClass::Http4xx | OutcomeClass::Http5xx
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

/// An address we tried to reach when there is no established connection (connect failures).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialTarget {
    pub peer: SocketAddr,
}

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
    fn every_class_round_trips_through_its_name() {
        for c in OutcomeClass::ALL {
            assert_eq!(OutcomeClass::from_name(c.name()), Some(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.name())
            );
        }
    }

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

/// The statuses a plan accepts as `ok` (`--accept-status 200-299,404`), as inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSet(pub Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![(200, 299)])
    }
}

impl StatusSet {
    #[inline]
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }

    /// The class of a response with this status.
    #[inline]
    pub fn classify(&self, status: u16) -> OutcomeClass {
        if self.contains(status) {
            OutcomeClass::Ok
        } else if (400..500).contains(&status) {
            OutcomeClass::Http4xx
        } else if (500..600).contains(&status) {
            OutcomeClass::Http5xx
        } else {
            OutcomeClass::Other
        }
    }
}

impl std::fmt::Display for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}
