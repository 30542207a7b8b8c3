//! `zerodrop demo --ws`: the WebSocket story with no cluster, in well under a minute. Three
//! replicas of the built-in demo app serve a WebSocket echo endpoint; well-behaved clients
//! (they reconnect with backoff and jitter) hold sessions open and send messages while the
//! replicas are rolled twice: first naively (the process dies on SIGTERM: every session on it
//! is dropped without a close frame, 1006, and reconnections land on the dying replica while
//! the Service still routes to it), then fixed (a preStop sleep longer than the propagation
//! delay, readiness failing at once, close 1001 to every session and a drain), which ends every
//! session with a goodbye. Exit 0 when the demo showed exactly that.
//!
//! Like `demo`, this module only configures the two runs and prints; the runs are `local`'s.

use std::fmt::Write as _;
use std::time::Duration;

use super::demo::{Story, own_exe, tell, verdict_word};
use crate::cluster::local::LocalConfig;
use crate::config::Plan;
use crate::config::ws::{ReconnectPlan, WsPlan, apply};
use crate::load::ws::Expect;
use crate::model::numbers::fmt_us;
use crate::result::RunResult;

/// Sessions held open, and messages per second on each: 600 messages/s in all.
const SESSIONS: u64 = 30;
const MESSAGE_RATE: f64 = 20.0;

/// The demo's plan: the same sessions and phases for both halves; clients reconnect as
/// well-behaved ones do (100 ms first wait, ×1.5, jitter).
pub fn plan() -> Plan {
    let mut plan = super::demo::plan();
    plan.request.shape.path = None;
    apply(
        &mut plan,
        WsPlan {
            url: "/ws".into(),
            sessions: Some(SESSIONS),
            session_rate: None,
            session_duration: None,
            message_rate: MESSAGE_RATE,
            message: crate::config::ws::DEFAULT_MESSAGE.into(),
            expect: "echo".into(),
            expect_rule: Expect::Echo,
            reconnect: Some(ReconnectPlan {
                delay: Duration::from_millis(100),
                max_delay: Duration::from_secs(2),
                attempts: 10,
                resend: true,
            }),
        },
    );
    plan
}

fn describe(title: &str, r: &RunResult) -> String {
    let mut s = String::new();
    let sessions = &r.recorded.sessions;
    let ended: Vec<String> = sessions
        .counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(c, n)| format!("{n} {c}"))
        .collect();
    let c = &r.recorded.overall.counts;
    let _ = writeln!(
        s,
        "{title}: {} sessions ({}); {} of {} messages failed",
        sessions.counts.total(),
        ended.join(", "),
        c.failed(),
        c.sent()
    );
    for f in &r.analysis.findings {
        let _ = writeln!(s, "  finding {}: {}\n    fix: {}", f.id, f.title, f.fix);
    }
    s
}

fn side_by_side(naive: &RunResult, fixed: &RunResult) -> String {
    let mut s = String::new();
    let row = |s: &mut String, what: &str, a: String, b: String| {
        let _ = writeln!(s, "  {what:<32} {a:>14} {b:>14}");
    };
    row(&mut s, "", "naive".into(), "fixed".into());
    let (a, b) = (&naive.recorded.sessions, &fixed.recorded.sessions);
    let count = |r: &RunResult, f: fn(&crate::model::result::SessionCheck) -> u64| {
        r.verdict.sessions.as_ref().map_or(0, f).to_string()
    };
    row(
        &mut s,
        "sessions",
        a.counts.total().to_string(),
        b.counts.total().to_string(),
    );
    row(
        &mut s,
        "dropped without close (1006)",
        a.counts.dropped().to_string(),
        b.counts.dropped().to_string(),
    );
    row(
        &mut s,
        "other failed sessions",
        (a.counts.failed() - a.counts.dropped()).to_string(),
        (b.counts.failed() - b.counts.dropped()).to_string(),
    );
    row(
        &mut s,
        "closed by the server with 1001",
        a.counts
            .get(crate::model::session::SessionClass::Close1001)
            .to_string(),
        b.counts
            .get(crate::model::session::SessionClass::Close1001)
            .to_string(),
    );
    row(
        &mut s,
        "messages lost",
        count(naive, |c| c.messages_lost),
        count(fixed, |c| c.messages_lost),
    );
    row(
        &mut s,
        "reconnections",
        a.reconnects.to_string(),
        b.reconnects.to_string(),
    );
    let reconnect = |x: &crate::record::Sessions| {
        if x.reconnects == 0 {
            "-".to_string()
        } else {
            format!(
                "{}/{}",
                fmt_us(x.reconnect_time.p50_us),
                fmt_us(x.reconnect_time.max_us)
            )
        }
    };
    row(
        &mut s,
        "time to reconnect p50/max",
        reconnect(a),
        reconnect(b),
    );
    row(&mut s, "preStop sleep", "none".into(), "2s".into());
    row(&mut s, "on SIGTERM", "dies".into(), "close 1001".into());
    row(&mut s, "verdict", verdict_word(naive), verdict_word(fixed));
    s
}

/// The demo app's replicas, named for this demo.
fn config(exe: &str, fixed: bool) -> LocalConfig {
    let mut config = super::demo::config(exe, fixed);
    config.name = if fixed { "ws-fixed" } else { "ws-naive" }.into();
    config
}

/// The naive half dropped sessions and the fixed one passed.
fn judge(naive: &RunResult, fixed: &RunResult) -> Result<String, String> {
    let dropped = naive.recorded.sessions.counts.dropped();
    if dropped > 0 && fixed.verdict.passed {
        Ok(format!(
            "The naive rollout dropped {dropped} sessions without a close frame; the fixed one closed every session with a goodbye and lost no message."
        ))
    } else {
        Err("the demo did not show what it should (sessions dropped naively, a clean fixed run); see above".into())
    }
}

pub fn run() -> u8 {
    let exe = match own_exe() {
        Ok(exe) => exe,
        Err(code) => return code,
    };
    let story = Story {
        intro: format!("zerodrop demo --ws: 3 replicas of a demo server with a WebSocket echo endpoint behind a local Service proxy (endpoint changes reach it after 1 s), {SESSIONS} sessions × {MESSAGE_RATE} messages/s, clients reconnecting with backoff and jitter, rolled twice."),
        naive: (
            "1/2 naive: no preStop hook, the server dies on SIGTERM with its sessions open".into(),
            config(&exe, false),
        ),
        fixed: (
            "2/2 fixed: preStop sleep 2s (> the 1 s propagation delay); on SIGTERM readiness fails, every session gets close 1001, then the server drains".into(),
            config(&exe, true),
        ),
        describe,
        side_by_side,
        judge,
    };
    tell(&plan(), story)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::demo::plan_from_flags;
    use crate::config::{TrafficFlags, WsFlags};
    use crate::demo_app::REPLICA_HEADER;

    #[test]
    fn the_ws_demo_plan_is_the_one_its_flags_would_give() {
        let traffic = TrafficFlags {
            pod_header: Some(REPLICA_HEADER.into()),
            ws: WsFlags {
                ws: Some("/ws".into()),
                sessions: Some("30".into()),
                message_rate: Some("20".into()),
                reconnect: true,
                resend: true,
                reconnect_delay: Some("100ms".into()),
                reconnect_max_delay: Some("2s".into()),
                ..WsFlags::default()
            },
            ..TrafficFlags::default()
        };
        let flagged = plan_from_flags(&traffic);
        assert_eq!(plan().masked_json(), flagged.masked_json());
    }
}
