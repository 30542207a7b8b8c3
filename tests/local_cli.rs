//! `zerodrop local` and `zerodrop demo` as a user runs them: exit codes, clear errors naming
//! what is wrong, and no replica process left behind — after an error, and after a Ctrl-C in
//! the middle of a rollout.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn zerodrop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zerodrop"))
}

/// A marker in the environment, inherited by every replica, to find them in /proc.
fn marker() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

/// Live (non-zombie) processes whose environment carries `ZERODROP_TEST_MARKER=marker`.
fn processes_with_marker(marker: &str) -> Vec<String> {
    let needle = format!("ZERODROP_TEST_MARKER={marker}");
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next().map(str::to_string))
            .unwrap_or_default();
        if state != "Z" {
            out.push(stat);
        }
    }
    out
}

/// Waits (bounded) until no marked process is left; returns the survivors if some remain.
fn survivors_after_wait(marker: &str) -> Vec<String> {
    let start = Instant::now();
    loop {
        let left = processes_with_marker(marker);
        if left.is_empty() || start.elapsed() > Duration::from_secs(10) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_command_that_does_not_exist_is_named_and_exits_2() {
    let out = zerodrop()
        .args([
            "local",
            "--rate",
            "10",
            "--",
            "/nonexistent/zerodrop-no-such-server",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/zerodrop-no-such-server") && stderr.contains("not found"),
        "{stderr}"
    );
    // No summary of a run that never sent a request: nothing may look like a pass.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("no dropped requests"), "{stdout}");
}

#[test]
fn invalid_runtime_flags_are_all_reported_with_exit_2() {
    let out = zerodrop()
        .args([
            "local",
            "--max-surge",
            "0",
            "--max-unavailable",
            "0",
            "--stop-signal",
            "NOPE",
            "--",
            "true",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--max-surge"), "{stderr}");
    assert!(stderr.contains("--stop-signal"), "{stderr}");
}

#[test]
fn a_replica_that_never_becomes_ready_is_named_exits_3_and_leaves_nothing() {
    let m = marker();
    let out = zerodrop()
        .env("ZERODROP_TEST_MARKER", &m)
        .args([
            "local",
            "--rate",
            "10",
            "--replicas",
            "2",
            "--readiness-path",
            "/readyz",
            "--readiness-period",
            "200ms",
            "--progress-deadline",
            "2s",
            "--",
            env!("CARGO_BIN_EXE_zerodrop"),
            "demo-app",
            // Honest readiness during an endless warm-up: never ready.
            "--warmup",
            "1h",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("is not ready"), "{stderr}");
    assert!(stderr.contains("GET /readyz returned 503"), "{stderr}");
    assert_eq!(survivors_after_wait(&m), Vec::<String>::new());
}

#[test]
fn a_replica_that_crashes_at_start_fails_fast_with_its_output() {
    let out = zerodrop()
        .args([
            "local",
            "--rate",
            "10",
            "--progress-deadline",
            "60s",
            "--",
            "sh",
            "-c",
            "echo cannot open config >&2; exit 3",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("exit code 3 before it became ready to serve"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot open config"), "{stderr}");
}

#[test]
fn ctrl_c_in_the_middle_of_a_rollout_exits_130_and_leaves_no_replica() {
    let m = marker();
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("result.json");
    // A long preStop keeps the rollout going while the interrupt arrives; the replicas ignore
    // nothing, so any survivor is zerodrop's fault.
    let mut child = zerodrop()
        .env("ZERODROP_TEST_MARKER", &m)
        .args([
            "local",
            "--quiet",
            "--rate",
            "50",
            "--baseline",
            "1s",
            "--readiness-path",
            "/readyz",
            "--readiness-period",
            "200ms",
            "--prestop-sleep",
            "20s",
            "--out",
        ])
        .arg(&json)
        .args(["--", env!("CARGO_BIN_EXE_zerodrop"), "demo-app"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the rollout is under way: a new replica (v2) is running.
    let start = Instant::now();
    loop {
        let running = processes_with_marker(&m);
        if running.len() >= 4 || start.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        processes_with_marker(&m).len() >= 4,
        "the rollout never surged a new replica"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(survivors_after_wait(&m), Vec::<String>::new());
    // The partial result was still written, and says so.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("result written")).expect("json");
    assert_eq!(doc["interrupted"], true);
}

#[test]
fn the_demo_exits_0_after_showing_failures_then_none() {
    let out = zerodrop()
        .arg("demo")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The naive half failed requests, each on a replica that was terminating.
    let naive = stdout
        .lines()
        .find(|l| l.starts_with("naive:"))
        .expect("naive summary");
    assert!(!naive.starts_with("naive: 0 of"), "{stdout}");
    for l in stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("naive-v1-"))
    {
        assert!(l.contains("all after it began terminating"), "{l}");
    }
    // The fixed half: zero failed of at least 5,000.
    let fixed = stdout
        .lines()
        .find(|l| l.starts_with("fixed:"))
        .expect("fixed summary");
    let sent: u64 = fixed
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert!(fixed.starts_with("fixed: 0 of"), "{fixed}");
    assert!(sent >= 5000, "{fixed}");
}
