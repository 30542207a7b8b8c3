//! The pod header is discovered, not configured: before its load a run samples a few responses
//! and, when a header names the replicas it knows, reads that header as `--pod-header` would —
//! and says so. Only a request that changes nothing is sampled: a POST is never repeated
//! outside the run. Shown on `zerodrop local` rolling the demo app, which names its replica in
//! `x-zerodrop-replica`.

mod support;

use serde_json::Value;
use support::local_run;

/// The message of the run's `PodHeaderSearch` note.
fn search_note(r: &Value) -> String {
    r["timeline"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["reason"] == "PodHeaderSearch")
        .and_then(|e| e["message"].as_str())
        .unwrap_or_else(|| panic!("no PodHeaderSearch note: {r:#}"))
        .to_string()
}

#[test]
fn a_header_naming_the_replicas_is_found_used_and_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = local_run::run(
        dir.path(),
        "get",
        "2s",
        &["--rate", "50"],
        &["--delay", "1ms"],
    );
    let r = &run.result;
    assert_eq!(
        r["analysis"]["pod_header"]["name"], "x-zerodrop-replica",
        "{}",
        run.stderr
    );
    assert_eq!(r["analysis"]["pod_header"]["discovered"], true);
    let note = search_note(r);
    assert!(
        note.starts_with("12 requests sent before the load"),
        "{note}"
    );
    assert!(
        note.contains("`x-zerodrop-replica` names the pod"),
        "{note}"
    );
}

#[test]
fn a_post_is_not_sent_outside_the_run_to_look_for_a_header() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = local_run::run(
        dir.path(),
        "post",
        "2s",
        &["--rate", "50", "-X", "POST", "--body", "{}"],
        &["--delay", "1ms"],
    );
    let r = &run.result;
    assert!(r["analysis"]["pod_header"].is_null(), "{:#}", r["analysis"]);
    let note = search_note(r);
    assert!(
        note.starts_with("0 requests sent before the load: the run's request is a POST"),
        "{note}"
    );
    assert!(note.contains("--pod-header NAME"), "{note}");
}
