//! One request on one established connection: the request's parts built once ([`Template`]),
//! and [`exchange`], which sends it, reads the whole response within the timeout and
//! classifies the outcome. Knows nothing of pools, schedules or records.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt as _, Full};

use super::conn::Sender;
use super::engine::{EngineError, RequestSpec};
use super::outcome::{OutcomeClass, Stage, StatusSet, classify, error_chain};

/// The parts of every request, built once.
pub(super) struct Template {
    method: Method,
    origin_uri: Uri,
    absolute_uri: Uri,
    h1_headers: HeaderMap,
    h2_headers: HeaderMap,
    body: Bytes,
    pub(super) accept: StatusSet,
    identity_header: Option<HeaderName>,
}

impl Template {
    pub(super) fn new(spec: &RequestSpec, keepalive: bool) -> Result<Template, EngineError> {
        let bad = || EngineError::BadUrl(spec.url.to_string());
        let authority = spec.url.authority().ok_or_else(bad)?.clone();
        let origin_uri: Uri = spec
            .url
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|_| bad())?;
        let mut h1_headers = spec.headers.clone();
        if !h1_headers.contains_key(http::header::HOST) {
            let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?;
            h1_headers.insert(http::header::HOST, host);
        }
        if !keepalive {
            h1_headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        let mut h2_headers = spec.headers.clone();
        h2_headers.remove(http::header::CONNECTION);
        Ok(Template {
            method: spec.method.clone(),
            origin_uri,
            absolute_uri: spec.url.clone(),
            h1_headers,
            h2_headers,
            body: spec.body.clone(),
            accept: spec.accept.clone(),
            identity_header: spec.identity_header.clone(),
        })
    }

    #[inline]
    fn build(&self, h2: bool) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        if h2 {
            *req.uri_mut() = self.absolute_uri.clone();
            *req.headers_mut() = self.h2_headers.clone();
        } else {
            *req.uri_mut() = self.origin_uri.clone();
            *req.headers_mut() = self.h1_headers.clone();
        }
        req
    }
}

/// The result of one exchange on an established connection.
pub(super) struct Exchange {
    pub(super) class: OutcomeClass,
    pub(super) status: Option<u16>,
    pub(super) error: Option<String>,
    /// The identity header's value in this response, if present.
    pub(super) identity: Option<HeaderValue>,
    /// The connection may carry another request.
    pub(super) reusable: bool,
}

/// Sends one request on `sender` and reads its whole response, within `timeout`.
pub(super) async fn exchange(
    t: &Template,
    sender: &mut Sender,
    timeout: Duration,
    keepalive: bool,
) -> Exchange {
    let fut = async {
        let resp = match sender {
            Sender::H1(s) => {
                if let Err(e) = s.ready().await {
                    return Err((classify(Stage::Exchange, &e), error_chain(&e)));
                }
                s.send_request(t.build(false)).await
            }
            Sender::H2(s) => {
                if let Err(e) = s.ready().await {
                    return Err((classify(Stage::Exchange, &e), error_chain(&e)));
                }
                s.send_request(t.build(true)).await
            }
        };
        let resp = resp.map_err(|e| (classify(Stage::Exchange, &e), error_chain(&e)))?;
        let status = resp.status().as_u16();
        let identity = t
            .identity_header
            .as_ref()
            .and_then(|h| resp.headers().get(h).cloned());
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            if let Err(e) = frame {
                let class = match classify(Stage::Exchange, &e) {
                    // The head arrived: this was not a close before the response.
                    OutcomeClass::ClosedBeforeResponse => OutcomeClass::Other,
                    c => c,
                };
                return Err((
                    class,
                    format!("response body cut short: {}", error_chain(&e)),
                ));
            }
        }
        Ok((status, identity))
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok((status, identity))) => {
            let class = t.accept.classify(status);
            Exchange {
                class,
                status: Some(status),
                error: (class == OutcomeClass::Other)
                    .then(|| format!("unexpected status {status}")),
                identity,
                reusable: keepalive,
            }
        }
        Ok(Err((class, error))) => Exchange {
            class,
            status: None,
            error: Some(error),
            identity: None,
            reusable: false,
        },
        Err(_) => Exchange {
            class: OutcomeClass::RequestTimeout,
            status: None,
            error: Some(format!("no complete response within {timeout:?}")),
            identity: None,
            reusable: false,
        },
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
