//! Flags and an optional scenario file become one validated [`Plan`] — the only input the rest
//! of zerodrop reads. Raw input (clap's [`crate::cli`] types, [`scenario::ScenarioFile`]) and the
//! plan are different types; validation reports every problem at once, each naming the flag or
//! the file, line and key it came from. Flags override the file; repeatable flags (headers,
//! thresholds, redactions) add to the file's lists.
//!
//! One plan type serves `load`, `local` and `run`; [`PlanKind`] decides which settings apply.

pub mod parse;
pub mod scenario;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_saphyr::Spanned;

use crate::cli::{FlowArgs, OutputArgs, TrafficArgs};
use crate::load::StatusSet;
use crate::load::engine::{LoadSpec, Mode, RequestSpec};
use crate::load::schedule::Schedule;
use crate::report::redact::Redactor;
use scenario::{Headers, Scenario, Stages};

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
    /// This generator's share of the schedule when several generators split it (an Indexed
    /// Job's workers); `None` for the whole schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
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
#[derive(Clone, Debug, Default, Serialize)]
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
    pub traffic: TrafficPlan,
    pub flow: FlowPlan,
    pub output: OutputPlan,
    /// Thresholds, parsed (they serialise as written).
    pub thresholds: Vec<crate::gate::Threshold>,
    /// Extra headers to mask in reports.
    pub redact_headers: Vec<String>,
}

/// One problem with the input, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `--rate`, or `scenarios/x.yaml line 4 (rate)`.
    pub place: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// Every problem found in the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "invalid input: {one}"),
            many => {
                write!(f, "invalid input ({} problems):", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl PlanError {
    pub fn single(place: impl Into<String>, message: impl Into<String>) -> PlanError {
        PlanError {
            problems: vec![Problem {
                place: place.into(),
                message: message.into(),
            }],
        }
    }
}

/// A raw value and where it came from.
struct Raw {
    text: String,
    place: String,
}

/// Collects problems while fields are read.
pub struct Input<'a> {
    scenario: Option<&'a Scenario>,
    problems: Vec<Problem>,
}

impl<'a> Input<'a> {
    pub fn new(scenario: Option<&'a Scenario>) -> Input<'a> {
        Input {
            scenario,
            problems: Vec::new(),
        }
    }

    pub fn scenario(&self) -> Option<&'a Scenario> {
        self.scenario
    }

    /// Where a file value is, for messages.
    pub fn file_place(&self, key: &str, line: u64) -> String {
        match self.scenario {
            Some(s) if line > 0 => format!("{} line {line} ({key})", s.path.display()),
            Some(s) => format!("{} ({key})", s.path.display()),
            None => key.to_string(),
        }
    }

    pub fn problem(&mut self, place: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            place: place.into(),
            message: message.into(),
        });
    }

    fn pick(
        &self,
        flag: Option<&str>,
        flag_name: &str,
        file: Option<&Spanned<String>>,
        key: &str,
    ) -> Option<Raw> {
        if let Some(v) = flag {
            return Some(Raw {
                text: v.to_string(),
                place: flag_name.to_string(),
            });
        }
        file.map(|s| Raw {
            text: s.value.clone(),
            place: self.file_place(key, s.referenced.line()),
        })
    }

    /// Reads one value through `parser`, recording a problem (and returning `None`) on error.
    pub fn value<T>(
        &mut self,
        flag: Option<&str>,
        flag_name: &str,
        file: Option<&Spanned<String>>,
        key: &str,
        parser: impl Fn(&str) -> Result<T, String>,
    ) -> Option<(T, String)> {
        let raw = self.pick(flag, flag_name, file, key)?;
        match parser(&raw.text) {
            Ok(v) => Some((v, raw.place)),
            Err(m) => {
                self.problem(raw.place, m);
                None
            }
        }
    }

    /// A boolean that a flag can only switch on and the file can set either way.
    pub fn switch(
        &mut self,
        flag: bool,
        file: Option<&Spanned<String>>,
        key: &str,
    ) -> Option<bool> {
        if flag {
            return Some(true);
        }
        let s = file?;
        match parse::boolean(&s.value) {
            Ok(b) => Some(b),
            Err(m) => {
                let place = self.file_place(key, s.referenced.line());
                self.problem(place, m);
                None
            }
        }
    }

    pub fn finish<T>(self, value: T) -> Result<T, PlanError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(PlanError {
                problems: self.problems,
            })
        }
    }

    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

/// Reads the scenario file named by `--scenario`, if any.
pub fn load_scenario(traffic: &TrafficArgs) -> Result<Option<Scenario>, PlanError> {
    match &traffic.scenario {
        None => Ok(None),
        Some(p) => Scenario::load(p)
            .map(Some)
            .map_err(|m| PlanError::single("--scenario", m)),
    }
}

fn check_output_path(input: &mut Input<'_>, flag: &str, p: &Option<PathBuf>) {
    let Some(p) = p else { return };
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        input.problem(
            flag,
            format!(
                "directory {} does not exist, so {} could not be written",
                parent.display(),
                p.display()
            ),
        );
    } else if p.is_dir() {
        input.problem(flag, format!("{} is a directory", p.display()));
    }
}

impl Plan {
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

    /// Validates flags (and the scenario file they name) into a plan for `kind`.
    pub fn build(
        kind: PlanKind,
        t: &TrafficArgs,
        flow: Option<&FlowArgs>,
        out: &OutputArgs,
    ) -> Result<Plan, PlanError> {
        let scenario = load_scenario(t)?;
        let mut input = Input::new(scenario.as_ref());
        let plan = Plan::build_with(&mut input, kind, t, flow, out);
        input.finish(()).map(|()| plan)
    }

    /// Like [`Plan::build`], for callers that validate more settings in the same pass (the
    /// local and kube runtimes' own flags): problems accumulate in `input`.
    pub fn build_with(
        input: &mut Input<'_>,
        kind: PlanKind,
        t: &TrafficArgs,
        flow: Option<&FlowArgs>,
        out: &OutputArgs,
    ) -> Plan {
        let empty = scenario::ScenarioFile::default();
        let sc = input.scenario();
        let f = sc.map_or(&empty, |s| &s.file);

        // Target.
        let target = input.value(
            t.target.as_deref(),
            "--target",
            f.target.as_ref(),
            "target",
            |s| {
                let uri: http::Uri = s.parse().map_err(|_| format!("`{s}` is not a URL"))?;
                match (uri.scheme_str(), uri.host()) {
                    (Some("http" | "https"), Some(_)) => Ok(s.to_string()),
                    (Some(other), _) if other != "http" && other != "https" => {
                        Err(format!("`{s}`: only http:// and https:// are supported"))
                    }
                    _ => Err(format!(
                        "`{s}` must be an absolute URL such as http://127.0.0.1:8080/"
                    )),
                }
            },
        );
        let target = target.map(|(v, _)| v);
        match kind {
            PlanKind::Load if target.is_none() && t.target.is_none() && f.target.is_none() => {
                input.problem(
                    "--target",
                    "required: the URL to load (e.g. --target http://127.0.0.1:8080/)",
                );
            }
            PlanKind::Local if t.target.is_some() || f.target.is_some() => {
                input.problem("--target", "`local` sends load to its own service proxy; give the path with --path instead");
            }
            _ => {}
        }
        let path = input.value(t.path.as_deref(), "--path", f.path.as_ref(), "path", |s| {
            if !s.starts_with('/') {
                return Err(format!("`{s}` must start with /"));
            }
            s.parse::<http::uri::PathAndQuery>()
                .map(|_| s.to_string())
                .map_err(|_| format!("`{s}` is not a valid path"))
        });

        // Request.
        let method = input
            .value(
                t.method.as_deref(),
                "--method",
                f.method.as_ref(),
                "method",
                |s| {
                    http::Method::from_bytes(s.trim().to_ascii_uppercase().as_bytes())
                        .map(|m| m.to_string())
                        .map_err(|_| format!("`{s}` is not an HTTP method"))
                },
            )
            .map_or_else(|| "GET".to_string(), |(m, _)| m);
        let mut headers = Vec::new();
        if let Some(h) = &f.headers {
            let place = input.file_place("headers", h.referenced.line());
            let items: Vec<String> = match &h.value {
                Headers::Map(m) => m.iter().map(|(k, v)| format!("{k}: {}", v.0)).collect(),
                Headers::List(l) => l.clone(),
            };
            for item in items {
                match parse::header(&item) {
                    Ok((n, v)) => {
                        headers.push((n.to_string(), v.to_str().unwrap_or_default().to_string()))
                    }
                    Err(m) => input.problem(place.clone(), m),
                }
            }
        }
        let mut flag_headers = Vec::new();
        for item in &t.header {
            match parse::header(item) {
                Ok((n, v)) => {
                    flag_headers.push((n.to_string(), v.to_str().unwrap_or_default().to_string()))
                }
                Err(m) => input.problem("--header", m),
            }
        }
        // A flag replaces the file's headers of the same name; repeated flags are all kept.
        headers.retain(|(k, _)| !flag_headers.iter().any(|(f, _)| f == k));
        headers.extend(flag_headers);
        let body_text = input.value(t.body.as_deref(), "--body", f.body.as_ref(), "body", |s| {
            Ok(s.to_string())
        });
        let body_file_flag = t
            .body_file
            .as_ref()
            .map(|p| p.to_string_lossy().to_string());
        let body_file = input.value(
            body_file_flag.as_deref(),
            "--body-file",
            f.body_file.as_ref(),
            "body_file",
            |s| Ok(s.to_string()),
        );
        let (body, body_file) = match (body_text, body_file) {
            (Some(_), Some((_, place))) => {
                input.problem(place, "give either a body or a body file, not both");
                (Bytes::new(), None)
            }
            (Some((text, _)), None) => (Bytes::from(text), None),
            (None, Some((p, place))) => {
                let path = if t.body_file.is_some() {
                    PathBuf::from(&p)
                } else {
                    sc.map_or(PathBuf::from(&p), |s| s.resolve(&p))
                };
                match std::fs::read(&path) {
                    Ok(b) => (Bytes::from(b), Some(path)),
                    Err(e) => {
                        input.problem(place, format!("cannot read {}: {e}", path.display()));
                        (Bytes::new(), None)
                    }
                }
            }
            (None, None) => (Bytes::new(), None),
        };
        let (accept, accept_text) = input
            .value(
                t.accept_status.as_deref(),
                "--accept-status",
                f.accept_status.as_ref(),
                "accept_status",
                parse::status_set,
            )
            .map_or_else(
                || (StatusSet::default(), "200-299".to_string()),
                |(s, _)| {
                    let text = s.to_string();
                    (s, text)
                },
            );
        let pod_header = input
            .value(
                t.pod_header.as_deref(),
                "--pod-header",
                f.pod_header.as_ref(),
                "pod_header",
                |s| parse::header_name(s).map(|n| n.to_string()),
            )
            .map(|(v, _)| v);

        // Arrival pattern.
        let rate = input.value(t.rate.as_deref(), "--rate", f.rate.as_ref(), "rate", |s| {
            let r = parse::rate(s)?;
            if r > 0.0 {
                Ok(r)
            } else {
                Err("must be more than 0".into())
            }
        });
        let duration = input.value(
            t.duration.as_deref(),
            "--duration",
            f.duration.as_ref(),
            "duration",
            |s| {
                let d = parse::duration(s)?;
                if d > Duration::ZERO {
                    Ok(d)
                } else {
                    Err("must be more than 0s".into())
                }
            },
        );
        let stages = match (&t.stages, &f.stages) {
            (Some(s), _) => match parse::stages(s) {
                Ok(p) => Some((p, "--stages".to_string())),
                Err(m) => {
                    input.problem("--stages", m);
                    None
                }
            },
            (None, Some(sp)) => {
                let place = input.file_place("stages", sp.referenced.line());
                let parsed = match &sp.value {
                    Stages::Text(s) => parse::stages(s),
                    Stages::List(list) => list
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            let at = parse::duration(&p.at)
                                .map_err(|e| format!("point {}: at: {e}", i + 1))?;
                            let r = parse::rate(&p.rate)
                                .map_err(|e| format!("point {}: rate: {e}", i + 1))?;
                            Ok((at, r))
                        })
                        .collect::<Result<Vec<_>, String>>()
                        .and_then(|p| parse::check_stages(&p).map(|()| p)),
                };
                match parsed {
                    Ok(p) => Some((p, place)),
                    Err(m) => {
                        input.problem(place, m);
                        None
                    }
                }
            }
            (None, None) => None,
        };
        let max = input.switch(t.max, f.max.as_ref(), "max").unwrap_or(false);
        let connections = input
            .value(
                t.connections.as_deref(),
                "--connections",
                f.connections.as_ref(),
                "connections",
                parse::count,
            )
            .map(|(v, _)| v);
        let rate_given = t.rate.is_some() || f.rate.is_some();
        let stages_given = t.stages.is_some() || f.stages.is_some();
        let duration_given = t.duration.is_some() || f.duration.is_some();
        if rate_given && stages_given {
            input.problem("--stages", "give either --rate or --stages, not both");
        }
        if max && (rate_given || stages_given) {
            input.problem("--max", "the closed-loop --max mode sends as fast as it can: drop --rate/--stages, or drop --max");
        }
        if stages_given && duration_given {
            input.problem(
                "--duration",
                "--stages sets the length of the run (its last instant); drop --duration",
            );
        }
        let flow_kind = kind != PlanKind::Load;
        if flow_kind && duration_given {
            input.problem("--duration", "a rollout run lasts baseline + rollout + settle: use --baseline and --settle instead");
        }
        if flow_kind && max {
            input.problem("--max", "a rollout run needs an open-model arrival rate (--rate or --stages), not the closed-loop --max");
        }
        let duration_s = duration.map(|(d, _)| d.as_secs_f64());
        let pattern = if max {
            if !duration_given {
                input.problem("--duration", "required with --max (e.g. --duration 10s)");
            }
            Pattern::Max {
                connections: connections.unwrap_or(10),
                duration_s,
            }
        } else if let Some((points, _)) = stages {
            Pattern::Stages {
                points: points.iter().map(|(t, r)| (t.as_secs_f64(), *r)).collect(),
            }
        } else if let Some((r, _)) = rate {
            if kind == PlanKind::Load && !duration_given {
                input.problem("--duration", "required with --rate (e.g. --duration 30s)");
            }
            Pattern::Rate {
                rate: r,
                duration_s: if flow_kind { None } else { duration_s },
            }
        } else {
            if kind == PlanKind::Load && !rate_given && !stages_given {
                input.problem(
                    "--rate",
                    "required: an arrival rate (--rate 1000 --duration 30s), --stages, or --max",
                );
            }
            // A rollout run without a rate uses a modest default that any test service takes.
            Pattern::Rate {
                rate: 100.0,
                duration_s: None,
            }
        };

        // Limits.
        let peak = pattern.peak_rate().unwrap_or(0.0);
        let max_in_flight = input
            .value(
                t.max_in_flight.as_deref(),
                "--max-in-flight",
                f.max_in_flight.as_ref(),
                "max_in_flight",
                parse::count,
            )
            .map_or_else(|| default_max_in_flight(peak), |(v, _)| v);
        let keepalive = if t.no_keepalive {
            false
        } else {
            input
                .switch(false, f.keepalive.as_ref(), "keepalive")
                .unwrap_or(true)
        };
        let http2 = input
            .switch(t.http2, f.http2.as_ref(), "http2")
            .unwrap_or(false);
        let insecure = input
            .switch(t.insecure, f.insecure.as_ref(), "insecure")
            .unwrap_or(false);
        let connections = match &pattern {
            Pattern::Max { connections, .. } => *connections,
            _ => connections
                .unwrap_or_else(|| default_connections(peak, http2))
                .min(max_in_flight),
        };
        let positive = |s: &str| {
            let d = parse::duration(s)?;
            if d > Duration::ZERO {
                Ok(d)
            } else {
                Err("must be more than 0s".to_string())
            }
        };
        let timeout = input
            .value(
                t.timeout.as_deref(),
                "--timeout",
                f.timeout.as_ref(),
                "timeout",
                positive,
            )
            .map_or(Duration::from_secs(10), |(d, _)| d);
        let connect_timeout = input
            .value(
                t.connect_timeout.as_deref(),
                "--connect-timeout",
                f.connect_timeout.as_ref(),
                "connect_timeout",
                positive,
            )
            .map_or(Duration::from_secs(3), |(d, _)| d);

        // Run phases.
        let mut flow_plan = FlowPlan::default();
        let flow_args = flow.cloned().unwrap_or_default();
        if let Some((d, _)) = input.value(
            flow_args.baseline.as_deref(),
            "--baseline",
            f.baseline.as_ref(),
            "baseline",
            parse::duration,
        ) {
            flow_plan.baseline = d;
        }
        if let Some((d, _)) = input.value(
            flow_args.settle.as_deref(),
            "--settle",
            f.settle.as_ref(),
            "settle",
            parse::duration,
        ) {
            flow_plan.settle = d;
        }
        if let Some((d, _)) = input.value(
            flow_args.rollout_timeout.as_deref(),
            "--rollout-timeout",
            f.rollout_timeout.as_ref(),
            "rollout_timeout",
            positive,
        ) {
            flow_plan.rollout_timeout = d;
        }

        // Reports.
        // Every bad expression is reported, each at the flag or file line it came from.
        let mut thresholds = Vec::new();
        for (value, place) in f
            .thresholds
            .iter()
            .flatten()
            .map(|s| {
                (
                    s.value.clone(),
                    input.file_place("thresholds", s.referenced.line()),
                )
            })
            .chain(
                t.threshold
                    .iter()
                    .map(|s| (s.clone(), "--threshold".to_string())),
            )
            .collect::<Vec<_>>()
        {
            match crate::gate::parse(&value) {
                Ok(th) => thresholds.push(th),
                Err(e) => input.problem(place, e.to_string()),
            }
        }
        let mut redact_headers = Vec::new();
        for (value, place) in f
            .redact_headers
            .iter()
            .flatten()
            .map(|s| {
                (
                    s.value.clone(),
                    input.file_place("redact_headers", s.referenced.line()),
                )
            })
            .chain(
                t.redact_header
                    .iter()
                    .map(|s| (s.clone(), "--redact-header".to_string())),
            )
            .collect::<Vec<_>>()
        {
            match parse::header_name(&value) {
                Ok(n) => redact_headers.push(n.to_string()),
                Err(m) => input.problem(place, m),
            }
        }
        let failure_log_limit = input
            .value(
                t.failure_log_limit.as_deref(),
                "--failure-log-limit",
                f.failure_log_limit.as_ref(),
                "failure_log_limit",
                parse::count0,
            )
            .map_or(10_000, |(v, _)| v);
        check_output_path(input, "--out", &out.out);
        check_output_path(input, "--html", &out.html);
        check_output_path(input, "--junit", &out.junit);

        Plan {
            kind,
            scenario: sc.map(|s| s.path.clone()),
            description: f.description.clone(),
            target,
            request: RequestPlan {
                method,
                path: path.map(|(p, _)| p),
                headers,
                body_bytes: body.len(),
                body,
                body_file,
                accept_status: accept_text,
                accept,
                pod_header,
            },
            traffic: TrafficPlan {
                pattern,
                max_in_flight,
                connections,
                timeout,
                connect_timeout,
                keepalive,
                http2,
                insecure,
                shard: None,
            },
            flow: flow_plan,
            output: OutputPlan {
                out: out.out.clone(),
                html: out.html.clone(),
                junit: out.junit.clone(),
                quiet: out.quiet,
                failure_log_limit,
            },
            thresholds,
            redact_headers,
        }
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
        let run_flow = self.kind != PlanKind::Load;
        let shard = |s: Schedule| match self.traffic.shard {
            Some(Shard { index, count }) => s.sharded(u64::from(index), u64::from(count)),
            None => s,
        };
        let mode = match &self.traffic.pattern {
            Pattern::Rate { rate, duration_s } => Mode::Open {
                schedule: shard(Schedule::constant(
                    *rate,
                    duration_s.map(Duration::from_secs_f64),
                )),
                max_in_flight: self.traffic.max_in_flight,
                connections: self.traffic.connections,
            },
            Pattern::Stages { points } => {
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
            Pattern::Max {
                connections,
                duration_s,
            } => Mode::Closed {
                connections: *connections,
                duration: duration_s.map(Duration::from_secs_f64),
            },
        };
        Ok(LoadSpec {
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
        })
    }
}

/// One second of backlog at the peak rate, at least 1,000: enough to see a target stall as
/// latency rather than drops, bounded so a hung target cannot exhaust file descriptors.
fn default_max_in_flight(peak_rate: f64) -> usize {
    (peak_rate.ceil() as usize).clamp(1_000, 50_000)
}

/// The HTTP/1 pool bounds throughput at connections ÷ service time (Little's law): one
/// connection per 10 req/s carries a service answering within 100 ms with room to spare, and
/// spreads requests over every pod behind a Service (kube-proxy pins each connection to one).
/// At least 8, at most 256. HTTP/2 multiplexes: one connection.
fn default_connections(peak_rate: f64, http2: bool) -> usize {
    if http2 {
        1
    } else {
        ((peak_rate / 10.0).ceil() as usize).clamp(8, 256)
    }
}

/// `Duration` as fractional seconds.
mod secs {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests;
