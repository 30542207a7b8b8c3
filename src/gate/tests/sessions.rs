//! The gate on WebSocket sessions: the default check fails on any session that ended without
//! a goodbye outside the baseline, and the session thresholds measure what they name.

use super::*;
use crate::model::session::{PerSecond, SessionClass, SessionRecord};

fn session(client: u64, ended_ms: u64, class: SessionClass) -> SessionRecord {
    SessionRecord {
        client,
        attempt: 0,
        due: At::ZERO,
        opened: Some(At(1_000)),
        ended: At(ended_ms * 1000),
        class,
        code: None,
        detail: None,
        handshake: None,
        status: None,
        conn: None,
        dialed: None,
        identity: None,
        previous_end: None,
        sent: 1,
        answered: 1,
        lost: 0,
        per_second: PerSecond::default(),
    }
}

/// `healthy()` plus these sessions, recorded through the real recorder.
fn with_sessions(sessions: &[SessionRecord]) -> RunResult {
    let mut r = healthy();
    let marks = PhaseMarks::new();
    for p in &r.recorded.phases {
        marks.begin(&p.name, || p.start);
    }
    let mut rec = Recorder::new(
        RecorderConfig {
            failure_log_limit: 100,
            max_open: Duration::from_secs(5),
            ..RecorderConfig::default()
        },
        marks,
        Arc::new(LiveStats::default()),
    );
    for s in sessions {
        rec.session(s);
    }
    r.recorded.sessions = rec.finish(r.load.end).sessions;
    r
}

fn measure_one(expr: &str, r: &RunResult) -> ThresholdResult {
    evaluate(&[parse(expr).expect("parses")], r).remove(0)
}

#[test]
fn goodbyes_pass_the_default_gate_and_a_drop_in_the_rollout_fails_it() {
    let ok = with_sessions(&[
        session(0, 1_500, SessionClass::Close1001),
        session(1, 1_500, SessionClass::Close1012),
        session(2, 1_999, SessionClass::ClientClose),
    ]);
    let (_, v) = judge(&[], &ok);
    assert!(v.passed, "{v:?}");
    assert!(
        v.reasons[0].contains("3 WebSocket sessions"),
        "{:?}",
        v.reasons
    );

    let dropped = with_sessions(&[
        session(0, 1_500, SessionClass::Abnormal1006),
        session(1, 1_999, SessionClass::ClientClose),
    ]);
    let (_, v) = judge(&[], &dropped);
    assert_eq!(v.exit_code, exit::GATE_FAILED);
    let c = v.sessions.expect("session check");
    assert_eq!((c.failed_outside_baseline, c.dropped), (1, 1));
    assert!(
        v.reasons.iter().any(|r| r.contains("abnormal_1006")),
        "{:?}",
        v.reasons
    );
}

#[test]
fn a_session_failure_during_the_baseline_is_reported_not_blamed() {
    let r = with_sessions(&[session(0, 500, SessionClass::HandshakeFailed)]);
    let (_, v) = judge(&[], &r);
    assert!(v.passed, "{v:?}");
    assert_eq!(v.sessions.expect("check").baseline_failures, 1);
    assert!(
        v.reasons.iter().any(|r| r.contains("during the baseline")),
        "{:?}",
        v.reasons
    );
}

#[test]
fn session_thresholds_measure_their_counts_in_scope() {
    let r = with_sessions(&[
        session(0, 1_500, SessionClass::Abnormal1006),
        session(1, 1_600, SessionClass::Close1001),
        session(2, 500, SessionClass::CloseOther),
    ]);
    assert_eq!(measure_one("sessions==3", &r).actual, "3");
    assert!(!measure_one("sessions_dropped==0", &r).passed);
    assert_eq!(measure_one("sessions_failed==2", &r).actual, "2");
    assert!(measure_one("rollout:sessions_failed==1", &r).passed);
    assert!(measure_one("baseline:close_other==1", &r).passed);
    assert!(measure_one("close_1001==1", &r).passed);
    assert!(measure_one("messages_lost==0", &r).passed);
    let phased = measure_one("rollout:reconnects==0", &r);
    assert!(
        !phased.passed && phased.actual.contains("whole run"),
        "{phased:?}"
    );
}

#[test]
fn session_thresholds_on_a_run_without_sessions_are_not_measured() {
    let t = measure_one("sessions_dropped==0", &healthy());
    assert!(!t.passed);
    assert!(t.actual.contains("no WebSocket session"), "{}", t.actual);
    let t = measure_one("messages_lost==0", &healthy());
    assert!(!t.passed && t.actual.contains("--ws"), "{}", t.actual);
}

#[test]
fn messages_lost_counts_lost_and_never_sent_messages() {
    let mut r = run(
        &[("baseline", 0), ("rollout", 1_000)],
        &[
            (1_100, 5, OutcomeClass::Ok),
            (1_200, 5, OutcomeClass::WsMessageLost),
            (1_300, 5, OutcomeClass::WsNotSent),
            (1_400, 5, OutcomeClass::WsMessageTimeout),
        ],
    );
    r.recorded.sessions = with_sessions(&[session(0, 1_500, SessionClass::Close1001)])
        .recorded
        .sessions;
    assert_eq!(measure_one("messages_lost==2", &r).actual, "2");
    assert!(measure_one("rollout:messages_lost==2", &r).passed);
    assert!(measure_one("failed==3", &r).passed);
}
