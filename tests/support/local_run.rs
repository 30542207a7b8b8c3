//! `zerodrop local` rolling replicas of the built-in demo app, run as a user would (the real
//! binary, its JSON result), for the tests that judge the analysis on real runs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

pub const EXE: &str = env!("CARGO_BIN_EXE_zerodrop");

/// What `zerodrop local` printed and wrote, and how it exited.
pub struct LocalRun {
    pub result: Value,
    pub code: Option<i32>,
    pub stderr: String,
}

/// Runs `zerodrop local` with a baseline of `baseline`, a 2 s settle, readiness probes every
/// second, `flags`, and replicas running `demo-app` with `app` flags.
pub fn run(dir: &Path, name: &str, baseline: &str, flags: &[&str], app: &[&str]) -> LocalRun {
    // One rollout at a time: parallel runs would compete for the CPU and perturb each other.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = dir.join(format!("{name}.json"));
    let run = Command::new(EXE)
        .arg("local")
        .args(["--baseline", baseline, "--settle", "2s"])
        .args(["--readiness-path", "/readyz", "--readiness-period", "1s"])
        .args(flags)
        .arg("--out")
        .arg(&out)
        .arg("-q")
        .arg("--")
        .arg(EXE)
        .arg("demo-app")
        .args(app)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("zerodrop runs");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("{name}: no result ({}): {e}\n{stderr}", run.status));
    LocalRun {
        result: serde_json::from_str(&text).expect("result is JSON"),
        code: run.status.code(),
        stderr,
    }
}

pub fn findings(r: &Value) -> Vec<String> {
    r["analysis"]["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| f["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub fn failed(r: &Value) -> u64 {
    let c = &r["recorded"]["overall"]["counts"];
    let total: u64 = c
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    total - c["ok"].as_u64().unwrap_or(0) - c["dropped_by_generator"].as_u64().unwrap_or(0)
}

/// Findings with their titles and details, for assertion messages.
pub fn describe(r: &Value) -> String {
    let mut out = format!("{} failed; ", failed(r));
    for f in r["analysis"]["findings"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {} ({}): {}",
            f["id"], f["evidence"]["failures"], f["title"]
        ));
        for d in f["evidence"]["details"].as_array().into_iter().flatten() {
            out.push_str(&format!("\n    - {}", d.as_str().unwrap_or_default()));
        }
    }
    out
}

pub fn top(r: &Value) -> String {
    findings(r).into_iter().next().unwrap_or_default()
}
