//! Reports of a run that sent a mix of templates with response checks and told old and new
//! revisions apart: the summary's templates and old-versus-new sections, the HTML's per-revision
//! view with failed checks marked on the pod lanes, one JUnit case per check, the JSON — and the
//! example response a breaking change quotes, with its secret masked everywhere.

mod report_support;

use report_support::{SECRET, breaking_rollout};
use zerodrop::model::finding::FindingId;
use zerodrop::report::redact::{MASK, Redactor};
use zerodrop::report::{html, json, junit, text};

fn assert_masked(what: &str, s: &str) {
    assert!(!s.contains(SECRET), "{what} leaks the secret");
}

#[test]
fn a_breaking_change_is_found_and_named_on_top_of_the_summary() {
    let r = breaking_rollout();
    assert!(!r.verdict.passed);
    assert_eq!(
        r.analysis.findings[0].id,
        FindingId::BreakingChangeNewVersion,
        "{:#?}",
        r.analysis.findings
    );
    let s = text::render(&r, false);
    assert_masked("the summary", &s);
    for needle in [
        "Templates (weights 1:1)",
        "GET old-client",
        "reads fullname ×",
        "Old (v1) vs new (v2):",
        "v1 (old)",
        "v2 (new)",
        "breaking-change-new-version",
        "example response",
        MASK,
    ] {
        assert!(s.contains(needle), "no `{needle}` in:\n{s}");
    }
}

#[test]
fn the_page_shows_the_revisions_side_by_side_and_marks_failed_checks_on_the_lanes() {
    let r = breaking_rollout();
    let page = html::render(&r, &Redactor::default());
    assert_masked("the page", &page);
    assert!(page.contains("<h2>Templates</h2>"));
    assert!(
        page.contains("<h2>Old (v1) vs new (v2)</h2>"),
        "no per-revision view"
    );
    assert!(
        page.contains(r#"class="failure check""#),
        "no failed check on a lane"
    );
    assert!(page.contains("diamonds for responses that failed a check"));
}

#[test]
fn junit_has_one_case_per_check_failing_the_broken_one_with_its_counts() {
    let r = breaking_rollout();
    let xml = junit::render(&r, &Redactor::default());
    assert_masked("JUnit", &xml);
    let suites = junit_parser::from_reader(xml.as_bytes()).expect("JUnit parses");
    let cases = &suites.suites[0].cases;
    let checks: Vec<&junit_parser::TestCase> = cases
        .iter()
        .filter(|c| c.classname.as_deref() == Some("zerodrop.checks"))
        .collect();
    let names: Vec<&str> = checks.iter().map(|c| c.original_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "old-client / status in 200",
            "old-client / reads fullname",
            "web-client / status in 200"
        ]
    );
    let broken = checks[1];
    assert!(broken.status.is_failure());
    let message = match &broken.status {
        junit_parser::TestStatus::Failure(f) => f.message.clone(),
        other => panic!("{other:?}"),
    };
    assert!(message.contains("v1: 0 of"), "{message}");
    assert!(!checks[0].status.is_failure() && !checks[2].status.is_failure());
}

#[test]
fn the_json_carries_the_templates_the_revisions_and_the_comparison() {
    let r = breaking_rollout();
    let doc = json::render(&r, &Redactor::default()).expect("serialises");
    assert_masked("the JSON", &doc);
    let v: serde_json::Value = serde_json::from_str(&doc).expect("parses");
    assert_eq!(v["recorded"]["templates"][0]["name"], "old-client");
    assert_eq!(v["recorded"]["revisions"][0], "v1");
    let split = &v["analysis"]["versions"];
    assert_eq!(
        (split["old"].as_str(), split["new"].as_str()),
        (Some("v1"), Some("v2"))
    );
    assert!(split["templates"][0]["new"]["checks_failed"]["reads fullname"].as_u64() > Some(0));
    let failure = &v["recorded"]["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .find(|f| f["class"] == "check_failed")
        .expect("a failed check in the log")
        .clone();
    assert_eq!(
        failure["template"].as_u64().unwrap_or(0),
        0,
        "template 0 is left out"
    );
    assert_eq!(failure["checks_failed"], 2);
    assert!(
        failure["excerpt"]
            .as_str()
            .unwrap_or("")
            .contains("full_name")
    );
}
