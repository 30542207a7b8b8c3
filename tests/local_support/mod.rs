//! Shared harness of the `local_*` integration tests: a rollout of the local runtime under
//! bounded open-model load, two ways.
//!
//! - [`rollout_through_flow`] runs the real run flow, `zerodrop::run::flow::run` — what
//!   `zerodrop local` does — with a plan built from flags; the cluster is wrapped only to keep
//!   the replicas' logs, which the runtime drops at shutdown.
//! - [`rollout_under_load`] drives the engine itself, with a sink that keeps every request
//!   record, in the flow's order (prepare, load, baseline, trigger, wait for completion,
//!   settle, stop load, shutdown). It exists because the flow's recorder keeps failures only
//!   and counts the rest, while [`assert_accounts_agree`] checks *every* answer, successes
//!   included, against the proxy's routes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use zerodrop::cluster::local::process::CommandSpec;
use zerodrop::cluster::local::{LocalCluster, LocalConfig};
use zerodrop::cluster::{Cluster, ClusterError, EventKind, Prepared, RolloutDone};
use zerodrop::config::{FlowFlags, OutputFlags, Plan, PlanKind, TrafficFlags};
use zerodrop::load::schedule::Schedule;
use zerodrop::load::{EngineThread, LoadSpec, Mode, RequestSpec};
use zerodrop::model::clock::{At, RunClock};
use zerodrop::model::outcome::OutcomeClass;
use zerodrop::model::request::{LiveStats, RequestRecord, Sink};
use zerodrop::model::result::{Command, RolloutInfo};
use zerodrop::run::flow::{Flow, Stop};
use zerodrop::run::interrupt::Interrupt;
use zerodrop::timeline::{Timeline, TimelineRecorder};

/// The header the demo app names its replica in.
const IDENTITY_HEADER: &str = "x-zerodrop-replica";

pub fn zerodrop_bin() -> String {
    env!("CARGO_BIN_EXE_zerodrop").to_string()
}

/// `zerodrop demo-app ARGS…` as a replica command.
pub fn demo_app(args: &[&str]) -> CommandSpec {
    let mut a = vec!["demo-app".to_string()];
    a.extend(args.iter().map(|s| s.to_string()));
    CommandSpec {
        program: zerodrop_bin(),
        args: a,
    }
}

pub fn command(program: &str, args: &[&str]) -> CommandSpec {
    CommandSpec {
        program: program.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

/// How the test drives load.
#[derive(Clone, Debug)]
pub struct Traffic {
    pub rate: f64,
    pub keepalive: bool,
    pub connections: usize,
    pub baseline: Duration,
    pub settle: Duration,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            rate: 200.0,
            keepalive: true,
            connections: 8,
            baseline: Duration::from_secs(1),
            settle: Duration::from_millis(1500),
        }
    }
}

/// A local configuration with quick probes, suited to tests.
pub fn config(command: CommandSpec) -> LocalConfig {
    let mut c = LocalConfig::new(command);
    c.replicas = 3;
    c.progress_deadline = Duration::from_secs(30);
    c
}

/// The timeline as one line per event, for assertion messages.
pub fn events_text(timeline: &Timeline) -> String {
    let mut s = String::new();
    for e in &timeline.events {
        let kind = serde_json::to_string(&e.kind).unwrap_or_default();
        s.push_str(&format!("\n  {} {:?} {kind}", e.at, e.pod));
    }
    s
}

// ---- through the run flow ----

/// What a run through the flow produced, plus what only the runtime can tell.
pub struct FlowRun {
    /// Where the flow stopped (`Completed` when every step ran).
    pub stop: Stop,
    pub rollout: RolloutInfo,
    pub timeline: Timeline,
    /// The replicas' last log lines, by pod, as they were just before shutdown.
    pub logs: BTreeMap<String, Vec<String>>,
    pub live_groups_after_shutdown: Vec<i32>,
}

impl FlowRun {
    pub fn events_text(&self) -> String {
        events_text(&self.timeline)
    }
}

/// The local runtime as the flow sees it, keeping the replicas' logs at shutdown.
struct KeepLogs {
    cluster: LocalCluster,
    logs: BTreeMap<String, Vec<String>>,
}

impl Cluster for KeepLogs {
    async fn prepare(&mut self) -> Result<Prepared, ClusterError> {
        self.cluster.prepare().await
    }

    async fn trigger(&mut self) -> Result<(), ClusterError> {
        self.cluster.trigger().await
    }

    async fn wait_complete(&mut self) -> Result<RolloutDone, ClusterError> {
        self.cluster.wait_complete().await
    }

    async fn shutdown(&mut self) {
        self.logs = self.cluster.replica_logs();
        self.cluster.shutdown().await;
    }
}

/// The plan `zerodrop local` would build from these flags.
fn plan(t: &Traffic) -> Plan {
    let traffic = TrafficFlags {
        rate: Some(t.rate.to_string()),
        connections: Some(t.connections.to_string()),
        no_keepalive: !t.keepalive,
        pod_header: Some(IDENTITY_HEADER.into()),
        ..TrafficFlags::default()
    };
    let flow = FlowFlags {
        baseline: Some(format!("{}ms", t.baseline.as_millis())),
        settle: Some(format!("{}ms", t.settle.as_millis())),
        rollout_timeout: None,
    };
    let output = OutputFlags {
        quiet: true,
        ..OutputFlags::default()
    };
    Plan::build(PlanKind::Local, &traffic, Some(&flow), &output).expect("valid plan")
}

/// Runs `config`'s rollout through the real run flow.
pub async fn rollout_through_flow(config: LocalConfig, traffic: Traffic) -> FlowRun {
    let plan = plan(&traffic);
    let timeline = TimelineRecorder::new(RunClock::start());
    let cluster = LocalCluster::new(config, timeline.clone()).expect("the runtime accepts it");
    let mut cluster = KeepLogs {
        cluster,
        logs: BTreeMap::new(),
    };
    let flow = Flow {
        plan: &plan,
        command: Command::Local,
        timeline,
        interrupt: Interrupt::never(),
        analysis: Default::default(),
    };
    let (result, stop) = zerodrop::run::flow::run(&mut cluster, flow).await;
    FlowRun {
        stop,
        rollout: result.rollout.unwrap_or_default(),
        timeline: result.timeline,
        logs: cluster.logs,
        live_groups_after_shutdown: cluster.cluster.live_process_groups(),
    }
}

// ---- the engine with every record kept ----

struct Collect(Vec<RequestRecord>);

impl Sink for Collect {
    fn record(&mut self, r: &RequestRecord) {
        self.0.push(r.clone());
    }
    // These runs check every answer against the replicas' own accounts; connection lives are
    // tested on their own (load_connections.rs).
    fn connection(&mut self, _: &zerodrop::model::connection::ConnectionLife) {}
}

/// What a run with every record kept produced.
pub struct Run {
    pub records: Vec<RequestRecord>,
    pub timeline: Timeline,
    pub rollout: Result<String, String>,
    pub live_groups_after_shutdown: Vec<i32>,
    /// The proxy's counters: (accepted, no endpoint, backend unreachable, to terminating).
    pub proxy: (u64, u64, u64, u64),
}

impl Run {
    pub fn failures(&self) -> Vec<&RequestRecord> {
        self.records
            .iter()
            .filter(|r| r.class != OutcomeClass::Ok)
            .collect()
    }

    pub fn ok(&self) -> usize {
        self.records
            .iter()
            .filter(|r| r.class == OutcomeClass::Ok)
            .count()
    }

    /// The pod the proxy pinned this request's connection to.
    pub fn routed_pod(&self, r: &RequestRecord) -> Option<String> {
        let conn = r.conn?;
        // `end`, not `sent`: the first request on a new connection is sent before the proxy
        // accepts it; the route is open by the time the request ends.
        self.timeline
            .route_at(conn.local, r.end)
            .map(|x| x.pod.clone())
    }

    /// When `pod` began terminating, if it did.
    pub fn terminating_at(&self, pod: &str) -> Option<At> {
        self.timeline.first(pod, "pod_terminating").map(|e| e.at)
    }

    pub fn events_text(&self) -> String {
        events_text(&self.timeline)
    }

    pub fn describe_failures(&self) -> String {
        let mut s = format!(
            "proxy (accepted, no endpoint, unreachable, to terminating): {:?}",
            self.proxy
        );
        for f in self.failures().iter().take(20) {
            s.push_str(&format!(
                "\n  seq {} due {} class {} pod {:?} error {:?}",
                f.seq,
                f.due,
                f.class,
                self.routed_pod(f),
                f.error
            ));
        }
        s
    }
}

fn load_spec(target: &str, t: &Traffic) -> LoadSpec {
    LoadSpec {
        requests: vec![RequestSpec::get(
            format!("{target}/").parse().expect("target URL"),
        )],
        seed: 0,
        identity_header: Some(http::HeaderName::from_static(IDENTITY_HEADER)),
        version_header: None,
        max_body: 64 * 1024,
        grpc: None,
        mode: Mode::Open {
            schedule: Schedule::constant(t.rate, Some(Duration::from_secs(120))),
            max_in_flight: 500,
            connections: t.connections,
            send_window: None,
        },
        keepalive: t.keepalive,
        http2: false,
        insecure: false,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        addresses: None,
    }
}

/// Prepare, load, baseline, trigger, wait, settle, stop, shutdown — with every record kept.
pub async fn rollout_under_load(
    config: LocalConfig,
    traffic: Traffic,
) -> Result<Run, ClusterError> {
    let clock = RunClock::start();
    let rec = TimelineRecorder::new(clock);
    let mut cluster = LocalCluster::new(config, rec.clone())?;
    let prepared = match cluster.prepare().await {
        Ok(p) => p,
        Err(e) => {
            cluster.shutdown().await;
            return Err(e);
        }
    };
    let target = prepared
        .target
        .clone()
        .expect("local runtime gives a target");
    let spec = load_spec(&target, &traffic);
    let live = Arc::new(LiveStats::default());
    let engine =
        EngineThread::spawn(spec, clock, Collect(Vec::new()), live, None).expect("load starts");
    tokio::time::sleep(traffic.baseline).await;
    cluster.trigger().await?;
    let rollout = cluster
        .wait_complete()
        .await
        .map(|d| d.summary)
        .map_err(|e| e.to_string());
    tokio::time::sleep(traffic.settle).await;
    engine.stopper().stop();
    let (_, Collect(records)) = engine.wait().await.expect("load ran");
    let proxy = cluster.proxy_stats().map_or((0, 0, 0, 0), |s| {
        use std::sync::atomic::Ordering::Relaxed;
        (
            s.accepted.load(Relaxed),
            s.no_endpoint.load(Relaxed),
            s.backend_unreachable.load(Relaxed),
            s.to_terminating.load(Relaxed),
        )
    });
    cluster.shutdown().await;
    Ok(Run {
        records,
        timeline: rec.finish(),
        rollout,
        live_groups_after_shutdown: cluster.live_process_groups(),
        proxy,
    })
}

/// Every failure on a connection maps, through the proxy's routes, to a replica that had begun
/// terminating by the time the failure ended; and every answer's identity header names the
/// replica the proxy routed its connection to.
pub fn assert_accounts_agree(run: &Run) {
    for r in &run.records {
        let Some(conn) = r.conn else { continue };
        let pod = run
            .timeline
            .route_at(conn.local, r.end)
            .map(|x| x.pod.clone())
            .unwrap_or_else(|| panic!("no proxy route for {:?} (seq {})", conn.local, r.seq));
        if let Some(id) = &r.identity {
            if r.class.got_response() {
                assert_eq!(
                    &**id, pod,
                    "seq {}: answered by {id}, routed to {pod}",
                    r.seq
                );
            }
        }
    }
}

/// When the rollout was triggered.
pub fn trigger_at(run: &Run) -> At {
    run.timeline
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Trigger { .. }))
        .map(|e| e.at)
        .expect("trigger recorded")
}
