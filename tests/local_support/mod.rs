//! Shared harness of the `local_*` integration tests: runs a rollout of the local runtime under
//! bounded open-model load from the real engine, and checks the results against the timeline.
//! Until the run flow exists as a library call, this reproduces its order: prepare, load,
//! baseline, trigger, wait for completion, settle, stop, shutdown.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use zerodrop::cluster::local::process::CommandSpec;
use zerodrop::cluster::local::{LocalCluster, LocalConfig};
use zerodrop::cluster::{Cluster, ClusterError, EventKind};
use zerodrop::load::StatusSet;
use zerodrop::load::schedule::Schedule;
use zerodrop::load::{LoadSpec, Mode, RequestSpec, run_load};
use zerodrop::model::clock::{At, RunClock};
use zerodrop::model::outcome::OutcomeClass;
use zerodrop::model::request::{LiveStats, RequestRecord, Sink};
use zerodrop::timeline::{Timeline, TimelineRecorder};

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

struct Collect(Vec<RequestRecord>);

impl Sink for Collect {
    fn record(&mut self, r: &RequestRecord) {
        self.0.push(r.clone());
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

/// What a run produced.
pub struct Run {
    pub records: Vec<RequestRecord>,
    pub timeline: Timeline,
    pub rollout: Result<String, String>,
    pub live_groups_after_shutdown: Vec<i32>,
    pub logs: std::collections::BTreeMap<String, Vec<String>>,
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

    /// The timeline as one line per event, for assertion messages.
    pub fn events_text(&self) -> String {
        let mut s = String::new();
        for e in &self.timeline.events {
            let kind = serde_json::to_string(&e.kind).unwrap_or_default();
            s.push_str(&format!("\n  {} {:?} {kind}", e.at, e.pod));
        }
        s
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

/// Runs the engine on its own thread (it needs a `LocalSet`) until told to stop.
struct Load {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: std::thread::JoinHandle<Vec<RequestRecord>>,
}

fn start_load(clock: RunClock, target: &str, t: &Traffic) -> Load {
    let spec = LoadSpec {
        request: RequestSpec {
            method: http::Method::GET,
            url: format!("{target}/").parse().expect("target URL"),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
            accept: StatusSet::default(),
            identity_header: Some(http::HeaderName::from_static("x-zerodrop-replica")),
        },
        mode: Mode::Open {
            schedule: Schedule::constant(t.rate, Some(Duration::from_secs(120))),
            max_in_flight: 500,
            connections: t.connections,
        },
        keepalive: t.keepalive,
        http2: false,
        insecure: false,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let local = tokio::task::LocalSet::new();
        let sink = Rc::new(RefCell::new(Collect(Vec::new())));
        let s2: Rc<RefCell<dyn Sink>> = sink.clone();
        local.block_on(&rt, async move {
            let stop = async move {
                let _ = rx.await;
            };
            run_load(&spec, clock, s2, Arc::new(LiveStats::default()), None, stop)
                .await
                .expect("load ran");
        });
        std::mem::take(&mut sink.borrow_mut().0)
    });
    Load {
        stop: Some(tx),
        thread,
    }
}

impl Load {
    fn finish(mut self) -> Vec<RequestRecord> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.thread.join().expect("load thread")
    }
}

/// A local configuration with quick probes, suited to tests.
pub fn config(command: CommandSpec) -> LocalConfig {
    let mut c = LocalConfig::new(command);
    c.replicas = 3;
    c.progress_deadline = Duration::from_secs(30);
    c
}

/// Prepare, load, baseline, trigger, wait, settle, stop, shutdown.
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
    let load = start_load(clock, &target, &traffic);
    tokio::time::sleep(traffic.baseline).await;
    cluster.trigger().await?;
    let rollout = cluster
        .wait_complete()
        .await
        .map(|d| d.summary)
        .map_err(|e| e.to_string());
    tokio::time::sleep(traffic.settle).await;
    let records = tokio::task::spawn_blocking(move || load.finish())
        .await
        .expect("join");
    let logs = cluster.replica_logs();
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
        logs,
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

/// No failure before the trigger.
pub fn trigger_at(run: &Run) -> At {
    run.timeline
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Trigger { .. }))
        .map(|e| e.at)
        .expect("trigger recorded")
}

/// Processes whose process group is one of `groups`, still alive (zombies excluded).
pub fn survivors(groups: &[i32]) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, pgrp.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.trim().to_string()) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 3 || fields[0] == "Z" {
            continue;
        }
        if let Ok(pgrp) = fields[2].parse::<i32>() {
            if groups.contains(&pgrp) {
                out.push(stat);
            }
        }
    }
    out
}
