//! The validated plan: the only input the load engine, the run flow and the reports read of a
//! `load`, `local` or `run`. Plain data with defaults; building it from flags and a scenario
//! file is the area modules' job ([`super::traffic`], [`super::flow`], [`super::output`]), and
//! [`Plan::new`] builds one from typed values.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use super::parse;
use crate::load::StatusSet;
use crate::load::check::{Check, Checks};
use crate::load::engine::{LoadSpec, Mode, RequestSpec};
use crate::load::schedule::Schedule;
use crate::model::template::{CheckInfo, TemplateInfo};
use crate::report::redact::Redactor;

/// Bound on one request, from its send to the end of its response (`--timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on opening a connection (`--connect-timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The widest `--send-window`: a request may be held back this long at most.
pub const MAX_SEND_WINDOW: Duration = Duration::from_millis(10);
/// Failures kept in full detail (`--failure-log-limit`).
pub const DEFAULT_FAILURE_LOG_LIMIT: usize = 10_000;
/// The most of a response body read for checks that need it (`--max-body`).
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// The arrival rate of a rollout run given none: modest enough for any test service.
pub const DEFAULT_RATE: f64 = 100.0;
/// gRPC connections (`--connections`): as many as several client instances would open, so
/// that through a Service, which pins each connection to one pod, every pod of a small
/// Deployment is likely to carry calls (8 connections miss a given pod of 3 with odds 4 %).
pub const DEFAULT_GRPC_CONNECTIONS: usize = 8;

/// Which command the plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    Load,
    Local,
    Run,
}

/// The arrival pattern.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pattern {
    /// Constant arrival rate, for a duration (`load`) or for as long as the run flow needs.
    Rate { rate: f64, duration_s: Option<f64> },
    /// Ramping arrival rate through (instant, rate) points.
    Stages { points: Vec<(f64, f64)> },
    /// Closed loop: as fast as `connections` allow.
    Max {
        connections: usize,
        duration_s: Option<f64>,
    },
}

impl Pattern {
    /// The highest arrival rate of the pattern (closed loop: unknown).
    pub fn peak_rate(&self) -> Option<f64> {
        match self {
            Pattern::Rate { rate, .. } => Some(*rate),
            Pattern::Stages { points } => points.iter().map(|p| p.1).reduce(f64::max),
            Pattern::Max { .. } => None,
        }
    }
}

/// What a request looks like: method, path, headers, body and the statuses counted as ok.
#[derive(Clone, Debug, Serialize)]
pub struct RequestShape {
    pub method: String,
    /// Path and query replacing the target's (or the path on the local proxy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Headers in the order given.
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Bytes,
    pub body_bytes: usize,
    /// The file the body came from, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_file: Option<PathBuf>,
    pub accept_status: String,
    #[serde(skip)]
    pub accept: StatusSet,
}

impl Default for RequestShape {
    /// `GET`, no headers, no body, 200-299 counted as ok.
    fn default() -> Self {
        RequestShape {
            method: "GET".to_string(),
            path: None,
            headers: Vec::new(),
            body: Bytes::new(),
            body_bytes: 0,
            body_file: None,
            accept_status: "200-299".to_string(),
            accept: StatusSet::default(),
        }
    }
}

/// What the requests look like: one request shape (the flags'), or a mix of templates.
#[derive(Clone, Debug, Serialize)]
pub struct RequestPlan {
    /// The one request of a run without a mix; with one, its headers and accepted statuses
    /// are the templates' shared ones.
    #[serde(flatten)]
    pub shape: RequestShape,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_header: Option<String>,
    /// With no `--pod-header`, look for one before the load starts (`--pod-header none`: do
    /// not).
    pub discover_pod_header: bool,
    /// A response header naming the version that answered (`--version-header`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_header: Option<String>,
    /// The seed of the mix's sequence of templates (`--seed`).
    pub seed: u64,
    /// The most of a response body read for checks (`--max-body`).
    pub max_body: usize,
    /// The request templates of a mix (the scenario's `requests`); empty when the run sends
    /// the one request described above.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplatePlan>,
}

impl Default for RequestPlan {
    /// `GET`, no headers, no body, 200-299 counted as ok; no mix.
    fn default() -> Self {
        RequestPlan {
            shape: RequestShape::default(),
            pod_header: None,
            discover_pod_header: true,
            version_header: None,
            seed: 0,
            max_body: DEFAULT_MAX_BODY,
            templates: Vec::new(),
        }
    }
}

/// One request template of a mix, validated.
#[derive(Clone, Debug, Serialize)]
pub struct TemplatePlan {
    pub name: String,
    pub weight: f64,
    /// What it sends; its headers are the plan's shared ones with its own (which win by name).
    #[serde(flatten)]
    pub shape: RequestShape,
    /// The checks as reports name them.
    pub checks: Vec<CheckInfo>,
    /// The checks as the engine runs them.
    #[serde(skip)]
    pub compiled: Vec<Check>,
}

impl TemplatePlan {
    /// The one template of a run without a mix: the plan's request, named `default`.
    pub fn single(r: &RequestPlan) -> TemplatePlan {
        TemplatePlan {
            name: "default".to_string(),
            weight: 1.0,
            shape: r.shape.clone(),
            checks: Vec::new(),
            compiled: Vec::new(),
        }
    }

    /// How it is saved in a result.
    pub fn info(&self) -> TemplateInfo {
        TemplateInfo {
            name: self.name.clone(),
            method: self.shape.method.clone(),
            path: self.shape.path.clone().unwrap_or_else(|| "/".to_string()),
            weight: self.weight,
            checks: self.checks.clone(),
        }
    }
}

impl RequestPlan {
    /// The templates the run sends: the mix's, or the one request as template `default`.
    pub fn effective_templates(&self) -> Vec<TemplatePlan> {
        if self.templates.is_empty() {
            vec![TemplatePlan::single(self)]
        } else {
            self.templates.clone()
        }
    }

    /// The templates as a result saves them.
    pub fn template_infos(&self) -> Vec<TemplateInfo> {
        self.effective_templates()
            .iter()
            .map(TemplatePlan::info)
            .collect()
    }
}

/// How the load is generated.
#[derive(Clone, Debug, Serialize)]
pub struct TrafficPlan {
    pub pattern: Pattern,
    pub max_in_flight: usize,
    /// Connections opened ahead (open model, HTTP/1 keep-alive), HTTP/2 connections, or the
    /// workers of the closed loop.
    pub connections: usize,
    #[serde(with = "secs")]
    pub timeout: Duration,
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    /// How long a due request may wait to leave with later ones in one wake-up
    /// (`--send-window`); `None` leaves it to the engine, by rate
    /// ([`dispatch_window`](crate::load::engine::dispatch_window)).
    #[serde(
        with = "crate::model::clock::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub send_window: Option<Duration>,
    pub keepalive: bool,
    pub http2: bool,
    pub insecure: bool,
    /// How the load reaches the pods in a rollout run: through the Service, or straight to its
    /// routable endpoints, balanced by zerodrop (`--via endpoints`).
    pub via: Via,
    /// This generator's share of the schedule when several generators split it (an Indexed
    /// Job's workers); `None` for the whole schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

impl TrafficPlan {
    /// `pattern` with every other setting at its default: the connection pool and the
    /// in-flight cap sized for the pattern's peak rate, keep-alive HTTP/1, the default timeouts.
    pub fn new(pattern: Pattern) -> TrafficPlan {
        let peak = pattern.peak_rate().unwrap_or(0.0);
        let max_in_flight = default_max_in_flight(peak);
        let connections = match &pattern {
            Pattern::Max { connections, .. } => *connections,
            _ => default_connections(peak, false).min(max_in_flight),
        };
        TrafficPlan {
            pattern,
            max_in_flight,
            connections,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            send_window: None,
            keepalive: true,
            http2: false,
            insecure: false,
            via: Via::Service,
            shard: None,
        }
    }
}

/// How the load reaches the pods (`--via`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Through the target: the Service (ClusterIP), an ingress, a load balancer — the path
    /// real traffic takes.
    #[default]
    Service,
    /// Straight to the Service's routable endpoints (pod addresses), round robin over new
    /// connections, following the endpoints as kube-proxy does (ready ones; serving-terminating
    /// ones only when none is ready) — the way gRPC clients balance over a headless Service.
    Endpoints,
}

/// Generator `index` of `count` takes the schedule's requests `index`, `index + count`, …
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// The phases of a rollout run (`local`, `run`).
#[derive(Clone, Debug, Serialize)]
pub struct FlowPlan {
    #[serde(with = "secs")]
    pub baseline: Duration,
    #[serde(with = "secs")]
    pub settle: Duration,
    #[serde(with = "secs")]
    pub rollout_timeout: Duration,
}

impl Default for FlowPlan {
    fn default() -> Self {
        FlowPlan {
            baseline: Duration::from_secs(10),
            settle: Duration::from_secs(10),
            rollout_timeout: Duration::from_secs(600),
        }
    }
}

/// Where results go.
#[derive(Clone, Debug, Serialize)]
pub struct OutputPlan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub junit: Option<PathBuf>,
    pub quiet: bool,
    pub failure_log_limit: usize,
}

impl Default for OutputPlan {
    fn default() -> Self {
        OutputPlan {
            out: None,
            html: None,
            junit: None,
            quiet: false,
            failure_log_limit: DEFAULT_FAILURE_LOG_LIMIT,
        }
    }
}

/// The validated plan.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub kind: PlanKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The URL to load; `None` for `local`, whose target is its own service proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub request: RequestPlan,
    /// Unary gRPC calls instead of HTTP requests (`--grpc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<super::grpc::GrpcPlan>,
    pub traffic: TrafficPlan,
    pub flow: FlowPlan,
    pub output: OutputPlan,
    /// Thresholds, parsed (they serialise as written).
    pub thresholds: Vec<crate::gate::Threshold>,
    /// Extra headers to mask in reports.
    pub redact_headers: Vec<String>,
    /// WebSocket sessions instead of requests (`--ws`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws: Option<super::ws::WsPlan>,
}

impl Plan {
    /// A plan for `kind` with every default, sending at `pattern`: what the flags give when
    /// only the rate is set. `load` needs a `target` too. Built with typed values, for callers
    /// that have no command line (the demo, tests).
    pub fn new(kind: PlanKind, pattern: Pattern) -> Plan {
        Plan {
            kind,
            scenario: None,
            description: None,
            target: None,
            request: RequestPlan::default(),
            grpc: None,
            traffic: TrafficPlan::new(pattern),
            flow: FlowPlan::default(),
            output: OutputPlan::default(),
            thresholds: Vec::new(),
            redact_headers: Vec::new(),
            ws: None,
        }
    }

    /// The masker for everything a run writes or prints: the always-masked headers, the
    /// `--redact-header` names, and the literal values of the run's sensitive request headers
    /// wherever they turn up (an app or a trigger command that echoes the token).
    pub fn redactor(&self) -> Redactor {
        let mut headers = self.request.shape.headers.clone();
        for t in &self.request.templates {
            headers.extend(t.shape.headers.iter().cloned());
        }
        Redactor::for_headers(&self.redact_headers, &headers)
    }

    /// The plan as it is saved in a result: JSON with every secret masked (the always-masked
    /// headers, `--redact-header` names, passwords in URLs).
    pub fn masked_json(&self) -> serde_json::Value {
        let v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        self.redactor().json(&v)
    }

    /// The URL requests go to: the plan's target (or `base`, e.g. the local proxy), with the
    /// plan's path in place of the URL's.
    pub fn url(&self, base: Option<&str>) -> Result<http::Uri, String> {
        self.url_with(base, self.request.shape.path.as_deref())
    }

    /// The target (or `base`) with `path` in place of its path, when given.
    fn url_with(&self, base: Option<&str>, path: Option<&str>) -> Result<http::Uri, String> {
        let base = base.or(self.target.as_deref()).ok_or("no target URL")?;
        let uri: http::Uri = base.parse().map_err(|_| format!("`{base}` is not a URL"))?;
        let Some(path) = path else {
            return Ok(uri);
        };
        let mut parts = uri.into_parts();
        parts.path_and_query = Some(
            path.parse()
                .map_err(|_| format!("`{path}` is not a valid path"))?,
        );
        http::Uri::from_parts(parts).map_err(|e| e.to_string())
    }

    /// Makes this plan generator `index` of `count`: it sends every `count`-th request of the
    /// schedule, so the generators together send exactly the unsharded schedule. The pool size
    /// and in-flight cap are sized for this generator's share when they were left at their
    /// defaults for the whole rate (an explicit value is taken as meant per generator).
    pub fn shard(&mut self, index: u32, count: u32) {
        let count = count.max(1);
        if let Some(peak) = self.traffic.pattern.peak_rate() {
            let t = &mut self.traffic;
            let share = peak / f64::from(count);
            if t.max_in_flight == default_max_in_flight(peak) {
                t.max_in_flight = default_max_in_flight(share);
            }
            if t.connections == default_connections(peak, t.http2).min(t.max_in_flight) {
                t.connections = default_connections(share, t.http2).min(t.max_in_flight);
            }
        }
        self.traffic.shard = Some(Shard {
            index: index.min(count - 1),
            count,
        });
    }

    /// One template as the engine sends it, aimed at `base` (or the plan's target).
    fn request_spec(&self, base: Option<&str>, t: &TemplatePlan) -> Result<RequestSpec, String> {
        let shape = &t.shape;
        let mut headers = http::HeaderMap::new();
        for (k, v) in &shape.headers {
            let (n, v) = parse::header(&format!("{k}: {v}"))?;
            headers.append(n, v);
        }
        Ok(RequestSpec {
            method: http::Method::from_bytes(shape.method.as_bytes()).map_err(|e| e.to_string())?,
            url: self.url_with(base, shape.path.as_deref())?,
            headers,
            body: shape.body.clone(),
            accept: shape.accept.clone(),
            weight: t.weight,
            checks: Checks::new(t.compiled.clone()),
        })
    }

    /// How the engine sends: sessions, the open-model schedule (this generator's share), or
    /// the closed loop.
    fn mode(&self) -> Mode {
        let run_flow = self.kind != PlanKind::Load;
        let shard = |s: Schedule| match self.traffic.shard {
            Some(Shard { index, count }) => s.sharded(u64::from(index), u64::from(count)),
            None => s,
        };
        match (&self.ws, &self.traffic.pattern) {
            (Some(ws), pattern) => {
                let duration = match pattern {
                    Pattern::Rate { duration_s, .. } => duration_s.map(Duration::from_secs_f64),
                    _ => None,
                };
                let shard = self
                    .traffic
                    .shard
                    .map_or((0, 1), |s| (u64::from(s.index), u64::from(s.count)));
                Mode::Sessions(ws.session_spec(duration, self.traffic.max_in_flight, shard))
            }
            (None, Pattern::Rate { rate, duration_s }) => Mode::Open {
                schedule: shard(Schedule::constant(
                    *rate,
                    duration_s.map(Duration::from_secs_f64),
                )),
                max_in_flight: self.traffic.max_in_flight,
                connections: self.traffic.connections,
                send_window: self.traffic.send_window,
            },
            (None, Pattern::Stages { points }) => {
                let pts: Vec<(Duration, f64)> = points
                    .iter()
                    .map(|(t, r)| (Duration::from_secs_f64(*t), *r))
                    .collect();
                Mode::Open {
                    schedule: shard(Schedule::stages(&pts, run_flow)),
                    max_in_flight: self.traffic.max_in_flight,
                    connections: self.traffic.connections,
                    send_window: self.traffic.send_window,
                }
            }
            (
                None,
                Pattern::Max {
                    connections,
                    duration_s,
                },
            ) => Mode::Closed {
                connections: *connections,
                duration: duration_s.map(Duration::from_secs_f64),
            },
        }
    }

    /// The engine's input, aimed at `base` (or the plan's target).
    pub fn load_spec(&self, base: Option<&str>) -> Result<LoadSpec, String> {
        let requests = self
            .request
            .effective_templates()
            .iter()
            .map(|t| self.request_spec(base, t))
            .collect::<Result<Vec<_>, String>>()?;
        let header = |h: &Option<String>| h.as_deref().map(parse::header_name).transpose();
        let identity_header = header(&self.request.pod_header)?;
        let version_header = header(&self.request.version_header)?;
        let mode = self.mode();
        let grpc = self.grpc.as_ref().and_then(|g| {
            Some(crate::load::GrpcCall {
                path: g.path(),
                message: g.message.clone()?,
            })
        });
        Ok(LoadSpec {
            requests,
            seed: self.request.seed,
            identity_header,
            version_header,
            max_body: self.request.max_body,
            grpc,
            mode,
            keepalive: self.traffic.keepalive,
            http2: self.traffic.http2,
            insecure: self.traffic.insecure,
            timeout: self.traffic.timeout,
            connect_timeout: self.traffic.connect_timeout,
            addresses: None,
        })
    }
}

/// One second of backlog at the peak rate, at least 1,000: enough to see a target stall as
/// latency rather than drops, bounded so a hung target cannot exhaust file descriptors.
pub(crate) fn default_max_in_flight(peak_rate: f64) -> usize {
    (peak_rate.ceil() as usize).clamp(1_000, 50_000)
}

/// The HTTP/1 pool bounds throughput at connections ÷ service time (Little's law): one
/// connection per 10 req/s carries a service answering within 100 ms with room to spare, and
/// spreads requests over every pod behind a Service (kube-proxy pins each connection to one).
/// At least 8, at most 256. HTTP/2 multiplexes: one connection.
pub(super) fn default_connections(peak_rate: f64, http2: bool) -> usize {
    if http2 {
        1
    } else {
        ((peak_rate / 10.0).ceil() as usize).clamp(8, 256)
    }
}

/// `Duration` as fractional seconds.
pub(crate) mod secs {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
