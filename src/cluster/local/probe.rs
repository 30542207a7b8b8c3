//! Startup and readiness probes with the kubelet's rules: an HTTP GET that passes on a status
//! in 200..400, or a TCP connect; a timeout per attempt; a period between attempts; and
//! consecutive success / failure thresholds before the result flips.
//!
//! This module owns one probe attempt ([`probe_once`]; an HTTP attempt is one GET on hyper's
//! HTTP/1 client connection, the client the crate already has) and the threshold bookkeeping
//! ([`Tracker`], pure). It does not decide what a result means for the pod, record events, or
//! schedule attempts: the pod's lifecycle task does that.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What a probe does.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeAction {
    /// `httpGet` on this path: passes on a status in 200..400.
    Http { path: String },
    /// `tcpSocket`: passes when the connect completes.
    Tcp,
}

/// One probe as a pod spec states it. Defaults are Kubernetes' own.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProbeSpec {
    pub action: ProbeAction,
    /// `initialDelaySeconds` (default 0).
    pub initial_delay: Duration,
    /// `periodSeconds` (default 10 s).
    pub period: Duration,
    /// `timeoutSeconds` (default 1 s).
    pub timeout: Duration,
    /// `successThreshold` (default 1; must be 1 for a startup probe).
    pub success_threshold: u32,
    /// `failureThreshold` (default 3).
    pub failure_threshold: u32,
}

impl ProbeSpec {
    /// A probe with Kubernetes' default timing.
    pub fn new(action: ProbeAction) -> ProbeSpec {
        ProbeSpec {
            action,
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: 1,
            failure_threshold: 3,
        }
    }

    /// "http GET /ready" or "tcp", for messages.
    pub fn describe(&self) -> String {
        match &self.action {
            ProbeAction::Http { path } => format!("http GET {path}"),
            ProbeAction::Tcp => "tcp".to_string(),
        }
    }
}

/// Consecutive-result bookkeeping: the result only flips after `success_threshold`
/// consecutive successes or `failure_threshold` consecutive failures. It starts failed, as a
/// container is not ready until its probe has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracker {
    success_threshold: u32,
    failure_threshold: u32,
    passing: bool,
    successes: u32,
    failures: u32,
}

/// What one observation did to the probe's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The result did not change.
    None,
    /// It now passes.
    Passed,
    /// It now fails (the failure threshold was reached).
    Failed,
}

impl Tracker {
    pub fn new(spec: &ProbeSpec) -> Tracker {
        Tracker {
            success_threshold: spec.success_threshold.max(1),
            failure_threshold: spec.failure_threshold.max(1),
            passing: false,
            successes: 0,
            failures: 0,
        }
    }

    pub fn passing(&self) -> bool {
        self.passing
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn observe(&mut self, ok: bool) -> Transition {
        if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if !self.passing && self.successes >= self.success_threshold {
                self.passing = true;
                return Transition::Passed;
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.passing && self.failures >= self.failure_threshold {
                self.passing = false;
                return Transition::Failed;
            }
        }
        Transition::None
    }

    /// The failure threshold has been reached (for a startup probe: the container has failed).
    pub fn exhausted(&self) -> bool {
        self.failures >= self.failure_threshold
    }
}

/// One probe attempt against `addr`, bounded by the probe's timeout. `Err` says why it failed.
pub async fn probe_once(
    action: &ProbeAction,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, attempt(action, addr)).await {
        Ok(r) => r,
        Err(_) => Err(format!("timed out after {timeout:?}")),
    }
}

async fn attempt(action: &ProbeAction, addr: SocketAddr) -> Result<(), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let path = match action {
        ProbeAction::Tcp => return Ok(()),
        ProbeAction::Http { path } => path,
    };
    let status = get_status(stream, addr, path).await?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("GET {path} returned {status}"))
    }
}

/// One GET on `stream` with hyper's HTTP/1 client connection; the status of its response.
/// Only the head is read: dropping the connection at the end closes it, body unread.
async fn get_status(stream: TcpStream, addr: SocketAddr, path: &str) -> Result<u16, String> {
    let failed = |e: &dyn std::fmt::Display| format!("GET {path}: {e}");
    // The kubelet sends a plain GET with its own user agent and does not reuse connections.
    let request = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::USER_AGENT, "kube-probe/zerodrop")
        .header(http::header::ACCEPT, "*/*")
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| failed(&e))?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(&e))?;
    // The connection is driven here, not on a task of its own, so nothing outlives the attempt
    // (or its timeout).
    let mut conn = std::pin::pin!(conn);
    let mut response = std::pin::pin!(sender.send_request(request));
    let response = tokio::select! {
        biased;
        r = &mut response => r,
        // The connection ended: the response it read (or its error) is waiting already.
        _ = &mut conn => response.await,
    };
    response
        .map(|r| r.status().as_u16())
        .map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn spec(success: u32, failure: u32) -> ProbeSpec {
        ProbeSpec {
            success_threshold: success,
            failure_threshold: failure,
            ..ProbeSpec::new(ProbeAction::Tcp)
        }
    }

    #[test]
    fn a_probe_starts_failed_and_passes_after_the_success_threshold() {
        let mut t = Tracker::new(&spec(2, 3));
        assert!(!t.passing());
        assert_eq!(t.observe(true), Transition::None);
        assert_eq!(t.observe(true), Transition::Passed);
        assert!(t.passing());
    }

    #[test]
    fn a_passing_probe_fails_only_after_consecutive_failures() {
        let mut t = Tracker::new(&spec(1, 3));
        assert_eq!(t.observe(true), Transition::Passed);
        assert_eq!(t.observe(false), Transition::None);
        assert_eq!(t.observe(false), Transition::None);
        // A success in between resets the count.
        assert_eq!(t.observe(true), Transition::None);
        assert_eq!(t.observe(false), Transition::None);
        assert_eq!(t.observe(false), Transition::None);
        assert_eq!(t.observe(false), Transition::Failed);
        assert!(!t.passing());
    }

    #[test]
    fn a_startup_probe_is_exhausted_at_its_failure_threshold() {
        let mut t = Tracker::new(&spec(1, 2));
        t.observe(false);
        assert!(!t.exhausted());
        t.observe(false);
        assert!(t.exhausted());
    }

    /// An HTTP probe of `/ready` against a server that answers its first connection with
    /// `response` as raw bytes and holds the connection open until the probe has ended; an
    /// empty `response` closes the connection without answering.
    async fn probe_answered_with(response: String, timeout: Duration) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            if response.is_empty() {
                return None;
            }
            let _ = s.write_all(response.as_bytes()).await;
            Some(s)
        });
        let action = ProbeAction::Http {
            path: "/ready".into(),
        };
        let r = probe_once(&action, addr, timeout).await;
        server.abort();
        let _ = server.await;
        r
    }

    #[tokio::test]
    async fn status_lines_of_http_1_0_and_1_1_are_read_and_garbage_fails() {
        let wait = Duration::from_secs(5);
        let ok = probe_answered_with("HTTP/1.1 204 No Content\r\n\r\n".into(), wait).await;
        assert_eq!(ok, Ok(()));
        let r = probe_answered_with("HTTP/1.0 503 x\r\n\r\n".into(), wait).await;
        assert!(
            r.as_ref().is_err_and(|e| e == "GET /ready returned 503"),
            "{r:?}"
        );
        let r = probe_answered_with("garbage\r\n\r\n".into(), wait).await;
        assert!(
            r.as_ref().is_err_and(|e| e.starts_with("GET /ready: ")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn an_http_probe_passes_on_2xx_and_3xx_and_fails_otherwise() {
        for (status, ok) in [(200, true), (302, true), (404, false), (503, false)] {
            let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
            let r = probe_answered_with(resp, Duration::from_secs(5)).await;
            assert_eq!(r.is_ok(), ok, "status {status}: {r:?}");
        }
    }

    #[tokio::test]
    async fn an_http_probe_passes_on_its_status_whatever_the_body() {
        // The status decides; a body that never ends must not hold the probe to its timeout.
        let resp = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n";
        let r = probe_answered_with(resp.into(), Duration::from_secs(5)).await;
        assert_eq!(r, Ok(()));
    }

    #[tokio::test]
    async fn a_connection_closed_before_a_response_fails_the_probe() {
        let r = probe_answered_with(String::new(), Duration::from_secs(5)).await;
        assert!(
            r.as_ref().is_err_and(|e| e.starts_with("GET /ready: ")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn a_probe_with_no_answer_fails_at_its_timeout() {
        // Accepted by the kernel's backlog, never answered.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let action = ProbeAction::Http {
            path: "/ready".into(),
        };
        let r = probe_once(&action, addr, Duration::from_millis(200)).await;
        assert_eq!(r, Err("timed out after 200ms".to_string()));
        drop(listener);
    }

    #[tokio::test]
    async fn a_probe_of_a_closed_port_fails_with_the_reason() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let r = probe_once(&ProbeAction::Tcp, addr, Duration::from_secs(5)).await;
        assert!(r.is_err_and(|e| e.contains("connect")));
    }
}
