//! Issue 13's must-show, end to end with the real binary: `zerodrop local` rolls the demo app's
//! API from v1 to v2 under a mix of an old-client template (it reads `fullname`) and a web-client
//! template, with the shipped scenario's response checks.
//!
//! - a naive v2 (it renamed `fullname` to `full_name`) fails with `breaking-change-new-version`
//!   on top, every failed check tied to a v2 replica and none to a v1 one;
//! - a compatible v2 (both names) passes with no finding;
//! - the same two rollouts without any check pass: nothing else tells a rename apart from a
//!   healthy release.
//!
//! The rollout itself is the demo's fixed configuration (surge 1, readiness probe, preStop
//! sleep, graceful drain), so nothing but the checks can fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_zerodrop");

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/local-api-versions.yaml")
}

/// The shipped scenario with every check (and the threshold on checks) taken out.
fn without_checks(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(scenario()).expect("the shipped scenario");
    let mut out = Vec::new();
    let mut in_checks = false;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start().starts_with("checks:") {
            in_checks = true;
            continue;
        }
        if in_checks && (indent > 4 || line.trim().is_empty()) {
            continue;
        }
        in_checks = false;
        if line.contains("checks>") {
            continue;
        }
        out.push(line);
    }
    let path = dir.join("no-checks.yaml");
    std::fs::write(&path, out.join("\n") + "\n").expect("write");
    assert!(
        !out.join("\n").contains("json:"),
        "checks left in:\n{}",
        out.join("\n")
    );
    path
}

/// Runs `zerodrop local` rolling v1 to v2 (`--compat` when `compat`) with `scenario`; returns
/// the exit code and the JSON result.
fn roll(dir: &Path, scenario: &Path, compat: bool) -> (i32, Value) {
    let out_file = dir.join(format!(
        "result-{compat}-{}.json",
        scenario.display().to_string().len()
    ));
    let new_cmd = format!(
        "{EXE} demo-app --port {{port}} --api-version v2{}",
        if compat { " --compat" } else { "" }
    );
    let out = Command::new(EXE)
        .args(["local", "--scenario"])
        .arg(scenario)
        .args([
            "--rate",
            "150",
            "--baseline",
            "2s",
            "--settle",
            "2s",
            "--rollout-timeout",
            "60s",
            "--replicas",
            "3",
            "--max-surge",
            "1",
            "--max-unavailable",
            "0",
            "--readiness-path",
            "/readyz",
            "--readiness-period",
            "1s",
            "--prestop-sleep",
            "2s",
            "--quiet",
            "--new-cmd",
            &new_cmd,
            "--out",
        ])
        .arg(&out_file)
        .args([
            "--",
            EXE,
            "demo-app",
            "--port",
            "{port}",
            "--api-version",
            "v1",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(&out_file)
        .unwrap_or_else(|e| panic!("no result ({e}); stderr:\n{stderr}"));
    let v: Value = serde_json::from_str(&text).expect("the result is JSON");
    (out.status.code().unwrap_or(-1), v)
}

fn finding_ids(v: &Value) -> Vec<String> {
    v["analysis"]["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| x["id"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_renamed_field_is_caught_on_the_v2_replicas_and_a_compatible_v2_passes() {
    let dir = tempfile::tempdir().expect("tempdir");

    let (code, naive) = roll(dir.path(), &scenario(), false);
    let ids = finding_ids(&naive);
    assert_eq!(code, 1, "the naive v2 fails the gate: {ids:?}");
    assert_eq!(
        ids.first().map(String::as_str),
        Some("breaking-change-new-version"),
        "{ids:?}"
    );
    // Every failed check is tied to a v2 replica, exactly (the proxy's routes), none to v1.
    let pods = naive["analysis"]["pods"].as_array().expect("pods");
    let revision_of = |name: &str| {
        pods.iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["revision_name"].as_str())
            .unwrap_or("?")
            .to_string()
    };
    let failures = naive["recorded"]["failures"].as_array().expect("failures");
    let checked: Vec<&Value> = failures
        .iter()
        .filter(|f| f["class"] == "check_failed")
        .collect();
    assert!(
        !checked.is_empty(),
        "the old client's check failed somewhere"
    );
    assert_eq!(checked.len(), failures.len(), "nothing but checks failed");
    let attributions = naive["analysis"]["attributions"]
        .as_array()
        .expect("attributions");
    for f in &checked {
        let a = attributions
            .iter()
            .find(|a| a["seq"] == f["seq"])
            .unwrap_or_else(|| panic!("failure {} is tied to no pod", f["seq"]));
        assert_eq!(a["method"], "proxy_route");
        assert_eq!(revision_of(a["pod"].as_str().unwrap_or("")), "v2", "{a}");
        assert_eq!(
            f["template"].as_u64().unwrap_or(0),
            0,
            "only the old client breaks"
        );
    }
    let split = &naive["analysis"]["versions"];
    assert_eq!(
        (split["old"].as_str(), split["new"].as_str()),
        (Some("v1"), Some("v2"))
    );
    let old_client = &split["templates"][0];
    assert!(
        old_client["old"]["checks_failed"]
            .get("reads fullname")
            .is_none()
    );
    assert!(old_client["new"]["checks_failed"]["reads fullname"].as_u64() > Some(0));

    let (code, compat) = roll(dir.path(), &scenario(), true);
    assert_eq!(
        code, 0,
        "the compatible v2 passes: {:?}",
        compat["verdict"]["reasons"]
    );
    assert!(
        finding_ids(&compat).is_empty(),
        "{:?}",
        finding_ids(&compat)
    );
    assert_eq!(compat["recorded"]["overall"]["counts"]["check_failed"], 0);
}

#[test]
fn without_checks_the_breaking_release_passes_like_the_compatible_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = without_checks(dir.path());
    for compat in [false, true] {
        let (code, v) = roll(dir.path(), &plain, compat);
        assert_eq!(
            code, 0,
            "compat {compat}: without checks nothing fails: {:?}",
            v["verdict"]["reasons"]
        );
        assert!(finding_ids(&v).is_empty(), "{:?}", finding_ids(&v));
    }
}
