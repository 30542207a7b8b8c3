//! A few requests, each on a connection of its own, whose response headers are kept whole:
//! how a run finds out, before its load starts, whether the app names the pod that answered
//! (a hostname echo, `X-Served-By`). Through a Service each new connection lands on a pod of
//! its own choosing, so a handful of them see several pods. The load itself then reads only
//! the header found: nothing is added to its per-request path.
//!
//! The request is the run's own (method, path, headers, body: the template the caller gives),
//! sent the way the engine sends it: the same dialling, TLS and HTTP version.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::engine::{EngineError, LoadSpec};
use super::state::RunState;
use crate::model::clock::RunClock;
use crate::model::connection::ConnectionLife;
use crate::model::request::{LiveStats, RequestRecord, Sink};

/// The response headers of one answered request, names lower-cased, in order.
pub type Headers = Vec<(String, String)>;

/// Records nothing: sampled requests are not part of the run.
struct Nowhere;

impl Sink for Nowhere {
    fn record(&mut self, _: &RequestRecord) {}
    fn connection(&mut self, _: &ConnectionLife) {}
}

/// What a sample sent and what came back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sampled {
    /// Requests sent (each on a new connection): they reached the service, so the run says so.
    pub sent: usize,
    /// The headers of those answered.
    pub answered: Vec<Headers>,
}

/// Sends up to `count` requests one after another, each on a new connection, within `budget`,
/// and keeps the headers of those answered within `spec.timeout`. Must run inside a
/// `LocalSet`. Requests that fail are left out: sampling never fails a run.
pub async fn response_headers(
    spec: &LoadSpec,
    count: usize,
    budget: Duration,
) -> Result<Sampled, EngineError> {
    let deadline = tokio::time::Instant::now() + budget;
    let sink: Rc<RefCell<dyn Sink>> = Rc::new(RefCell::new(Nowhere));
    let sh = RunState::setup(
        spec,
        RunClock::start(),
        sink,
        Arc::new(LiveStats::default()),
    )
    .await?;
    let mut out = Sampled::default();
    for _ in 0..count {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        out.sent += 1;
        if let Ok(Some(h)) = tokio::time::timeout(spec.timeout.min(left), one(&sh)).await {
            out.answered.push(h);
        }
    }
    Ok(out)
}

/// One request on a new connection; `None` if it got no answer.
async fn one(sh: &RunState) -> Option<Headers> {
    let (_, opened) = sh.open().await.ok()?;
    let io = TokioIo::new(opened.io);
    let mut req = sh.template(0).h2_request();
    let resp = if opened.h2 {
        let (mut sender, driver) = http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Full<Bytes>>(io)
            .await
            .ok()?;
        tokio::task::spawn_local(driver);
        sender.send_request(req).await.ok()?
    } else {
        // HTTP/1 sends the origin form and a Host header.
        let authority = req.uri().authority()?.to_string();
        let origin = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        *req.uri_mut() = origin.parse().ok()?;
        req.headers_mut()
            .entry(http::header::HOST)
            .or_insert(authority.parse().ok()?);
        let (mut sender, driver) = http1::handshake::<_, Full<Bytes>>(io).await.ok()?;
        tokio::task::spawn_local(driver);
        sender.send_request(req).await.ok()?
    };
    Some(
        resp.headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
    )
}

/// [`response_headers`] on a thread and runtime of its own (its HTTP/2 drivers are local
/// tasks), for callers on any runtime; the whole sample gets at most `budget`.
pub fn response_headers_blocking(
    spec: LoadSpec,
    count: usize,
    budget: Duration,
) -> Result<Sampled, EngineError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EngineError::Runtime(e.to_string()))?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, response_headers(&spec, count, budget))
}
