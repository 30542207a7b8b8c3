//! The flags of `zerodrop local` that configure the local runtime, as clap reads them (traffic,
//! phase and output flags are [`super::traffic`]'s). Validated by `config::local`.

use std::path::PathBuf;

/// Runtime flags of `zerodrop local`. Durations take a unit (`500ms`, `2s`, `1m`), as every
/// duration does.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LocalRuntimeArgs {
    /// Replicas to run.
    #[arg(long, default_value = "3", help_heading = "Local runtime")]
    pub replicas: String,
    /// Environment variable that tells each replica its port (`{port}` in the arguments is
    /// replaced too).
    #[arg(
        long,
        default_value = "PORT",
        value_name = "NAME",
        help_heading = "Local runtime"
    )]
    pub port_env: String,
    /// Name replicas are named after (default: the program's file name).
    #[arg(
        long = "replica-name",
        value_name = "NAME",
        help_heading = "Local runtime"
    )]
    pub replica_name: Option<String>,
    /// Roll to this command line instead of restarting the same one (quote it as one argument;
    /// single and double quotes group words).
    #[arg(long, value_name = "CMD", help_heading = "Local runtime")]
    pub new_cmd: Option<String>,
    /// Where the service proxy listens.
    #[arg(
        long,
        default_value = "127.0.0.1:0",
        value_name = "ADDR",
        help_heading = "Local runtime"
    )]
    pub listen: String,
    /// How long an endpoint change takes to reach the proxy (a cluster's de-registration lag).
    #[arg(
        long,
        default_value = "1s",
        value_name = "DURATION",
        help_heading = "Local runtime"
    )]
    pub propagation_delay: String,
    /// What the analysis may know of the proxy: `exact` ties every failure to its replica by
    /// the proxy's route map; `opaque` sets the map aside and explains failures only from what
    /// a Service, ingress or load balancer leaves (connection ends, identity headers, timing),
    /// then scores that against the map.
    #[arg(
        long,
        default_value = "exact",
        value_parser = ["exact", "opaque"],
        value_name = "MODE",
        help_heading = "Local runtime"
    )]
    pub proxy: String,
    /// How the proxy picks a replica for a new connection: `round-robin` (IPVS' default) or
    /// `random` (kube-proxy's iptables mode).
    #[arg(
        long,
        default_value = "round-robin",
        value_parser = ["round-robin", "random"],
        value_name = "HOW",
        help_heading = "Local runtime"
    )]
    pub balance: String,
    /// Fail when the rollout (or the first start) makes no progress for this long.
    #[arg(
        long,
        default_value = "120s",
        value_name = "DURATION",
        help_heading = "Local runtime"
    )]
    pub progress_deadline: String,
    /// Keep every replica's full output in `DIR/<replica>.log`.
    #[arg(long, value_name = "DIR", help_heading = "Local runtime")]
    pub replica_logs: Option<PathBuf>,

    /// Startup probe: HTTP GET this path (passes on 200–399).
    #[arg(long, value_name = "PATH", help_heading = "Probes")]
    pub startup_path: Option<String>,
    /// Startup probe: a TCP connect to the replica's port.
    #[arg(long, help_heading = "Probes")]
    pub startup_tcp: bool,
    #[arg(long, value_name = "DURATION", help_heading = "Probes")]
    pub startup_initial_delay: Option<String>,
    #[arg(long, value_name = "DURATION", help_heading = "Probes")]
    pub startup_period: Option<String>,
    #[arg(long, value_name = "DURATION", help_heading = "Probes")]
    pub startup_timeout: Option<String>,
    #[arg(long, value_name = "N", help_heading = "Probes")]
    pub startup_failure_threshold: Option<String>,

    /// Readiness probe: HTTP GET this path (passes on 200–399).
    #[arg(long, value_name = "PATH", help_heading = "Probes")]
    pub readiness_path: Option<String>,
    /// Readiness probe: a TCP connect to the replica's port.
    #[arg(long, help_heading = "Probes")]
    pub readiness_tcp: bool,
    #[arg(long, value_name = "DURATION", help_heading = "Probes")]
    pub readiness_initial_delay: Option<String>,
    /// Readiness probe period (Kubernetes' default: 10s).
    #[arg(long, value_name = "DURATION", help_heading = "Probes")]
    pub readiness_period: Option<String>,
    #[arg(long, value_name = "DURATION", help_heading = "Probes")]
    pub readiness_timeout: Option<String>,
    #[arg(long, value_name = "N", help_heading = "Probes")]
    pub readiness_success_threshold: Option<String>,
    #[arg(long, value_name = "N", help_heading = "Probes")]
    pub readiness_failure_threshold: Option<String>,

    /// maxSurge: a count or a percentage of replicas (rounded up).
    #[arg(long, default_value = "25%", help_heading = "Rollout")]
    pub max_surge: String,
    /// maxUnavailable: a count or a percentage of replicas (rounded down).
    #[arg(long, default_value = "25%", help_heading = "Rollout")]
    pub max_unavailable: String,
    /// minReadySeconds: how long a new replica must be ready before it counts as available.
    #[arg(
        long,
        default_value = "0s",
        value_name = "DURATION",
        help_heading = "Rollout"
    )]
    pub min_ready_seconds: String,

    /// preStop hook: sleep this long before the stop signal.
    #[arg(
        long,
        value_name = "DURATION",
        conflicts_with = "prestop_exec",
        help_heading = "Termination"
    )]
    pub prestop_sleep: Option<String>,
    /// preStop hook: run this shell command (the replica's port is in the port variable).
    #[arg(long, value_name = "CMD", help_heading = "Termination")]
    pub prestop_exec: Option<String>,
    /// Signal sent after preStop (the image's STOPSIGNAL).
    #[arg(
        long,
        default_value = "TERM",
        value_name = "SIGNAL",
        help_heading = "Termination"
    )]
    pub stop_signal: String,
    /// terminationGracePeriodSeconds, counted from the start of termination, preStop included.
    #[arg(
        long,
        default_value = "30s",
        value_name = "DURATION",
        help_heading = "Termination"
    )]
    pub grace_period: String,
}
