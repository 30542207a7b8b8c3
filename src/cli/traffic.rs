//! The flags `load`, `local` and `run` share — the traffic, the run phases and where results
//! go — as clap reads them. Every value is kept as typed; `config` validates it.

use std::path::PathBuf;

use clap::Args;

/// What the load looks like; shared by `load`, `local` and `run`.
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "Traffic")]
pub struct TrafficArgs {
    /// Scenario file (YAML) with any of these settings; flags override it.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// URL to send requests to.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Request path (and query), replacing the target URL's path.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// Arrival rate in requests per second (`1000`, `60/m`).
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
    /// How long to send (`30s`, `2m`); `load` only.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Ramping arrival rate: instants from the start and the rate there, linear in between.
    #[arg(long, value_name = "T:RATE,…", allow_hyphen_values = false)]
    pub stages: Option<String>,
    /// Closed-loop capacity mode: as fast as --connections allow (what wrk does).
    #[arg(long)]
    pub max: bool,
    /// Connections: opened ahead of the first request (open model), or the workers of --max.
    #[arg(long, value_name = "N")]
    pub connections: Option<String>,
    /// Cap on requests in flight; a request due at the cap is counted as dropped_by_generator.
    #[arg(long = "max-in-flight", value_name = "N")]
    pub max_in_flight: Option<String>,
    /// How long a due request may wait to leave with later ones in one wake-up: `auto` (400us,
    /// rising to 2ms between 10,000 and 20,000 req/s), `0` (each at its own instant), or up to
    /// 10ms. A wider window costs less CPU and adds its wait to send lateness and latency.
    #[arg(long = "send-window", value_name = "DURATION")]
    pub send_window: Option<String>,
    /// Bound on one request, from its send to the end of its response.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Bound on opening a connection (TCP and TLS).
    #[arg(long = "connect-timeout", value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// HTTP method.
    #[arg(long, short = 'X', value_name = "METHOD")]
    pub method: Option<String>,
    /// Request header `Name: value` (repeatable; adds to the scenario's headers).
    #[arg(long, short = 'H', value_name = "NAME:VALUE")]
    pub header: Vec<String>,
    /// Request body.
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body read from a file.
    #[arg(long = "body-file", value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// A new TCP connection for every request.
    #[arg(long = "no-keepalive")]
    pub no_keepalive: bool,
    /// HTTP/2 (prior knowledge for http://, ALPN for https://).
    #[arg(long)]
    pub http2: bool,
    /// Accept any TLS certificate.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Statuses that count as ok (`200-299,404`; default 200-299).
    #[arg(long = "accept-status", value_name = "LIST")]
    pub accept_status: Option<String>,
    /// Response header naming the pod that answered (remembered per connection). Without it,
    /// `local` and `run` look for one before the load starts; `none` says not to.
    #[arg(long = "pod-header", value_name = "NAME")]
    pub pod_header: Option<String>,
    /// Response header naming the version that answered (`x-api-version`): each response's
    /// revision for the old-versus-new split, on any path.
    #[arg(long = "version-header", value_name = "NAME")]
    pub version_header: Option<String>,
    /// Seed of the request mix's sequence of templates (default 0): the same seed sends the
    /// same sequence.
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,
    /// The most of a response body read for the response checks that need it (default 64KiB).
    #[arg(long = "max-body", value_name = "SIZE")]
    pub max_body: Option<String>,
    /// Pass/fail threshold, k6 style (`p(99)<500ms`, `rate<0.001`, `rollout:max<2s`); repeatable.
    #[arg(long, value_name = "EXPR")]
    pub threshold: Vec<String>,
    /// Header to mask in every report (Authorization and Cookie always are); repeatable.
    #[arg(long = "redact-header", value_name = "NAME")]
    pub redact_header: Vec<String>,
    /// Failures kept in full detail (default 10000); later ones are only counted.
    #[arg(long = "failure-log-limit", value_name = "N")]
    pub failure_log_limit: Option<String>,
    /// How the load reaches the pods in a rollout run: `service` (default: through --target,
    /// the path real traffic takes) or `endpoints` (straight to the Service's ready endpoints,
    /// balanced round robin by zerodrop, as gRPC clients do over a headless Service: pods
    /// attributed exactly by address, but the Service's own proxy path is not exercised).
    #[arg(long, value_name = "service|endpoints")]
    pub via: Option<String>,
    #[command(flatten)]
    pub grpc: super::grpc::GrpcArgs,
    #[command(flatten)]
    pub ws: WsArgs,
}

/// WebSocket sessions instead of HTTP requests; shared by `load`, `local` and `run`.
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "WebSocket")]
pub struct WsArgs {
    /// Open WebSocket sessions to this URL (`ws://…`, `wss://…`; `local`: a path such as /ws)
    /// instead of sending HTTP requests.
    #[arg(long, value_name = "URL")]
    pub ws: Option<String>,
    /// Sessions opened at the start and held open (default 10).
    #[arg(long, value_name = "N")]
    pub sessions: Option<String>,
    /// Sessions arriving per second instead, each living --session-duration.
    #[arg(long = "session-rate", value_name = "RATE")]
    pub session_rate: Option<String>,
    /// How long each session of --session-rate lives before it closes (1000).
    #[arg(long = "session-duration", value_name = "DURATION")]
    pub session_duration: Option<String>,
    /// Messages per second on each session (default 10).
    #[arg(long = "message-rate", value_name = "RATE")]
    pub message_rate: Option<String>,
    /// Message text; `{client}` and `{seq}` are replaced (default {"client":{client},"seq":{seq}}).
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// What answers a message: a JSON pointer (`/type`, `/type=pong`) or a substring of the
    /// reply (default: the echo of the message).
    #[arg(long, value_name = "EXPECT")]
    pub expect: Option<String>,
    /// Reconnect after the server ends a session, with exponential backoff and jitter.
    #[arg(long)]
    pub reconnect: bool,
    /// The first reconnection wait (default 1s; ×1.5 per consecutive attempt).
    #[arg(long = "reconnect-delay", value_name = "DURATION")]
    pub reconnect_delay: Option<String>,
    /// The longest reconnection wait (default 30s).
    #[arg(long = "reconnect-max-delay", value_name = "DURATION")]
    pub reconnect_max_delay: Option<String>,
    /// At-least-once clients: messages unanswered when the server ended a session are sent
    /// again on the next one (needs --reconnect).
    #[arg(long)]
    pub resend: bool,
    /// Consecutive failed attempts before a client gives up (default 10).
    #[arg(long = "reconnect-attempts", value_name = "N")]
    pub reconnect_attempts: Option<String>,
}

/// Where results go.
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Write the full result as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML for CI systems.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The phases of a rollout run; shared by `local` and `run`.
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "Run phases")]
pub struct FlowArgs {
    /// Load before the trigger, to prove the service healthy (default 10s).
    #[arg(long, value_name = "DURATION")]
    pub baseline: Option<String>,
    /// Load after the rollout completed and old pods are gone (default 10s).
    #[arg(long, value_name = "DURATION")]
    pub settle: Option<String>,
    /// Give up on a rollout that has not completed after this long (default 10m).
    #[arg(long = "rollout-timeout", value_name = "DURATION")]
    pub rollout_timeout: Option<String>,
}
