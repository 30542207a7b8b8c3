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
use crate::load::engine::{LoadSpec, Mode, RequestSpec};
use crate::load::schedule::Schedule;
use crate::report::redact::Redactor;

/// Bound on one request, from its send to the end of its response (`--timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on opening a connection (`--connect-timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Failures kept in full detail (`--failure-log-limit`).
pub const DEFAULT_FAILURE_LOG_LIMIT: usize = 10_000;
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

/// What each request looks like.
#[derive(Clone, Debug, Serialize)]
pub struct RequestPlan {
    pub method: String,
    /// Path and query replacing the target's (or the path on the local proxy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Headers in the order given.
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Bytes,
    pub body_bytes: usize,
    /// `--body-file` path, when the body came from a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_file: Option<PathBuf>,
    pub accept_status: String,
    #[serde(skip)]
    pub accept: StatusSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_header: Option<String>,
    /// With no `--pod-header`, look for one before the load starts (`--pod-header none`: do
    /// not).
    pub discover_pod_header: bool,
}

impl Default for RequestPlan {
    /// `GET`, no headers, no body, 200-299 counted as ok.
    fn default() -> Self {
        RequestPlan {
            method: "GET".to_string(),
            path: None,
            headers: Vec::new(),
            body: Bytes::new(),
            body_bytes: 0,
            body_file: None,
            accept_status: "200-299".to_string(),
            accept: StatusSet::default(),
            pod_header: None,
            discover_pod_header: true,
        }
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
        Redactor::for_headers(&self.redact_headers, &self.request.headers)
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
        let base = base.or(self.target.as_deref()).ok_or("no target URL")?;
        let uri: http::Uri = base.parse().map_err(|_| format!("`{base}` is not a URL"))?;
        let Some(path) = &self.request.path else {
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
        let url = self.url(base)?;
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.request.headers {
            let (n, v) = parse::header(&format!("{k}: {v}"))?;
            headers.append(n, v);
        }
        let identity_header = match &self.request.pod_header {
            Some(h) => Some(parse::header_name(h)?),
            None => None,
        };
        let mode = self.mode();
        let grpc = self.grpc.as_ref().and_then(|g| {
            Some(crate::load::GrpcCall {
                path: g.path(),
                message: g.message.clone()?,
            })
        });
        Ok(LoadSpec {
            grpc,
            request: RequestSpec {
                method: http::Method::from_bytes(self.request.method.as_bytes())
                    .map_err(|e| e.to_string())?,
                url,
                headers,
                body: self.request.body.clone(),
                accept: self.request.accept.clone(),
                identity_header,
            },
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
