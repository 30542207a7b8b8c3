//! The flags of `zerodrop demo-app`. Durations are read by the one unit grammar
//! (`model::units`); the commands turn the flags into `demo_app::DemoAppConfig`.

use std::net::IpAddr;
use std::time::Duration;

/// What happens on the stop signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShutdownMode {
    /// No handler: the signal kills the process mid-request.
    Immediate,
    /// Stop accepting, finish in-flight requests, then exit.
    Graceful,
}

/// How idle keep-alive connections are treated while draining.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeepaliveOnShutdown {
    /// Close them at once: a request already on its way meets a closed connection.
    CloseIdle,
    /// Keep them; answer the next request with `Connection: close`.
    ConnectionClose,
}

/// Whether the readiness path tells the truth during warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Readiness {
    Honest,
    Lie,
}

/// Flags of `zerodrop demo-app`. It serves HTTP and, on the same port, gRPC (health check,
/// `zerodrop.demo.v1.Echo/Echo`).
#[derive(Clone, Debug, clap::Args)]
pub struct DemoAppArgs {
    /// Port to listen on.
    #[arg(long, env = "PORT")]
    pub port: u16,
    /// Address to listen on (use 0.0.0.0 in a container).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Replica name sent in `x-zerodrop-replica`.
    #[arg(long, env = "ZERODROP_POD", default_value = "demo-app")]
    pub name: String,
    #[arg(long, value_enum, default_value = "graceful")]
    pub shutdown: ShutdownMode,
    #[arg(long, value_enum, default_value = "connection-close")]
    pub keepalive_on_shutdown: KeepaliveOnShutdown,
    /// Longest drain before remaining connections are closed and the process exits.
    #[arg(long, default_value = "10s", value_parser = crate::model::units::duration)]
    pub drain_timeout: Duration,
    /// Listen only after this long.
    #[arg(long, default_value = "0s", value_parser = crate::model::units::duration)]
    pub startup_delay: Duration,
    /// Answer 503 to requests for this long after listening.
    #[arg(long, default_value = "0s", value_parser = crate::model::units::duration)]
    pub warmup: Duration,
    /// During warm-up, `lie` makes the readiness path say ready anyway.
    #[arg(long, value_enum, default_value = "honest")]
    pub readiness: Readiness,
    /// Time spent on each request.
    #[arg(long, default_value = "0s", value_parser = crate::model::units::duration)]
    pub delay: Duration,
    /// Serve at most this many requests at once (0: no limit); the others queue, as with
    /// gunicorn's sync workers: a replica carries WORKERS / --delay requests a second.
    #[arg(long, default_value = "0")]
    pub workers: usize,
    /// Do not name the replica in `x-zerodrop-replica` (most apps do not).
    #[arg(long)]
    pub anonymous: bool,
    #[arg(long, default_value = "/readyz")]
    pub ready_path: String,
    #[arg(long, default_value = "/healthz")]
    pub health_path: String,
    /// GOAWAY to HTTP/2 (gRPC) connections older than this, as gRPC's MAX_CONNECTION_AGE does.
    #[arg(long, value_parser = crate::model::units::positive_duration)]
    pub max_connection_age: Option<Duration>,
    /// The WebSocket echo endpoint (graceful shutdown closes its sessions with 1001).
    #[arg(long, default_value = "/ws")]
    pub ws_path: String,
}
