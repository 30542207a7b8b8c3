//! The validated configuration of the local runtime: what `zerodrop local` flags (and the demo)
//! become once every problem has been reported. Only plain data; building it from flags is
//! `crate::config::local`'s job, using it is the runtime's.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::probe::ProbeSpec;
use super::process::CommandSpec;
use super::rollout::CountOrPercent;

/// The preStop hook.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreStop {
    /// `lifecycle.preStop.sleep`.
    Sleep(#[serde(with = "secs")] Duration),
    /// `lifecycle.preStop.exec`: run through `sh -c`, with the replica's port in `PORT`.
    Exec(String),
}

/// How a pod is stopped.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Termination {
    pub prestop: Option<PreStop>,
    /// The signal sent after preStop (the image's STOPSIGNAL; TERM by default).
    #[serde(serialize_with = "signal_name")]
    pub stop_signal: Signal,
    /// terminationGracePeriodSeconds, counted from the start of termination, preStop included.
    #[serde(with = "secs")]
    pub grace_period: Duration,
}

impl Default for Termination {
    fn default() -> Self {
        Termination {
            prestop: None,
            stop_signal: Signal::SIGTERM,
            grace_period: Duration::from_secs(30),
        }
    }
}

/// Everything the local runtime needs.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LocalConfig {
    /// The name replicas are named after (`web` → `web-v1-1`).
    pub name: String,
    pub command: CommandSpec,
    /// What the rollout rolls to; `None` restarts the same command (`kubectl rollout restart`).
    pub new_command: Option<CommandSpec>,
    /// The environment variable that tells a replica its port.
    pub port_env: String,
    pub replicas: u32,
    pub startup_probe: Option<ProbeSpec>,
    pub readiness_probe: Option<ProbeSpec>,
    pub max_surge: CountOrPercent,
    pub max_unavailable: CountOrPercent,
    #[serde(with = "secs")]
    pub min_ready: Duration,
    pub termination: Termination,
    /// Where the service proxy listens.
    pub listen: SocketAddr,
    /// How long an endpoint change takes to reach the proxy.
    #[serde(with = "secs")]
    pub propagation_delay: Duration,
    /// What the analysis may know of the proxy's routing.
    pub proxy: ProxyEvidence,
    /// How the proxy picks a replica for a new connection.
    pub balance: Balance,
    /// The rollout (or the initial start) fails when no progress is made for this long.
    #[serde(with = "secs")]
    pub progress_deadline: Duration,
    /// Keep every replica's full output here (`<dir>/<pod>.log`).
    pub replica_logs: Option<PathBuf>,
}

/// What a local run's analysis may know of the proxy's routing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyEvidence {
    /// The route map ties every connection to its replica; endpoint events are recorded when
    /// the proxy acts on them.
    #[default]
    Exact,
    /// A cluster path's evidence only: endpoint events are recorded when the change is made
    /// (as an EndpointSlice shows it, before the data path follows), and the analysis sets the
    /// route map aside, keeping it only to score what it inferred.
    Opaque,
}

/// How the proxy picks a replica for a new connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// In turn, as IPVS' default scheduler does.
    #[default]
    RoundRobin,
    /// At random, as kube-proxy's iptables mode does.
    Random,
}

impl LocalConfig {
    /// A configuration with Kubernetes' defaults around `command`.
    pub fn new(command: CommandSpec) -> LocalConfig {
        LocalConfig {
            name: default_name(&command.program),
            command,
            new_command: None,
            port_env: "PORT".to_string(),
            replicas: 3,
            startup_probe: None,
            readiness_probe: None,
            max_surge: CountOrPercent::Percent(25),
            max_unavailable: CountOrPercent::Percent(25),
            min_ready: Duration::ZERO,
            termination: Termination::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            propagation_delay: Duration::from_secs(1),
            proxy: ProxyEvidence::Exact,
            balance: Balance::RoundRobin,
            progress_deadline: Duration::from_secs(120),
            replica_logs: None,
        }
    }
}

/// A replica name prefix from a program path: its file name, lower-cased, reduced to
/// `[a-z0-9-]` as a pod name must be.
pub fn default_name(program: &str) -> String {
    let base = std::path::Path::new(program)
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut out = String::new();
    for c in base.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "replica".to_string()
    } else {
        out
    }
}

mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

fn signal_name<S: serde::Serializer>(sig: &Signal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(sig.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_names_come_from_the_program_file_name() {
        assert_eq!(default_name("/usr/sbin/nginx"), "nginx");
        assert_eq!(default_name("./My_Server.py"), "my-server-py");
        assert_eq!(default_name("___"), "replica");
    }
}
