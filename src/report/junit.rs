//! JUnit XML (`--junit FILE`) for CI systems: one test case for "no dropped requests", one for
//! the rollout completing (when there was one), one per threshold, one per response check of a
//! mix's templates (a `warn` check passes whatever it found: it counts, it does not fail), and
//! one per finding of error severity, each failure carrying its evidence in the message and
//! body.
//!
//! It renders what the gate and the analysis decided and never re-decides. The layout follows
//! the de-facto JUnit schema most CI systems read (`testsuites` > `testsuite` > `testcase` >
//! `failure`), with the terminal summary in the suite's `system-out`.

use std::fmt::Write as _;

use crate::model::finding::{Finding, Severity};
use crate::model::result::ZeroDropCheck;
use crate::result::RunResult;

use super::fmt;
use super::redact::Redactor;
use super::text;

/// Failure-log entries listed in a failed "no dropped requests" case.
const EXAMPLES: usize = 10;

struct Case {
    classname: &'static str,
    name: String,
    outcome: CaseOutcome,
}

enum CaseOutcome {
    Passed,
    /// `<failure>`: the check ran and failed.
    Failed {
        kind: String,
        message: String,
        body: String,
    },
    /// `<error>`: the check could not run to the end.
    Error {
        message: String,
    },
    /// `<skipped>`: the result does not record this check.
    Skipped {
        message: String,
    },
}

impl CaseOutcome {
    /// Passed, or failed as `kind` with the message `failed` writes and no body.
    fn check(passed: bool, kind: &str, failed: impl FnOnce() -> String) -> CaseOutcome {
        if passed {
            CaseOutcome::Passed
        } else {
            CaseOutcome::Failed {
                kind: kind.into(),
                message: failed(),
                body: String::new(),
            }
        }
    }
}

/// The JUnit XML document.
pub fn render(result: &RunResult, redactor: &Redactor) -> String {
    let cases = cases(result);
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, CaseOutcome::Failed { .. }))
        .count();
    let errors = cases
        .iter()
        .filter(|c| matches!(c.outcome, CaseOutcome::Error { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, CaseOutcome::Skipped { .. }))
        .count();
    let secs = result
        .load
        .end
        .saturating_sub(result.load.start)
        .as_secs_f64();
    let suite_name = match &result.rollout {
        Some(ro) => format!("zerodrop: {}", ro.description),
        None => "zerodrop".to_string(),
    };

    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="zerodrop" tests="{}" failures="{failures}" errors="{errors}" skipped="{skipped}" time="{secs:.3}">"#,
        cases.len()
    );
    let _ = writeln!(
        x,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="{errors}" skipped="{skipped}" time="{secs:.3}" timestamp="{}" hostname="zerodrop">"#,
        attr(&redactor.text(&suite_name)),
        cases.len(),
        result.started_at.strftime("%Y-%m-%dT%H:%M:%S"),
    );
    properties(&mut x, result, redactor);
    for c in &cases {
        testcase(&mut x, c, redactor);
    }
    let summary = text::render_with(result, false, redactor);
    let _ = writeln!(x, "    <system-out>{}</system-out>", body_text(&summary));
    let _ = writeln!(x, "  </testsuite>");
    let _ = writeln!(x, "</testsuites>");
    x
}

/// Every test case: no dropped requests, the rollout, the run's end, each threshold, each
/// finding of error severity.
fn cases(result: &RunResult) -> Vec<Case> {
    let mut cases = vec![no_dropped_requests(result)];
    if let Some(c) = &result.verdict.sessions {
        cases.push(no_session_without_goodbye(c));
    }
    if let Some(ro) = &result.rollout {
        // The run flow writes "complete" or "complete: <summary>".
        let outcome = CaseOutcome::check(ro.outcome.starts_with("complete"), "rollout", || {
            format!("the rollout of {}: {}", ro.description, ro.outcome)
        });
        cases.push(Case {
            classname: "zerodrop.rollout",
            name: "rollout completed".into(),
            outcome,
        });
    }
    if result.interrupted {
        cases.push(Case {
            classname: "zerodrop.run",
            name: "run completed".into(),
            outcome: CaseOutcome::Error {
                message: "the run was interrupted: its data is partial".into(),
            },
        });
    }
    for t in &result.thresholds {
        let outcome = CaseOutcome::check(t.passed, "threshold", || {
            format!("{} failed: measured {}", t.expression, t.actual)
        });
        cases.push(Case {
            classname: "zerodrop.thresholds",
            name: t.expression.clone(),
            outcome,
        });
    }
    cases.extend(check_cases(result));
    for f in result
        .analysis
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        cases.push(finding_case(f));
    }
    cases
}

/// One case per check of every template: failed when a check that is not `warn` failed on any
/// response, with its counts over the run and per revision in the window where both served.
fn check_cases(result: &RunResult) -> Vec<Case> {
    let mut cases = Vec::new();
    for t in &result.recorded.templates {
        let split = result
            .analysis
            .versions
            .as_ref()
            .and_then(|v| v.templates.iter().find(|s| s.template == t.info.name));
        for (i, c) in t.info.checks.iter().enumerate() {
            let failed = t.overall.checks_failed.get(i).copied().unwrap_or(0);
            let outcome = CaseOutcome::check(failed == 0 || c.warn, "check", || {
                let mut m = format!(
                    "check `{}` ({}) of template {} failed on {} of {} checked responses",
                    c.name,
                    c.description,
                    t.info.name,
                    fmt::count(failed),
                    fmt::count(t.overall.checked)
                );
                if let Some(s) = split {
                    let per = |r: &crate::analysis::versions::RevisionStats| {
                        let n = r.checks_failed.get(&c.name).copied().unwrap_or(0);
                        format!(
                            "{}: {} of {}",
                            r.revision,
                            fmt::count(n),
                            fmt::count(r.checked)
                        )
                    };
                    let _ = write!(
                        m,
                        " (while both revisions served: {}; {})",
                        per(&s.old),
                        per(&s.new)
                    );
                }
                m
            });
            cases.push(Case {
                classname: "zerodrop.checks",
                name: format!("{} / {}", t.info.name, c.name),
                outcome,
            });
        }
    }
    cases
}

/// The suite's `<properties>`: versions, the exit code and verdict, the rollout's outcome.
fn properties(x: &mut String, result: &RunResult, redactor: &Redactor) {
    let _ = writeln!(x, "    <properties>");
    let mut props = vec![
        ("zerodrop_version", result.zerodrop_version.clone()),
        ("schema_version", result.schema_version.to_string()),
        ("exit_code", result.verdict.exit_code.to_string()),
        (
            "verdict",
            if result.verdict.passed {
                "pass"
            } else {
                "fail"
            }
            .to_string(),
        ),
    ];
    if let Some(ro) = &result.rollout {
        props.push(("rollout", ro.outcome.clone()));
    }
    for (k, v) in props {
        let _ = writeln!(
            x,
            r#"      <property name="{k}" value="{}"/>"#,
            attr(&redactor.text(&v))
        );
    }
    let _ = writeln!(x, "    </properties>");
}

/// One `<testcase>` with its failure, error or skip.
fn testcase(x: &mut String, c: &Case, redactor: &Redactor) {
    let open = format!(
        r#"    <testcase classname="{}" name="{}" time="0""#,
        c.classname,
        attr(&redactor.text(&c.name))
    );
    match &c.outcome {
        CaseOutcome::Passed => {
            let _ = writeln!(x, "{open}/>");
        }
        CaseOutcome::Failed {
            kind,
            message,
            body,
        } => {
            let _ = writeln!(x, "{open}>");
            let _ = writeln!(
                x,
                r#"      <failure type="{}" message="{}">{}</failure>"#,
                attr(kind),
                attr(&redactor.text(message)),
                body_text(&redactor.text(body))
            );
            let _ = writeln!(x, "    </testcase>");
        }
        CaseOutcome::Error { message } => {
            let _ = writeln!(x, "{open}>");
            let _ = writeln!(x, r#"      <error message="{}"/>"#, attr(message));
            let _ = writeln!(x, "    </testcase>");
        }
        CaseOutcome::Skipped { message } => {
            let _ = writeln!(x, "{open}>");
            let _ = writeln!(x, r#"      <skipped message="{}"/>"#, attr(message));
            let _ = writeln!(x, "    </testcase>");
        }
    }
}

fn no_dropped_requests(result: &RunResult) -> Case {
    let name = "no dropped requests".to_string();
    let Some(z) = &result.verdict.zero_drop else {
        return Case {
            classname: "zerodrop.gate",
            name,
            outcome: CaseOutcome::Skipped {
                message: "this result does not record the zero-drop check".into(),
            },
        };
    };
    if z.passed {
        return Case {
            classname: "zerodrop.gate",
            name,
            outcome: CaseOutcome::Passed,
        };
    }
    let message = dropped_message(z);
    let body = dropped_body(result, z);
    Case {
        classname: "zerodrop.gate",
        name,
        outcome: CaseOutcome::Failed {
            kind: "dropped_requests".into(),
            message,
            body,
        },
    }
}

/// The WebSocket part of the default gate: every session ended with a goodbye.
fn no_session_without_goodbye(c: &crate::model::result::SessionCheck) -> Case {
    let outcome = if c.passed {
        CaseOutcome::Passed
    } else {
        let classes: Vec<String> = c
            .classes_outside_baseline
            .iter()
            .map(|(class, n)| format!("{n} {class}"))
            .collect();
        CaseOutcome::Failed {
            kind: "sessions_without_goodbye".into(),
            message: format!(
                "{} of {} WebSocket sessions ended without a goodbye outside the baseline: {}",
                c.failed_outside_baseline,
                c.sessions,
                classes.join(", ")
            ),
            body: format!(
                "{} dropped without a close frame (1006); {} reconnections; {} messages lost",
                c.dropped, c.reconnects, c.messages_lost
            ),
        }
    };
    Case {
        classname: "zerodrop.gate",
        name: "no WebSocket session without a goodbye".into(),
        outcome,
    }
}

/// What the zero-drop check counted, in one line: the failures and the generator's drops.
fn dropped_message(z: &ZeroDropCheck) -> String {
    let mut message = Vec::new();
    if z.failed_outside_baseline > 0 {
        let classes: Vec<String> = z
            .classes_outside_baseline
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        message.push(format!(
            "{} of {} failed{} ({})",
            fmt::count(z.failed_outside_baseline),
            fmt::requests(z.requests),
            if z.has_baseline {
                " outside the baseline"
            } else {
                ""
            },
            classes.join(", ")
        ));
    }
    if z.dropped_by_generator > 0 {
        message.push(format!(
            "{} never sent by the generator (in-flight cap reached): the requested load did not happen",
            fmt::requests(z.dropped_by_generator)
        ));
    }
    message.join("; ")
}

/// The failures by phase and by pod, and the first examples of the failure log.
fn dropped_body(result: &RunResult, z: &ZeroDropCheck) -> String {
    let mut body = String::new();
    for (phase, n) in &z.failed_by_phase {
        let _ = writeln!(body, "{phase}: {n} failed");
    }
    for pod in result
        .analysis
        .pods
        .iter()
        .filter(|p| p.failures + p.possible_failures > 0)
    {
        let _ = writeln!(
            body,
            "pod {}: {} failures attributed, {} possible by timing",
            pod.name, pod.failures, pod.possible_failures
        );
    }
    for f in result.recorded.failures.iter().take(EXAMPLES) {
        let pod = result
            .analysis
            .attributions
            .iter()
            .find(|a| a.seq == f.seq)
            .map_or("-", |a| a.pod.as_str());
        let _ = writeln!(
            body,
            "#{} due {} {}{} pod {} {}",
            f.seq,
            fmt::at(f.due),
            f.class,
            f.status.map(|s| format!(" {s}")).unwrap_or_default(),
            pod,
            f.error.as_deref().unwrap_or("")
        );
    }
    body
}

fn finding_case(f: &Finding) -> Case {
    let ev = &f.evidence;
    let mut message = format!("{} ({} failures", f.title, ev.failures);
    if let Some((a, b)) = ev.window {
        let _ = write!(message, ", {}–{}", fmt::at(a), fmt::at(b));
    }
    if !ev.pods.is_empty() {
        let _ = write!(message, ", pods {}", ev.pods.join(", "));
    }
    message.push(')');
    let mut body = String::new();
    if !ev.classes.is_empty() {
        let classes: Vec<String> = ev.classes.iter().map(|(c, n)| format!("{n} {c}")).collect();
        let _ = writeln!(body, "classes: {}", classes.join(", "));
    }
    for d in &ev.details {
        let _ = writeln!(body, "- {d}");
    }
    let _ = writeln!(body, "cause: {}", f.cause);
    let _ = writeln!(body, "fix: {}", f.fix);
    if let Some(y) = &f.fix_yaml {
        let _ = writeln!(body, "{y}");
    }
    if !ev.examples.is_empty() {
        let seqs: Vec<String> = ev.examples.iter().map(|s| format!("#{s}")).collect();
        let _ = writeln!(body, "examples in the failure log: {}", seqs.join(" "));
    }
    Case {
        classname: "zerodrop.findings",
        name: format!("{}: {}", f.id, f.title),
        outcome: CaseOutcome::Failed {
            kind: f.id.to_string(),
            message,
            body,
        },
    }
}

/// Characters XML 1.0 cannot carry at all are dropped; the rest are escaped for an attribute.
fn attr(s: &str) -> String {
    let extra = [
        ('"', "&quot;"),
        ('\'', "&apos;"),
        ('\n', "&#10;"),
        ('\t', "&#9;"),
    ];
    fmt::escape(s, &extra, is_xml_char)
}

/// Element text: escaped, line breaks kept.
fn body_text(s: &str) -> String {
    fmt::escape(s, &[], |c| matches!(c, '\n' | '\t') || is_xml_char(c))
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}
