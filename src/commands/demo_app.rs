//! `zerodrop demo-app`: the flags become the demo app's configuration, and the server runs
//! until it has drained; a port it cannot bind exits 2.

use crate::cli::demo_app::{DemoAppArgs, KeepaliveOnShutdown, Readiness, ShutdownMode};
use crate::demo_app::{self, DemoAppConfig, DemoAppError};
use crate::model::exit;

pub fn run(args: DemoAppArgs) -> u8 {
    match demo_app::run(config(args)) {
        Ok(()) => exit::PASSED,
        Err(e) => {
            eprintln!("{e}");
            match e {
                DemoAppError::Bind { .. } => exit::BAD_INPUT,
                DemoAppError::Setup(_) => exit::COULD_NOT_RUN,
            }
        }
    }
}

fn config(a: DemoAppArgs) -> DemoAppConfig {
    DemoAppConfig {
        port: a.port,
        host: a.host,
        name: a.name,
        shutdown: match a.shutdown {
            ShutdownMode::Immediate => demo_app::ShutdownMode::Immediate,
            ShutdownMode::Graceful => demo_app::ShutdownMode::Graceful,
        },
        keepalive_on_shutdown: match a.keepalive_on_shutdown {
            KeepaliveOnShutdown::CloseIdle => demo_app::KeepaliveOnShutdown::CloseIdle,
            KeepaliveOnShutdown::ConnectionClose => demo_app::KeepaliveOnShutdown::ConnectionClose,
        },
        drain_timeout: a.drain_timeout,
        startup_delay: a.startup_delay,
        warmup: a.warmup,
        readiness: match a.readiness {
            Readiness::Honest => demo_app::Readiness::Honest,
            Readiness::Lie => demo_app::Readiness::Lie,
        },
        delay: a.delay,
        workers: a.workers,
        anonymous: a.anonymous,
        ready_path: a.ready_path,
        health_path: a.health_path,
        max_connection_age: a.max_connection_age,
        ws_path: a.ws_path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        app: DemoAppArgs,
    }

    fn parse(extra: &[&str]) -> DemoAppConfig {
        let mut argv = vec!["demo-app", "--port", "1", "--name", "r1"];
        argv.extend_from_slice(extra);
        config(Cli::try_parse_from(argv).expect("parses").app)
    }

    #[test]
    fn the_flags_defaults_are_the_apps_defaults() {
        let want = DemoAppConfig {
            port: 1,
            name: "r1".into(),
            ..DemoAppConfig::default()
        };
        assert_eq!(parse(&[]), want);
    }

    #[test]
    fn durations_and_modes_reach_the_app() {
        let c = parse(&[
            "--delay",
            "300ms",
            "--keepalive-on-shutdown",
            "close-idle",
            "--readiness",
            "lie",
            "--shutdown",
            "immediate",
        ]);
        assert_eq!(c.delay, std::time::Duration::from_millis(300));
        assert_eq!(
            c.keepalive_on_shutdown,
            demo_app::KeepaliveOnShutdown::CloseIdle
        );
        assert_eq!(c.readiness, demo_app::Readiness::Lie);
        assert_eq!(c.shutdown, demo_app::ShutdownMode::Immediate);
    }

    #[test]
    fn a_duration_without_a_unit_is_refused_with_the_fix() {
        let e = Cli::try_parse_from(["demo-app", "--port", "1", "--delay", "2"])
            .err()
            .expect("a bare number");
        let text = e.to_string();
        assert!(
            text.contains("`2` needs a unit: 2s, 2ms or 1m30s"),
            "{text}"
        );
    }
}
