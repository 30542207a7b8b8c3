//! How the load is generated: the traffic flags as typed ([`TrafficFlags`], shared by `load`,
//! `local` and `run`) and their validation, with the scenario file's values under them, into the
//! arrival [`Pattern`] and the [`TrafficPlan`]'s limits. Problems go to the shared collector.

use std::path::PathBuf;
use std::time::Duration;

use super::parse;
use super::plan::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_GRPC_CONNECTIONS, DEFAULT_RATE, DEFAULT_TIMEOUT,
    MAX_SEND_WINDOW, Pattern, PlanKind, TrafficPlan, Via, default_connections,
    default_max_in_flight,
};
use super::problems::Problems;
use super::scenario::Stages;
use crate::model::numbers::fmt_us;
use crate::model::units;

/// The traffic flags as the user typed them (the first stage: nothing validated yet). Every
/// setting may also come from the scenario file; a flag wins.
#[derive(Clone, Debug, Default)]
pub struct TrafficFlags {
    pub scenario: Option<PathBuf>,
    pub target: Option<String>,
    pub path: Option<String>,
    pub rate: Option<String>,
    pub duration: Option<String>,
    pub stages: Option<String>,
    pub max: bool,
    pub connections: Option<String>,
    pub max_in_flight: Option<String>,
    /// `--send-window`: `auto`, or a duration.
    pub send_window: Option<String>,
    pub timeout: Option<String>,
    pub connect_timeout: Option<String>,
    pub method: Option<String>,
    pub header: Vec<String>,
    pub body: Option<String>,
    pub body_file: Option<PathBuf>,
    pub no_keepalive: bool,
    pub http2: bool,
    pub insecure: bool,
    pub accept_status: Option<String>,
    pub pod_header: Option<String>,
    pub version_header: Option<String>,
    pub seed: Option<String>,
    pub max_body: Option<String>,
    pub threshold: Vec<String>,
    pub redact_header: Vec<String>,
    pub failure_log_limit: Option<String>,
    /// `--via service|endpoints`.
    pub via: Option<String>,
    /// gRPC calls instead of HTTP requests.
    pub grpc: super::grpc::GrpcFlags,
    /// WebSocket sessions instead of requests (`config::ws`).
    pub ws: super::ws::WsFlags,
}

/// The arrival flags, each read on its own.
struct Arrival {
    rate: Option<f64>,
    duration: Option<Duration>,
    stages: Option<Vec<(Duration, f64)>>,
    max: bool,
    connections: Option<usize>,
    rate_given: bool,
    stages_given: bool,
    duration_given: bool,
    /// WebSocket sessions (`--ws`): the rate is the sessions' (`config::ws`).
    ws: bool,
}

/// The arrival pattern and the limits of the load.
pub fn from_args(kind: PlanKind, t: &TrafficFlags, p: &mut Problems<'_>) -> TrafficPlan {
    let arrival = read_arrival(t, p);
    conflicts(kind, &arrival, p);
    let connections = arrival.connections;
    let pattern = pattern(kind, arrival, p);
    let mut plan = limits(t, pattern, connections, p);
    plan.via = via(kind, t, p);
    plan
}

fn read_arrival(t: &TrafficFlags, p: &mut Problems<'_>) -> Arrival {
    let f = p.file();
    let rate = p.value(t.rate.as_deref(), "--rate", f.rate.as_ref(), "rate", |s| {
        let r = units::rate(s)?;
        if r > 0.0 {
            Ok(r)
        } else {
            Err("must be more than 0".into())
        }
    });
    let duration = p.value(
        t.duration.as_deref(),
        "--duration",
        f.duration.as_ref(),
        "duration",
        units::positive_duration,
    );
    let stages = stages(t, p);
    let max = p.switch(t.max, f.max.as_ref(), "max").unwrap_or(false);
    let connections = p.value(
        t.connections.as_deref(),
        "--connections",
        f.connections.as_ref(),
        "connections",
        units::count,
    );
    Arrival {
        rate: rate.map(|(r, _)| r),
        duration: duration.map(|(d, _)| d),
        stages,
        max,
        connections: connections.map(|(c, _)| c),
        rate_given: t.rate.is_some() || f.rate.is_some(),
        stages_given: t.stages.is_some() || f.stages.is_some(),
        duration_given: t.duration.is_some() || f.duration.is_some(),
        ws: super::ws::given(t, p),
    }
}

/// `--stages`, or the file's `stages` as text or as a list of `{at, rate}`.
fn stages(t: &TrafficFlags, p: &mut Problems<'_>) -> Option<Vec<(Duration, f64)>> {
    if let Some(s) = &t.stages {
        return p.check("--stages", parse::stages(s));
    }
    let sp = p.file().stages.as_ref()?;
    let place = p.file_place("stages", sp.referenced.line());
    let parsed = match &sp.value {
        Stages::Text(s) => parse::stages(s),
        Stages::List(list) => list
            .iter()
            .enumerate()
            .map(|(i, point)| {
                let at =
                    units::duration(&point.at).map_err(|e| format!("point {}: at: {e}", i + 1))?;
                let r =
                    units::rate(&point.rate).map_err(|e| format!("point {}: rate: {e}", i + 1))?;
                Ok((at, r))
            })
            .collect::<Result<Vec<_>, String>>()
            .and_then(|points| parse::check_stages(&points).map(|()| points)),
    };
    p.check(&place, parsed)
}

/// Arrival settings that cannot be combined, or not for this command.
fn conflicts(kind: PlanKind, a: &Arrival, p: &mut Problems<'_>) {
    if a.rate_given && a.stages_given {
        p.push("--stages", "give either --rate or --stages, not both");
    }
    if a.max && (a.rate_given || a.stages_given) {
        p.push(
            "--max",
            "the closed-loop --max mode sends as fast as it can: drop --rate/--stages, or drop --max",
        );
    }
    if a.stages_given && a.duration_given {
        p.push(
            "--duration",
            "--stages sets the length of the run (its last instant); drop --duration",
        );
    }
    if kind != PlanKind::Load && a.duration_given {
        p.push(
            "--duration",
            "a rollout run lasts baseline + rollout + settle: use --baseline and --settle instead",
        );
    }
    if kind != PlanKind::Load && a.max {
        p.push(
            "--max",
            "a rollout run needs an open-model arrival rate (--rate or --stages), not the closed-loop --max",
        );
    }
}

/// The one pattern the arrival settings describe; what is missing for it is a problem.
fn pattern(kind: PlanKind, a: Arrival, p: &mut Problems<'_>) -> Pattern {
    let duration_s = a.duration.map(|d| d.as_secs_f64());
    if a.ws {
        // The rate is set from the sessions by `ws::apply`; --rate and friends are refused there.
        if kind == PlanKind::Load && !a.duration_given {
            p.push("--duration", "required with --ws (e.g. --duration 30s)");
        }
        let flow = kind != PlanKind::Load;
        return Pattern::Rate {
            rate: DEFAULT_RATE,
            duration_s: if flow { None } else { duration_s },
        };
    }
    if a.max {
        if !a.duration_given {
            p.push("--duration", "required with --max (e.g. --duration 10s)");
        }
        return Pattern::Max {
            connections: a.connections.unwrap_or(10),
            duration_s,
        };
    }
    if let Some(points) = a.stages {
        return Pattern::Stages {
            points: points.iter().map(|(t, r)| (t.as_secs_f64(), *r)).collect(),
        };
    }
    if let Some(rate) = a.rate {
        if kind == PlanKind::Load && !a.duration_given {
            p.push("--duration", "required with --rate (e.g. --duration 30s)");
        }
        let flow = kind != PlanKind::Load;
        return Pattern::Rate {
            rate,
            duration_s: if flow { None } else { duration_s },
        };
    }
    if kind == PlanKind::Load && !a.rate_given && !a.stages_given {
        p.push(
            "--rate",
            "required: an arrival rate (--rate 1000 --duration 30s), --stages, or --max",
        );
    }
    // A rollout run without a rate uses a modest default that any test service takes.
    Pattern::Rate {
        rate: DEFAULT_RATE,
        duration_s: None,
    }
}

/// `--via`: through the Service (the default), or straight to its endpoints, which only a
/// rollout run knows.
fn via(kind: PlanKind, t: &TrafficFlags, p: &mut Problems<'_>) -> Via {
    let f = p.file();
    let v = p.value(
        t.via.as_deref(),
        "--via",
        f.via.as_ref(),
        "via",
        |s| match s.trim().to_ascii_lowercase().as_str() {
            "service" => Ok(Via::Service),
            "endpoints" => Ok(Via::Endpoints),
            other => Err(format!("`{other}` is neither `service` nor `endpoints`")),
        },
    );
    match v {
        Some((Via::Endpoints, place)) if kind == PlanKind::Load => {
            p.push(
                place,
                "`endpoints` needs a rollout run (`local` or `run`), which knows the Service's \
                 endpoints; `load` sends to --target",
            );
            Via::Service
        }
        Some((via, _)) => via,
        None => Via::Service,
    }
}

/// The in-flight cap, the connection pool, the protocol switches and the timeouts.
fn limits(
    t: &TrafficFlags,
    pattern: Pattern,
    connections: Option<usize>,
    p: &mut Problems<'_>,
) -> TrafficPlan {
    let f = p.file();
    let peak = pattern.peak_rate().unwrap_or(0.0);
    let max_in_flight = p
        .value(
            t.max_in_flight.as_deref(),
            "--max-in-flight",
            f.max_in_flight.as_ref(),
            "max_in_flight",
            units::count,
        )
        .map_or_else(|| default_max_in_flight(peak), |(v, _)| v);
    let keepalive = if t.no_keepalive {
        false
    } else {
        p.switch(false, f.keepalive.as_ref(), "keepalive")
            .unwrap_or(true)
    };
    // gRPC is HTTP/2 whatever the switch says.
    let grpc = t.grpc.grpc.is_some() || f.grpc.is_some();
    let http2 = p
        .switch(t.http2, f.http2.as_ref(), "http2")
        .unwrap_or(false)
        || grpc;
    let insecure = p
        .switch(t.insecure, f.insecure.as_ref(), "insecure")
        .unwrap_or(false);
    let connections = match &pattern {
        Pattern::Max { connections, .. } => *connections,
        _ if grpc => connections
            .unwrap_or(DEFAULT_GRPC_CONNECTIONS)
            .min(max_in_flight),
        _ => connections
            .unwrap_or_else(|| default_connections(peak, http2))
            .min(max_in_flight),
    };
    let timeout = p
        .value(
            t.timeout.as_deref(),
            "--timeout",
            f.timeout.as_ref(),
            "timeout",
            units::positive_duration,
        )
        .map_or(DEFAULT_TIMEOUT, |(d, _)| d);
    let connect_timeout = p
        .value(
            t.connect_timeout.as_deref(),
            "--connect-timeout",
            f.connect_timeout.as_ref(),
            "connect_timeout",
            units::positive_duration,
        )
        .map_or(DEFAULT_CONNECT_TIMEOUT, |(d, _)| d);
    let send_window = send_window_of(t, &pattern, p);
    TrafficPlan {
        pattern,
        max_in_flight,
        connections,
        timeout,
        connect_timeout,
        send_window,
        keepalive,
        http2,
        insecure,
        via: Via::Service,
        shard: None,
    }
}

/// `--send-window` or the file's `send_window`, for an open-model pattern only.
fn send_window_of(t: &TrafficFlags, pattern: &Pattern, p: &mut Problems<'_>) -> Option<Duration> {
    let f = p.file();
    match p.value(
        t.send_window.as_deref(),
        "--send-window",
        f.send_window.as_ref(),
        "send_window",
        send_window,
    ) {
        Some((_, place)) if matches!(pattern, Pattern::Max { .. }) => {
            p.push(
                place,
                "the closed-loop --max mode has no schedule to hold requests back from; \
                 the window applies to --rate and --stages",
            );
            None
        }
        Some((window, _)) => window,
        None => None,
    }
}

/// `--send-window`: `auto` (`None`: the engine's own by rate), or a duration up to
/// [`MAX_SEND_WINDOW`].
fn send_window(s: &str) -> Result<Option<Duration>, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    let d = units::duration(s).map_err(|e| format!("{e}, or `auto`"))?;
    if d > MAX_SEND_WINDOW {
        return Err(format!(
            "at most {}: a request held back waits up to the window before it is sent, and \
             that wait counts in its latency (`auto` holds 400us to 2ms, by rate)",
            fmt_us(MAX_SEND_WINDOW.as_micros() as u64)
        ));
    }
    Ok(Some(d))
}
