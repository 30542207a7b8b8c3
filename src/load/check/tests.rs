//! Response checks on hand-made responses: what passes, what fails, and what each failure says.

use super::*;

fn check(name: &str, warn: bool, kind: CheckKind) -> Check {
    Check {
        name: name.to_string(),
        warn,
        kind,
    }
}

fn json(pointer: &str, expect: JsonExpect) -> CheckKind {
    CheckKind::Json {
        pointer: pointer.to_string(),
        expect,
    }
}

fn body(bytes: &[u8]) -> Option<Body<'_>> {
    Some(Body {
        bytes,
        truncated: false,
    })
}

#[test]
fn a_renamed_json_field_fails_exists_and_type_checks_with_the_pointer_named() {
    let checks = Checks::new(vec![
        check("fullname", false, json("/fullname", JsonExpect::Exists)),
        check(
            "fullname is text",
            false,
            json("/fullname", JsonExpect::Type(JsonType::String)),
        ),
    ]);
    assert!(checks.needs_body());
    let v1 = checks.evaluate(200, &HeaderScan::default(), body(br#"{"fullname":"Ada"}"#));
    assert_eq!(v1, Verdict::default());
    let v2 = checks.evaluate(200, &HeaderScan::default(), body(br#"{"full_name":"Ada"}"#));
    assert_eq!(v2.failed, 0b11);
    assert!(v2.fatal);
    assert_eq!(
        v2.message.as_deref(),
        Some("check `fullname` failed: /fullname is missing")
    );
}

#[test]
fn json_equals_and_type_say_what_was_found() {
    let checks = Checks::new(vec![
        check(
            "id",
            false,
            json("/user/id", JsonExpect::Equals(serde_json::json!(42))),
        ),
        check(
            "tags",
            false,
            json("/tags", JsonExpect::Type(JsonType::Array)),
        ),
    ]);
    let v = checks.evaluate(
        200,
        &HeaderScan::default(),
        body(br#"{"user":{"id":41},"tags":"a"}"#),
    );
    assert_eq!(v.failed, 0b11);
    assert_eq!(
        v.message.as_deref(),
        Some("check `id` failed: /user/id is 41, expected 42")
    );
    let v = checks.evaluate(
        200,
        &HeaderScan::default(),
        body(br#"{"user":{"id":42},"tags":"a"}"#),
    );
    assert_eq!(
        v.message.as_deref(),
        Some("check `tags` failed: /tags is a string, expected a array")
    );
}

#[test]
fn a_body_that_is_not_json_or_was_cut_at_max_body_fails_json_checks_saying_so() {
    let checks = Checks::new(vec![check("id", false, json("/id", JsonExpect::Exists))]);
    let v = checks.evaluate(200, &HeaderScan::default(), body(b"<html>"));
    assert!(
        v.message.as_deref().unwrap_or("").contains("not JSON"),
        "{v:?}"
    );
    let cut = Some(Body {
        bytes: br#"{"id":1"#,
        truncated: true,
    });
    let v = checks.evaluate(200, &HeaderScan::default(), cut);
    assert!(
        v.message.as_deref().unwrap_or("").contains("--max-body"),
        "{v:?}"
    );
}

#[test]
fn warn_checks_are_counted_but_do_not_fail_the_request() {
    let checks = Checks::new(vec![
        check(
            "status",
            false,
            CheckKind::Status(StatusSet(vec![(200, 299)])),
        ),
        check(
            "has greeting",
            true,
            CheckKind::Body(BodyExpect::Contains("hello".into())),
        ),
    ]);
    let v = checks.evaluate(200, &HeaderScan::default(), body(b"bye"));
    assert_eq!(v.failed, 0b10);
    assert!(!v.fatal);
    assert_eq!(
        v.message.as_deref(),
        Some("check `has greeting` failed: the body does not contain \"hello\"")
    );
    let v = checks.evaluate(503, &HeaderScan::default(), body(b"bye"));
    assert_eq!(v.failed, 0b11);
    assert!(v.fatal);
    assert_eq!(
        v.message.as_deref(),
        Some("check `status` failed: status 503 is not in 200-299")
    );
}

#[test]
fn header_checks_read_the_head_and_name_what_they_saw() {
    let checks = Checks::new(vec![
        check(
            "version",
            false,
            CheckKind::Header {
                name: http::HeaderName::from_static("x-api-version"),
                equals: Some("v2".into()),
            },
        ),
        check(
            "typed",
            false,
            CheckKind::Header {
                name: http::HeaderName::from_static("content-type"),
                equals: None,
            },
        ),
    ]);
    assert!(!checks.needs_body());
    assert!(checks.reads_headers());
    let head: [(&str, &[u8]); 2] = [("X-Api-Version", b"v1"), ("Content-Type", b"text/plain")];
    let scan = checks.scan_headers(head.into_iter());
    assert_eq!(scan.passed, 0b10);
    let v = checks.evaluate(200, &scan, None);
    assert_eq!(v.failed, 0b01);
    assert_eq!(
        v.message.as_deref(),
        Some("check `version` failed: header x-api-version is \"v1\", expected \"v2\"")
    );
    let scan = checks.scan_headers(std::iter::empty());
    let v = checks.evaluate(200, &scan, None);
    assert_eq!(v.failed, 0b11);
    assert_eq!(
        v.message.as_deref(),
        Some("check `version` failed: header x-api-version is missing")
    );
}

#[test]
fn body_regexes_match_anywhere_and_are_bounded() {
    let re = compile_regex(r#""id":\s*\d+"#).expect("compiles");
    let checks = Checks::new(vec![check(
        "id",
        false,
        CheckKind::Body(BodyExpect::Matches(re)),
    )]);
    assert_eq!(
        checks
            .evaluate(200, &HeaderScan::default(), body(br#"{"x":1, "id": 7}"#))
            .failed,
        0
    );
    assert!(compile_regex("(unclosed").is_err());
    // A pattern whose compiled program is larger than the bound is refused, not run.
    assert!(compile_regex(r"\w{1000}\w{1000}\w{1000}").is_err());
}

#[test]
fn json_pointers_follow_rfc_6901() {
    for ok in ["", "/a", "/a/0", "/a~1b", "/m~0n", "/"] {
        assert!(valid_pointer(ok).is_ok(), "{ok}");
    }
    for bad in ["a/b", "/a~2", "/a~", "user.id"] {
        assert!(valid_pointer(bad).is_err(), "{bad}");
    }
}

#[test]
fn an_excerpt_keeps_the_status_and_the_start_of_the_body() {
    assert_eq!(excerpt(503, None), "HTTP 503");
    let long = vec![b'x'; 2_000];
    let e = excerpt(200, body(&long));
    assert!(e.starts_with("HTTP 200: xxx"));
    assert!(e.chars().count() < 600, "{}", e.len());
}
