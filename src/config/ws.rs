//! WebSocket sessions instead of HTTP requests: `--ws` and its flags (or the scenario file's
//! `websocket:` section), validated into the plan's [`WsPlan`]. Problems go to the shared
//! collector; HTTP-only settings given beside `--ws` are refused, naming the setting, never
//! silently ignored.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::parse;
use super::plan::{Pattern, Plan, PlanKind, default_max_in_flight};
use super::problems::{Inapplicable, Problems};
use super::scenario::ScenarioFile;
use super::traffic::TrafficFlags;
use crate::load::ws::{Arrival, Backoff, Expect, SessionSpec};
use crate::model::units;

/// Held sessions when neither `--sessions` nor `--session-rate` is given.
pub const DEFAULT_SESSIONS: u64 = 10;
/// Messages per second on each session (`--message-rate`).
pub const DEFAULT_MESSAGE_RATE: f64 = 10.0;
/// The message when `--message` is not given: small JSON that names the client and message.
pub const DEFAULT_MESSAGE: &str = r#"{"client":{client},"seq":{seq}}"#;
/// Reconnection, as the field's reference client: 1 s first, ×1.5, 10 attempts.
pub const DEFAULT_RECONNECT_DELAY: Duration = Duration::from_secs(1);
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(30);
pub const DEFAULT_RECONNECT_ATTEMPTS: u32 = 10;

/// The WebSocket flags as typed.
#[derive(Clone, Debug, Default)]
pub struct WsFlags {
    pub ws: Option<String>,
    pub sessions: Option<String>,
    pub session_rate: Option<String>,
    pub session_duration: Option<String>,
    pub message_rate: Option<String>,
    pub message: Option<String>,
    pub expect: Option<String>,
    pub reconnect: bool,
    pub resend: bool,
    pub reconnect_delay: Option<String>,
    pub reconnect_max_delay: Option<String>,
    pub reconnect_attempts: Option<String>,
}

/// The scenario file's `websocket:` section: the same settings, keyed like the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsScenario {
    pub url: Option<Spanned<String>>,
    pub sessions: Option<Spanned<String>>,
    pub session_rate: Option<Spanned<String>>,
    pub session_duration: Option<Spanned<String>>,
    pub message_rate: Option<Spanned<String>>,
    pub message: Option<Spanned<String>>,
    pub expect: Option<Spanned<String>>,
    pub reconnect: Option<Spanned<String>>,
    pub resend: Option<Spanned<String>>,
    pub reconnect_delay: Option<Spanned<String>>,
    pub reconnect_max_delay: Option<Spanned<String>>,
    pub reconnect_attempts: Option<Spanned<String>>,
}

/// How reconnection waits.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReconnectPlan {
    #[serde(with = "super::plan::secs")]
    pub delay: Duration,
    #[serde(with = "super::plan::secs")]
    pub max_delay: Duration,
    pub attempts: u32,
    /// Messages unanswered at a session's end are sent again on the next one.
    pub resend: bool,
}

/// The validated WebSocket settings.
#[derive(Clone, Debug, Serialize)]
pub struct WsPlan {
    /// As given: `ws://…` / `wss://…`, or the path on the proxy or the Service.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_secs")]
    pub session_duration: Option<Duration>,
    pub message_rate: f64,
    pub message: String,
    /// `--expect` as given, or `echo`.
    pub expect: String,
    #[serde(skip)]
    pub expect_rule: Expect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<ReconnectPlan>,
}

fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl WsPlan {
    /// Sessions open at once at the steady state.
    pub fn concurrent_sessions(&self) -> f64 {
        match (self.sessions, self.session_rate, self.session_duration) {
            (Some(n), _, _) => n as f64,
            (None, Some(r), Some(d)) => (r * d.as_secs_f64()).max(1.0),
            _ => 1.0,
        }
    }

    /// Messages per second over every session at the steady state.
    pub fn peak_message_rate(&self) -> f64 {
        self.concurrent_sessions() * self.message_rate
    }

    /// The engine's input.
    pub fn session_spec(
        &self,
        duration: Option<Duration>,
        max_in_flight: usize,
        shard: (u64, u64),
    ) -> SessionSpec {
        let arrival = match (self.sessions, self.session_rate, self.session_duration) {
            (None, Some(rate), Some(session_duration)) => Arrival::Rate {
                rate,
                session_duration,
            },
            (n, _, _) => Arrival::Held {
                sessions: n.unwrap_or(DEFAULT_SESSIONS),
            },
        };
        SessionSpec {
            arrival,
            message_rate: self.message_rate,
            message: self.message.clone(),
            expect: self.expect_rule.clone(),
            reconnect: self.reconnect.as_ref().map(|r| Backoff {
                initial: r.delay,
                max: r.max_delay,
                attempts: r.attempts,
            }),
            resend: self.reconnect.as_ref().is_some_and(|r| r.resend),
            duration,
            max_in_flight,
            shard,
        }
    }
}

/// Whether the input asks for WebSocket sessions (`--ws`, or the file's `websocket.url`).
pub fn given(t: &TrafficFlags, p: &Problems<'_>) -> bool {
    t.ws.ws.is_some() || p.file().websocket.as_ref().is_some_and(|w| w.url.is_some())
}

/// Reads the WebSocket settings; `None` (with a problem for every WebSocket-only setting
/// given) when `--ws` is not.
pub fn from_args(kind: PlanKind, t: &TrafficFlags, p: &mut Problems<'_>) -> Option<WsPlan> {
    let empty = WsScenario::default();
    let f = p.file().websocket.as_ref().unwrap_or(&empty);
    let w = &t.ws;
    if !given(t, p) {
        refuse_without_ws(w, f, p);
        return None;
    }
    http_only(t, p);
    let url = p
        .value(
            w.ws.as_deref(),
            "--ws",
            f.url.as_ref(),
            "websocket.url",
            |s| url(kind, s),
        )
        .map(|(u, _)| u);
    let (sessions, session_rate, session_duration) = arrival(w, f, p);
    let message_rate = p
        .value(
            w.message_rate.as_deref(),
            "--message-rate",
            f.message_rate.as_ref(),
            "websocket.message_rate",
            positive_rate,
        )
        .map_or(DEFAULT_MESSAGE_RATE, |(r, _)| r);
    let message = p
        .value(
            w.message.as_deref(),
            "--message",
            f.message.as_ref(),
            "websocket.message",
            |s| Ok(s.to_string()),
        )
        .map_or_else(|| DEFAULT_MESSAGE.to_string(), |(m, _)| m);
    let (expect, expect_rule) = p
        .value(
            w.expect.as_deref(),
            "--expect",
            f.expect.as_ref(),
            "websocket.expect",
            Expect::parse,
        )
        .map_or(("echo".to_string(), Expect::Echo), |(e, _)| {
            (
                w.expect
                    .clone()
                    .or_else(|| f.expect.as_ref().map(|s| s.value.clone()))
                    .unwrap_or_default(),
                e,
            )
        });
    let reconnect = reconnect(w, f, p);
    Some(WsPlan {
        url: url?,
        sessions,
        session_rate,
        session_duration,
        message_rate,
        message,
        expect,
        expect_rule,
        reconnect,
    })
}

/// `ws://` / `wss://` for `load` and `run`; a path (the proxy's, or the Service's in a
/// cluster) for `local` and `run`.
fn url(kind: PlanKind, s: &str) -> Result<String, String> {
    if s.starts_with('/') {
        return match kind {
            PlanKind::Load => Err(format!(
                "`{s}` is a path: `load` needs the whole URL (ws://HOST:PORT{s})"
            )),
            _ => parse::path(s),
        };
    }
    if kind == PlanKind::Local {
        return Err(format!(
            "`local` opens sessions through its own service proxy: give the path only (e.g. --ws /ws), not `{s}`"
        ));
    }
    let uri: http::Uri = s.parse().map_err(|_| format!("`{s}` is not a URL"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("ws" | "wss"), Some(_)) => Ok(s.to_string()),
        _ => Err(format!(
            "`{s}`: a WebSocket URL starts with ws:// or wss:// and names a host"
        )),
    }
}

/// `--sessions N` or `--session-rate R` with `--session-duration D`.
fn arrival(
    w: &WsFlags,
    f: &WsScenario,
    p: &mut Problems<'_>,
) -> (Option<u64>, Option<f64>, Option<Duration>) {
    let sessions = p
        .value(
            w.sessions.as_deref(),
            "--sessions",
            f.sessions.as_ref(),
            "websocket.sessions",
            |s| match units::count(s)? {
                0 => Err("must be at least 1".to_string()),
                n => Ok(n as u64),
            },
        )
        .map(|(n, _)| n);
    let rate = p
        .value(
            w.session_rate.as_deref(),
            "--session-rate",
            f.session_rate.as_ref(),
            "websocket.session_rate",
            positive_rate,
        )
        .map(|(r, _)| r);
    let duration = p
        .value(
            w.session_duration.as_deref(),
            "--session-duration",
            f.session_duration.as_ref(),
            "websocket.session_duration",
            units::positive_duration,
        )
        .map(|(d, _)| d);
    let rate_given = w.session_rate.is_some() || f.session_rate.is_some();
    let duration_given = w.session_duration.is_some() || f.session_duration.is_some();
    if (w.sessions.is_some() || f.sessions.is_some()) && rate_given {
        p.push(
            "--session-rate",
            "give either --sessions (held open) or --session-rate (arriving), not both",
        );
    }
    if rate_given && !duration_given {
        p.push(
            "--session-duration",
            "required with --session-rate: how long each arriving session lives (e.g. 30s)",
        );
    }
    if duration_given && !rate_given {
        p.push(
            "--session-duration",
            "only with --session-rate: held sessions (--sessions) live until the load ends",
        );
    }
    match (sessions, rate) {
        (None, None) if !rate_given => (Some(DEFAULT_SESSIONS), None, None),
        (s, r) => (s, r, duration),
    }
}

/// `--reconnect` and its backoff.
fn reconnect(w: &WsFlags, f: &WsScenario, p: &mut Problems<'_>) -> Option<ReconnectPlan> {
    let on = p
        .switch(w.reconnect, f.reconnect.as_ref(), "websocket.reconnect")
        .unwrap_or(false);
    let resend = p
        .switch(w.resend, f.resend.as_ref(), "websocket.resend")
        .unwrap_or(false);
    let delay = p.value(
        w.reconnect_delay.as_deref(),
        "--reconnect-delay",
        f.reconnect_delay.as_ref(),
        "websocket.reconnect_delay",
        units::positive_duration,
    );
    let max_delay = p.value(
        w.reconnect_max_delay.as_deref(),
        "--reconnect-max-delay",
        f.reconnect_max_delay.as_ref(),
        "websocket.reconnect_max_delay",
        units::positive_duration,
    );
    let attempts = p.value(
        w.reconnect_attempts.as_deref(),
        "--reconnect-attempts",
        f.reconnect_attempts.as_ref(),
        "websocket.reconnect_attempts",
        |s| match units::count(s)? {
            0 => Err("must be at least 1".to_string()),
            n => u32::try_from(n).map_err(|_| "too large".to_string()),
        },
    );
    if !on && resend {
        p.push("--resend", "--resend needs --reconnect");
    }
    if !on {
        for (given, place) in [
            (delay.as_ref().map(|d| d.1.clone()), "--reconnect-delay"),
            (
                max_delay.as_ref().map(|d| d.1.clone()),
                "--reconnect-max-delay",
            ),
            (
                attempts.as_ref().map(|d| d.1.clone()),
                "--reconnect-attempts",
            ),
        ] {
            if let Some(at) = given {
                p.push(at, format!("{place} needs --reconnect"));
            }
        }
        return None;
    }
    let delay = delay.map_or(DEFAULT_RECONNECT_DELAY, |(d, _)| d);
    let max_delay = max_delay.map_or(DEFAULT_RECONNECT_MAX_DELAY.max(delay), |(d, _)| d);
    if max_delay < delay {
        p.push(
            "--reconnect-max-delay",
            format!("{max_delay:?} is shorter than the first wait --reconnect-delay {delay:?}"),
        );
    }
    Some(ReconnectPlan {
        delay,
        max_delay,
        attempts: attempts.map_or(DEFAULT_RECONNECT_ATTEMPTS, |(a, _)| a),
        resend,
    })
}

fn positive_rate(s: &str) -> Result<f64, String> {
    let r = units::rate(s)?;
    if r > 0.0 {
        Ok(r)
    } else {
        Err("must be more than 0".into())
    }
}

/// HTTP request settings mean nothing to a WebSocket session: each given one is a problem.
fn http_only(t: &TrafficFlags, p: &mut Problems<'_>) {
    let f = p.file();
    let line = |s: Option<&Spanned<String>>| s.map(|s| s.referenced.line());
    let rate = "a WebSocket load is set by --sessions or --session-rate and --message-rate";
    let checks = [
        (
            t.rate.is_some(),
            "--rate",
            line(f.rate.as_ref()),
            "rate",
            rate,
        ),
        (
            t.stages.is_some(),
            "--stages",
            f.stages.as_ref().map(|s| s.referenced.line()),
            "stages",
            rate,
        ),
        (t.max, "--max", line(f.max.as_ref()), "max", rate),
        (
            t.target.is_some(),
            "--target",
            line(f.target.as_ref()),
            "target",
            "give the WebSocket URL with --ws",
        ),
        (
            t.path.is_some(),
            "--path",
            line(f.path.as_ref()),
            "path",
            "give the path in --ws",
        ),
        (
            t.method.is_some(),
            "--method",
            line(f.method.as_ref()),
            "method",
            "the upgrade is always GET",
        ),
        (
            t.body.is_some() || t.body_file.is_some(),
            "--body",
            line(f.body.as_ref().or(f.body_file.as_ref())),
            "body",
            "the message is --message",
        ),
        (
            t.connections.is_some(),
            "--connections",
            line(f.connections.as_ref()),
            "connections",
            "each session is its own connection",
        ),
        (
            t.no_keepalive || t.http2,
            "--http2",
            line(f.http2.as_ref().or(f.keepalive.as_ref())),
            "http2",
            "a WebSocket runs over one HTTP/1.1 connection",
        ),
        (
            t.accept_status.is_some(),
            "--accept-status",
            line(f.accept_status.as_ref()),
            "accept_status",
            "a session opens with 101; --expect judges the replies",
        ),
    ];
    p.refuse(
        "HTTP only, not with --ws",
        checks
            .into_iter()
            .chain(mix_only(t, f))
            .chain([send_window_only(t, f)]),
    );
}

/// `--send-window`: the request dispatcher's; sessions start on their own timer.
fn send_window_only(t: &TrafficFlags, f: &ScenarioFile) -> Inapplicable {
    (
        t.send_window.is_some(),
        "--send-window",
        f.send_window.as_ref().map(|s| s.referenced.line()),
        "send_window",
        "sessions start on their own timer; the window is the request dispatcher's",
    )
}

/// A request mix's settings: HTTP's, like the request's own.
fn mix_only(t: &TrafficFlags, f: &ScenarioFile) -> [Inapplicable; 4] {
    let line = |s: Option<&Spanned<String>>| s.map(|s| s.referenced.line());
    let mix = "a request mix and its checks are HTTP's; --expect judges the replies";
    [
        (
            false,
            "requests",
            f.requests.as_ref().map(|s| s.referenced.line()),
            "requests",
            mix,
        ),
        (
            t.seed.is_some(),
            "--seed",
            line(f.seed.as_ref()),
            "seed",
            mix,
        ),
        (
            t.max_body.is_some(),
            "--max-body",
            line(f.max_body.as_ref()),
            "max_body",
            mix,
        ),
        (
            t.version_header.is_some(),
            "--version-header",
            line(f.version_header.as_ref()),
            "version_header",
            "a session's revision is its connection's",
        ),
    ]
}

/// WebSocket settings without `--ws`: each is a problem.
fn refuse_without_ws(w: &WsFlags, f: &WsScenario, p: &mut Problems<'_>) {
    let flags = [
        (w.sessions.is_some(), "--sessions"),
        (w.session_rate.is_some(), "--session-rate"),
        (w.session_duration.is_some(), "--session-duration"),
        (w.message_rate.is_some(), "--message-rate"),
        (w.message.is_some(), "--message"),
        (w.expect.is_some(), "--expect"),
        (w.reconnect, "--reconnect"),
        (w.resend, "--resend"),
        (w.reconnect_delay.is_some(), "--reconnect-delay"),
        (w.reconnect_max_delay.is_some(), "--reconnect-max-delay"),
        (w.reconnect_attempts.is_some(), "--reconnect-attempts"),
    ];
    for (_, flag) in flags.iter().filter(|(g, _)| *g) {
        p.push(*flag, "a WebSocket setting: it needs --ws URL");
    }
    let file_given = [
        f.sessions.as_ref(),
        f.session_rate.as_ref(),
        f.session_duration.as_ref(),
        f.message_rate.as_ref(),
        f.message.as_ref(),
        f.expect.as_ref(),
        f.reconnect.as_ref(),
        f.resend.as_ref(),
        f.reconnect_delay.as_ref(),
        f.reconnect_max_delay.as_ref(),
        f.reconnect_attempts.as_ref(),
    ];
    if let Some(line) = file_given
        .iter()
        .flatten()
        .map(|s| s.referenced.line())
        .min()
    {
        let place = p.file_place("websocket", line);
        p.push(place, "the websocket section needs its url (or --ws URL)");
    }
}

/// Aims `plan` at the WebSocket target: the HTTP form of the URL the engine dials, the
/// arrival pattern's rate as the message rate (what sizes the in-flight cap and a Job's
/// resources), and the settings themselves.
pub fn apply(plan: &mut Plan, ws: WsPlan) {
    if ws.url.starts_with('/') {
        plan.request.shape.path = Some(ws.url.clone());
    } else {
        plan.target = Some(http_form(&ws.url));
    }
    let peak = ws.peak_message_rate();
    let t = &mut plan.traffic;
    if let Pattern::Rate { rate, .. } = &mut t.pattern {
        if t.max_in_flight == default_max_in_flight(*rate) {
            t.max_in_flight = default_max_in_flight(peak);
        }
        *rate = peak;
    }
    // Each session is a connection of its own.
    t.connections = ws.concurrent_sessions().ceil() as usize;
    t.keepalive = true;
    t.http2 = false;
    plan.ws = Some(ws);
}

/// `ws://h/p` as `http://h/p` (`wss` as `https`): the engine dials HTTP and upgrades.
pub fn http_form(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        url.to_string()
    }
}

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;
