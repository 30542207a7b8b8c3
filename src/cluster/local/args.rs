//! The flags of `zerodrop local` that configure the local runtime (traffic flags belong to the
//! plan), and their validation into a [`LocalConfig`]. Raw flags and the validated config are
//! different types; validation reports every problem at once, each naming its flag.
//!
//! This module parses and checks; it starts nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::config::{LocalConfig, PreStop, Termination, default_name};
use super::probe::{ProbeAction, ProbeSpec};
use super::process::{CommandSpec, parse_signal};
use super::rollout::{self, IntOrPercent};
use crate::plan::Problem;

/// Problems found so far; each message starts with the flag it concerns (`--replicas …`).
#[derive(Default)]
struct Errors(Vec<Problem>);

impl Errors {
    /// Records `message`, whose first word (up to a colon) names the place.
    fn push(&mut self, message: impl Into<String>) {
        let message: String = message.into();
        let (place, rest) = match message.split_once(' ') {
            Some((flag, rest)) if flag.starts_with("--") => {
                (flag.trim_end_matches(':').to_string(), rest.to_string())
            }
            _ => ("command".to_string(), message.clone()),
        };
        self.0.push(Problem {
            place,
            message: rest,
        });
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Runtime flags of `zerodrop local`. Durations take a unit (`500ms`, `2s`, `1m`); a bare
/// number means seconds, as in a pod spec.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LocalRuntimeArgs {
    /// Replicas to run.
    #[arg(long, default_value_t = 3, help_heading = "Local runtime")]
    pub replicas: u32,
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
    /// Fail when the rollout (or the first start) makes no progress for this long.
    #[arg(
        long,
        default_value = "120s",
        value_name = "DURATION",
        help_heading = "Local runtime"
    )]
    pub progress_deadline: String,
    /// Keep every replica's full output in DIR/<replica>.log.
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
    pub startup_failure_threshold: Option<u32>,

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
    pub readiness_success_threshold: Option<u32>,
    #[arg(long, value_name = "N", help_heading = "Probes")]
    pub readiness_failure_threshold: Option<u32>,

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

impl LocalRuntimeArgs {
    /// Validates the flags around the command to run; every problem at once, each naming its
    /// flag.
    pub fn into_config(self, command: &[String]) -> Result<LocalConfig, Vec<Problem>> {
        let mut errs = Errors::default();
        let command = match command.split_first() {
            Some((program, args)) => CommandSpec {
                program: program.clone(),
                args: args.to_vec(),
            },
            None => {
                errs.push(
                    "a command to run is required: zerodrop local [OPTIONS] -- CMD ARGS…"
                        .to_string(),
                );
                CommandSpec {
                    program: String::new(),
                    args: Vec::new(),
                }
            }
        };
        let mut config = LocalConfig::new(command);
        if let Some(n) = self.replica_name {
            config.name = default_name(&n);
        }
        if self.replicas == 0 {
            errs.push("--replicas must be at least 1");
        }
        config.replicas = self.replicas;
        if self.port_env.is_empty() || self.port_env.contains('=') {
            errs.push(format!(
                "--port-env `{}` is not a variable name",
                self.port_env
            ));
        }
        config.port_env = self.port_env;
        if let Some(c) = self.new_cmd {
            match split_command(&c) {
                Ok(words) if !words.is_empty() => {
                    config.new_command = Some(CommandSpec {
                        program: words[0].clone(),
                        args: words[1..].to_vec(),
                    })
                }
                Ok(_) => errs.push("--new-cmd is empty"),
                Err(e) => errs.push(format!("--new-cmd: {e}")),
            }
        }
        match self.listen.parse::<SocketAddr>() {
            Ok(a) => config.listen = a,
            Err(_) => errs.push(format!(
                "--listen `{}` is not an address like 127.0.0.1:8080",
                self.listen
            )),
        }
        let mut dur = |flag: &str, v: &str| match parse_duration(v) {
            Ok(d) => Some(d),
            Err(e) => {
                errs.push(format!("--{flag}: {e}"));
                None
            }
        };
        if let Some(d) = dur("propagation-delay", &self.propagation_delay) {
            config.propagation_delay = d;
        }
        if let Some(d) = dur("progress-deadline", &self.progress_deadline) {
            config.progress_deadline = d;
        }
        if let Some(d) = dur("min-ready-seconds", &self.min_ready_seconds) {
            config.min_ready = d;
        }
        let grace = dur("grace-period", &self.grace_period);
        let prestop_sleep = self
            .prestop_sleep
            .as_deref()
            .and_then(|v| dur("prestop-sleep", v));
        let startup = ProbeFlags {
            kind: "startup",
            path: self.startup_path,
            tcp: self.startup_tcp,
            initial_delay: self.startup_initial_delay,
            period: self.startup_period,
            timeout: self.startup_timeout,
            success_threshold: None,
            failure_threshold: self.startup_failure_threshold,
        };
        config.startup_probe = startup.build(&mut errs);
        let readiness = ProbeFlags {
            kind: "readiness",
            path: self.readiness_path,
            tcp: self.readiness_tcp,
            initial_delay: self.readiness_initial_delay,
            period: self.readiness_period,
            timeout: self.readiness_timeout,
            success_threshold: self.readiness_success_threshold,
            failure_threshold: self.readiness_failure_threshold,
        };
        config.readiness_probe = readiness.build(&mut errs);
        for (flag, v, target) in [
            ("max-surge", &self.max_surge, &mut config.max_surge),
            (
                "max-unavailable",
                &self.max_unavailable,
                &mut config.max_unavailable,
            ),
        ] {
            match v.parse::<IntOrPercent>() {
                Ok(x) => *target = x,
                Err(e) => errs.push(format!("--{flag}: {e}")),
            }
        }
        if let Err(rollout::StrategyError::BothZero) =
            rollout::resolve_fenceposts(config.replicas, config.max_surge, config.max_unavailable)
        {
            errs.push("--max-surge: may not be 0 when --max-unavailable is 0 too");
        }
        let mut termination = Termination::default();
        match parse_signal(&self.stop_signal) {
            Ok(s) => termination.stop_signal = s,
            Err(e) => errs.push(format!("--stop-signal: {e}")),
        }
        if let Some(g) = grace {
            termination.grace_period = g;
        }
        termination.prestop = match (prestop_sleep, self.prestop_exec) {
            (Some(d), None) => Some(PreStop::Sleep(d)),
            (None, Some(cmd)) if cmd.trim().is_empty() => {
                errs.push("--prestop-exec is empty");
                None
            }
            (None, Some(cmd)) => Some(PreStop::Exec(cmd)),
            (Some(_), Some(_)) => {
                errs.push("--prestop-sleep: cannot be combined with --prestop-exec");
                None
            }
            (None, None) => None,
        };
        config.termination = termination;
        config.replica_logs = self.replica_logs;
        if errs.is_empty() {
            Ok(config)
        } else {
            Err(errs.0)
        }
    }
}

struct ProbeFlags {
    kind: &'static str,
    path: Option<String>,
    tcp: bool,
    initial_delay: Option<String>,
    period: Option<String>,
    timeout: Option<String>,
    success_threshold: Option<u32>,
    failure_threshold: Option<u32>,
}

impl ProbeFlags {
    fn build(self, errs: &mut Errors) -> Option<ProbeSpec> {
        let k = self.kind;
        let action = match (self.path, self.tcp) {
            (Some(_), true) => {
                errs.push(format!("--{k}-path: cannot be combined with --{k}-tcp"));
                return None;
            }
            (Some(p), false) if !p.starts_with('/') => {
                errs.push(format!("--{k}-path `{p}` must start with /"));
                return None;
            }
            (Some(path), false) => ProbeAction::Http { path },
            (None, true) => ProbeAction::Tcp,
            (None, false) => {
                let timing = self.initial_delay.is_some()
                    || self.period.is_some()
                    || self.timeout.is_some()
                    || self.success_threshold.is_some()
                    || self.failure_threshold.is_some();
                if timing {
                    errs.push(format!(
                        "--{k}-* timing flags need a {k} probe: --{k}-path PATH or --{k}-tcp"
                    ));
                }
                return None;
            }
        };
        let mut spec = ProbeSpec::new(action);
        for (flag, v, target, min) in [
            (
                "initial-delay",
                self.initial_delay,
                &mut spec.initial_delay,
                Duration::ZERO,
            ),
            (
                "period",
                self.period,
                &mut spec.period,
                Duration::from_millis(1),
            ),
            (
                "timeout",
                self.timeout,
                &mut spec.timeout,
                Duration::from_millis(1),
            ),
        ] {
            if let Some(v) = v {
                match parse_duration(&v) {
                    Ok(d) if d < min => errs.push(format!("--{k}-{flag} must be more than 0")),
                    Ok(d) => *target = d,
                    Err(e) => errs.push(format!("--{k}-{flag}: {e}")),
                }
            }
        }
        for (flag, v, target) in [
            (
                "success-threshold",
                self.success_threshold,
                &mut spec.success_threshold,
            ),
            (
                "failure-threshold",
                self.failure_threshold,
                &mut spec.failure_threshold,
            ),
        ] {
            match v {
                Some(0) => errs.push(format!("--{k}-{flag} must be at least 1")),
                Some(n) => *target = n,
                None => {}
            }
        }
        Some(spec)
    }
}

/// A duration as `500ms`, `2s`, `1.5s`, `3m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 500ms, 2s, 1m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("`{s}` has an unknown unit (use ms, s, m or h)")),
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("`{s}` is too long"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Splits a command line into words: whitespace separates, single quotes keep everything,
/// double quotes keep everything but `\"` and `\\`, a backslash outside quotes escapes a
/// character. No variables, globs or other shell syntax.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated ' in `{s}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unterminated \" in `{s}`")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated \" in `{s}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err(format!("trailing backslash in `{s}`")),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        local: LocalRuntimeArgs,
        #[arg(last = true)]
        cmd: Vec<String>,
    }

    fn config(args: &[&str]) -> Result<LocalConfig, Vec<Problem>> {
        let mut argv = vec!["zerodrop"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).expect("parses");
        cli.local.into_config(&cli.cmd)
    }

    #[test]
    fn defaults_are_kubernetes_defaults() {
        let c = config(&["--", "./srv", "--port", "{port}"]).expect("valid");
        assert_eq!(c.replicas, 3);
        assert_eq!(c.max_surge, IntOrPercent::Percent(25));
        assert_eq!(c.max_unavailable, IntOrPercent::Percent(25));
        assert_eq!(c.termination.grace_period, Duration::from_secs(30));
        assert_eq!(c.termination.stop_signal, nix::sys::signal::Signal::SIGTERM);
        assert_eq!(c.propagation_delay, Duration::from_secs(1));
        assert_eq!(c.readiness_probe, None);
        assert_eq!(c.name, "srv");
        assert_eq!(c.command.args, vec!["--port", "{port}"]);
    }

    #[test]
    fn probe_flags_build_a_probe_with_kubernetes_default_timing() {
        let c = config(&[
            "--readiness-path",
            "/ready",
            "--readiness-failure-threshold",
            "2",
            "--",
            "srv",
        ])
        .expect("valid");
        let p = c.readiness_probe.expect("probe");
        assert_eq!(
            p.action,
            ProbeAction::Http {
                path: "/ready".into()
            }
        );
        assert_eq!(p.period, Duration::from_secs(10));
        assert_eq!(p.timeout, Duration::from_secs(1));
        assert_eq!(p.failure_threshold, 2);
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_its_flag() {
        let errs = config(&[
            "--replicas",
            "0",
            "--max-surge",
            "0",
            "--max-unavailable",
            "0%",
            "--grace-period",
            "soon",
            "--readiness-period",
            "1s",
            "--stop-signal",
            "NOPE",
        ])
        .expect_err("invalid");
        let all: Vec<String> = errs.iter().map(|p| p.to_string()).collect();
        let all = all.join("\n");
        assert!(errs.iter().any(|p| p.place == "--replicas"));
        for needle in [
            "command to run",
            "--replicas",
            "may not be 0 when --max-unavailable is 0",
            "--grace-period",
            "--readiness-*: timing flags",
            "--stop-signal",
        ] {
            assert!(all.contains(needle), "missing {needle} in:\n{all}");
        }
    }

    #[test]
    fn prestop_sleep_and_new_command_are_parsed() {
        let c = config(&[
            "--prestop-sleep",
            "1500ms",
            "--new-cmd",
            "srv --version 'two words' \"v\\\"2\"",
            "--stop-signal",
            "QUIT",
            "--",
            "srv",
        ])
        .expect("valid");
        assert_eq!(
            c.termination.prestop,
            Some(PreStop::Sleep(Duration::from_millis(1500)))
        );
        assert_eq!(c.termination.stop_signal, nix::sys::signal::Signal::SIGQUIT);
        let new = c.new_command.expect("new command");
        assert_eq!(new.program, "srv");
        assert_eq!(new.args, vec!["--version", "two words", "v\"2"]);
    }

    #[test]
    fn durations_take_units_and_bare_seconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2 fortnights").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(split_command("srv 'oops").is_err());
        assert_eq!(split_command("  a  b ").expect("ok"), vec!["a", "b"]);
    }
}
