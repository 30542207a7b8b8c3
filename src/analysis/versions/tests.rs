//! Old versus new from hand-made runs: a rolling restart from v1 to v2 with a mix of two
//! templates, each response's revision told by its version header.

use std::sync::Arc;

use crate::analysis::fixtures::{Roll, Run, STEP, TRIGGER, ms};
use crate::analysis::tests::{get, ids};
use crate::model::event::Revision;
use crate::model::finding::{FindingId, Severity};
use crate::model::outcome::OutcomeClass;
use crate::model::request::RequestRecord;
use crate::model::template::{CheckInfo, TemplateInfo};

use super::Shift;

const DONE: u64 = TRIGGER + 3 * STEP;

fn template(name: &str, checks: &[(&str, bool)]) -> TemplateInfo {
    TemplateInfo {
        name: name.into(),
        method: "GET".into(),
        path: "/api/users/42".into(),
        weight: 1.0,
        checks: checks
            .iter()
            .map(|(n, warn)| CheckInfo {
                name: n.to_string(),
                description: n.to_string(),
                warn: *warn,
            })
            .collect(),
    }
}

/// What each response of the mix looks like on each revision.
#[derive(Clone, Copy)]
struct Behaviour {
    /// Template 0's check 1 fails on this revision (`None`: on neither).
    breaks_on: Option<&'static str>,
    /// Latency (ms) of the new revision; the old one answers in 2 ms.
    new_ms: u64,
    /// The check that breaks is `warn`.
    warn: bool,
}

/// A rolling restart (pods v1 → v2) sending two templates alternately every 10 ms: v1 alone
/// until the first new pod is ready, both (one in three v1) during the rollout, v2 after it.
fn mixed(b: Behaviour) -> Run {
    let mut run = Run::rolling(Roll::default());
    run.records.clear();
    run.templates = vec![
        template(
            "old-client",
            &[("status", false), ("reads fullname", b.warn)],
        ),
        template("web-client", &[("status", false)]),
    ];
    let mut t = 1_000;
    while t < run.end {
        let k = t / 10;
        let only_old = t < TRIGGER + 1_000;
        let both = !only_old && t < DONE;
        let label = if only_old || (both && k % 3 == 0) {
            "v1"
        } else {
            "v2"
        };
        let tpl = (k % 2) as u16;
        let latency = if label == "v2" { b.new_ms } else { 2 };
        let broken = tpl == 0 && b.breaks_on == Some(label);
        let class = if broken && !b.warn {
            OutcomeClass::CheckFailed
        } else {
            OutcomeClass::Ok
        };
        let seq = run.seq();
        run.records.push(RequestRecord {
            seq,
            due: ms(t),
            sent: ms(t),
            end: ms(t + latency),
            class,
            status: Some(200),
            conn: None,
            dialed: None,
            error: broken.then(|| "check `reads fullname` failed: /fullname is missing".into()),
            identity: None,
            template: tpl,
            checks_failed: if broken { 0b10 } else { 0 },
            version: Some(Arc::from(label)),
            excerpt: broken.then(|| r#"HTTP 200: {"full_name":"Ada"}"#.into()),
        });
        t += 10;
    }
    run
}

const CLEAN: Behaviour = Behaviour {
    breaks_on: None,
    new_ms: 2,
    warn: false,
};

#[test]
fn a_check_failing_only_on_the_new_revision_is_a_breaking_change_of_the_new_version() {
    let a = mixed(Behaviour {
        breaks_on: Some("v2"),
        ..CLEAN
    })
    .analyse();
    assert_eq!(
        ids(&a),
        [FindingId::BreakingChangeNewVersion],
        "{:#?}",
        a.findings
    );
    let f = get(&a, FindingId::BreakingChangeNewVersion);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(a.unexplained_failures, 0);
    let text = f.evidence.details.join("\n");
    assert!(text.contains("v1: 0 of "), "{text}");
    assert!(
        text.contains("template old-client, check `reads fullname`"),
        "{text}"
    );
    assert!(text.contains(r#"example response (seq "#), "{text}");
    assert!(text.contains("full_name"), "{text}");
    assert!(
        f.title
            .contains("passes on the old revision (v1) and fails on the new one (v2)")
    );
    let v = a.versions.as_ref().expect("a split");
    assert_eq!((v.old.as_str(), v.new.as_str()), ("v1", "v2"));
    let (start, end) = v.window.expect("both served");
    assert_eq!(start, ms(TRIGGER + 1_000));
    assert_eq!(end, ms(DONE));
    let old_client = &v.templates[0];
    assert_eq!(old_client.old.checks_failed.get("reads fullname"), None);
    assert!(old_client.new.checks_failed["reads fullname"] > 100);
    assert_eq!(
        old_client.new.failed,
        old_client.new.checks_failed["reads fullname"]
    );
}

#[test]
fn a_check_failing_only_on_the_old_revision_is_a_breaking_change_of_the_old_version() {
    let a = mixed(Behaviour {
        breaks_on: Some("v1"),
        ..CLEAN
    })
    .analyse();
    // The failures before the trigger are the baseline's; the ones during the rollout are the
    // old version's break.
    assert!(
        ids(&a).contains(&FindingId::BreakingChangeOldVersion),
        "{:#?}",
        a.findings
    );
    let f = get(&a, FindingId::BreakingChangeOldVersion);
    assert!(f.fix.contains("reader before the writer"));
}

#[test]
fn a_warn_check_that_breaks_is_reported_as_a_warning_without_failures() {
    let a = mixed(Behaviour {
        breaks_on: Some("v2"),
        warn: true,
        ..CLEAN
    })
    .analyse();
    let f = get(&a, FindingId::BreakingChangeNewVersion);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence.failures, 0);
}

#[test]
fn a_clean_mix_has_no_version_finding_and_the_same_latency() {
    let a = mixed(CLEAN).analyse();
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
    let v = a.versions.expect("a split");
    for t in &v.templates {
        let c = t.latency.as_ref().expect("enough points");
        assert_eq!(c.shift, Shift::Same, "{t:#?}");
    }
}

#[test]
fn a_much_slower_new_revision_is_found_by_the_rank_test_with_its_numbers() {
    let a = mixed(Behaviour {
        new_ms: 60,
        ..CLEAN
    })
    .analyse();
    let f = get(&a, FindingId::SlowerNewVersion);
    assert!(
        f.title.contains("p99 60ms against 2.00ms (30.0×)"),
        "{}",
        f.title
    );
    let text = f.evidence.details.join("\n");
    assert!(text.contains("Mann–Whitney: new higher by 58"), "{text}");
    assert_eq!(f.evidence.window, Some((ms(TRIGGER + 1_000), ms(DONE))));
}

#[test]
fn a_slightly_slower_new_revision_is_not_far_above() {
    // Higher for the rank test, but a 5 ms shift: under the analysis' minimum.
    let a = mixed(Behaviour { new_ms: 7, ..CLEAN }).analyse();
    assert!(
        !ids(&a).contains(&FindingId::SlowerNewVersion),
        "{:#?}",
        a.findings
    );
    let v = a.versions.expect("a split");
    assert_eq!(
        v.templates[0].latency.as_ref().map(|c| c.shift),
        Some(Shift::Higher)
    );
}

#[test]
fn too_few_responses_in_the_window_are_not_compared() {
    let mut run = mixed(Behaviour {
        new_ms: 60,
        ..CLEAN
    });
    // Keep one response in 40 during the rollout: about 30 per revision and template.
    run.records
        .retain(|r| r.due < ms(TRIGGER) || r.due >= ms(DONE) || r.seq % 40 == 0);
    let a = run.analyse();
    assert!(!ids(&a).contains(&FindingId::SlowerNewVersion));
    let v = a.versions.expect("a split");
    let note = v.templates[0].note.as_deref().unwrap_or("");
    assert!(note.contains("50 each needed"), "{note}");
}

#[test]
fn old_requests_cut_fast_while_both_serve_do_not_make_the_new_revision_slower() {
    // While both serve, every request to v1 is cut within a millisecond (its pods killed) and
    // v2 answers in 50 ms. The old revision has no response time there to compare: a time to
    // fail is not one, and v2 is not "slower" than connections reset in a millisecond.
    let mut run = mixed(Behaviour {
        new_ms: 50,
        ..CLEAN
    });
    for r in &mut run.records {
        let both = r.due >= ms(TRIGGER + 1_000) && r.due < ms(DONE);
        if both && r.version.as_deref() == Some("v1") {
            r.class = OutcomeClass::ConnectionReset;
            r.status = None;
            r.end = r.due.plus(std::time::Duration::from_micros(500));
        }
    }
    let a = run.analyse();
    assert!(
        !ids(&a).contains(&FindingId::SlowerNewVersion),
        "{:#?}",
        a.findings
    );
    let v = a.versions.expect("a split");
    for t in &v.templates {
        assert!(t.old.failed > 0, "{t:#?}");
        assert_eq!(t.old.p99_us, None, "no v1 response in the window: {t:#?}");
        assert!(t.latency.is_none(), "{t:#?}");
    }
}

#[test]
fn labels_without_pods_are_old_before_the_trigger_and_new_after() {
    let mut run = mixed(CLEAN);
    for r in &mut run.records {
        let v = if r.version.as_deref() == Some("v1") {
            "1.4.0"
        } else {
            "1.5.0"
        };
        r.version = Some(Arc::from(v));
    }
    let a = run.analyse();
    let v = a.versions.expect("a split");
    assert_eq!((v.old.as_str(), v.new.as_str()), ("1.4.0", "1.5.0"));
    assert_eq!(v.revisions[0].side, Revision::Old);
    assert!(v.revisions[0].pods.is_empty());
}

#[test]
fn without_per_revision_figures_the_baseline_and_failures_tied_to_new_pods_show_the_break() {
    use crate::analysis::fixtures::Via;
    let mut run = Run::rolling(Roll::default());
    run.templates = vec![template("old-client", &[("reads fullname", false)])];
    // Every new pod fails the check on each of its first requests; old pods pass throughout
    // (the fixtures' ok traffic carries no revision).
    let before = run.records.len();
    for i in 0..3u64 {
        let pod = format!("new-{i}");
        for k in 0..4 {
            let at = TRIGGER + i * STEP + 1_500 + k * 100;
            run.fail(
                at,
                2,
                OutcomeClass::CheckFailed,
                Via::Identity { pod: &pod },
            );
        }
    }
    for r in &mut run.records[before..] {
        r.checks_failed = 1;
        r.status = Some(200);
    }
    let a = run.analyse();
    assert!(a.versions.is_none());
    let f = get(&a, FindingId::BreakingChangeNewVersion);
    let text = f.evidence.details.join("\n");
    assert!(
        text.contains("the baseline (old pods only): 0 of"),
        "{text}"
    );
    assert!(text.contains("failures tied to new pods: 12"), "{text}");
}

#[test]
fn a_tail_of_slow_first_requests_on_new_pods_is_not_a_slower_release() {
    // Regression (a local rollout of the same binary): new pods' first requests are slow, so
    // the new p99 is 8× the old one and the rank test, over thousands of responses, sees a
    // consistent shift — of a few microseconds. That is not a slower release.
    let mut run = mixed(CLEAN);
    for r in &mut run.records {
        if r.version.as_deref() == Some("v2") && r.seq % 40 == 0 {
            r.end = r.sent.plus(std::time::Duration::from_millis(117));
        } else if r.version.as_deref() == Some("v2") {
            r.end = r.sent.plus(std::time::Duration::from_micros(2_050));
        }
    }
    let a = run.analyse();
    assert!(
        !ids(&a).contains(&FindingId::SlowerNewVersion),
        "{:#?}",
        a.findings
    );
}

#[test]
fn on_a_cluster_path_failed_checks_on_connections_old_pods_closed_are_theirs_by_inference() {
    use crate::analysis::AttributionMethod;
    use crate::analysis::fixtures::Via;
    use crate::model::connection::ConnectionEnd;
    // No header tells a response's pod: the new client's check fails on old pods, over
    // keep-alive connections that each old pod's stop signal then closed.
    let mut run = Run::rolling(Roll::default());
    run.templates = vec![template("new-client", &[("reads full_name", false)])];
    let before = run.records.len();
    for i in 0..3u64 {
        let stop = TRIGGER + i * STEP + 3_000;
        let id = 100 + i;
        run.connection(id, 1_500, stop + 2, ConnectionEnd::PeerClosed, (300, 2));
        for at in [stop - 700, stop - 300] {
            let via = Via::Connection { id, reused: true };
            run.fail(at, 2, OutcomeClass::CheckFailed, via);
        }
    }
    for r in &mut run.records[before..] {
        r.checks_failed = 1;
        r.status = Some(200);
    }
    let a = run.analyse();
    assert!(a.versions.is_none());
    assert!(
        a.attributions.iter().all(|at| {
            at.method == AttributionMethod::ConnectionEnd && at.pod.starts_with("old-")
        })
    );
    let f = get(&a, FindingId::BreakingChangeOldVersion);
    assert_eq!(f.evidence.failures, 6);
    let text = f.evidence.details.join("\n");
    assert!(text.contains("failures tied to old pods: 6"), "{text}");
    assert!(
        text.contains("6 of those failures' pods inferred from their connections"),
        "{text}"
    );
}
