//! What every request looks like, built once ([`Template`]): the HTTP/1.1 bytes to write and
//! the parts of an HTTP/2 request; and [`Exchange`], the result of one exchange whatever the
//! protocol. Knows nothing of pools, schedules or records.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;

use super::engine::{EngineError, RequestSpec};
use super::h1::Wire;
use crate::model::outcome::OutcomeClass;

/// The parts of every request, built once.
pub(super) struct Template {
    /// The HTTP/1.1 request, serialised.
    pub(super) wire: Wire,
    method: Method,
    absolute_uri: Uri,
    h2_headers: HeaderMap,
    body: Bytes,
    pub(super) accept: StatusSet,
    pub(super) identity_header: Option<HeaderName>,
}

impl Template {
    pub(super) fn new(spec: &RequestSpec, keepalive: bool) -> Result<Template, EngineError> {
        let bad = || EngineError::BadUrl(spec.url.to_string());
        let authority = spec.url.authority().ok_or_else(bad)?.clone();
        let origin = spec
            .url
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?;
        let wire = Wire::new(
            &spec.method,
            origin,
            authority.as_str(),
            &spec.headers,
            &spec.body,
            !keepalive,
        );
        let mut h2_headers = spec.headers.clone();
        h2_headers.remove(http::header::CONNECTION);
        h2_headers.remove(http::header::HOST);
        Ok(Template {
            wire,
            method: spec.method.clone(),
            absolute_uri: spec.url.clone(),
            h2_headers,
            body: spec.body.clone(),
            accept: spec.accept.clone(),
            identity_header: spec.identity_header.clone(),
        })
    }

    /// A fresh HTTP/2 request (hyper takes requests by value).
    pub(super) fn h2_request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.absolute_uri.clone();
        *req.headers_mut() = self.h2_headers.clone();
        req
    }
}

/// The result of one exchange on an established connection.
pub(super) struct Exchange {
    pub(super) class: OutcomeClass,
    pub(super) status: Option<u16>,
    pub(super) error: Option<String>,
    /// The identity header's value in this response, if present (HTTP/2; the HTTP/1 client
    /// keeps it on the connection itself).
    pub(super) identity: Option<HeaderValue>,
    /// The connection may carry another request.
    pub(super) reusable: bool,
}

/// Keeps the identity header's value for a connection, allocating only when it changes.
pub(super) fn remember_identity(slot: &mut Option<Arc<str>>, value: Option<HeaderValue>) {
    let Some(v) = value else { return };
    let Ok(s) = v.to_str() else { return };
    if slot.as_deref() != Some(s) {
        *slot = Some(Arc::from(s));
    }
}

/// The statuses a plan accepts as `ok` (`--accept-status 200-299,404`), as inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
