//! A recorded rollout for the report tests: 3 old pods replaced one by one by 3 new ones under
//! 50 requests/s for 40 s. Requests are spread round-robin over the pods that are ready
//! endpoints at their due time and recorded through the real recorder; the old pods exit right
//! after SIGTERM while still endpoints (connection refused, connections closed unanswered), new
//! pods answer 503 just after becoming ready, two baseline requests fail, and five failures
//! happen while a watch was down. The analysis is the real one (`analysis::analyse`) of those
//! records and that timeline; the verdict comes from the real gate.
//!
//! [`breaking_rollout`] sends a mix of two templates instead, each response naming its version
//! (v1 on old pods, v2 on new ones), and the new pods fail the old client's `reads fullname`
//! check: a breaking change of the new version.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use zerodrop::analysis::{AnalysisInput, WorkloadConfig, analyse};
use zerodrop::model::clock::At;
use zerodrop::model::event::{EndpointConditions, EventKind, LifecycleEvent, Revision};
use zerodrop::model::outcome::{ConnId, OutcomeClass};
use zerodrop::model::request::{LiveStats, RequestRecord, Sink};
use zerodrop::model::result::LoadReport;
use zerodrop::model::result::{Command, RolloutInfo, SCHEMA_VERSION};
use zerodrop::record::{PhaseMarks, Recorded, Recorder, RecorderConfig};
use zerodrop::result::RunResult;
use zerodrop::timeline::Timeline;

pub const RATE: u64 = 50;
pub const SECONDS: u64 = 40;
pub const SECRET: &str = "Bearer sk-live-0123456789";
pub const API_KEY: &str = "key-456-secret";

fn s(secs: f64) -> At {
    At::from_secs_f64(secs)
}

/// One pod's life, in seconds (None: before the run, or never).
#[derive(Clone)]
struct Pod {
    name: &'static str,
    ip: &'static str,
    revision: Revision,
    created: Option<f64>,
    ready: Option<f64>,
    terminating: Option<f64>,
    not_ready_endpoint: Option<f64>,
    endpoint_removed: Option<f64>,
    exited: Option<f64>,
}

impl Pod {
    fn endpoint_from(&self) -> f64 {
        self.ready.map_or(0.0, |r| r + 0.2)
    }
    fn in_endpoints(&self, t: f64) -> bool {
        let from = if self.created.is_none() {
            0.0
        } else {
            match self.ready {
                Some(_) => self.endpoint_from(),
                None => return false,
            }
        };
        // A not-ready endpoint gets no new traffic: routing ends when it turns not ready.
        let until = self.not_ready_endpoint.or(self.endpoint_removed);
        t >= from && until.is_none_or(|r| t < r)
    }
}

fn pods(failing: bool) -> Vec<Pod> {
    // With `failing`, old pods exit 0.2 s after SIGTERM although their endpoints linger; the
    // fixed configuration keeps serving (preStop) until well after the endpoint is gone.
    let exit_after = if failing { 0.2 } else { 3.0 };
    let old = |name, ip, term: f64| Pod {
        name,
        ip,
        revision: Revision::Old,
        created: None,
        ready: None,
        terminating: Some(term),
        not_ready_endpoint: Some(term + 1.2),
        endpoint_removed: Some(term + 1.5),
        exited: Some(term + exit_after),
    };
    let new = |name, ip, created: f64| Pod {
        name,
        ip,
        revision: Revision::New,
        created: Some(created),
        ready: Some(created + 2.8),
        terminating: None,
        not_ready_endpoint: None,
        endpoint_removed: None,
        exited: None,
    };
    vec![
        old("web-5d8f7c9b4-k2x9q", "10.244.1.11", 11.4),
        old("web-5d8f7c9b4-p7m3z", "10.244.2.12", 14.8),
        old("web-5d8f7c9b4-w4n8c", "10.244.3.13", 18.3),
        new("web-7f9c6d5b8-a1b2c", "10.244.1.21", 8.2),
        new("web-7f9c6d5b8-d3e4f", "10.244.2.22", 11.6),
        new("web-7f9c6d5b8-g5h6j", "10.244.3.23", 15.0),
    ]
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap_or([127, 0, 0, 1].into()), port)
}

fn timeline(pods: &[Pod]) -> Timeline {
    let mut ev = vec![
        LifecycleEvent::workload(
            s(8.0),
            EventKind::Trigger {
                description: "kubectl.kubernetes.io/restartedAt annotation set".into(),
            },
        ),
        LifecycleEvent::workload(s(20.5), EventKind::RolloutComplete),
        LifecycleEvent::workload(
            s(31.2),
            EventKind::WatchGap {
                resource: "endpointslices".into(),
                from: s(30.0),
            },
        ),
    ];
    for (i, t) in [8.1, 11.5, 14.9, 18.4].into_iter().enumerate() {
        ev.push(LifecycleEvent::workload(
            s(t),
            EventKind::WorkloadStatus {
                desired: 3,
                updated: i as u32,
                ready: 3,
                available: 3,
            },
        ));
    }
    for p in pods {
        let address = format!("{}:8080", p.ip);
        let mut push = |t: f64, kind: EventKind| ev.push(LifecycleEvent::pod(s(t), p.name, kind));
        if let Some(c) = p.created {
            push(
                c,
                EventKind::PodCreated {
                    revision: p.revision,
                    revision_name: None,
                },
            );
            push(
                c + 0.4,
                EventKind::PodStarted {
                    address: Some(address.clone()),
                },
            );
            push(
                c + 1.5,
                EventKind::ProbeFailed {
                    probe: "readiness".into(),
                    detail: "HTTP probe failed with statuscode: 503".into(),
                },
            );
        }
        if let Some(r) = p.ready {
            push(r, EventKind::PodReady);
        }
        // A pod running before the run is a ready endpoint in the first list of endpoints.
        let listed = p.created.is_none().then_some(0.0);
        if let Some(t) = listed.or(p.ready.map(|_| p.endpoint_from())) {
            push(
                t,
                EventKind::EndpointAdded {
                    address: address.clone(),
                    conditions: EndpointConditions {
                        ready: true,
                        serving: true,
                        terminating: false,
                    },
                },
            );
        }
        if let Some(t) = p.terminating {
            push(
                t,
                EventKind::PodTerminating {
                    grace_period: Some(Duration::from_secs(30)),
                },
            );
            push(
                t,
                EventKind::StopSignalSent {
                    signal: "SIGTERM".into(),
                },
            );
        }
        if let Some(t) = p.not_ready_endpoint {
            push(
                t,
                EventKind::EndpointChanged {
                    address: address.clone(),
                    conditions: EndpointConditions {
                        ready: false,
                        serving: false,
                        terminating: true,
                    },
                },
            );
        }
        if let Some(t) = p.endpoint_removed {
            push(
                t,
                EventKind::EndpointRemoved {
                    address: address.clone(),
                },
            );
        }
        if let Some(t) = p.exited {
            push(
                t,
                EventKind::ContainerExited {
                    code: Some(0),
                    signal: None,
                    reason: Some("Completed".into()),
                },
            );
            push(t + 0.3, EventKind::PodDeleted);
        }
    }
    ev.sort_by_key(|e| e.at);
    Timeline {
        events: ev,
        desired_replicas: Some(3),
        routes: vec![],
    }
}

/// The mix of [`breaking_rollout`]: an old client whose check reads `fullname`, and a web client.
fn mix_templates() -> Vec<zerodrop::model::template::TemplateInfo> {
    use zerodrop::model::template::{CheckInfo, TemplateInfo};
    let check = |name: &str, description: &str| CheckInfo {
        name: name.into(),
        description: description.into(),
        warn: false,
    };
    vec![
        TemplateInfo {
            name: "old-client".into(),
            method: "GET".into(),
            path: "/api/users/42".into(),
            weight: 1.0,
            checks: vec![
                check("status in 200", "status in 200"),
                check("reads fullname", "json /fullname is a string"),
            ],
        },
        TemplateInfo {
            name: "web-client".into(),
            method: "GET".into(),
            path: "/api/users/42?client=web".into(),
            weight: 1.0,
            checks: vec![check("status in 200", "status in 200")],
        },
    ]
}

/// Makes `record` one of the mix's: its template, its pod's version, and — for the old client
/// on a new pod — the failed `reads fullname` check.
fn mixed(mut record: RequestRecord, pod: &Pod) -> RequestRecord {
    record.template = (record.seq % 2) as u16;
    let new = pod.revision == Revision::New;
    record.version = Some(Arc::from(if new { "v2" } else { "v1" }));
    if new && record.template == 0 && record.class == OutcomeClass::Ok {
        record.class = OutcomeClass::CheckFailed;
        record.checks_failed = 0b10;
        record.error = Some("check `reads fullname` failed: /fullname is missing".into());
        record.excerpt = Some(format!(
            r#"HTTP 200: {{"id":42,"full_name":"Ada Lovelace","token":"{SECRET}"}}"#
        ));
    }
    record
}

/// Simulates every request and returns what the recorder made of them.
fn simulate(pods: &[Pod], failing: bool, mix: bool) -> Recorded {
    let marks = PhaseMarks::new();
    marks.begin("baseline", || At::ZERO);
    marks.begin("rollout", || s(8.0));
    marks.begin("settle", || s(22.0));
    let mut rec = Recorder::new(
        RecorderConfig {
            failure_log_limit: 10_000,
            max_open: Duration::from_secs(5),
            templates: if mix { mix_templates() } else { Vec::new() },
            ..RecorderConfig::default()
        },
        marks,
        Arc::new(LiveStats::default()),
    );
    let total = RATE * SECONDS;
    for i in 0..total {
        let t = i as f64 / RATE as f64;
        let due = s(t);
        let live: Vec<&Pod> = pods.iter().filter(|p| p.in_endpoints(t)).collect();
        let pod = live[(i as usize) % live.len()];
        let jitter = (i * 7919 % 6000) as f64 / 1e6;
        let busy = if (8.0..22.0).contains(&t) { 0.012 } else { 0.0 };
        let spike = if (i % 97 == 0) && (8.0..22.0).contains(&t) {
            0.06
        } else {
            0.0
        };
        let mut latency = 0.004 + jitter + busy + spike;
        let reused = i >= 50;
        let mut conn = ConnId {
            id: i % 50,
            local: addr("10.244.0.5", 40_000 + (i % 50) as u16),
            peer: addr(pod.ip, 8080),
            reused,
        };
        let mut status = Some(200);
        let mut error = None;
        let mut with_conn = true;
        let mut class = OutcomeClass::Ok;
        let exited = pod.exited.is_some_and(|x| t >= x);
        let terminating = pod.terminating.is_some_and(|x| t >= x);
        if failing && exited {
            class = OutcomeClass::ConnectRefused;
            status = None;
            with_conn = false;
            latency = 0.001;
            error = Some("tcp connect error: Connection refused (os error 111)".to_string());
        } else if failing && terminating && i % 2 == 0 {
            // A fresh connection the terminating pod accepted and closed unanswered (on a
            // reused one this would be a keep-alive race instead).
            class = OutcomeClass::ClosedBeforeResponse;
            conn.reused = false;
            status = None;
            latency = 0.002;
            error = Some("connection closed before message completed".to_string());
        } else if failing
            && pod.revision == Revision::New
            && pod
                .ready
                .is_some_and(|r| t >= pod.endpoint_from() && t < r + 0.7)
            && i % 2 == 1
        {
            class = OutcomeClass::Http5xx;
            status = Some(503);
            latency = 0.003;
        } else if (3.0..3.1).contains(&t) && i % 3 == 0 {
            class = OutcomeClass::Http5xx;
            status = Some(500);
        } else if failing && (30.5..30.6).contains(&t) {
            class = OutcomeClass::Other;
            status = None;
            with_conn = false;
            error = Some("error sending request: unexpected end of file".to_string());
        }
        let record = RequestRecord {
            seq: i,
            due,
            sent: due.plus(Duration::from_micros(150 + i % 400)),
            end: due.plus(Duration::from_secs_f64(latency)),
            class,
            status,
            conn: with_conn.then_some(conn),
            dialed: (!with_conn && class == OutcomeClass::ConnectRefused)
                .then(|| addr(pod.ip, 8080)),
            error,
            identity: None,
            template: 0,
            checks_failed: 0,
            version: None,
            excerpt: None,
        };
        let record = if mix { mixed(record, pod) } else { record };
        rec.record(&record);
    }
    rec.finish(s(SECONDS as f64 + 0.1))
}

/// The plan as a careless writer might store it: secrets in the clear, so tests can check that
/// every renderer masks them itself.
fn plan() -> serde_json::Value {
    serde_json::json!({
        "command": "run",
        "workload": "deploy/web",
        "namespace": "shop",
        "target": "http://svc-user:hunter2@web.shop.svc:8080/checkout",
        "rate": RATE,
        "duration": "40s",
        "headers": {
            "Authorization": SECRET,
            "X-Api-Key": API_KEY,
            "Accept": "application/json"
        },
        "thresholds": ["p(99)<500ms", "rollout:p(99)<20ms"]
    })
}

pub const THRESHOLDS: [&str; 5] = [
    "p(99)<500ms",
    "rollout:p(99)<20ms",
    "rate<0.05",
    "dropped_by_generator==0",
    "p99_ratio<3",
];

fn build(failing: bool, thresholds: &[&str]) -> RunResult {
    build_with(failing, false, thresholds)
}

fn build_with(failing: bool, mix: bool, thresholds: &[&str]) -> RunResult {
    let pods = pods(failing);
    let recorded = simulate(&pods, failing, mix);
    let timeline = timeline(&pods);
    // What a `zerodrop run` knows of a Deployment whose pod spec sets no preStop hook.
    let input = AnalysisInput {
        workload: WorkloadConfig {
            prestop: None,
            grace_period: Some(Duration::from_secs(30)),
            readiness_probe: Some(true),
            ..WorkloadConfig::default()
        },
        ..AnalysisInput::default()
    };
    let analysis = analyse(&recorded, &timeline, &input);
    let mut r = RunResult {
        schema_version: SCHEMA_VERSION,
        zerodrop_version: env!("CARGO_PKG_VERSION").into(),
        command: Command::Run,
        started_at: "2026-11-02T09:30:00Z"
            .parse()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        interrupted: false,
        plan: plan(),
        load: LoadReport {
            start: At::ZERO,
            end: recorded.overall.end,
            requests_due: RATE * SECONDS,
            connections_opened: 50,
            completed: true,
            precise_timer: true,
            kernel_receive_timestamps: true,
            addresses: vec![addr("10.96.0.42", 8080)],
        },
        timeline,
        rollout: Some(RolloutInfo {
            description: "deploy/web in shop".into(),
            triggered_at: Some(s(8.0)),
            completed_at: Some(s(20.5)),
            outcome: "complete".into(),
            ..RolloutInfo::default()
        }),
        recorded,
        analysis,
        thresholds: vec![],
        verdict: Default::default(),
        workers: 1,
    };
    let exprs: Vec<String> = thresholds.iter().map(|t| t.to_string()).collect();
    let parsed = zerodrop::gate::parse_all(&exprs).unwrap_or_default();
    zerodrop::gate::apply(&parsed, &mut r);
    r
}

/// The rollout that drops requests, judged with [`THRESHOLDS`].
pub fn failing_rollout() -> RunResult {
    build(true, &THRESHOLDS)
}

/// The graceful rollout sending the mix whose new version breaks the old client.
pub fn breaking_rollout() -> RunResult {
    build_with(false, true, &["checks>0.999", "web-client:p(99)<500ms"])
}

/// The same rollout with graceful pods: nothing fails outside the baseline.
pub fn clean_rollout(thresholds: &[&str]) -> RunResult {
    build(false, thresholds)
}

/// The schema with every described object closed (`unevaluatedProperties: false`), so a field
/// the schema does not document is caught here. The published schema stays open because readers
/// must tolerate optional fields added later.
pub fn closed(schema: &serde_json::Value) -> serde_json::Value {
    match schema {
        serde_json::Value::Object(m) => {
            let mut out: serde_json::Map<String, serde_json::Value> =
                m.iter().map(|(k, v)| (k.clone(), closed(v))).collect();
            if m.contains_key("properties") && m.get("type") == Some(&"object".into()) {
                out.insert("unevaluatedProperties".into(), false.into());
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(closed).collect()),
        other => other.clone(),
    }
}

/// Panics with every violation unless `v` validates against the repository's schema, closed
/// ([`closed`]): every field of the document is documented (the plan's own shape excepted).
pub fn assert_valid_closed(v: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(zerodrop::report::json::SCHEMA).expect("schema parses");
    let validator = jsonschema::validator_for(&closed(&schema)).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "schema violations:\n{}",
        errors.join("\n")
    );
}
