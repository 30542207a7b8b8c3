//! What each request template looks like, built once ([`Template`]): the HTTP/1.1 bytes to
//! write, the parts of an HTTP/2 request, the statuses it accepts and its response checks; and
//! [`Exchange`], the result of one exchange whatever the protocol. Knows nothing of pools,
//! schedules or records.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;

use super::check::{Body, Checks, HeaderScan, Verdict, excerpt};
use super::engine::{EngineError, RequestSpec};
use super::h1::Wire;
use crate::model::outcome::OutcomeClass;

/// The parts of one request template, built once.
pub(super) struct Template {
    /// The HTTP/1.1 request, serialised.
    pub(super) wire: Wire,
    method: Method,
    absolute_uri: Uri,
    h2_headers: HeaderMap,
    body: Bytes,
    pub(super) accept: StatusSet,
    pub(super) checks: Checks,
}

/// The headers a client watches in every response head: who answered and which version.
#[derive(Clone, Debug, Default)]
pub(super) struct Watched {
    pub(super) identity: Option<HeaderName>,
    pub(super) version: Option<HeaderName>,
}

impl Template {
    /// Builds the templates of a run: every one must go to the same origin (scheme, host and
    /// port) as the first, because they share its connections.
    pub(super) fn all(
        specs: &[RequestSpec],
        keepalive: bool,
    ) -> Result<Box<[Template]>, EngineError> {
        let first = specs
            .first()
            .ok_or_else(|| EngineError::BadUrl("no request template".into()))?;
        specs
            .iter()
            .map(|s| {
                let same = s.url.scheme() == first.url.scheme()
                    && s.url.authority() == first.url.authority();
                if !same {
                    return Err(EngineError::BadUrl(format!(
                        "{} (every template of a mix goes to {})",
                        s.url, first.url
                    )));
                }
                Template::new(s, keepalive)
            })
            .collect()
    }

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
            checks: spec.checks.clone(),
        })
    }

    /// A template that sends `wire` (HTTP/1 only), accepts 2xx and runs `checks`.
    #[cfg(test)]
    pub(super) fn for_test(wire: Wire, checks: Checks) -> Template {
        Template {
            wire,
            method: Method::GET,
            absolute_uri: Uri::from_static("http://example/"),
            h2_headers: HeaderMap::new(),
            body: Bytes::new(),
            accept: StatusSet::default(),
            checks,
        }
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

/// Whether an answer complete at `done` came in past its request's deadline `until`. tokio's
/// timer fires up to a millisecond after a deadline and an exchange is polled before its
/// deadline, so an answer landing in between is read as one; judged by when it was complete it
/// is a timeout, so no response is recorded slower than the timeout.
pub(super) fn past_deadline(done: std::time::Instant, until: tokio::time::Instant) -> bool {
    done > until.into_std()
}

/// `fut`'s output if it completed within `timeout` of now, judged by the instant it completed
/// ([`past_deadline`]); `None` when it timed out.
pub(super) async fn within<F: std::future::Future>(
    timeout: std::time::Duration,
    fut: F,
) -> Option<F::Output> {
    let until = tokio::time::Instant::now() + timeout;
    match tokio::time::timeout_at(until, fut).await {
        Ok(r) if !past_deadline(std::time::Instant::now(), until) => Some(r),
        _ => None,
    }
}

/// The result of one exchange on an established connection.
pub(super) struct Exchange {
    pub(super) class: OutcomeClass,
    pub(super) status: Option<u16>,
    pub(super) error: Option<String>,
    /// The identity and version headers' values in this response, if present (HTTP/2; the
    /// HTTP/1 client keeps them on the connection itself).
    pub(super) identity: Option<HeaderValue>,
    pub(super) version: Option<HeaderValue>,
    /// The connection may carry another request.
    pub(super) reusable: bool,
    /// The template's checks that failed (bits), and the failed response's excerpt.
    pub(super) checks_failed: u64,
    pub(super) excerpt: Option<String>,
}

impl Default for Exchange {
    /// Nothing known yet: `other`, no status, not reusable.
    fn default() -> Exchange {
        Exchange {
            class: OutcomeClass::Other,
            status: None,
            error: None,
            identity: None,
            version: None,
            reusable: false,
            checks_failed: 0,
            excerpt: None,
        }
    }
}

impl Exchange {
    /// A response with `status`: classified by the template's accepted statuses, then by its
    /// checks (a failed check that is not `warn` turns an accepted response into
    /// `check_failed`; an unaccepted status keeps its `http_*` class).
    pub(super) fn response(
        t: &Template,
        status: u16,
        headers: &HeaderScan,
        body: Option<Body<'_>>,
        reusable: bool,
    ) -> Exchange {
        let mut class = t.accept.classify(status);
        let mut error =
            (class == OutcomeClass::Other).then(|| format!("unexpected status {status}"));
        let mut checks_failed = 0;
        let mut excerpt_text = None;
        if !t.checks.is_empty() {
            let Verdict {
                failed,
                fatal,
                message,
            } = t.checks.evaluate(status, headers, body);
            checks_failed = failed;
            if failed != 0 {
                excerpt_text = Some(excerpt(status, body));
                if fatal && class == OutcomeClass::Ok {
                    class = OutcomeClass::CheckFailed;
                }
                if error.is_none() {
                    error = message;
                }
            }
        }
        Exchange {
            class,
            status: Some(status),
            error,
            reusable,
            checks_failed,
            excerpt: excerpt_text,
            ..Exchange::default()
        }
    }

    /// A failed exchange: no (complete) response.
    pub(super) fn failed(class: OutcomeClass, error: String) -> Exchange {
        Exchange {
            class,
            error: Some(error),
            ..Exchange::default()
        }
    }
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
