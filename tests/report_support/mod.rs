//! A recorded rollout for the report tests: 3 old pods replaced one by one by 3 new ones under
//! 50 requests/s for 40 s. Requests are spread round-robin over the pods that are endpoints at
//! their due time and recorded through the real recorder; the old pods exit right after SIGTERM
//! while still endpoints (connection refused, keep-alive close races), new pods answer 503 just
//! after becoming ready, two baseline requests fail, and two failures happen while a watch was
//! down. The analysis part (attribution, lag, findings) is written out as the analysis would
//! report it; the verdict comes from the real gate.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use zerodrop::analysis::{
    Analysis, Attribution, AttributionMethod, LagStats, PhaseReport, PodLag, PodReport,
};
use zerodrop::model::clock::At;
use zerodrop::model::event::{EndpointConditions, EventKind, LifecycleEvent, Revision};
use zerodrop::model::finding::{Evidence, Finding, FindingId, Severity};
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
        t >= from && self.endpoint_removed.is_none_or(|r| t < r)
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
            s(25.2),
            EventKind::WatchGap {
                resource: "endpointslices".into(),
                from: s(24.0),
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
            push(
                p.endpoint_from(),
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

/// Simulates every request and returns what was recorded and which pod each failure hit.
fn simulate(pods: &[Pod], failing: bool) -> (Recorded, Vec<Attribution>) {
    let marks = PhaseMarks::new();
    marks.begin("baseline", || At::ZERO);
    marks.begin("rollout", || s(8.0));
    marks.begin("settle", || s(22.0));
    let mut rec = Recorder::new(
        RecorderConfig {
            failure_log_limit: 10_000,
            max_open: Duration::from_secs(5),
        },
        marks,
        Arc::new(LiveStats::default()),
    );
    let mut attributions = Vec::new();
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
        let conn = ConnId {
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
            class = OutcomeClass::ClosedBeforeResponse;
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
        } else if failing && (24.5..24.6).contains(&t) {
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
        };
        if class != OutcomeClass::Ok
            && class != OutcomeClass::Other
            && (record.conn.is_some() || record.dialed.is_some())
        {
            attributions.push(Attribution {
                seq: i,
                pod: pod.name.to_string(),
                method: AttributionMethod::PeerAddress,
                confidence: 1.0,
            });
        }
        rec.record(&record);
    }
    (rec.finish(s(SECONDS as f64 + 0.1)), attributions)
}

fn phase_reports(r: &Recorded) -> Vec<PhaseReport> {
    r.phases
        .iter()
        .map(|p| PhaseReport {
            name: p.name.clone(),
            start: p.start,
            end: p.end,
            requests: p.counts.total(),
            ok: p.counts.ok(),
            failed: p.counts.failed(),
            dropped_by_generator: p.counts.get(OutcomeClass::DroppedByGenerator),
            classes: p
                .counts
                .iter()
                .filter(|(c, n)| *c != OutcomeClass::Ok && *n > 0)
                .collect(),
            latency: p.latency,
            service_time: p.service_time,
        })
        .collect()
}

fn classes_of(recorded: &Recorded, seqs: &[u64]) -> BTreeMap<OutcomeClass, u64> {
    let mut m = BTreeMap::new();
    for f in recorded.failures.iter().filter(|f| seqs.contains(&f.seq)) {
        *m.entry(f.class).or_insert(0) += 1;
    }
    m
}

fn window(recorded: &Recorded, seqs: &[u64]) -> Option<(At, At)> {
    let dues: Vec<At> = recorded
        .failures
        .iter()
        .filter(|f| seqs.contains(&f.seq))
        .map(|f| f.due)
        .collect();
    Some((*dues.iter().min()?, *dues.iter().max()?))
}

fn analysis(pods: &[Pod], recorded: &Recorded, attributions: Vec<Attribution>) -> Analysis {
    let class_of = |seq: u64| {
        recorded
            .failures
            .iter()
            .find(|f| f.seq == seq)
            .map(|f| f.class)
    };
    let seqs_where = |pred: &dyn Fn(&Attribution, OutcomeClass) -> bool| -> Vec<u64> {
        attributions
            .iter()
            .filter(|a| class_of(a.seq).is_some_and(|c| pred(a, c)))
            .map(|a| a.seq)
            .collect()
    };
    let is_old = |a: &Attribution| {
        pods.iter()
            .any(|p| p.name == a.pod && p.revision == Revision::Old)
    };
    let terminating = seqs_where(&|a, c| {
        is_old(a)
            && matches!(
                c,
                OutcomeClass::ConnectRefused | OutcomeClass::ClosedBeforeResponse
            )
    });
    let race = seqs_where(&|a, c| is_old(a) && c == OutcomeClass::ClosedBeforeResponse);
    let early = seqs_where(&|a, c| !is_old(a) && c == OutcomeClass::Http5xx);
    let baseline: Vec<u64> = recorded
        .failures
        .iter()
        .filter(|f| f.due < s(8.0))
        .map(|f| f.seq)
        .collect();
    let unexplained: Vec<u64> = recorded
        .failures
        .iter()
        .filter(|f| f.class == OutcomeClass::Other)
        .map(|f| f.seq)
        .collect();

    let lag: Vec<PodLag> = pods
        .iter()
        .filter_map(|p| {
            let t = p.terminating?;
            Some(PodLag {
                pod: p.name.to_string(),
                to_not_ready: p.not_ready_endpoint.map(|x| Duration::from_secs_f64(x - t)),
                to_removed: p.endpoint_removed.map(|x| Duration::from_secs_f64(x - t)),
            })
        })
        .collect();
    let pod_reports = pods
        .iter()
        .map(|p| PodReport {
            name: p.name.to_string(),
            revision: p.revision,
            created: p.created.map(s),
            ready: p.ready.map(s),
            terminating: p.terminating.map(s),
            endpoint_removed: p.endpoint_removed.map(s),
            exited: p.exited.map(s),
            failures: attributions.iter().filter(|a| a.pod == p.name).count() as u64,
            possible_failures: 0,
        })
        .collect();
    let ratio = match (recorded.phase("baseline"), recorded.phase("rollout")) {
        (Some(b), Some(r)) if b.latency.p99_us > 0 => {
            Some(r.latency.p99_us as f64 / b.latency.p99_us as f64)
        }
        _ => None,
    };
    let mut findings = Vec::new();
    let pods_of = |seqs: &[u64]| -> Vec<String> {
        let mut v: Vec<String> = attributions
            .iter()
            .filter(|a| seqs.contains(&a.seq))
            .map(|a| a.pod.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    if !terminating.is_empty() {
        findings.push(Finding {
            id: FindingId::TrafficToTerminatingPod,
            severity: Severity::Error,
            title: format!(
                "{} requests went to pods after their termination began, while they were still endpoints",
                terminating.len()
            ),
            evidence: Evidence {
                failures: terminating.len() as u64,
                window: window(recorded, &terminating),
                pods: pods_of(&terminating),
                classes: classes_of(recorded, &terminating),
                examples: terminating.iter().take(5).copied().collect(),
                details: vec![
                    "endpoints stayed ready 1.20 s (median) after termination began; removed after 1.50 s".into(),
                    "containers exited 0.20 s after SIGTERM, before their endpoints were removed".into(),
                ],
            },
            cause: "The pods stopped serving as soon as they got SIGTERM, but kube-proxy kept routing to them until their endpoints were removed.".into(),
            fix: "Add a preStop sleep of at least the measured de-registration lag (1.50 s; use 3 s) and keep terminationGracePeriodSeconds above preStop plus drain time.".into(),
            fix_yaml: Some(
                "spec:\n  template:\n    spec:\n      terminationGracePeriodSeconds: 35\n      containers:\n        - name: web\n          lifecycle:\n            preStop:\n              sleep:\n                seconds: 3\n"
                    .into(),
            ),
        });
    }
    if !race.is_empty() {
        findings.push(Finding {
            id: FindingId::KeepaliveCloseRace,
            severity: Severity::Warning,
            title: format!(
                "{} requests on reused keep-alive connections were closed before a response",
                race.len()
            ),
            evidence: Evidence {
                failures: race.len() as u64,
                window: window(recorded, &race),
                pods: pods_of(&race),
                classes: classes_of(recorded, &race),
                examples: race.iter().take(3).copied().collect(),
                details: vec![],
            },
            cause: "The server closed idle keep-alive connections while the client was sending on them.".into(),
            fix: "While draining, answer with `Connection: close` and close idle connections gracefully; retry idempotent requests.".into(),
            fix_yaml: None,
        });
    }
    if !early.is_empty() {
        findings.push(Finding {
            id: FindingId::EarlyTraffic,
            severity: Severity::Error,
            title: format!("{} requests failed on new pods just after they became ready", early.len()),
            evidence: Evidence {
                failures: early.len() as u64,
                window: window(recorded, &early),
                pods: pods_of(&early),
                classes: classes_of(recorded, &early),
                examples: early.iter().take(3).copied().collect(),
                details: vec!["503 within 0.7 s of readiness".into()],
            },
            cause: "The readiness probe passes before the application can serve.".into(),
            fix: "Make the readiness probe check what the app needs to serve (caches, connections) before reporting ready.".into(),
            fix_yaml: Some(
                "readinessProbe:\n  httpGet:\n    path: /ready\n    port: 8080\n  periodSeconds: 2\n".into(),
            ),
        });
    }
    if !baseline.is_empty() {
        findings.push(Finding {
            id: FindingId::BaselineErrors,
            severity: Severity::Info,
            title: format!(
                "{} requests failed before the rollout began",
                baseline.len()
            ),
            evidence: Evidence {
                failures: baseline.len() as u64,
                window: window(recorded, &baseline),
                pods: pods_of(&baseline),
                classes: classes_of(recorded, &baseline),
                examples: baseline.clone(),
                details: vec![],
            },
            cause:
                "The service failed these before anything was rolled: not caused by the rollout."
                    .into(),
            fix: "Look at the service's own errors; they are not counted against the rollout."
                .into(),
            fix_yaml: None,
        });
    }
    if !unexplained.is_empty() {
        findings.push(Finding {
            id: FindingId::Unexplained,
            severity: Severity::Warning,
            title: format!("{} failures match no known cause", unexplained.len()),
            evidence: Evidence {
                failures: unexplained.len() as u64,
                window: window(recorded, &unexplained),
                pods: vec![],
                classes: classes_of(recorded, &unexplained),
                examples: unexplained.clone(),
                details: vec!["the endpointslices watch was down from 24.0s to 25.2s".into()],
            },
            cause: "Unknown: see the failure log for each request's error.".into(),
            fix: "Inspect the listed failures.".into(),
            fix_yaml: None,
        });
    }
    let secs = |v: Vec<Option<Duration>>| -> (Option<Duration>, Option<Duration>) {
        let mut v: Vec<Duration> = v.into_iter().flatten().collect();
        v.sort();
        (v.get(v.len() / 2).copied(), v.last().copied())
    };
    let (med_nr, max_nr) = secs(lag.iter().map(|l| l.to_not_ready).collect());
    let (med_rm, max_rm) = secs(lag.iter().map(|l| l.to_removed).collect());
    Analysis {
        phases: phase_reports(recorded),
        p99_ratio: ratio,
        pods: pod_reports,
        attributions,
        deregistration: LagStats {
            pods: lag,
            median_to_not_ready: med_nr,
            max_to_not_ready: max_nr,
            median_to_removed: med_rm,
            max_to_removed: max_rm,
        },
        findings,
        unexplained_failures: unexplained.len() as u64,
    }
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
    let pods = pods(failing);
    let (recorded, attributions) = simulate(&pods, failing);
    let analysis = analysis(&pods, &recorded, attributions);
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
            addresses: vec![addr("10.96.0.42", 8080)],
        },
        timeline: timeline(&pods),
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
