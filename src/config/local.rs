//! The local runtime's flags of `zerodrop local` as typed ([`LocalFlags`]), and their
//! validation — with the command after `--` — into the runtime's [`LocalConfig`]. Traffic,
//! phase and output flags belong to the plan; problems go to the shared collector, each naming
//! its flag.
//!
//! This module parses and checks; it starts nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::parse::split_command;
use super::problems::Problems;
use crate::cluster::local::config::{
    Balance, LocalConfig, PreStop, ProxyEvidence, Termination, default_name,
};
use crate::cluster::local::probe::{ProbeAction, ProbeSpec};
use crate::cluster::local::process::{CommandSpec, parse_signal};
use crate::cluster::local::rollout;
use crate::model::units;

/// The local runtime's flags as the user typed them; the defaults are the flags' defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalFlags {
    pub replicas: String,
    pub port_env: String,
    pub replica_name: Option<String>,
    pub new_cmd: Option<String>,
    pub listen: String,
    pub propagation_delay: String,
    pub proxy: String,
    pub balance: String,
    pub progress_deadline: String,
    pub replica_logs: Option<PathBuf>,
    pub startup: ProbeFlags,
    pub readiness: ProbeFlags,
    pub max_surge: String,
    pub max_unavailable: String,
    pub min_ready_seconds: String,
    pub prestop_sleep: Option<String>,
    pub prestop_exec: Option<String>,
    pub stop_signal: String,
    pub grace_period: String,
}

impl Default for LocalFlags {
    fn default() -> Self {
        LocalFlags {
            replicas: "3".into(),
            port_env: "PORT".into(),
            replica_name: None,
            new_cmd: None,
            listen: "127.0.0.1:0".into(),
            propagation_delay: "1s".into(),
            proxy: "exact".into(),
            balance: "round-robin".into(),
            progress_deadline: "120s".into(),
            replica_logs: None,
            startup: ProbeFlags::default(),
            readiness: ProbeFlags::default(),
            max_surge: "25%".into(),
            max_unavailable: "25%".into(),
            min_ready_seconds: "0s".into(),
            prestop_sleep: None,
            prestop_exec: None,
            stop_signal: "TERM".into(),
            grace_period: "30s".into(),
        }
    }
}

/// One probe's flags (`--startup-*` or `--readiness-*`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbeFlags {
    pub path: Option<String>,
    pub tcp: bool,
    pub initial_delay: Option<String>,
    pub period: Option<String>,
    pub timeout: Option<String>,
    pub success_threshold: Option<String>,
    pub failure_threshold: Option<String>,
}

/// The runtime's configuration around `command`; `None` when any of these flags has a problem.
pub fn from_args(l: &LocalFlags, command: &[String], p: &mut Problems<'_>) -> Option<LocalConfig> {
    let start = p.count();
    let mut config = LocalConfig::new(command_spec(command, p));
    if let Some(n) = &l.replica_name {
        config.name = default_name(n);
    }
    if let Some(n) = p.check("--replicas", units::count(&l.replicas).and_then(to_u32)) {
        config.replicas = n;
    }
    if l.port_env.is_empty() || l.port_env.contains('=') {
        let message = format!("`{}` is not a variable name", l.port_env);
        p.push("--port-env", message);
    }
    config.port_env = l.port_env.clone();
    if let Some(c) = &l.new_cmd {
        config.new_command = new_command(c, p);
    }
    match l.listen.parse::<SocketAddr>() {
        Ok(a) => config.listen = a,
        Err(_) => p.push(
            "--listen",
            format!("`{}` is not an address like 127.0.0.1:8080", l.listen),
        ),
    }
    match l.proxy.as_str() {
        "exact" => config.proxy = ProxyEvidence::Exact,
        "opaque" => config.proxy = ProxyEvidence::Opaque,
        other => p.push("--proxy", format!("`{other}` is not exact or opaque")),
    }
    match l.balance.as_str() {
        "round-robin" => config.balance = Balance::RoundRobin,
        "random" => config.balance = Balance::Random,
        other => p.push(
            "--balance",
            format!("`{other}` is not round-robin or random"),
        ),
    }
    let mut duration =
        |flag: &str, v: &str| p.check(flag, units::duration(v).map_err(String::from));
    if let Some(d) = duration("--propagation-delay", &l.propagation_delay) {
        config.propagation_delay = d;
    }
    if let Some(d) = duration("--progress-deadline", &l.progress_deadline) {
        config.progress_deadline = d;
    }
    if let Some(d) = duration("--min-ready-seconds", &l.min_ready_seconds) {
        config.min_ready = d;
    }
    let grace = duration("--grace-period", &l.grace_period);
    let prestop_sleep = l
        .prestop_sleep
        .as_deref()
        .and_then(|v| duration("--prestop-sleep", v));
    config.startup_probe = probe("startup", &l.startup, p);
    config.readiness_probe = probe("readiness", &l.readiness, p);
    strategy(l, &mut config, p);
    config.termination = termination(l, grace, prestop_sleep, p);
    config.replica_logs = l.replica_logs.clone();
    (p.count() == start).then_some(config)
}

fn to_u32(n: usize) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| format!("{n} is too large"))
}

/// The command after `--`: required.
fn command_spec(command: &[String], p: &mut Problems<'_>) -> CommandSpec {
    match command.split_first() {
        Some((program, args)) => CommandSpec {
            program: program.clone(),
            args: args.to_vec(),
        },
        None => {
            p.push(
                "command",
                "a command to run is required: zerodrop local [OPTIONS] -- CMD ARGS…",
            );
            CommandSpec {
                program: String::new(),
                args: Vec::new(),
            }
        }
    }
}

/// `--new-cmd`: a command line, split into words.
fn new_command(c: &str, p: &mut Problems<'_>) -> Option<CommandSpec> {
    match split_command(c) {
        Ok(words) if !words.is_empty() => Some(CommandSpec {
            program: words[0].clone(),
            args: words[1..].to_vec(),
        }),
        Ok(_) => {
            p.push("--new-cmd", "is empty");
            None
        }
        Err(e) => {
            p.push("--new-cmd", e);
            None
        }
    }
}

/// `--max-surge` and `--max-unavailable`, which may not both be 0.
fn strategy(l: &LocalFlags, config: &mut LocalConfig, p: &mut Problems<'_>) {
    for (flag, v, target) in [
        ("--max-surge", &l.max_surge, &mut config.max_surge),
        (
            "--max-unavailable",
            &l.max_unavailable,
            &mut config.max_unavailable,
        ),
    ] {
        if let Some(x) = p.check(flag, units::count_or_percent(v)) {
            *target = x;
        }
    }
    if let Err(rollout::StrategyError::BothZero) =
        rollout::resolve_fenceposts(config.replicas, config.max_surge, config.max_unavailable)
    {
        p.push(
            "--max-surge",
            "may not be 0 when --max-unavailable is 0 too",
        );
    }
}

/// The stop signal, the grace period and the preStop hook (a sleep or a command, not both).
fn termination(
    l: &LocalFlags,
    grace: Option<Duration>,
    prestop_sleep: Option<Duration>,
    p: &mut Problems<'_>,
) -> Termination {
    let mut termination = Termination::default();
    if let Some(s) = p.check("--stop-signal", parse_signal(&l.stop_signal)) {
        termination.stop_signal = s;
    }
    if let Some(g) = grace {
        termination.grace_period = g;
    }
    termination.prestop = match (prestop_sleep, &l.prestop_exec) {
        (Some(d), None) => Some(PreStop::Sleep(d)),
        (None, Some(cmd)) if cmd.trim().is_empty() => {
            p.push("--prestop-exec", "is empty");
            None
        }
        (None, Some(cmd)) => Some(PreStop::Exec(cmd.clone())),
        (Some(_), Some(_)) => {
            p.push("--prestop-sleep", "cannot be combined with --prestop-exec");
            None
        }
        (None, None) => None,
    };
    termination
}

/// One probe from its flags (`kind` is `startup` or `readiness`); timing without a probe is
/// a problem.
fn probe(kind: &str, f: &ProbeFlags, p: &mut Problems<'_>) -> Option<ProbeSpec> {
    let action = match (&f.path, f.tcp) {
        (Some(_), true) => {
            p.push(
                format!("--{kind}-path"),
                format!("cannot be combined with --{kind}-tcp"),
            );
            return None;
        }
        (Some(path), false) if !path.starts_with('/') => {
            p.push(
                format!("--{kind}-path"),
                format!("`{path}` must start with /"),
            );
            return None;
        }
        (Some(path), false) => ProbeAction::Http { path: path.clone() },
        (None, true) => ProbeAction::Tcp,
        (None, false) => {
            let timing = f.initial_delay.is_some()
                || f.period.is_some()
                || f.timeout.is_some()
                || f.success_threshold.is_some()
                || f.failure_threshold.is_some();
            if timing {
                p.push(
                    format!("--{kind}-*"),
                    format!("timing flags need a {kind} probe: --{kind}-path PATH or --{kind}-tcp"),
                );
            }
            return None;
        }
    };
    let mut spec = ProbeSpec::new(action);
    probe_timing(kind, f, &mut spec, p);
    Some(spec)
}

fn probe_timing(kind: &str, f: &ProbeFlags, spec: &mut ProbeSpec, p: &mut Problems<'_>) {
    let ms = Duration::from_millis(1);
    for (flag, v, target, min) in [
        (
            "initial-delay",
            &f.initial_delay,
            &mut spec.initial_delay,
            Duration::ZERO,
        ),
        ("period", &f.period, &mut spec.period, ms),
        ("timeout", &f.timeout, &mut spec.timeout, ms),
    ] {
        let Some(v) = v else { continue };
        let place = format!("--{kind}-{flag}");
        match units::duration(v) {
            Ok(d) if d < min => p.push(place, "must be more than 0"),
            Ok(d) => *target = d,
            Err(e) => p.push(place, e.to_string()),
        }
    }
    for (flag, v, target) in [
        (
            "success-threshold",
            &f.success_threshold,
            &mut spec.success_threshold,
        ),
        (
            "failure-threshold",
            &f.failure_threshold,
            &mut spec.failure_threshold,
        ),
    ] {
        let Some(v) = v else { continue };
        let place = format!("--{kind}-{flag}");
        if let Some(n) = p.check(&place, units::count(v).and_then(to_u32)) {
            *target = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(
        l: &LocalFlags,
        command: &[&str],
    ) -> Result<LocalConfig, Vec<crate::config::Problem>> {
        let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        let mut p = Problems::new(None);
        let c = from_args(l, &command, &mut p);
        p.finish(c)
            .map_err(|e| e.problems)
            .map(|c| c.expect("a config when there is no problem"))
    }

    #[test]
    fn the_flags_defaults_are_the_runtimes_defaults() {
        let c = config(&LocalFlags::default(), &["./srv"]).expect("valid");
        let cmd = CommandSpec {
            program: "./srv".into(),
            args: Vec::new(),
        };
        assert_eq!(c, LocalConfig::new(cmd));
    }

    #[test]
    fn a_duration_flag_without_a_unit_is_rejected_with_the_fix() {
        let l = LocalFlags {
            grace_period: "2".into(),
            ..LocalFlags::default()
        };
        let problems = config(&l, &["srv"]).expect_err("a bare number");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].place, "--grace-period");
        assert_eq!(problems[0].message, "`2` needs a unit: 2s, 2ms or 1m30s");
        let l = LocalFlags {
            grace_period: "2s".into(),
            ..LocalFlags::default()
        };
        let c = config(&l, &["srv"]).expect("with its unit");
        assert_eq!(c.termination.grace_period, Duration::from_secs(2));
    }

    #[test]
    fn counts_of_zero_are_named_at_their_flag() {
        let l = LocalFlags {
            replicas: "0".into(),
            readiness: ProbeFlags {
                tcp: true,
                failure_threshold: Some("0".into()),
                ..ProbeFlags::default()
            },
            ..LocalFlags::default()
        };
        let problems = config(&l, &["srv"]).expect_err("zero counts");
        let all: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            all,
            [
                "--replicas: must be at least 1",
                "--readiness-failure-threshold: must be at least 1"
            ]
        );
    }
}
