//! The renderers on a recorded rollout with failures (and its clean twin): the terminal
//! summary, the JSON document against its schema, JUnit XML read back by a JUnit parser, the
//! HTML page's self-containment, and that no output carries a secret.

mod report_support;

use report_support::{API_KEY, SECRET, breaking_rollout, clean_rollout, closed, failing_rollout};
use zerodrop::model::clock::At;
use zerodrop::model::event::{EventKind, LifecycleEvent};
use zerodrop::model::result::TriggerCommand;
use zerodrop::report::redact::{MASK, Redactor};
use zerodrop::report::{self, RESULT_MARKER, html, json, junit, text};
use zerodrop::result::RunResult;

fn assert_no_secrets(what: &str, out: &str) {
    for secret in [SECRET, API_KEY, "hunter2"] {
        assert!(!out.contains(secret), "{what} leaks `{secret}`");
    }
}

fn strict_redactor() -> Redactor {
    Redactor::new(&["X-Api-Key".to_string()])
}

// ---- terminal ----

#[test]
fn a_send_window_the_user_chose_is_shown_with_the_lateness_it_cost() {
    let mut r = clean_rollout(&[]);
    r.recorded.overall.send_lateness.p99_us = 2_050;
    let plain = text::render(&r, false);
    assert!(
        !plain.contains("--send-window"),
        "auto is not shown:\n{plain}"
    );
    r.plan["traffic"]["send_window"] = serde_json::json!(0.002);
    let out = text::render(&r, false);
    assert!(
        out.contains("--send-window 2.00ms: sends 2.05ms late at p99"),
        "{out}"
    );
    let page = html::render(&r, &strict_redactor());
    assert!(
        page.contains("--send-window 2.00ms: sends 2.05ms late at p99"),
        "the HTML report says it too"
    );
}

/// Latency is measured from the due instant, so a reader needs to know how much of it was the
/// generator's own wait: every open-model summary says how late its sends left; the closed
/// loop, which has no schedule, says nothing of the kind.
#[test]
fn every_open_model_summary_says_how_late_its_sends_left() {
    let mut r = clean_rollout(&[]);
    r.recorded.overall.send_lateness.p99_us = 440;
    for out in [
        text::render(&r, false),
        html::render(&r, &strict_redactor()),
    ] {
        assert!(out.contains("sends 440µs late at p99"), "{out}");
    }
    r.plan["traffic"]["pattern"] = serde_json::json!({"kind": "max", "connections": 50});
    for out in [
        text::render(&r, false),
        html::render(&r, &strict_redactor()),
    ] {
        assert!(!out.contains("late at p99"), "{out}");
    }
}

#[test]
fn the_summary_starts_with_the_verdict_in_words() {
    let r = failing_rollout();
    let out = text::render(&r, false);
    let first = out.lines().next().unwrap_or_default();
    assert!(first.starts_with("FAIL  "), "{first}");
    assert!(
        first.contains("requests failed during the rollout"),
        "{first}"
    );
    assert!(first.contains("in rollout, 5 in settle"), "{first}");

    let clean = text::render(&clean_rollout(&[]), false);
    let first = clean.lines().next().unwrap_or_default();
    assert!(first.starts_with("PASS  no request failed"), "{first}");
    assert!(
        clean.contains("failed during the baseline, before the rollout began"),
        "{clean}"
    );
}

#[test]
fn the_summary_fits_100_columns() {
    let out = text::render(&failing_rollout(), false);
    for l in out.lines() {
        assert!(
            l.chars().count() <= 100,
            "{} columns: {l}",
            l.chars().count()
        );
    }
}

#[test]
fn the_summary_shows_phases_outcomes_pods_findings_and_thresholds() {
    let r = failing_rollout();
    let out = text::render(&r, false);
    for needle in [
        "phase",
        "baseline",
        "rollout",
        "settle",
        "whole run",
        "connect_refused",
        "closed_before_response",
        "503 ×",
        "web-5d8f7c9b4-k2x9q",
        "traffic-to-terminating-pod [error]",
        "fix:   Add a preStop sleep",
        "preStop:",
        "✓ p(99)<500ms",
        "✗ rollout:p(99)<20ms",
        "✗ no dropped requests",
        "endpointslices watch was down",
    ] {
        assert!(out.contains(needle), "missing `{needle}` in\n{out}");
    }
}

#[test]
fn colour_codes_appear_only_when_asked() {
    let r = failing_rollout();
    assert!(!text::render(&r, false).contains('\x1b'));
    let coloured = text::render(&r, true);
    assert!(coloured.contains("\x1b[1;31mFAIL\x1b[0m"), "{coloured}");
}

#[test]
fn the_summary_masks_secrets_in_user_supplied_text() {
    let mut r = failing_rollout();
    if let Some(ro) = &mut r.rollout {
        ro.description = format!("helm upgrade web -H 'Authorization: {SECRET}'");
    }
    let out = text::render(&r, false);
    assert_no_secrets("terminal summary", &out);
    assert!(out.contains(MASK));
}

/// A run whose trigger command, its output, a cluster message, an error chain, a finding and
/// the verdict all carry secrets, some only as the literal value of the run's own header.
fn rollout_full_of_secrets() -> RunResult {
    let mut r = failing_rollout();
    let token = SECRET.trim_start_matches("Bearer ");
    if let Some(ro) = &mut r.rollout {
        ro.command = Some(TriggerCommand {
            argv: [
                "helm",
                "upgrade",
                "web",
                "--set",
                "db.password=pw-db-7781",
                "--token",
                "tk-5566778899",
            ]
            .map(String::from)
            .to_vec(),
            exit_code: Some(1),
            timed_out: false,
            output: format!(
                "Release \"web\" failed\nAPI_TOKEN=tk-5566778899\ncalled with {token}\n"
            ),
        });
        ro.outcome =
            "failed: trigger command `helm upgrade --token tk-5566778899` ended with exit code 1"
                .into();
    }
    r.timeline.events.push(LifecycleEvent {
        at: At::from_secs_f64(5.0),
        source_time: None,
        pod: None,
        kind: EventKind::Note {
            reason: "TriggerCommand".into(),
            message: format!(
                "{{\"client_secret\": \"cs-99887766\"}} from curl -H 'Authorization: {SECRET}'"
            ),
        },
    });
    r.recorded.failures[0].error = Some(format!("upstream said: invalid credentials {token}"));
    r.analysis.findings[0]
        .evidence
        .details
        .push("DB_PASSWORD=pw-db-7781 was printed by the app".into());
    r.verdict
        .reasons
        .push("trigger command `helm upgrade --token tk-5566778899` failed".into());
    r
}

#[test]
fn secrets_in_a_trigger_command_its_output_and_cluster_messages_are_masked_in_every_output() {
    let r = rollout_full_of_secrets();
    let redactor = Redactor::for_headers(
        &["X-Api-Key".to_string()],
        &[("Authorization".to_string(), SECRET.to_string())],
    );
    let token = SECRET.trim_start_matches("Bearer ");
    let outputs = [
        ("JSON", json::render(&r, &redactor).expect("serialises")),
        ("HTML", html::render(&r, &redactor)),
        ("JUnit", junit::render(&r, &redactor)),
        ("terminal", text::render_with(&r, false, &redactor)),
    ];
    for (what, out) in &outputs {
        assert_no_secrets(what, out);
        for secret in [token, "pw-db-7781", "tk-5566778899", "cs-99887766"] {
            assert!(!out.contains(secret), "{what} leaks `{secret}`");
        }
    }
    // What is not secret stays readable.
    let back = report::parse_result(&outputs[0].1, "test").expect("reads back");
    let command = back
        .rollout
        .and_then(|ro| ro.command)
        .expect("the command is kept");
    assert_eq!(
        command.argv,
        [
            "helm",
            "upgrade",
            "web",
            "--set",
            &format!("db.password={MASK}"),
            "--token",
            MASK
        ]
    );
    assert!(
        command
            .output
            .starts_with("Release \"web\" failed\nAPI_TOKEN=<redacted>"),
        "{}",
        command.output
    );
    assert_eq!(
        back.recorded.failures[0].error.as_deref(),
        Some("upstream said: invalid credentials <redacted>")
    );
}

// ---- JSON ----

fn schema() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(json::SCHEMA).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn assert_valid(v: &serde_json::Value) {
    let errors: Vec<String> = schema()
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "schema violations:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_json_of_a_rollout_validates_against_the_schema() {
    for r in [failing_rollout(), clean_rollout(&["p(99)<1s"])] {
        let doc = json::render(&r, &Redactor::default()).expect("serialises");
        let v: serde_json::Value = serde_json::from_str(&doc).expect("parses");
        assert_valid(&v);
    }
}

#[test]
fn the_schema_documents_every_field_a_result_has() {
    let schema: serde_json::Value = serde_json::from_str(json::SCHEMA).expect("schema is JSON");
    let validator = jsonschema::validator_for(&closed(&schema)).expect("closed schema compiles");
    for r in [failing_rollout(), breaking_rollout()] {
        let v = serde_json::to_value(r).expect("serialises");
        let errors: Vec<String> = validator
            .iter_errors(&v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "fields missing from docs/result.schema.json:\n{}",
            errors.join("\n")
        );
    }
    let v = serde_json::to_value(failing_rollout()).expect("serialises");
    // And the closed schema does catch an undocumented field.
    let mut v = v;
    v["verdict"]["surprise"] = true.into();
    assert!(!validator.is_valid(&v));
}

#[test]
fn the_schema_rejects_a_document_missing_its_verdict_or_with_a_bad_class() {
    let r = failing_rollout();
    let mut v = serde_json::to_value(&r).expect("serialises");
    let validator = schema();
    assert!(validator.is_valid(&v));
    if let Some(o) = v.as_object_mut() {
        o.remove("verdict");
    }
    assert!(!validator.is_valid(&v));

    let mut v = serde_json::to_value(&r).expect("serialises");
    v["recorded"]["failures"][0]["class"] = "exploded".into();
    assert!(!validator.is_valid(&v));
}

#[test]
fn the_json_round_trips_into_the_same_result_with_secrets_masked() {
    let r = failing_rollout();
    let redactor = strict_redactor();
    let doc = json::render(&r, &redactor).expect("serialises");
    assert_no_secrets("JSON", &doc);
    let back = report::parse_result(&doc, "test").expect("reads back");
    assert_eq!(back, json::redacted(&r, &redactor));
    assert_eq!(back.plan["headers"]["Authorization"], MASK);
    assert_eq!(back.plan["headers"]["X-Api-Key"], MASK);
    assert_eq!(back.plan["headers"]["Accept"], "application/json");
}

#[test]
fn a_result_printed_after_the_marker_in_a_log_is_recovered() {
    let r = failing_rollout();
    let mut log = b"job started\nload: 50 req/s\n".to_vec();
    report::write_to_log(&r, &Redactor::default(), &mut log).expect("writes");
    log.extend_from_slice(b"job done\n");
    let log = String::from_utf8(log).expect("utf-8");
    assert!(log.contains(RESULT_MARKER));
    let back = report::parse_result(&log, "job log").expect("found after the marker");
    assert_eq!(back.verdict, r.verdict);
    assert_eq!(back.recorded, r.recorded);
}

// ---- JUnit ----

fn junit_of(r: &RunResult) -> junit_parser::TestSuites {
    let xml = junit::render(r, &strict_redactor());
    assert_no_secrets("JUnit", &xml);
    junit_parser::from_reader(xml.as_bytes()).expect("JUnit parses")
}

#[test]
fn junit_has_a_case_for_drops_each_threshold_and_each_error_finding() {
    let r = failing_rollout();
    let suites = junit_of(&r);
    let suite = &suites.suites[0];
    let names: Vec<&str> = suite
        .cases
        .iter()
        .map(|c| c.original_name.as_str())
        .collect();
    assert_eq!(names[0], "no dropped requests");
    assert!(names.contains(&"rollout completed"));
    for t in report_support::THRESHOLDS {
        assert!(names.contains(&t), "no case for threshold {t}: {names:?}");
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("traffic-to-terminating-pod:"))
    );
    assert!(names.iter().any(|n| n.starts_with("early-traffic:")));
    // Warnings and infos are not test failures.
    assert!(!names.iter().any(|n| n.starts_with("keepalive-close-race")));
    assert!(!names.iter().any(|n| n.starts_with("baseline-errors")));

    let failed: Vec<&str> = suite
        .cases
        .iter()
        .filter(|c| c.status.is_failure())
        .map(|c| c.original_name.as_str())
        .collect();
    assert_eq!(suite.failures as usize, failed.len());
    assert!(failed.contains(&"no dropped requests"));
    assert!(failed.contains(&"rollout:p(99)<20ms"));
    assert!(!failed.contains(&"p(99)<500ms"));
}

#[test]
fn junit_failures_carry_the_evidence() {
    let r = failing_rollout();
    let suites = junit_of(&r);
    let case = |prefix: &str| {
        suites.suites[0]
            .cases
            .iter()
            .find(|c| c.original_name.starts_with(prefix))
            .map(|c| c.status.clone())
            .expect("case present")
    };
    let drops = case("no dropped requests");
    let f = drops.failure_as_ref();
    let z = r.verdict.zero_drop.as_ref().expect("gate stored");
    assert!(
        f.message
            .contains(&format!("{} of", z.failed_outside_baseline)),
        "{}",
        f.message
    );
    assert!(f.message.contains("connect_refused"), "{}", f.message);
    assert!(f.text.contains("pod web-5d8f7c9b4-k2x9q"), "{}", f.text);

    let finding = case("traffic-to-terminating-pod");
    let f = finding.failure_as_ref();
    assert_eq!(f.failure_type, "traffic-to-terminating-pod");
    assert!(f.message.contains("pods web-5d8f7c9b4-"), "{}", f.message);
    assert!(f.text.contains("fix: Add a preStop sleep"), "{}", f.text);
    assert!(f.text.contains("preStop:"), "{}", f.text);
}

#[test]
fn junit_of_a_clean_rollout_has_no_failures() {
    let r = clean_rollout(&["p(99)<1s", "failed<=10"]);
    let suites = junit_of(&r);
    assert_eq!(suites.suites[0].failures, 0);
    assert_eq!(suites.suites[0].cases.len(), 4);
    assert!(suites.suites[0].cases.iter().all(|c| c.status.is_success()));
}

// ---- HTML ----

#[test]
fn the_html_page_is_self_contained() {
    let page = html::render(&failing_rollout(), &Redactor::default());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("Content-Security-Policy"));
    for banned in [
        "<script", "<link", " src=", "@import", "url(http", "<iframe",
    ] {
        assert!(!page.contains(banned), "page contains `{banned}`");
    }
    // The only URLs are the SVG namespace and text the user wrote (the plan's target).
    for (i, _) in page.match_indices("://") {
        let around = &page[i.saturating_sub(40)..(i + 80).min(page.len())];
        assert!(
            around.contains("xmlns=\"http://www.w3.org/2000/svg\"")
                || around.contains("web.shop.svc"),
            "unexpected reference near `{around}`"
        );
    }
}

#[test]
fn the_html_page_shows_verdict_chart_lanes_findings_and_tables() {
    let r = failing_rollout();
    let page = html::render(&r, &Redactor::default());
    assert!(page.contains(r#"class="verdict fail""#));
    assert!(page.contains("<svg class=\"timeline\""));
    for p in &r.analysis.pods {
        assert!(page.contains(&p.name), "no lane for {}", p.name);
    }
    assert!(page.contains(": ready "), "lifecycle bars");
    assert!(
        page.contains(": exited, still a ready endpoint "),
        "the exit-before-removal stretch"
    );
    // Each attributed failure is marked on its lane.
    let marks = page.matches(r#"class="failure""#).count();
    assert_eq!(marks, r.recorded.failures.len());
    for f in &r.analysis.findings {
        assert!(page.contains(&f.id.to_string()), "finding {} missing", f.id);
    }
    assert!(page.contains("Add a preStop sleep"));
    assert!(page.contains("rollout:p(99)&lt;20ms"));
    assert!(page.contains("Failure log"));
    assert!(page.contains("unattributed"));
}

#[test]
fn the_html_page_masks_secrets() {
    let page = html::render(&failing_rollout(), &strict_redactor());
    assert_no_secrets("HTML", &page);
    assert!(page.contains(MASK.replace('<', "&lt;").replace('>', "&gt;").as_str()));
}

#[test]
fn text_in_the_page_is_escaped() {
    let mut r = failing_rollout();
    r.analysis.findings[0].title = "<img src=x onerror=alert(1)>".into();
    let page = html::render(&r, &Redactor::default());
    assert!(!page.contains("<img"));
    assert!(page.contains("&lt;img src=x"));
}

#[test]
fn without_an_analysis_the_page_still_has_a_lane_per_pod_but_claims_no_lifecycle() {
    let mut r = failing_rollout();
    r.analysis = Default::default();
    let page = html::render(&r, &Redactor::default());
    for pod in r.timeline.pods().keys() {
        assert!(page.contains(&format!("{pod} pod_")), "no events for {pod}");
    }
    assert!(
        !page.contains(": ready "),
        "a lifecycle bar drawn without an analysis"
    );
    assert!(page.contains(">unattributed<"));
}

// ---- a rollout recorded by the real local runtime and analysis ----

/// `zerodrop local` rolling three replicas of the demo app that exit on SIGTERM with no preStop
/// hook (the demo's naive half), as saved with `--out`:
/// `zerodrop local --rate 200 --baseline 3s --settle 3s --readiness-path /readyz
/// --readiness-period 500ms --min-ready-seconds 1s --header 'Authorization: Bearer …'
/// --pod-header x-zerodrop-replica --threshold 'rollout:p(99)<250ms' --threshold 'p99_ratio<3'
/// --out naive.json -- zerodrop demo-app --delay 2ms --shutdown immediate --startup-delay 500ms`
/// (the same recording is the screenshot in `docs/`).
fn recorded_local_rollout() -> RunResult {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/report/local-naive-rollout.json"
    );
    report::load(path).expect("the recorded result loads")
}

#[test]
fn a_recorded_local_rollout_loads_and_every_field_is_in_the_schema() {
    let r = recorded_local_rollout();
    let schema: serde_json::Value = serde_json::from_str(json::SCHEMA).expect("schema is JSON");
    let validator = jsonschema::validator_for(&closed(&schema)).expect("closed schema compiles");
    let v = serde_json::to_value(&r).expect("serialises");
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(!r.analysis.findings.is_empty());
}

#[test]
fn a_recorded_local_rollout_renders_in_every_format() {
    let r = recorded_local_rollout();
    let red = Redactor::default();
    let out = text::render(&r, false);
    assert!(out.starts_with("FAIL  "), "{out}");
    for l in out.lines() {
        assert!(
            l.chars().count() <= 100,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    assert!(out.contains("traffic-to-terminating-pod [error]"), "{out}");

    let suites = junit_parser::from_reader(junit::render(&r, &red).as_bytes()).expect("parses");
    let names: Vec<&str> = suites.suites[0]
        .cases
        .iter()
        .map(|c| c.original_name.as_str())
        .collect();
    assert!(names.contains(&"rollout completed"), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("traffic-to-terminating-pod:"))
    );
    let rollout_case = suites.suites[0]
        .cases
        .iter()
        .find(|c| c.original_name == "rollout completed")
        .expect("case");
    assert!(rollout_case.status.is_success(), "the rollout did complete");

    let page = html::render(&r, &red);
    for p in &r.analysis.pods {
        assert!(page.contains(&p.name));
    }
    assert_eq!(
        page.matches(r#"class="failure""#).count(),
        r.recorded.failures.len()
    );
}

#[test]
fn long_pod_names_are_clipped_to_keep_the_summary_within_100_columns() {
    let mut r = failing_rollout();
    for (i, p) in r.analysis.pods.iter_mut().enumerate() {
        p.name = format!("payments-checkout-service-canary-7d9f8c6b54-x2x4q{i}");
    }
    let out = text::render(&r, false);
    for l in out.lines() {
        assert!(
            l.chars().count() <= 100,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    // Clipped in the middle, so the pods stay told apart by their suffixes.
    for i in 0..r.analysis.pods.len() {
        assert!(out.contains(&format!("x2x4q{i} ")), "pod {i} lost: {out}");
    }
}
