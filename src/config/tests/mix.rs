//! A scenario's `requests`: templates, weights and checks, and every way of getting them wrong
//! reported at once with its file, line and key.

use super::*;

/// A `load` plan from a scenario file holding `text` (target and rate given by flags).
fn mix(text: &str) -> (Result<Plan, PlanError>, tempfile::NamedTempFile) {
    let f = scenario_file(text);
    let path = f.path().to_string_lossy().to_string();
    let plan = load(&[
        ("target", "http://127.0.0.1:8080/"),
        ("rate", "100"),
        ("duration", "1s"),
        ("scenario", &path),
    ]);
    (plan, f)
}

fn problems(text: &str) -> Vec<String> {
    let (plan, _f) = mix(text);
    plan.expect_err("invalid")
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect()
}

const GOOD: &str = r#"
headers:
  X-Env: staging
requests:
  - name: old-client
    weight: 3
    path: /api/users/42
    checks:
      - status: 200
      - json: /fullname
        type: string
  - name: new-client
    weight: 1
    url: http://127.0.0.1:8080/api/users/42?client=web
    headers: {X-Env: canary, Accept: application/json}
    method: post
    body: '{}'
    accept_status: 200-299,404
    checks:
      - header: x-api-version
        equals: v2
        name: speaks v2
        warn: true
      - json: /id
        equals: 42
      - body_matches: '"id":\s*\d+'
      - body_contains: Ada
"#;

#[test]
fn a_mix_of_templates_with_checks_validates() {
    let (plan, _f) = mix(GOOD);
    let plan = plan.expect("valid");
    let t = &plan.request.templates;
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].name.as_str(), t[0].weight), ("old-client", 3.0));
    assert_eq!(t[0].shape.path.as_deref(), Some("/api/users/42"));
    assert_eq!(t[0].shape.method, "GET");
    assert_eq!(
        t[0].shape.headers,
        vec![("x-env".to_string(), "staging".to_string())]
    );
    let names: Vec<&str> = t[0].checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["status in 200", "json /fullname is a string"]);
    assert_eq!(t[1].shape.path.as_deref(), Some("/api/users/42?client=web"));
    assert_eq!(t[1].shape.method, "POST");
    assert_eq!(
        t[1].shape.headers,
        vec![
            ("x-env".to_string(), "canary".to_string()),
            ("accept".to_string(), "application/json".to_string())
        ]
    );
    assert_eq!(t[1].shape.accept_status, "200-299,404");
    assert_eq!(t[1].checks[0].name, "speaks v2");
    assert!(t[1].checks[0].warn);
    assert_eq!(t[1].checks[1].description, "json /id == 42");
    let spec = plan.load_spec(None).expect("spec");
    assert_eq!(spec.requests.len(), 2);
    assert_eq!(
        spec.requests[1].url.to_string(),
        "http://127.0.0.1:8080/api/users/42?client=web"
    );
}

#[test]
fn every_malformed_check_and_mix_is_reported_at_once_with_file_line_and_key() {
    let all = problems(
        r#"requests:
  - name: a
    weight: 0
    checks:
      - json: user/id
      - jsonpath: $.id
      - body_matches: '(unclosed'
      - status: 200
        json: /id
      - header: x
        type: string
  - name: b
    weight: -2
    frobnicate: true
    checks:
      - status: 200-abc
      - json: /id
        type: integer
  - name: a
    path: /x
"#,
    );
    let text = all.join("\n");
    let want = [
        (
            "line 3 (requests[0].weight)",
            "a weight must be a positive number",
        ),
        (
            "line 5 (requests[0].checks[0].json)",
            "is not a JSON Pointer",
        ),
        (
            "line 6 (requests[0].checks[1].jsonpath)",
            "unknown check `jsonpath`",
        ),
        (
            "line 7 (requests[0].checks[2].body_matches)",
            "not a regular expression",
        ),
        (
            "line 9 (requests[0].checks[3].json)",
            "a check checks one thing",
        ),
        (
            "line 11 (requests[0].checks[4].type)",
            "`type` applies to json checks",
        ),
        (
            "line 13 (requests[1].weight)",
            "a weight must be a positive number",
        ),
        (
            "line 14 (requests[1].frobnicate)",
            "unknown key `frobnicate`",
        ),
        (
            "line 16 (requests[1].checks[0].status)",
            "is not a status code",
        ),
        ("line 18 (requests[1].checks[1].type)", "is not a JSON type"),
        ("line 19 (requests[2].name)", "two templates are named `a`"),
    ];
    for (place, message) in want {
        assert!(
            all.iter().any(|p| p.contains(place) && p.contains(message)),
            "missing `{place}`: `{message}` in:\n{text}"
        );
    }
    for p in &all {
        assert!(p.contains(".yaml"), "every problem names the file: {p}");
    }
}

#[test]
fn path_method_and_body_belong_to_templates_when_there_is_a_mix() {
    let f = scenario_file("path: /x\nrequests:\n  - name: a\n");
    let path = f.path().to_string_lossy().to_string();
    let err = load(&[
        ("target", "http://127.0.0.1:8080/"),
        ("rate", "1"),
        ("duration", "1s"),
        ("scenario", &path),
        ("method", "POST"),
    ])
    .expect_err("invalid");
    let all: Vec<String> = err.problems.iter().map(|p| p.to_string()).collect();
    assert!(all.iter().any(|p| p.starts_with("--method")), "{all:?}");
    assert!(all.iter().any(|p| p.contains("line 1 (path)")), "{all:?}");
}

#[test]
fn a_template_url_off_the_target_a_phase_name_and_an_empty_list_are_refused() {
    let all =
        problems("requests:\n  - name: rollout\n  - name: x\n    url: http://elsewhere:80/a\n");
    let text = all.join("\n");
    assert!(text.contains("is the name of a phase"), "{text}");
    assert!(text.contains("is not on the target"), "{text}");
    let all = problems("requests: []\n");
    assert!(all[0].contains("the list is empty"), "{all:?}");
    let all = problems("requests: {name: a}\n");
    assert!(
        all[0].contains("expected a list of request templates"),
        "{all:?}"
    );
}

#[test]
fn thresholds_scope_to_a_template_of_the_mix_or_a_phase() {
    let text = format!(
        "{GOOD}thresholds:\n  - old-client:p(99)<300ms\n  - old-client:rollout:checks>0.999\n"
    );
    let (plan, _f) = mix(&text);
    plan.expect("template and phase scopes are valid");
    let text = format!("{GOOD}thresholds:\n  - old-client:new-client:p(99)<300ms\n");
    let all = problems(&text);
    assert!(all[0].contains("names two templates"), "{all:?}");
}

#[test]
fn seed_max_body_and_version_header_are_read_from_flags_or_the_file() {
    let (plan, _f) = mix("seed: 7\nmax_body: 1MiB\nversion_header: X-Api-Version\n");
    let plan = plan.expect("valid");
    assert_eq!(plan.request.seed, 7);
    assert_eq!(plan.request.max_body, 1 << 20);
    assert_eq!(
        plan.request.version_header.as_deref(),
        Some("x-api-version")
    );
    let all = problems("seed: -1\nmax_body: 0\n");
    let text = all.join("\n");
    assert!(
        text.contains("(seed)") && text.contains("(max_body)"),
        "{text}"
    );
}

#[test]
fn without_a_mix_the_run_sends_its_one_request_as_template_default() {
    let p = load(&[
        ("target", "http://127.0.0.1:8080/"),
        ("rate", "1"),
        ("duration", "1s"),
        ("path", "/x"),
    ])
    .expect("valid");
    assert!(p.request.templates.is_empty());
    let t = p.request.effective_templates();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].name, "default");
    assert_eq!(t[0].shape.path.as_deref(), Some("/x"));
}
