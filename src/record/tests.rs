use super::*;
use crate::model::connection::ConnectionEnd;
use crate::model::outcome::ConnId;
use crate::model::template::TemplateInfo;

fn rec(seq: u64, due_ms: u64, latency_ms: u64, class: OutcomeClass) -> RequestRecord {
    let due = At(due_ms * 1000);
    RequestRecord {
        seq,
        due,
        sent: due,
        end: due.plus(Duration::from_millis(latency_ms)),
        class,
        status: match class {
            OutcomeClass::Ok | OutcomeClass::CheckFailed => Some(200),
            OutcomeClass::Http5xx => Some(503),
            _ => None,
        },
        conn: None,
        dialed: None,
        error: None,
        identity: None,
        template: 0,
        checks_failed: 0,
        version: None,
        excerpt: None,
    }
}

fn recorder(limit: usize) -> (Recorder, PhaseMarks) {
    let marks = PhaseMarks::new();
    let r = Recorder::new(
        RecorderConfig {
            failure_log_limit: limit,
            max_open: Duration::from_secs(2),
            ..RecorderConfig::default()
        },
        marks.clone(),
        Arc::new(LiveStats::default()),
    );
    (r, marks)
}

#[test]
fn requests_are_bucketed_by_the_second_they_were_due() {
    let (mut r, _) = recorder(10);
    r.record(&rec(0, 100, 5, OutcomeClass::Ok));
    r.record(&rec(1, 900, 300, OutcomeClass::Ok)); // ends in second 1, due in second 0
    r.record(&rec(2, 1_100, 5, OutcomeClass::Http5xx));
    let out = r.finish(At(2_000_000));
    assert_eq!(out.series.len(), 2);
    assert_eq!(out.series[0].counts.ok(), 2);
    assert_eq!(out.series[1].counts.get(OutcomeClass::Http5xx), 1);
}

#[test]
fn a_request_belongs_to_the_phase_in_force_at_its_due_time() {
    let (mut r, marks) = recorder(10);
    marks.begin("baseline", || At(0));
    marks.begin("rollout", || At(1_000_000));
    r.record(&rec(0, 999, 2_000, OutcomeClass::Ok)); // due in baseline, ends in rollout
    r.record(&rec(1, 1_000, 5, OutcomeClass::ConnectionReset));
    let out = r.finish(At(3_000_000));
    let baseline = out.phase("baseline").expect("baseline");
    let rollout = out.phase("rollout").expect("rollout");
    assert_eq!(baseline.counts.ok(), 1);
    assert_eq!(baseline.counts.failed(), 0);
    assert_eq!(rollout.counts.get(OutcomeClass::ConnectionReset), 1);
    assert_eq!((baseline.start, baseline.end), (At(0), At(1_000_000)));
    assert_eq!(rollout.end, At(3_000_000));
}

#[test]
fn the_failure_log_is_bounded_and_counts_what_it_dropped() {
    let (mut r, _) = recorder(3);
    for i in 0..10 {
        r.record(&rec(i, i * 10, 1, OutcomeClass::ConnectRefused));
    }
    let out = r.finish(At(1_000_000));
    assert_eq!(out.failures.len(), 3);
    assert_eq!(out.failures_not_kept, 7);
    assert_eq!(out.series[0].failures_not_kept, 7);
    assert_eq!(out.overall.counts.get(OutcomeClass::ConnectRefused), 10);
}

#[test]
fn generator_drops_are_counted_but_neither_logged_nor_timed() {
    let (mut r, _) = recorder(10);
    r.record(&rec(0, 0, 0, OutcomeClass::DroppedByGenerator));
    r.record(&rec(1, 1, 7, OutcomeClass::Ok));
    let out = r.finish(At(1_000_000));
    assert!(out.failures.is_empty());
    assert_eq!(out.overall.counts.get(OutcomeClass::DroppedByGenerator), 1);
    assert_eq!(out.overall.counts.failed(), 0);
    assert_eq!(out.overall.latency.count, 1);
}

#[test]
fn latency_is_measured_from_the_due_instant_and_service_time_from_the_send() {
    let (mut r, _) = recorder(10);
    let mut late = rec(0, 0, 1_000, OutcomeClass::Ok);
    late.sent = At(900_000); // sent 900 ms late, answered 100 ms later
    r.record(&late);
    let out = r.finish(At(2_000_000));
    assert!(
        out.overall.latency.max_us >= 999_000,
        "{:?}",
        out.overall.latency
    );
    assert!(
        out.overall.service_time.max_us <= 100_100,
        "{:?}",
        out.overall.service_time
    );
    assert!(out.overall.send_lateness.max_us >= 899_000);
}

#[test]
fn memory_stays_flat_because_old_seconds_are_closed() {
    let (mut r, _) = recorder(10);
    for i in 0..100_000u64 {
        r.record(&rec(i, i, 1, OutcomeClass::Ok)); // 1 request per ms for 100 s
    }
    assert!(r.open.len() <= 4, "open seconds: {}", r.open.len());
    assert!(
        r.open.len() + r.spare.len() <= 6,
        "closed seconds' buffers are reused, not piled up"
    );
    let out = r.finish(At(100_000_000));
    assert_eq!(out.series.len(), 100);
    assert!(out.series.iter().all(|s| s.counts.ok() == 1000));
}

#[test]
fn a_request_outliving_its_closed_second_is_still_counted_once_in_that_second() {
    let (mut r, _) = recorder(10);
    for i in 0..10_000u64 {
        r.record(&rec(i, i, 1, OutcomeClass::Ok));
    }
    r.record(&rec(99, 500, 30_000, OutcomeClass::RequestTimeout)); // due in second 0
    let out = r.finish(At(40_000_000));
    let s0: Vec<&Second> = out.series.iter().filter(|s| s.second == 0).collect();
    assert_eq!(s0.len(), 1);
    assert_eq!(s0[0].counts.get(OutcomeClass::RequestTimeout), 1);
    assert_eq!(s0[0].counts.ok(), 1000);
}

#[test]
fn merging_three_generators_sums_counts_and_keeps_exact_percentiles() {
    let mut parts = Vec::new();
    let mut all = Hist::new();
    for w in 0..3u64 {
        let (mut r, marks) = recorder(100);
        marks.begin("load", || At(0));
        for i in 0..3_000u64 {
            let lat = 1 + (i * 7 + w * 13) % 400;
            let class = if i % 101 == 0 {
                OutcomeClass::Http5xx
            } else {
                OutcomeClass::Ok
            };
            let x = rec(i, i, lat, class);
            all.record(x.latency().as_micros() as u64);
            r.record(&x);
        }
        parts.push(r.finish(At(3_000_000)));
    }
    let merged = Recorded::merge(parts).expect("merges");
    assert_eq!(merged.overall.counts.total(), 9_000);
    assert_eq!(
        merged.series.iter().map(|s| s.counts.total()).sum::<u64>(),
        9_000
    );
    assert_eq!(merged.phase("load").map(|p| p.counts.total()), Some(9_000));
    assert_eq!(merged.overall.latency.p99_us, all.quantile(0.99));
    assert_eq!(merged.overall.latency.max_us, all.max());
    assert_eq!(merged.failures.len(), 3 * 30);
}

#[test]
fn counts_serialise_with_every_class_name() {
    let mut c = Counts::default();
    c.add(OutcomeClass::ClosedBeforeResponse);
    let json = serde_json::to_value(c).expect("serialises");
    assert_eq!(json["closed_before_response"], 1);
    assert_eq!(json["ok"], 0);
    let back: Counts = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, c);
}

fn ws_session(client: u64, attempt: u32, ended_ms: u64, class: SessionClass) -> SessionRecord {
    use crate::model::session::PerSecond;
    SessionRecord {
        client,
        attempt,
        due: At(0),
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
        previous_end: (attempt > 0).then_some(At(500)),
        sent: 2,
        answered: 2,
        lost: 0,
        per_second: PerSecond::default(),
    }
}

use crate::model::session::SessionClass;

#[test]
fn sessions_are_counted_by_class_phase_and_second_and_the_log_is_bounded() {
    let (mut r, marks) = recorder(2);
    marks.begin("baseline", || At(0));
    marks.begin("rollout", || At(2_000_000));
    r.session(&ws_session(0, 0, 1_500, SessionClass::Close1001));
    r.session(&ws_session(1, 0, 2_500, SessionClass::Abnormal1006));
    r.session(&ws_session(1, 1, 3_500, SessionClass::ClientClose));
    let s = r.finish(At(4_000_000)).sessions;
    assert_eq!(s.counts.total(), 3);
    assert_eq!(s.counts.dropped(), 1);
    assert_eq!(s.phase("baseline").map(|c| c.total()), Some(1));
    assert_eq!(s.phase("rollout").map(|c| c.failed()), Some(1));
    assert_eq!((s.log.len(), s.not_kept), (2, 1));
    assert_eq!(s.reconnects, 1);
    // Opened at 1 ms, ended at 1.5, 2.5 and 3.5 s.
    let ended: Vec<(u64, u64)> = s
        .series
        .iter()
        .map(|x| (x.second, x.ended.total()))
        .collect();
    assert_eq!(ended, [(0, 0), (1, 1), (2, 1), (3, 1)]);
    assert_eq!(s.series[0].opened, 3);
}

#[test]
fn sessions_of_several_generators_merge_without_loss() {
    let (mut a, _) = recorder(10);
    let (mut b, _) = recorder(10);
    a.session(&ws_session(0, 1, 1_500, SessionClass::Close1012));
    b.session(&ws_session(1, 1, 1_200, SessionClass::Abnormal1006));
    b.session(&ws_session(3, 0, 1_300, SessionClass::ClientClose));
    let merged =
        Recorded::merge(vec![a.finish(At(2_000_000)), b.finish(At(2_000_000))]).expect("merges");
    let s = &merged.sessions;
    assert_eq!(s.counts.total(), 3);
    assert_eq!(s.reconnects, 2);
    assert_eq!(s.reconnect_time.count, 2);
    assert_eq!(s.log.len(), 3);
    let round: Recorded =
        serde_json::from_str(&serde_json::to_string(&merged).expect("json")).expect("parses");
    assert_eq!(&round.sessions, s);
}

#[test]
fn an_http_run_writes_no_sessions_and_reads_back_without_them() {
    let (mut r, _) = recorder(10);
    r.record(&rec(0, 100, 5, OutcomeClass::Ok));
    let done = r.finish(At(1_000_000));
    let json = serde_json::to_value(&done).expect("json");
    assert!(json.get("sessions").is_none(), "{json}");
    let back: Recorded = serde_json::from_value(json).expect("parses");
    assert!(back.sessions.is_empty());
}

fn life(id: u64, requests: u32, failures: u32, end: ConnectionEnd) -> ConnectionLife {
    let addr: std::net::SocketAddr = "127.0.0.1:7000".parse().expect("addr");
    ConnectionLife {
        id,
        local: addr,
        peer: addr,
        opened: At(id * 1000),
        first_request: None,
        last_request: None,
        requests,
        failures,
        ended: At(id * 1000 + 500),
        end,
    }
}

#[test]
fn only_connections_that_can_tie_requests_to_pods_are_kept() {
    let (mut r, _) = recorder(10);
    r.connection(&life(1, 1, 0, ConnectionEnd::LocalClose)); // one request, closed as asked
    r.connection(&life(2, 1, 1, ConnectionEnd::LocalClose)); // carried a failure
    r.connection(&life(3, 1, 0, ConnectionEnd::PeerReset)); // ended by the peer
    r.connection(&life(4, 40, 0, ConnectionEnd::OpenAtEnd)); // a keep-alive connection
    r.connection(&life(5, 1, 0, ConnectionEnd::PeerAnnounced)); // announced, one request
    let out = r.finish(At(10_000_000));
    let ids: Vec<u64> = out.connections.iter().map(|c| c.id).collect();
    assert_eq!(ids, [2, 3, 4]);
    assert_eq!(out.connections_not_kept, 0);
}

#[test]
fn merged_generators_keep_their_connections_apart() {
    let part = |failure_conn: u64| {
        let (mut r, _) = recorder(10);
        let mut f = rec(0, 100, 5, OutcomeClass::ConnectionReset);
        f.conn = Some(ConnId {
            id: failure_conn,
            local: "127.0.0.1:1".parse().expect("addr"),
            peer: "127.0.0.1:2".parse().expect("addr"),
            reused: true,
        });
        r.record(&f);
        r.connection(&life(failure_conn, 3, 1, ConnectionEnd::PeerReset));
        r.finish(At(1_000_000))
    };
    let merged = Recorded::merge(vec![part(7), part(7)]).expect("merges");
    let conn_ids: Vec<u64> = merged.connections.iter().map(|c| c.id).collect();
    assert_eq!(conn_ids.len(), 2);
    assert_ne!(
        conn_ids[0], conn_ids[1],
        "two generators' connection 7 stay apart"
    );
    for f in &merged.failures {
        let id = f.conn.expect("conn").id;
        assert!(
            conn_ids.contains(&id),
            "each failure still names its own connection"
        );
    }
}

fn info(name: &str, checks: usize) -> TemplateInfo {
    TemplateInfo {
        name: name.into(),
        method: "GET".into(),
        path: "/".into(),
        weight: 1.0,
        checks: (0..checks)
            .map(|i| crate::model::template::CheckInfo {
                name: format!("c{i}"),
                description: String::new(),
                warn: false,
            })
            .collect(),
    }
}

fn mix_recorder(templates: Vec<TemplateInfo>) -> (Recorder, PhaseMarks) {
    let marks = PhaseMarks::new();
    let r = Recorder::new(
        RecorderConfig {
            failure_log_limit: 100,
            max_open: Duration::from_secs(2),
            templates,
            ..RecorderConfig::default()
        },
        marks.clone(),
        Arc::new(LiveStats::default()),
    );
    (r, marks)
}

fn of(template: u16, version: Option<&str>, checks_failed: u64, r: RequestRecord) -> RequestRecord {
    RequestRecord {
        template,
        version: version.map(Arc::from),
        checks_failed,
        ..r
    }
}

#[test]
fn templates_are_counted_per_phase_with_their_checks() {
    let (mut r, marks) = mix_recorder(vec![info("a", 2), info("b", 0)]);
    marks.begin("baseline", || At(0));
    marks.begin("rollout", || At(1_000_000));
    r.record(&of(0, None, 0, rec(0, 100, 5, OutcomeClass::Ok)));
    r.record(&of(
        0,
        None,
        0b10,
        rec(1, 1_100, 5, OutcomeClass::CheckFailed),
    ));
    r.record(&of(1, None, 0, rec(2, 1_200, 50, OutcomeClass::Http5xx)));
    // No response: the checks did not run.
    r.record(&of(
        0,
        None,
        0,
        rec(3, 1_300, 5, OutcomeClass::ConnectionReset),
    ));
    let out = r.finish(At(2_000_000));
    let a = &out.templates[0];
    assert_eq!(a.info.name, "a");
    assert_eq!(a.overall.counts.ok(), 1);
    assert_eq!(a.overall.counts.get(OutcomeClass::CheckFailed), 1);
    assert_eq!(
        (a.overall.checked, a.overall.checks_failed.clone()),
        (2, vec![0, 1])
    );
    assert_eq!(a.overall.checks_passed_ratio(), Some((3, 4)));
    assert_eq!(a.phase("baseline").expect("phase").checked, 1);
    assert_eq!(a.phase("rollout").expect("phase").checks_failed, vec![0, 1]);
    let b = &out.templates[1];
    assert_eq!(b.overall.counts.get(OutcomeClass::Http5xx), 1);
    assert!(
        (b.overall.latency.max_us as i64 - 50_000).abs() <= 50,
        "within the histogram's 0.1 %"
    );
}

#[test]
fn one_template_without_checks_keeps_nothing_per_template() {
    let (mut r, _) = mix_recorder(vec![info("only", 0)]);
    r.record(&rec(0, 100, 5, OutcomeClass::Ok));
    assert!(r.finish(At(1_000_000)).templates.is_empty());
}

#[test]
fn one_template_with_checks_takes_the_runs_figures_and_counts_its_checks() {
    let (mut r, _) = mix_recorder(vec![info("only", 1)]);
    r.record(&of(0, None, 1, rec(0, 100, 5, OutcomeClass::CheckFailed)));
    r.record(&rec(1, 200, 7, OutcomeClass::Ok));
    let out = r.finish(At(1_000_000));
    let t = &out.templates[0];
    assert_eq!(t.overall.counts, out.overall.counts);
    assert_eq!(t.overall.checks_failed, vec![1]);
}

#[test]
fn responses_are_split_per_second_template_and_revision_by_their_version_header() {
    let (mut r, _) = mix_recorder(vec![info("a", 1), info("b", 0)]);
    r.record(&of(0, Some("v1"), 0, rec(0, 100, 5, OutcomeClass::Ok)));
    r.record(&of(
        0,
        Some("v2"),
        1,
        rec(1, 200, 5, OutcomeClass::CheckFailed),
    ));
    r.record(&of(1, Some("v2"), 0, rec(2, 1_200, 5, OutcomeClass::Ok)));
    r.record(&of(1, None, 0, rec(3, 1_300, 5, OutcomeClass::Ok)));
    let out = r.finish(At(2_000_000));
    assert_eq!(out.revisions, ["v1", "v2"]);
    assert_eq!(out.revision_source.as_deref(), Some("the version header"));
    let s0 = &out.series[0].split;
    assert_eq!(s0.len(), 2);
    let v2 = s0.iter().find(|c| c.revision == 1).expect("v2 cell");
    assert_eq!(
        (v2.template, v2.checked, v2.checks_failed.clone()),
        (0, 1, vec![1])
    );
    // A response whose revision is unknown goes in no cell.
    assert_eq!(out.series[1].split.len(), 1);
}

#[test]
fn merged_generators_unite_their_revisions_whatever_order_they_met_them_in() {
    let part = |first: &str, second: &str| {
        let (mut r, _) = mix_recorder(vec![info("a", 0), info("b", 0)]);
        r.record(&of(0, Some(first), 0, rec(0, 100, 5, OutcomeClass::Ok)));
        r.record(&of(0, Some(second), 0, rec(1, 200, 5, OutcomeClass::Ok)));
        r.record(&of(0, Some("v2"), 0, rec(2, 300, 5, OutcomeClass::Ok)));
        r.finish(At(1_000_000))
    };
    let merged = Recorded::merge(vec![part("v1", "v2"), part("v2", "v1")]).expect("merges");
    assert_eq!(merged.revisions, ["v1", "v2"]);
    let cells = &merged.series[0].split;
    let count = |rev: u16| {
        cells
            .iter()
            .find(|c| c.revision == rev)
            .map_or(0, |c| c.counts.ok())
    };
    assert_eq!((count(0), count(1)), (2, 4));
    assert_eq!(merged.templates[0].overall.counts.ok(), 6);
}

/// A source that knows every connection but the ones it is told not to, and counts questions.
struct Counting {
    asked: Arc<std::sync::atomic::AtomicU64>,
}

impl RevisionSource for Counting {
    fn revision(&self, conn: &ConnId, identity: Option<&str>, _at: At) -> Option<Arc<str>> {
        self.asked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match identity {
            Some("pod-of-v2") => Some(Arc::from("v2")),
            Some(_) => None,
            None => Some(Arc::from(if conn.id % 2 == 0 { "v1" } else { "v2" })),
        }
    }
    fn describe(&self) -> String {
        "a test source".into()
    }
}

#[test]
fn the_source_is_asked_once_per_connection_or_identity_and_an_unknown_identity_falls_back() {
    let asked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (r, _) = mix_recorder(vec![info("a", 0), info("b", 0)]);
    let mut r = r.with_revisions(Box::new(Counting {
        asked: asked.clone(),
    }));
    let on = |seq: u64, conn: u64, identity: Option<&str>| {
        let mut x = rec(seq, 100 + seq, 1, OutcomeClass::Ok);
        x.conn = Some(ConnId {
            id: conn,
            local: "127.0.0.1:1".parse().expect("addr"),
            peer: "127.0.0.1:2".parse().expect("addr"),
            reused: seq > 1,
        });
        x.identity = identity.map(Arc::from);
        x
    };
    for seq in 0..100 {
        r.record(&on(seq, seq % 2, None));
    }
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "once per connection"
    );
    r.record(&on(100, 4, Some("pod-of-v2")));
    r.record(&on(101, 4, Some("pod-of-v2")));
    // An identity the source does not know: the connection tells.
    r.record(&on(102, 6, Some("someone")));
    let out = r.finish(At(1_000_000));
    assert_eq!(out.revisions, ["v1", "v2"]);
    let cells = &out.series[0].split;
    let count = |rev: u16| {
        cells
            .iter()
            .filter(|c| c.revision == rev)
            .map(|c| c.counts.ok())
            .sum::<u64>()
    };
    assert_eq!((count(0), count(1)), (51, 52));
    assert_eq!(out.revision_source.as_deref(), Some("a test source"));
}
