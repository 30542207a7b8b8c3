//! Every WebSocket outcome produced by a real server over real sockets and classified exactly:
//! the Node ecosystem's `ws` server (tests/fixtures/ws/server.js) closing a session with 1000,
//! 1001, 1012 or 1011, destroying its socket without a close frame (1006), going silent,
//! closing while messages are in flight; replies judged by --expect; a refused connect; and a
//! client that reconnects. Each run is `zerodrop load --ws` bounded to 2 sessions for 1–2 s.
//! One echo server is ours, in-process: a reply timed to a fraction of a millisecond past the
//! timeout needs sleeps Node's timers cannot give.
//!
//! Needs node and the fixture's `ws` package (.ci/run installs both): without them these tests
//! fail under CI and print a SKIP line elsewhere (see `support/tool.rs`).

use std::time::{Duration, Instant};

use zerodrop::model::outcome::OutcomeClass;
use zerodrop::model::session::SessionClass;
use zerodrop::result::RunResult;

#[path = "support/tool.rs"]
mod tool;
mod ws_support;

use ws_support::{NodeWs, load};

fn classes(r: &RunResult) -> Vec<SessionClass> {
    r.recorded.sessions.log.iter().map(|s| s.class).collect()
}

#[test]
fn a_server_close_is_classified_by_its_code_and_only_goodbyes_pass() {
    let Some(node) = tool::require_node_ws() else {
        return;
    };
    let server = NodeWs::start(&node, "exit");
    let dir = tempfile::tempdir().expect("tempdir");
    for (code, class, exit) in [
        (1000, SessionClass::Close1000, 0),
        (1001, SessionClass::Close1001, 0),
        (1012, SessionClass::Close1012, 0),
        (1011, SessionClass::CloseOther, 1),
    ] {
        let url = server.url(&format!("?close_after=3&code={code}"));
        let (rc, r, text) = load(dir.path(), &url, "1s", &[]);
        assert_eq!(classes(&r), [class, class], "{code}:\n{text}");
        for s in &r.recorded.sessions.log {
            assert_eq!(s.code, Some(code), "{s:?}");
            assert_eq!((s.sent, s.answered, s.lost), (3, 3, 0), "{s:?}");
            assert!(s.opened.is_some_and(|o| o <= s.ended), "{s:?}");
        }
        assert_eq!(rc, exit, "close {code}:\n{text}");
        assert_eq!(r.recorded.overall.counts.get(OutcomeClass::Ok), 6, "{text}");
    }
}

#[test]
fn a_socket_destroyed_without_a_close_frame_is_1006() {
    let Some(node) = tool::require_node_ws() else {
        return;
    };
    let server = NodeWs::start(&node, "exit");
    let dir = tempfile::tempdir().expect("tempdir");
    let (rc, r, text) = load(dir.path(), &server.url("?drop_after=3"), "1s", &[]);
    assert_eq!(classes(&r), [SessionClass::Abnormal1006; 2], "{text}");
    for s in &r.recorded.sessions.log {
        assert_eq!(s.code, None, "{s:?}");
        assert!(s.detail.as_deref().is_some_and(|d| !d.is_empty()), "{s:?}");
    }
    assert_eq!(rc, 1, "{text}");
    let check = r.verdict.sessions.as_ref().expect("session check");
    assert_eq!((check.dropped, check.failed_outside_baseline), (2, 2));
    assert!(text.contains("abnormal_1006"), "{text}");
}

#[test]
fn sessions_zerodrop_closes_at_the_end_are_client_close_with_every_message_answered() {
    let Some(node) = tool::require_node_ws() else {
        return;
    };
    let server = NodeWs::start(&node, "exit");
    let dir = tempfile::tempdir().expect("tempdir");
    let (rc, r, text) = load(dir.path(), &server.url(""), "1s", &[]);
    assert_eq!(rc, 0, "{text}");
    assert_eq!(classes(&r), [SessionClass::ClientClose; 2], "{text}");
    for s in &r.recorded.sessions.log {
        // The server answered our close: no detail saying otherwise.
        assert_eq!(s.detail, None, "{s:?}");
        assert!(s.sent > 0 && s.answered == s.sent && s.lost == 0, "{s:?}");
        assert_eq!(s.per_second.counts.iter().sum::<u32>(), s.answered, "{s:?}");
    }
    let c = &r.recorded.overall.counts;
    assert_eq!(c.failed(), 0, "{text}");
    assert_eq!(
        c.ok(),
        u64::from(r.recorded.sessions.log.iter().map(|s| s.sent).sum::<u32>())
    );
}

#[test]
fn messages_in_flight_at_a_close_are_lost_and_unanswered_ones_time_out() {
    let Some(node) = tool::require_node_ws() else {
        return;
    };
    let server = NodeWs::start(&node, "exit");
    let dir = tempfile::tempdir().expect("tempdir");
    // Silent after 2 messages, then close 1001 at 600 ms: the messages sent meanwhile are lost.
    let url = server.url("?silent_after=2&close_in_ms=600&code=1001");
    let (rc, r, text) = load(dir.path(), &url, "1s", &["--timeout", "5s"]);
    assert_eq!(classes(&r), [SessionClass::Close1001; 2], "{text}");
    let c = &r.recorded.overall.counts;
    assert!(c.get(OutcomeClass::WsMessageLost) >= 2, "{text}");
    assert_eq!(c.get(OutcomeClass::WsMessageTimeout), 0, "{text}");
    for s in &r.recorded.sessions.log {
        assert_eq!(s.answered, 2, "{s:?}");
        assert_eq!(s.sent, s.answered + s.lost, "{s:?}");
    }
    assert_eq!(rc, 1, "messages were lost:\n{text}");
    assert!(text.contains("ws_message_lost"), "{text}");

    // Silent with a short timeout: the unanswered messages time out on an open session.
    let (rc, r, text) = load(
        dir.path(),
        &server.url("?silent_after=2"),
        "1s",
        &["--timeout", "200ms"],
    );
    assert_eq!(classes(&r), [SessionClass::ClientClose; 2], "{text}");
    assert!(
        r.recorded
            .overall
            .counts
            .get(OutcomeClass::WsMessageTimeout)
            >= 2,
        "{text}"
    );
    assert_eq!(
        r.recorded.overall.counts.get(OutcomeClass::WsMessageLost),
        0,
        "{text}"
    );
    assert_eq!(rc, 1, "{text}");
}

#[test]
fn replies_are_judged_by_expect_as_a_json_pointer_or_a_substring() {
    let Some(node) = tool::require_node_ws() else {
        return;
    };
    let server = NodeWs::start(&node, "exit");
    let dir = tempfile::tempdir().expect("tempdir");
    // The echo of {"client":…,"seq":…} has /seq and contains "client" but no /type.
    let (rc, r, text) = load(
        dir.path(),
        &server.url(""),
        "1s",
        &["--expect", "/type=pong"],
    );
    let c = &r.recorded.overall.counts;
    assert!(
        c.get(OutcomeClass::WsUnexpectedReply) > 0 && c.ok() == 0,
        "{text}"
    );
    assert_eq!(rc, 1, "{text}");
    let failure = r.recorded.failures.first().expect("logged");
    assert!(
        failure
            .error
            .as_deref()
            .is_some_and(|e| e.contains("/type")),
        "{failure:?}"
    );
    for expect in ["/seq", "client"] {
        let (rc, r, text) = load(dir.path(), &server.url(""), "1s", &["--expect", expect]);
        assert_eq!(rc, 0, "{expect}:\n{text}");
        assert!(r.recorded.overall.counts.ok() > 0, "{text}");
    }
}

#[test]
fn a_refused_connect_is_a_failed_handshake_with_its_cause() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (rc, r, text) = load(dir.path(), &url, "1s", &[]);
    assert_eq!(classes(&r), [SessionClass::HandshakeFailed; 2], "{text}");
    for s in &r.recorded.sessions.log {
        assert_eq!(s.handshake, Some(OutcomeClass::ConnectRefused), "{s:?}");
        assert!(
            s.opened.is_none() && s.conn.is_none() && s.dialed.is_some(),
            "{s:?}"
        );
    }
    assert_eq!(rc, 1, "{text}");
}

#[test]
fn a_reconnecting_client_opens_a_new_session_after_each_close_and_loses_nothing() {
    let Some(node) = tool::require_node_ws() else {
        return;
    };
    let server = NodeWs::start(&node, "exit");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = server.url("?close_after=5&code=1012");
    let (rc, r, text) = load(
        dir.path(),
        &url,
        "2s",
        &["--reconnect", "--reconnect-delay", "100ms"],
    );
    assert_eq!(rc, 0, "{text}");
    let s = &r.recorded.sessions;
    assert!(s.reconnects >= 2, "{text}");
    assert!(s.counts.get(SessionClass::Close1012) >= 2, "{text}");
    for rec in s.log.iter().filter(|x| x.attempt > 0) {
        let prev = rec
            .previous_end
            .expect("a reconnect knows the previous end");
        assert!(rec.opened.is_some_and(|o| o >= prev), "{rec:?}");
        assert!(rec.reconnect_time().is_some(), "{rec:?}");
    }
    // Messages due while reconnecting went out on the next session: none lost.
    assert_eq!(
        r.verdict.sessions.as_ref().map(|c| c.messages_lost),
        Some(0),
        "{text}"
    );
    assert!(text.contains("reconnected"), "{text}");
}

/// Answers each upgrade `upgrade` after it read the request, then echoes every text message
/// `reply` after it arrived (a thread per session; std's sleep is exact to tens of
/// microseconds, which Node's timers are not).
fn slow_echo(upgrade: Duration, reply: Duration) -> String {
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    use tokio_tungstenite::tungstenite::{Message, accept_hdr};
    fn wait(d: Duration) {
        let at = Instant::now() + d;
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                // tungstenite's callback type fixes the error type.
                #[allow(clippy::result_large_err)]
                let delayed = |_: &Request, r: Response| {
                    wait(upgrade);
                    Ok(r)
                };
                let Ok(mut ws) = accept_hdr(s, delayed) else {
                    return;
                };
                while let Ok(m) = ws.read() {
                    if let Message::Text(t) = m {
                        wait(reply);
                        if ws.send(Message::Text(t)).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("ws://{addr}/")
}

#[test]
fn a_reply_a_fraction_of_a_millisecond_past_the_timeout_is_a_message_timeout() {
    // Each reply leaves 50.05 ms after its message arrived: past a 50 ms timeout by less than
    // tokio's 1 ms timer granularity, so some are read before the timer fires (4 to 8 of 38
    // were recorded as replies before this was judged by when they came in). Judged by
    // when it came in, every message timed out; none is a reply slower than the timeout.
    let url = slow_echo(Duration::ZERO, Duration::from_micros(50_050));
    let dir = tempfile::tempdir().expect("tempdir");
    let (rc, r, text) = load(dir.path(), &url, "1s", &["--timeout", "50ms"]);
    let c = &r.recorded.overall.counts;
    assert!(c.get(OutcomeClass::WsMessageTimeout) >= 30, "{text}");
    assert_eq!(c.get(OutcomeClass::Ok), 0, "{text}");
    assert_eq!(rc, 1, "{text}");
}

#[test]
fn an_upgrade_answered_a_fraction_of_a_millisecond_past_the_timeout_is_a_failed_handshake() {
    // Twenty sessions, each upgrade answered 50.05 ms after the server read it: past a 50 ms
    // timeout by less than tokio's timer granularity. Judged by when the answer came in, no
    // session opened.
    let url = slow_echo(Duration::from_micros(50_050), Duration::ZERO);
    let dir = tempfile::tempdir().expect("tempdir");
    let args = [
        "load",
        "--quiet",
        "--ws",
        &url,
        "--sessions",
        "20",
        "--message-rate",
        "1",
        "--duration",
        "1s",
        "--timeout",
        "50ms",
    ];
    let (rc, r, text) = ws_support::zerodrop(dir.path(), &args);
    assert_eq!(classes(&r), [SessionClass::HandshakeFailed; 20], "{text}");
    for s in &r.recorded.sessions.log {
        assert_eq!(s.handshake, Some(OutcomeClass::RequestTimeout), "{s:?}");
    }
    assert_eq!(rc, 1, "{text}");
}
