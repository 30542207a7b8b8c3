//! The run flow shared by `zerodrop local` and `zerodrop run`, whatever the [`Cluster`]:
//!
//! ```text
//! prepare ─► load starts ─► baseline ─► (healthy?) ─► trigger ─► wait for completion and for
//! every old pod to be gone ─► settle ─► stop load ─► shutdown cluster ─► analyse ─► verdict
//! ```
//!
//! Phases are marked on the recorder at the instants they begin, so every request belongs to
//! the phase in force at its due time. Whatever happens — a failed prepare, an unhealthy
//! baseline, a failed rollout, an interrupt — the cluster is shut down and a [`RunResult`] is
//! produced (partial where the run was cut short), so a report is always written.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::cluster::{Cluster, ClusterError, EventKind, Prepared};
use crate::config::{Plan, Via};
use crate::load::AddressFeed;
use crate::load::EngineThread;
use crate::model::clock::At;
use crate::model::phase::{BASELINE, ROLLOUT, SETTLE};
use crate::model::request::LiveStats;
use crate::model::request::RevisionSource;
use crate::model::result::{Command, LoadReport, RolloutInfo, SCHEMA_VERSION};
use crate::record::{PhaseMarks, Recorded, Recorder, RecorderConfig};
use crate::result::RunResult;
use crate::run::identity;
use crate::run::interrupt::Interrupt;
use crate::run::progress::{ProgressDisplay, ProgressMode};
use crate::timeline::{TimelineRecorder, TimelineRevisions};

/// Where the flow stopped early, if it did.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// Ran to the end.
    Completed,
    /// The cluster or target could not be used, or the baseline was unhealthy (exit 4).
    CouldNotRun(String),
    /// Bad input discovered by the cluster side (exit 2).
    BadInput(String),
    /// The rollout failed or timed out (exit 3).
    RolloutFailed(String),
    /// SIGINT/SIGTERM (exit 130).
    Interrupted,
}

impl Stop {
    /// What the gate needs to know of an early stop: its exit code and reason (`None` for a run
    /// that went to its end, whose verdict the gate decides from the result).
    pub fn stopped(&self) -> Option<crate::gate::Stopped> {
        use crate::model::exit;
        let (exit_code, reason) = match self {
            Stop::Completed => return None,
            Stop::CouldNotRun(m) => (exit::COULD_NOT_RUN, format!("could not run: {m}")),
            Stop::BadInput(m) => (exit::BAD_INPUT, m.clone()),
            Stop::RolloutFailed(m) => (exit::ROLLOUT_FAILED, format!("the rollout failed: {m}")),
            Stop::Interrupted => (
                exit::INTERRUPTED,
                "interrupted: the result is partial".to_string(),
            ),
        };
        Some(crate::gate::Stopped { exit_code, reason })
    }
}

impl From<ClusterError> for Stop {
    fn from(e: ClusterError) -> Stop {
        match e {
            ClusterError::BadInput(m) => Stop::BadInput(m),
            ClusterError::CouldNotRun(m) => Stop::CouldNotRun(m),
            ClusterError::RolloutFailed(m) => Stop::RolloutFailed(m),
            ClusterError::Interrupted => Stop::Interrupted,
        }
    }
}

/// Everything the flow needs besides the cluster.
pub struct Flow<'a> {
    pub plan: &'a Plan,
    pub command: Command,
    pub timeline: TimelineRecorder,
    pub interrupt: Interrupt,
    /// What the analysis should know of the workload and its runtime (the identity header is
    /// taken from the plan).
    pub analysis: crate::analysis::AnalysisInput,
}

/// Waits for `d` unless interrupted first; true if the whole wait elapsed.
pub(super) async fn wait(interrupt: &Interrupt, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = interrupt.wait() => false,
    }
}

fn say(plan: &Plan, msg: impl std::fmt::Display) {
    if !plan.output.quiet {
        eprintln!("zerodrop: {msg}");
    }
}

/// Runs the whole flow against `cluster` and returns the result (also on failure).
pub async fn run<C: Cluster>(cluster: &mut C, flow: Flow<'_>) -> (RunResult, Stop) {
    let clock = flow.timeline.clock();
    let marks = PhaseMarks::new();
    let mut rollout = RolloutInfo {
        outcome: "not started".into(),
        ..RolloutInfo::default()
    };
    let load = match prepare(cluster, &flow, &marks, &mut rollout).await {
        Ok(load) => load,
        Err(stop) => {
            cluster.shutdown().await;
            let end = clock.now();
            return (assemble(&flow, rollout, None, None, end), stop);
        }
    };
    // Baseline, rollout, settle: the first that cannot go on says why the flow stops.
    let phases = async {
        super::baseline::baseline(&flow, &load).await?;
        roll(cluster, &flow, &marks, &load, &mut rollout).await?;
        settle(&flow, &marks, &load).await
    };
    let stop = match phases.await {
        Ok(()) => Stop::Completed,
        Err(stop) => stop,
    };
    finish(cluster, &flow, load, rollout, stop).await
}

/// The load under way: its engine and the progress shown of it.
pub(super) struct Load {
    pub(super) engine: EngineThread<Recorder>,
    pub(super) progress: ProgressDisplay,
}

/// Prepares the cluster (watches up, everything ready), then starts the load; the baseline
/// phase begins with the first request due.
async fn prepare<C: Cluster>(
    cluster: &mut C,
    flow: &Flow<'_>,
    marks: &PhaseMarks,
    rollout: &mut RolloutInfo,
) -> Result<Load, Stop> {
    let plan = flow.plan;
    let clock = flow.timeline.clock();
    // Prepare: watches up, everything ready.
    let prepared: Prepared = tokio::select! {
        p = cluster.prepare() => p.map_err(Stop::from),
        _ = flow.interrupt.wait() => Err(Stop::Interrupted),
    }?;
    rollout.description = prepared.description.clone();
    flow.timeline
        .set_desired_replicas(prepared.desired_replicas);
    say(
        plan,
        format!(
            "{} ready ({} ready endpoints)",
            prepared.description, prepared.ready_endpoints
        ),
    );

    // Load.
    let mut spec = crate::config::grpc::load_spec(plan, prepared.target.as_deref())
        .await
        .map_err(|e| match e {
            crate::config::grpc::SpecError::Unreachable(e) => Stop::CouldNotRun(e.to_string()),
            other => Stop::BadInput(other.to_string()),
        })?;
    // The pod-header search samples HTTP responses: a gRPC run names its pod header itself.
    if plan.request.pod_header.is_none() && plan.request.discover_pod_header && plan.grpc.is_none()
    {
        spec.identity_header = discover_pod_header(flow, &spec).await;
    }
    if plan.traffic.via == Via::Endpoints {
        let url = &spec.requests[0].url;
        let https = url.scheme_str() == Some("https");
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        spec.addresses = Some(endpoint_feed(&flow.timeline, port));
    }
    let marks_engine = marks.clone();
    let on_start = Box::new(move |start: At| {
        marks_engine.begin(BASELINE, || start);
    });
    let source = TimelineRevisions::new(flow.timeline.clone(), revisions_told_by(flow));
    let engine = start_engine(
        plan,
        spec,
        clock,
        marks.clone(),
        Some(on_start),
        Some(Box::new(source)),
    )
    .map_err(|e| Stop::CouldNotRun(e.to_string()))?;
    let progress = ProgressDisplay::start(
        engine.live.clone(),
        None,
        ProgressMode::detect(plan.output.quiet),
    );
    progress.set_phase(BASELINE);
    Ok(Load { engine, progress })
}

/// The Service's routable endpoints (kube-proxy's choice: ready, else serving-terminating) as
/// socket addresses, followed from the timeline every 50 ms for the engine's new connections
/// (`--via endpoints`): the engine learns addresses, never Kubernetes. An endpoint without a
/// port takes the target's. The task ends with the engine.
fn endpoint_feed(timeline: &TimelineRecorder, default_port: u16) -> AddressFeed {
    let parse = move |all: Vec<String>| -> Vec<SocketAddr> {
        all.iter()
            .filter_map(|a| {
                a.parse().ok().or_else(|| {
                    a.parse::<IpAddr>()
                        .ok()
                        .map(|ip| SocketAddr::new(ip, default_port))
                })
            })
            .collect()
    };
    let (tx, rx) = tokio::sync::watch::channel(parse(timeline.routable_endpoints()));
    let timeline = timeline.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            let now = parse(timeline.routable_endpoints());
            tx.send_if_modified(|current| {
                let changed = *current != now;
                if changed {
                    *current = now;
                }
                changed
            });
        }
    });
    rx
}

/// Rollout: trigger it, then wait for the cluster to say it is complete, within
/// `--rollout-timeout`.
async fn roll<C: Cluster>(
    cluster: &mut C,
    flow: &Flow<'_>,
    marks: &PhaseMarks,
    load: &Load,
    rollout: &mut RolloutInfo,
) -> Result<(), Stop> {
    let plan = flow.plan;
    let clock = flow.timeline.clock();
    marks.begin(ROLLOUT, || clock.now());
    load.progress.set_phase(ROLLOUT);
    let triggered = tokio::select! {
        t = cluster.trigger() => t.map_err(Stop::from),
        _ = flow.interrupt.wait() => Err(Stop::Interrupted),
    };
    triggered?;
    rollout.triggered_at = first_trigger(&flow.timeline).or(Some(clock.now()));
    rollout.outcome = "in progress".into();
    // A runtime that enforces the timeout itself says what the rollout was still waiting
    // for, which this flow cannot: the flow's timer is for the others only.
    let flow_timeout = !cluster.enforces_rollout_timeout();
    let done = tokio::select! {
        // A rollout that ended counts over an interrupt at the same instant.
        biased;
        d = cluster.wait_complete() => d.map_err(Stop::from),
        _ = tokio::time::sleep(plan.flow.rollout_timeout), if flow_timeout => Err(Stop::RolloutFailed(format!(
            "the rollout did not complete within --rollout-timeout {:?}", plan.flow.rollout_timeout
        ))),
        _ = flow.interrupt.wait() => Err(Stop::Interrupted),
    };
    let d = done?;
    rollout.completed_at = Some(clock.now());
    rollout.outcome = format!("complete: {}", d.summary);
    say(plan, format!("rollout complete: {}", d.summary));
    Ok(())
}

/// Settle: the new version under the same load.
async fn settle(flow: &Flow<'_>, marks: &PhaseMarks, load: &Load) -> Result<(), Stop> {
    let clock = flow.timeline.clock();
    marks.begin(SETTLE, || clock.now());
    load.progress.set_phase(SETTLE);
    if !wait(&flow.interrupt, flow.plan.flow.settle).await {
        return Err(Stop::Interrupted);
    }
    Ok(())
}

/// Records how the rollout ended, stops the load and the cluster, and builds the result.
async fn finish<C: Cluster>(
    cluster: &mut C,
    flow: &Flow<'_>,
    load: Load,
    mut rollout: RolloutInfo,
    stop: Stop,
) -> (RunResult, Stop) {
    let clock = flow.timeline.clock();
    match &stop {
        Stop::RolloutFailed(m) => {
            rollout.outcome = format!("failed: {m}");
            flow.timeline
                .now(None, EventKind::RolloutFailed { reason: m.clone() });
        }
        Stop::Interrupted if rollout.triggered_at.is_some() && rollout.completed_at.is_none() => {
            rollout.outcome = "interrupted".into();
        }
        _ => {}
    }
    let Load { engine, progress } = load;
    engine.stopper().stop();
    let joined = finish_engine(engine).await;
    progress.finish();
    cluster.shutdown().await;
    let end = clock.now();
    match joined {
        Ok((report, recorded)) => (
            assemble(flow, rollout, Some(report), Some(recorded), end),
            stop,
        ),
        Err(e) => {
            let stop = if stop == Stop::Completed {
                Stop::CouldNotRun(e.to_string())
            } else {
                stop
            };
            (assemble(flow, rollout, None, None, end), stop)
        }
    }
}

/// How the timeline tells a response's revision in this flow, in words for reports.
fn revisions_told_by(flow: &Flow<'_>) -> String {
    match (flow.command, &flow.plan.request.pod_header) {
        (Command::Local, _) => "the local proxy's route of each connection (exact)".to_string(),
        (_, Some(h)) => format!("the pod named by the {h} header"),
        (_, None) => {
            "the pod at the connection's address (traffic straight to pod IPs)".to_string()
        }
    }
}

/// Starts the load engine on its own thread, recording into a [`Recorder`] sized for the plan:
/// its failure log holds `--failure-log-limit` failures, and a second is closed once no request
/// due in it can still be open (timeouts plus a second of slack). `revisions`, when given,
/// tells the recorder which revision served each connection.
pub fn start_engine(
    plan: &Plan,
    spec: crate::load::LoadSpec,
    clock: crate::model::clock::RunClock,
    marks: PhaseMarks,
    on_start: Option<crate::load::engine::OnStart>,
    revisions: Option<Box<dyn RevisionSource>>,
) -> Result<EngineThread<Recorder>, crate::load::EngineError> {
    let config = RecorderConfig {
        failure_log_limit: plan.output.failure_log_limit,
        max_open: plan.traffic.timeout + plan.traffic.connect_timeout + Duration::from_secs(1),
        templates: plan.request.template_infos(),
        version_header: plan.request.version_header.clone(),
    };
    let live = std::sync::Arc::new(LiveStats::default());
    let mut recorder = Recorder::new(config, marks, live.clone());
    if let Some(source) = revisions {
        recorder = recorder.with_revisions(source);
    }
    if spec.grpc.is_some() {
        // A few long-lived connections: each pod's load is read from theirs.
        recorder = recorder.with_load_by_connection();
    }
    EngineThread::spawn(spec, clock, recorder, live, on_start)
}

/// Waits for the engine to end and closes its recording at the load's end.
pub async fn finish_engine(
    engine: EngineThread<Recorder>,
) -> Result<(LoadReport, Recorded), crate::load::EngineError> {
    let (report, recorder) = engine.wait().await?;
    let recorded = recorder.finish(report.end);
    Ok((report, recorded))
}

/// Looks for a response header naming the pod that answered; records what it sent and what
/// it found (the sampled requests reached the service: a server's own log counts them).
async fn discover_pod_header(
    flow: &Flow<'_>,
    spec: &crate::load::LoadSpec,
) -> Option<http::HeaderName> {
    // Only requests that change nothing are sent outside the run: a POST is not repeated 12
    // times for a header. A mix's first such template is sampled.
    let Some(safe) = spec.requests.iter().find(|r| r.method.is_safe()) else {
        flow.timeline.now(
            None,
            EventKind::Note {
                reason: identity::SEARCHED.into(),
                message: identity::not_searched(spec.requests[0].method.as_str()),
            },
        );
        return None;
    };
    let pods = identity::known_pods(&flow.timeline.events());
    let mut sample = spec.clone();
    sample.requests = vec![safe.clone()];
    let sampled = tokio::task::spawn_blocking(move || {
        crate::load::sample::response_headers_blocking(
            sample,
            identity::SAMPLES,
            Duration::from_secs(10),
        )
    })
    .await
    .ok()?
    .ok()?;
    let found = identity::discover(&sampled.answered, &pods);
    flow.timeline.now(
        None,
        EventKind::Note {
            reason: identity::SEARCHED.into(),
            message: identity::searched(&sampled, found.as_ref()),
        },
    );
    let found = found?;
    say(flow.plan, found.describe());
    flow.timeline.now(
        None,
        EventKind::Note {
            reason: identity::DISCOVERED.into(),
            message: found.header.clone(),
        },
    );
    found.header.parse().ok()
}

fn first_trigger(t: &TimelineRecorder) -> Option<At> {
    t.events()
        .iter()
        .find(|e| matches!(e.kind, EventKind::Trigger { .. }))
        .map(|e| e.at)
}

/// Builds the result document; the verdict is decided by the caller from it and the stop.
fn assemble(
    flow: &Flow<'_>,
    rollout: RolloutInfo,
    report: Option<LoadReport>,
    recorded: Option<Recorded>,
    end: At,
) -> RunResult {
    let clock = flow.timeline.clock();
    let recorded = recorded.unwrap_or_else(|| {
        Recorder::new(
            RecorderConfig::default(),
            PhaseMarks::new(),
            Default::default(),
        )
        .finish(end)
    });
    let timeline = flow.timeline.finish();
    let discovered = identity::discovered(&timeline.events);
    let input = crate::analysis::AnalysisInput {
        pod_header: flow.plan.request.pod_header.clone().or(discovered.clone()),
        pod_header_discovered: discovered.is_some(),
        via_endpoints: flow.plan.traffic.via == Via::Endpoints,
        ..flow.analysis.clone()
    };
    let analysis = crate::analysis::analyse(&recorded, &timeline, &input);
    RunResult {
        schema_version: SCHEMA_VERSION,
        zerodrop_version: env!("CARGO_PKG_VERSION").to_string(),
        command: flow.command,
        started_at: clock.anchor_wall(),
        interrupted: flow.interrupt.is_set(),
        plan: flow.plan.masked_json(),
        load: report.unwrap_or_default(),
        recorded,
        timeline,
        rollout: Some(rollout),
        analysis,
        thresholds: Vec::new(),
        verdict: Default::default(),
        workers: 1,
    }
}
