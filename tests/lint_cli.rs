//! `zerodrop lint` as a user runs it: exit 0 when nothing reaches `--fail-on`, 1 when
//! something does, 2 for input that cannot be linted, with the report on stdout.

use std::io::Write;
use std::process::{Command, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_zerodrop");

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/lint/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn lint(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(EXE)
        .arg("lint")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zerodrop runs");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("finishes");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_initial_seed_manifest_fails_and_names_its_risks() {
    let (code, out, _) = lint(&["-f", &fixture("seed000_initial.yaml")], "");
    assert_eq!(code, 1);
    for id in [
        "no-readiness-probe",
        "no-prestop",
        "max-unavailable-non-zero",
    ] {
        assert!(out.contains(id), "{id} missing:\n{out}");
    }
}

#[test]
fn the_final_seed_manifest_passes_unless_notes_are_asked_to_fail() {
    let (code, _, _) = lint(&["-f", &fixture("seed000_final.yaml")], "");
    assert_eq!(code, 0);
    let (code, _, _) = lint(
        &["-f", &fixture("seed000_final.yaml"), "--fail-on", "info"],
        "",
    );
    assert_eq!(code, 1);
}

#[test]
fn json_output_lists_the_findings_with_their_ids() {
    let (code, out, _) = lint(
        &["-f", "-", "--format", "json", "--fail-on", "never"],
        &std::fs::read_to_string(fixture("seed000_initial.yaml")).expect("fixture"),
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"no-prestop"), "{ids:?}");
}

#[test]
fn broken_yaml_on_stdin_is_bad_input_with_its_line() {
    let (code, _, err) = lint(&["-f", "-"], "kind: Deployment\nmetadata: [x\n");
    assert_eq!(code, 2);
    assert!(err.contains("<stdin>:2"), "{err}");
}

#[test]
fn no_input_at_all_is_bad_input() {
    let (code, _, err) = lint(&[], "");
    assert_eq!(code, 2);
    assert!(err.contains("nothing to lint"), "{err}");
}
