//! Tests of reading a saved result back: the JSON found whole or after the marker in a log,
//! a newer schema refused, and when colour is used.

use super::*;

#[test]
fn a_bare_json_document_is_taken_whole() {
    assert_eq!(extract_json("  {\"a\": 1}\n"), Some("{\"a\": 1}"));
}

#[test]
fn the_json_after_the_marker_is_found_in_a_log() {
    let log = format!(
        "starting load\n{{\"not\": \"this\"}}\n{RESULT_MARKER}\n2026-11-01T10:00:00Z {{\"a\": {{\"b\": [1, 2]}}}}\nshutting down\n"
    );
    assert_eq!(extract_json(&log), Some("{\"a\": {\"b\": [1, 2]}}"));
}

#[test]
fn the_last_marker_wins_when_a_log_holds_several() {
    let log = format!("{RESULT_MARKER}\n{{\"n\": 1}}\n{RESULT_MARKER}\n{{\"n\": 2}}\n");
    assert_eq!(extract_json(&log), Some("{\"n\": 2}"));
}

#[test]
fn a_log_without_the_marker_holds_no_result() {
    assert_eq!(extract_json("INFO starting {\"a\": 1}\n"), None);
    assert_eq!(extract_json("no json here"), None);
}

#[test]
fn a_newer_schema_version_is_refused_with_a_clear_message() {
    let err = parse_result("{\"schema_version\": 99}", "r.json").expect_err("newer");
    assert!(matches!(err, ReportError::NewerVersion { found: 99, .. }));
    assert!(err.to_string().contains("upgrade zerodrop"));
    assert_eq!(err.exit_code(), exit::BAD_INPUT);
}

#[test]
fn colour_needs_a_terminal_and_no_no_color() {
    use std::ffi::OsStr;
    assert!(use_color(true, None));
    assert!(!use_color(false, None));
    assert!(!use_color(true, Some(OsStr::new("1"))));
    assert!(use_color(true, Some(OsStr::new(""))));
}
