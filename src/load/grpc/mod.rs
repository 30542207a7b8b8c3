//! gRPC unary calls over HTTP/2, on the h2 crate directly: a fixed pool of long-lived
//! connections, one stream per call, every call's end classified exactly (grpc-status by name,
//! refused or reset stream, GOAWAY graceful or abrupt, a connection cut without GOAWAY, our own
//! deadline) with the connection it rode on.
//!
//! The request message is encoded once at plan time (`config`'s business: JSON through a
//! descriptor), so a call here is: HEADERS with the prebuilt metadata, one DATA frame with the
//! framed message, then the response's HEADERS, DATA and trailers; the response message is
//! checked for framing and counted, never decoded. Nothing is retried: a call refused by a
//! GOAWAY or `REFUSED_STREAM` is recorded as such, where grpc-go (and so ghz and k6) would
//! retry it without a word.
//!
//! Why h2 and not tonic: tonic's client is a tower stack (buffer, reconnect, a codec that
//! encodes per call, a `Streaming` decoder) on top of hyper on top of h2; a load generator
//! needs none of it, and its retries and reconnects would hide exactly what zerodrop measures.
//! The per-call cost of both is in the README. What the server says about each connection
//! (GOAWAY, reset, close) is read off its frames by `load::sniff`.
//!
//! - `conn`: the pool: slots, dialling, which connection a call takes.
//! - `call`: one call and its outcome.
//! - [`reflect`]: server reflection, for a method with no `.proto` at hand.

mod call;
mod conn;
pub mod reflect;

use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};

pub(super) use call::call;
pub(super) use conn::{Slot, close, open};

use super::engine::{EngineError, RequestSpec};

/// A unary gRPC call, the same for every request of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcCall {
    /// `/package.Service/Method`.
    pub path: String,
    /// The request message, protobuf-encoded (not yet framed).
    pub message: Bytes,
}

/// Headers a gRPC request carries that the user may not set: HTTP/2's own, and gRPC's
/// protocol headers, which this client writes.
pub const RESERVED_HEADERS: [&str; 8] = [
    "connection",
    "content-type",
    "te",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "transfer-encoding",
    "upgrade",
];

/// Every call's request, built once: the head (cloned per call, since h2 takes it by value)
/// and the framed message.
pub(super) struct Template {
    head: Request<()>,
    /// The 5-byte gRPC prefix (uncompressed, length) and the message.
    framed: Bytes,
    pub(super) identity_header: Option<HeaderName>,
}

impl Template {
    pub(super) fn new(
        spec: &RequestSpec,
        call: &GrpcCall,
        timeout: Duration,
    ) -> Result<Template, EngineError> {
        let bad = || EngineError::BadUrl(spec.url.to_string());
        let scheme = spec.url.scheme_str().ok_or_else(bad)?;
        let authority = spec.url.authority().ok_or_else(bad)?;
        let uri: Uri = format!("{scheme}://{authority}{}", call.path)
            .parse()
            .map_err(|_| bad())?;
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            if name != http::header::HOST && !RESERVED_HEADERS.contains(&name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        let fixed = [
            (http::header::CONTENT_TYPE, "application/grpc"),
            (http::header::TE, "trailers"),
            (http::header::USER_AGENT, "zerodrop-grpc"),
        ];
        for (name, value) in fixed {
            if !headers.contains_key(&name) {
                headers.insert(name, HeaderValue::from_static(value));
            }
        }
        headers.insert(
            HeaderName::from_static("grpc-timeout"),
            grpc_timeout(timeout),
        );
        let mut head = Request::new(());
        *head.method_mut() = http::Method::POST;
        *head.uri_mut() = uri;
        *head.headers_mut() = headers;
        Ok(Template {
            head,
            framed: frame(&call.message),
            identity_header: spec.identity_header.clone(),
        })
    }

    /// A fresh head for one call.
    pub(super) fn request(&self) -> Request<()> {
        let mut r = Request::new(());
        *r.method_mut() = self.head.method().clone();
        *r.uri_mut() = self.head.uri().clone();
        *r.headers_mut() = self.head.headers().clone();
        r
    }

    pub(super) fn body(&self) -> Bytes {
        self.framed.clone()
    }
}

/// A message with gRPC's length prefix: a compressed flag (0) and a 4-byte big-endian length.
pub fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + message.len());
    b.put_u8(0);
    b.put_u32(message.len() as u32);
    b.put_slice(message);
    b.freeze()
}

/// `grpc-timeout` for our deadline: at most 8 digits and a unit, as the protocol requires.
fn grpc_timeout(d: Duration) -> HeaderValue {
    let ms = d.as_millis();
    let text = if ms < 100_000_000 {
        format!("{}m", ms.max(1))
    } else {
        format!("{}S", d.as_secs().min(99_999_999))
    };
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("99999999S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_framed_with_a_flag_and_a_big_endian_length() {
        assert_eq!(&frame(b"")[..], &[0, 0, 0, 0, 0]);
        assert_eq!(&frame(b"\x0a\x01x")[..], &[0, 0, 0, 0, 3, 0x0a, 1, b'x']);
    }

    #[test]
    fn the_deadline_is_sent_in_milliseconds_or_seconds_within_eight_digits() {
        assert_eq!(grpc_timeout(Duration::from_secs(10)), "10000m");
        assert_eq!(grpc_timeout(Duration::from_micros(10)), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
    }

    #[test]
    fn the_request_carries_the_metadata_but_never_a_reserved_header() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer t"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        let spec = RequestSpec {
            method: http::Method::GET,
            url: "http://10.0.0.1:50051".parse().expect("url"),
            headers,
            body: Bytes::new(),
            accept: Default::default(),
            identity_header: None,
        };
        let call = GrpcCall {
            path: "/grpc.health.v1.Health/Check".into(),
            message: Bytes::new(),
        };
        let t = Template::new(&spec, &call, Duration::from_secs(2)).expect("template");
        let r = t.request();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(
            r.uri().to_string(),
            "http://10.0.0.1:50051/grpc.health.v1.Health/Check"
        );
        assert_eq!(r.headers()["content-type"], "application/grpc");
        assert_eq!(r.headers()["authorization"], "Bearer t");
        assert_eq!(r.headers()["te"], "trailers");
        assert_eq!(r.headers()["grpc-timeout"], "2000m");
    }
}
