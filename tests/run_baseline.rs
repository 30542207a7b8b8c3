//! Nothing is rolled on a service that cannot carry the offered rate: the baseline shows
//! latency climbing and requests queueing, the run stops with exit 4 before the trigger, and
//! says why with the numbers. Shown on gunicorn's sync workers (a server nobody here wrote)
//! and on the demo app with a limited number of workers.

mod support;

use std::process::{Command, Stdio};

use serde_json::Value;
use support::local_run::{self, EXE};
use support::tool::{Tool, require_on_path};

const GUNICORN: Tool = Tool {
    name: "gunicorn",
    install: "apt-get install gunicorn",
};

/// Asserts the run stopped before anything was rolled, because the service did not sustain
/// `rate` req/s, and said so.
fn assert_not_sustained(code: Option<i32>, stderr: &str, r: &Value, rate: &str) {
    assert_eq!(code, Some(4), "{stderr}");
    let sentence = format!("the service does not sustain {rate} req/s before any rollout:");
    assert!(stderr.contains(&sentence), "{stderr}");
    assert!(stderr.contains("lower --rate or add capacity"), "{stderr}");
    let reasons = r["verdict"]["reasons"].to_string();
    assert!(reasons.contains(&sentence), "{reasons}");
    // Nothing was triggered and no replica replaced.
    let events = r["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !events.iter().any(|e| e["type"] == "trigger"),
        "triggered anyway"
    );
    assert!(
        !events.iter().any(|e| e["type"] == "pod_terminating"),
        "a replica was terminated"
    );
    assert_eq!(r["rollout"]["outcome"], "not started");
}

#[test]
fn the_demo_app_above_its_capacity_is_not_rolled() {
    // 3 replicas × 2 workers / 50 ms = 120 req/s, offered 200.
    let dir = tempfile::tempdir().expect("temp dir");
    let run = local_run::run(
        dir.path(),
        "over-capacity",
        "8s",
        &["--rate", "200"],
        &["--delay", "50ms", "--workers", "2"],
    );
    assert_not_sustained(run.code, &run.stderr, &run.result, "200");
}

/// `zerodrop local` rolling 3 replicas of gunicorn with 2 sync workers serving a 50 ms app
/// (about 120 req/s in all) at `rate`, with a 2 s preStop so a graceful stop drops nothing;
/// its exit code, stderr and result.
fn gunicorn_at(rate: &str) -> Option<(Option<i32>, String, Value)> {
    let gunicorn = require_on_path(GUNICORN, &["gunicorn"])?;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("gunicorn.json");
    let app_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gunicorn");
    let run = Command::new(EXE)
        .args([
            "local",
            "--baseline",
            "8s",
            "--settle",
            "2s",
            "--rate",
            rate,
        ])
        .args(["--readiness-tcp", "--readiness-period", "1s"])
        .args(["--prestop-sleep", "2s", "-q", "--out"])
        .arg(&out)
        .arg("--")
        .arg(&gunicorn)
        .args(["--workers", "2", "--bind", "127.0.0.1:{port}"])
        .args(["--chdir", app_dir, "slow_app:app"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("zerodrop runs");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("no result: {e}\n{stderr}"));
    let r: Value = serde_json::from_str(&text).expect("JSON");
    Some((run.status.code(), stderr, r))
}

#[test]
fn gunicorn_sync_workers_above_their_capacity_are_not_rolled() {
    let Some((code, stderr, r)) = gunicorn_at("200") else {
        return;
    };
    assert_not_sustained(code, &stderr, &r, "200");
}

#[test]
fn gunicorn_sync_workers_within_their_capacity_are_rolled() {
    // 60 req/s of the 120 the workers carry: the baseline holds, the rollout goes ahead.
    let Some((code, stderr, r)) = gunicorn_at("60") else {
        return;
    };
    assert!(!stderr.contains("does not sustain"), "{stderr}");
    let events = r["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        events.iter().any(|e| e["type"] == "trigger"),
        "not rolled: {stderr}"
    );
    assert!(r["rollout"]["completed_at"].is_u64(), "{stderr}");
    assert!(matches!(code, Some(0 | 1)), "{code:?}: {stderr}");
}
