//! A real WebSocket server nobody on this team wrote — Node's `ws` package — rolled by
//! `zerodrop local` in a failing and a clean configuration, and the built-in demo's WebSocket
//! half. The failing server exits on SIGTERM with its sessions open (every session ends 1006);
//! the clean one fails readiness at once, closes every session with 1001 and exits once they
//! closed, behind a preStop sleep, while the clients reconnect with backoff.
//!
//! Needs node and the fixture's `ws` package (.ci/run installs both): without them these tests
//! fail under CI and print a SKIP line elsewhere (see `support/tool.rs`).

use zerodrop::model::session::SessionClass;

mod report_support;
#[path = "support/tool.rs"]
mod tool;
mod ws_support;

/// The result validates against the repository's schema, closed: every field documented.
fn assert_valid(dir: &std::path::Path) {
    let doc = std::fs::read_to_string(dir.join("result.json")).expect("json written");
    let v: serde_json::Value = serde_json::from_str(&doc).expect("json parses");
    let schema: serde_json::Value =
        serde_json::from_str(zerodrop::report::json::SCHEMA).expect("schema parses");
    let validator =
        jsonschema::validator_for(&report_support::closed(&schema)).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "schema violations:\n{}",
        errors.join("\n")
    );
}

fn local_args<'a>(server: &'a str, shutdown: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "local",
        "--quiet",
        "--ws",
        "/ws",
        "--sessions",
        "6",
        "--message-rate",
        "10",
        "--replicas",
        "2",
        "--readiness-path",
        "/ready",
        "--readiness-period",
        "500ms",
        "--baseline",
        "2s",
        "--settle",
        "2s",
        "--progress-deadline",
        "30s",
        "--rollout-timeout",
        "60s",
    ];
    args.extend_from_slice(extra);
    args.extend(["--", "env", shutdown, "node", server, "{port}"]);
    args
}

#[test]
fn a_node_ws_server_that_exits_on_sigterm_drops_its_sessions_and_fails() {
    let Some(_node) = tool::require_node_ws() else {
        return;
    };
    let server = ws_support::fixture_dir().join("server.js");
    let server = server.to_str().expect("utf-8 path");
    let dir = tempfile::tempdir().expect("tempdir");
    let (rc, r, text) = ws_support::zerodrop(dir.path(), &local_args(server, "SHUTDOWN=exit", &[]));
    assert_eq!(rc, 1, "{text}");
    let top = r.analysis.findings.first().expect("a finding");
    assert_eq!(top.id.as_str(), "ws-dropped-without-close", "{text}");
    let s = &r.recorded.sessions;
    // Every first session was on an old replica, and each was dropped as it exited.
    assert_eq!(s.counts.dropped(), 6, "{text}");
    for rec in s
        .log
        .iter()
        .filter(|x| x.class == SessionClass::Abnormal1006)
    {
        let conn = rec.conn.expect("an open session has its connection");
        let route = r
            .timeline
            .route_at(conn.local, rec.opened.expect("opened"))
            .expect("the proxy routed it");
        let term = r
            .timeline
            .first(&route.pod, "pod_terminating")
            .unwrap_or_else(|| panic!("{} dropped a session but never terminated", route.pod));
        assert!(
            term.at <= rec.ended,
            "{rec:?} ended before {} terminated",
            route.pod
        );
    }
    let a = r.analysis.sessions.as_ref().expect("session analysis");
    assert_eq!(a.dropped_at_termination, 6, "{text}");
    assert!(
        text.contains("1001"),
        "the fix names the close code:\n{text}"
    );
}

#[test]
fn a_node_ws_server_closing_with_1001_behind_a_prestop_drops_no_session() {
    let Some(_node) = tool::require_node_ws() else {
        return;
    };
    let server = ws_support::fixture_dir().join("server.js");
    let server = server.to_str().expect("utf-8 path");
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = [
        "--prestop-sleep",
        "1500ms",
        "--reconnect",
        "--reconnect-delay",
        "100ms",
        "--resend",
    ];
    let (rc, r, text) = ws_support::zerodrop(
        dir.path(),
        &local_args(server, "SHUTDOWN=close1001", &extra),
    );
    let s = &r.recorded.sessions;
    assert_eq!(
        s.counts.failed(),
        0,
        "no session dropped or refused:\n{text}"
    );
    assert_eq!(s.counts.get(SessionClass::Close1001), 6, "{text}");
    assert!(
        s.reconnects >= 6,
        "every closed client reconnected:\n{text}"
    );
    assert!(
        r.analysis
            .findings
            .iter()
            .all(|f| f.id.as_str() != "ws-dropped-without-close"),
        "{text}"
    );
    // What a well-behaved client sees: a goodbye, a reconnect within its backoff, messages
    // due meanwhile sent on the new session, and (at-least-once, --resend) a message that
    // crossed the server's close frame on the wire sent again: nothing lost, nothing failed.
    assert_eq!(r.recorded.overall.counts.failed(), 0, "{text}");
    assert_eq!(rc, 0, "{text}");
    assert!(s.reconnect_time.count >= 6, "{text}");
    assert_valid(dir.path());
}

#[test]
fn the_websocket_demo_shows_drops_then_a_clean_rollout() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zerodrop"))
        .args(["demo", "--ws"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("zerodrop runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("finding ws-dropped-without-close"), "{text}");
    assert!(
        text.contains("closed every session with a goodbye"),
        "{text}"
    );
}
