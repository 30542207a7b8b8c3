//! `--ws` and its flags: a valid plan aims the engine at sessions; every problem is reported at
//! once, naming the flag or the scenario file's line and key; nothing given is ignored.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::config::{FlowFlags, OutputFlags, PlanError, TrafficFlags};
use crate::load::Mode;

fn ws(url: &str) -> TrafficFlags {
    TrafficFlags {
        ws: WsFlags {
            ws: Some(url.into()),
            ..WsFlags::default()
        },
        ..TrafficFlags::default()
    }
}

fn build(kind: PlanKind, t: &TrafficFlags) -> Result<Plan, PlanError> {
    let flow = FlowFlags::default();
    let flow = (kind != PlanKind::Load).then_some(&flow);
    Plan::build(kind, t, flow, &OutputFlags::default())
}

fn places(e: &PlanError) -> Vec<String> {
    e.problems.iter().map(|p| p.place.clone()).collect()
}

#[test]
fn a_load_with_sessions_aims_the_engine_at_them() {
    let mut t = ws("ws://127.0.0.1:9/chat?room=1");
    t.duration = Some("3s".into());
    t.ws.sessions = Some("4".into());
    t.ws.message_rate = Some("5".into());
    t.ws.reconnect = true;
    let p = build(PlanKind::Load, &t).expect("valid");
    assert_eq!(p.target.as_deref(), Some("http://127.0.0.1:9/chat?room=1"));
    assert_eq!(
        p.traffic.pattern,
        Pattern::Rate {
            rate: 20.0,
            duration_s: Some(3.0)
        }
    );
    let spec = p.load_spec(None).expect("spec");
    let Mode::Sessions(s) = spec.mode else {
        panic!("not sessions: {:?}", spec.mode);
    };
    assert_eq!(s.arrival, crate::load::ws::Arrival::Held { sessions: 4 });
    assert_eq!(s.duration, Some(Duration::from_secs(3)));
    let b = s.reconnect.expect("reconnect");
    assert_eq!((b.initial, b.attempts), (DEFAULT_RECONNECT_DELAY, 10));
    assert_eq!(s.expect, Expect::Echo);
}

#[test]
fn every_problem_with_ws_flags_is_reported_at_once() {
    let mut t = ws("http://127.0.0.1:9/");
    t.rate = Some("10".into());
    t.http2 = true;
    t.ws.session_rate = Some("2".into());
    t.ws.sessions = Some("0".into());
    t.ws.expect = Some("".into());
    t.ws.reconnect_delay = Some("1s".into());
    let e = build(PlanKind::Load, &t).expect_err("invalid");
    let got = places(&e);
    for want in [
        "--ws",
        "--rate",
        "--http2",
        "--sessions",
        "--session-rate",
        "--session-duration",
        "--expect",
        "--reconnect-delay",
        "--duration",
    ] {
        assert!(got.iter().any(|p| p == want), "{want} missing from {e}");
    }
}

#[test]
fn websocket_settings_without_ws_are_refused_not_ignored() {
    let mut t = TrafficFlags {
        target: Some("http://127.0.0.1:9/".into()),
        rate: Some("10".into()),
        duration: Some("1s".into()),
        ..TrafficFlags::default()
    };
    t.ws.sessions = Some("3".into());
    t.ws.reconnect = true;
    let e = build(PlanKind::Load, &t).expect_err("invalid");
    assert_eq!(places(&e), ["--sessions", "--reconnect"], "{e}");
    assert!(e.to_string().contains("needs --ws"), "{e}");
}

#[test]
fn local_takes_a_path_and_load_a_whole_url() {
    let e = build(PlanKind::Local, &ws("ws://127.0.0.1:9/ws")).expect_err("local URL");
    assert!(e.to_string().contains("give the path only"), "{e}");
    let p = build(PlanKind::Local, &ws("/ws")).expect("local path");
    assert_eq!(p.request.shape.path.as_deref(), Some("/ws"));
    assert_eq!(p.traffic.pattern.peak_rate(), Some(100.0));
    let mut t = ws("/ws");
    t.duration = Some("1s".into());
    let e = build(PlanKind::Load, &t).expect_err("load path");
    assert!(e.to_string().contains("whole URL"), "{e}");
}

#[test]
fn arriving_sessions_need_their_lifetime_and_the_backoff_must_grow() {
    let mut t = ws("ws://127.0.0.1:9/");
    t.duration = Some("5s".into());
    t.ws.session_rate = Some("2".into());
    t.ws.session_duration = Some("10s".into());
    t.ws.message_rate = Some("4".into());
    let p = build(PlanKind::Load, &t).expect("valid");
    // 2 arriving per second × 10 s each: 20 sessions at the steady state, 4 messages/s each.
    assert_eq!(p.traffic.pattern.peak_rate(), Some(80.0));
    t.ws.reconnect = true;
    t.ws.reconnect_delay = Some("5s".into());
    t.ws.reconnect_max_delay = Some("1s".into());
    let e = build(PlanKind::Load, &t).expect_err("max below first");
    assert_eq!(places(&e), ["--reconnect-max-delay"], "{e}");
}

#[test]
fn the_scenario_websocket_section_is_read_and_its_problems_named_by_line() {
    let mut f = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("tmp");
    f.write_all(
        b"duration: 2s\nwebsocket:\n  url: ws://127.0.0.1:9/ws\n  sessions: 0\n  expect: /type=pong\n",
    )
    .expect("write");
    let t = TrafficFlags {
        scenario: Some(PathBuf::from(f.path())),
        ..TrafficFlags::default()
    };
    let e = build(PlanKind::Load, &t).expect_err("sessions 0");
    assert_eq!(e.problems.len(), 1, "{e}");
    assert!(
        e.problems[0].place.contains("line 4 (websocket.sessions)"),
        "{e}"
    );
    // A flag overrides the file's value.
    let mut t = t;
    t.ws.sessions = Some("2".into());
    let p = build(PlanKind::Load, &t).expect("valid");
    let w = p.ws.expect("ws plan");
    assert_eq!((w.sessions, w.expect.as_str()), (Some(2), "/type=pong"));
}

#[test]
fn an_unknown_key_in_the_websocket_section_is_an_error() {
    let mut f = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("tmp");
    f.write_all(b"websocket:\n  url: ws://127.0.0.1:9/ws\n  sesions: 3\n")
        .expect("write");
    let t = TrafficFlags {
        scenario: Some(PathBuf::from(f.path())),
        ..TrafficFlags::default()
    };
    let e = build(PlanKind::Load, &t).expect_err("typo");
    assert!(e.to_string().contains("sesions"), "{e}");
}

#[test]
fn a_request_mix_and_its_settings_beside_ws_are_refused_naming_each() {
    let mut f = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("tmp");
    f.write_all(
        b"duration: 2s\nseed: 3\nrequests:\n  - name: a\n    path: /a\nwebsocket:\n  url: ws://127.0.0.1:9/ws\n",
    )
    .expect("write");
    let mut t = TrafficFlags {
        scenario: Some(PathBuf::from(f.path())),
        ..TrafficFlags::default()
    };
    t.max_body = Some("1KiB".into());
    t.version_header = Some("x-version".into());
    let e = build(PlanKind::Load, &t).expect_err("a mix beside --ws");
    let got = places(&e);
    for want in ["line 4 (requests)", "line 2 (seed)"] {
        assert!(got.iter().any(|p| p.contains(want)), "{want} missing: {e}");
    }
    for want in ["--max-body", "--version-header"] {
        assert!(got.iter().any(|p| p == want), "{want} missing: {e}");
    }
    assert!(e.to_string().contains("HTTP only, not with --ws"), "{e}");
}

#[test]
fn a_send_window_beside_ws_is_refused_naming_it() {
    let mut t = ws("ws://127.0.0.1:9/ws");
    t.duration = Some("1s".into());
    t.send_window = Some("2ms".into());
    let e = build(PlanKind::Load, &t).expect_err("a request dispatcher's window beside --ws");
    assert_eq!(places(&e), ["--send-window"], "{e}");
    assert!(e.to_string().contains("HTTP only, not with --ws"), "{e}");
}
