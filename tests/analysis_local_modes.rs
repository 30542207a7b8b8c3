//! The analysis on real runs: `zerodrop local` rolls replicas of the built-in demo app, each
//! configured with one failure mode the analysis names (ungraceful shutdown, the keep-alive close
//! race, early traffic, …), and the mode's own finding must come first; the fixed configuration
//! must yield no finding at all.
//!
//! Each test runs the real binary (local runtime, proxy, load engine, analysis) for about ten
//! seconds on loopback and reads the JSON result; assertions are on findings, never on timing.

mod support;

use std::path::Path;

use serde_json::Value;
use support::local_run::{self, EXE, describe, failed, findings, top};

/// Runs `zerodrop local` with `flags`, replicas running `demo-app` with `app` flags, and returns
/// the result document.
fn run_local(dir: &Path, name: &str, flags: &[&str], app: &[&str]) -> Value {
    run_local_with(dir, name, "3s", flags, app)
}

/// As [`run_local`], with the baseline's length: it must outlast the slowest request.
fn run_local_with(dir: &Path, name: &str, baseline: &str, flags: &[&str], app: &[&str]) -> Value {
    local_run::run(dir, name, baseline, flags, app).result
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn immediate_shutdown_without_prestop_is_traffic_to_a_terminating_pod() {
    let dir = tmp();
    // A new connection per request, as many independent clients make: the Service keeps
    // sending new connections to a pod that died on SIGTERM until its endpoint goes.
    let r = run_local(
        dir.path(),
        "immediate",
        &["--rate", "500", "--no-keepalive"],
        &["--shutdown", "immediate", "--delay", "2ms"],
    );
    assert!(failed(&r) > 0);
    assert_eq!(top(&r), "traffic-to-terminating-pod", "{}", describe(&r));
    let fix = r["analysis"]["findings"][0]["fix"]
        .as_str()
        .unwrap_or_default();
    assert!(
        fix.contains("the slowest de-registration here took"),
        "{fix}"
    );
}

#[test]
fn closing_idle_keepalive_connections_on_shutdown_is_a_keepalive_close_race() {
    let dir = tmp();
    // The race needs a request on the wire at the instant the app closes an idle connection:
    // it happens in most runs, not all, so a bounded number of runs is allowed.
    for attempt in 0..5 {
        let r = run_local(
            dir.path(),
            &format!("close-idle-{attempt}"),
            &["--rate", "1000", "--prestop-sleep", "2s"],
            &[
                "--shutdown",
                "graceful",
                "--keepalive-on-shutdown",
                "close-idle",
                "--delay",
                "2ms",
            ],
        );
        if failed(&r) == 0 {
            assert_eq!(findings(&r), Vec::<String>::new(), "{}", describe(&r));
            continue;
        }
        // A request written in the instant before the stop, on a connection the app then
        // closes as idle, is timed as in flight at the stop: timing alone cannot tell it from
        // a cut (an open issue of the classifier), so it may show as ungraceful-shutdown
        // beside the race; nothing else may.
        let ids = findings(&r);
        assert!(
            ids.iter().any(|f| f == "keepalive-close-race"),
            "{}",
            describe(&r)
        );
        assert!(
            ids.iter()
                .all(|f| f == "keepalive-close-race" || f == "ungraceful-shutdown"),
            "{}",
            describe(&r)
        );
        return;
    }
    panic!("no run of five showed the keep-alive close race");
}

#[test]
fn a_readiness_endpoint_that_lies_is_early_traffic() {
    let dir = tmp();
    let r = run_local(
        dir.path(),
        "lying-readiness",
        &[
            "--rate",
            "300",
            "--prestop-sleep",
            "2s",
            "--new-cmd",
            &format!("{EXE} demo-app --readiness lie --warmup 8s --delay 2ms"),
        ],
        &["--delay", "2ms"],
    );
    assert!(failed(&r) > 0);
    assert_eq!(top(&r), "early-traffic", "{}", describe(&r));
}

#[test]
fn a_grace_period_shorter_than_the_drain_is_killed_at_the_grace_deadline() {
    let dir = tmp();
    let r = run_local_with(
        dir.path(),
        "short-grace",
        "6s",
        // Enough pooled connections for every 4 s request in flight at 20/s.
        &[
            "--rate",
            "20",
            "--connections",
            "200",
            "--prestop-sleep",
            "1s",
            "--grace-period",
            "3s",
        ],
        &["--shutdown", "graceful", "--delay", "4s"],
    );
    assert!(failed(&r) > 0);
    assert_eq!(top(&r), "killed-at-grace-deadline", "{}", describe(&r));
}

#[test]
fn max_unavailable_with_one_replica_leaves_no_endpoints() {
    let dir = tmp();
    let r = run_local(
        dir.path(),
        "one-replica",
        &[
            "--replicas",
            "1",
            "--max-surge",
            "0",
            "--max-unavailable",
            "1",
            "--rate",
            "300",
            "--prestop-sleep",
            "2s",
        ],
        &[
            "--shutdown",
            "graceful",
            "--delay",
            "2ms",
            "--startup-delay",
            "3s",
        ],
    );
    assert!(failed(&r) > 0);
    assert_eq!(top(&r), "no-endpoints", "{}", describe(&r));
}

#[test]
fn the_fixed_configuration_yields_no_finding() {
    let dir = tmp();
    let r = run_local(
        dir.path(),
        "fixed",
        &[
            "--rate",
            "1000",
            "--max-surge",
            "1",
            "--max-unavailable",
            "0",
            "--prestop-sleep",
            "2s",
        ],
        &[
            "--shutdown",
            "graceful",
            "--keepalive-on-shutdown",
            "connection-close",
            "--delay",
            "2ms",
        ],
    );
    assert_eq!(findings(&r), Vec::<String>::new(), "{}", describe(&r));
    assert_eq!(failed(&r), 0);
}
