//! `zerodrop lint` on the manifests of seed 000 ("Rolling Deployment for Next.js Apps on
//! Kubernetes"): the first Deployment shows every problem the article found; the final one
//! leaves only what is still worth saying.

use std::collections::BTreeSet;
use std::path::PathBuf;

use zerodrop::lint::{self, FailOn, LintFormat, LintOptions};
use zerodrop::model::finding::{FindingId, Severity};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lint")
        .join(name)
}

fn lint_file(name: &str) -> Vec<zerodrop::model::finding::Finding> {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    let objects = lint::parse_manifests(name, &text).expect("parses");
    lint::lint_objects(&objects)
}

fn ids(fs: &[zerodrop::model::finding::Finding]) -> BTreeSet<FindingId> {
    fs.iter().map(|f| f.id).collect()
}

#[test]
fn the_initial_seed_deployment_reports_what_the_article_found() {
    let fs = lint_file("seed000_initial.yaml");
    let found = ids(&fs);
    // Default strategy, no probes, no preStop (with no grace period chosen).
    for id in [
        FindingId::MaxUnavailableNonZero,
        FindingId::NoReadinessProbe,
        FindingId::NoPrestop,
    ] {
        assert!(found.contains(&id), "{id} missing from {found:?}");
    }
    let strategy = fs
        .iter()
        .find(|f| f.id == FindingId::MaxUnavailableNonZero)
        .expect("strategy finding");
    assert!(
        strategy
            .evidence
            .details
            .iter()
            .any(|d| d.contains("default 25%")),
        "{strategy:#?}"
    );
    let readiness = fs
        .iter()
        .find(|f| f.id == FindingId::NoReadinessProbe)
        .expect("readiness");
    assert!(readiness.evidence.details[0].contains("no probes at all"));
    let prestop = fs
        .iter()
        .find(|f| f.id == FindingId::NoPrestop)
        .expect("preStop");
    assert!(
        prestop
            .evidence
            .details
            .iter()
            .any(|d| d.contains("terminationGracePeriodSeconds not set")),
        "{prestop:#?}"
    );
    assert!(
        prestop
            .title
            .starts_with("deploy/nextjs-app: container nextjs")
    );
    assert!(
        prestop
            .fix_yaml
            .as_deref()
            .is_some_and(|y| y.contains("name: nextjs") && y.contains("preStop"))
    );
    // Three replicas: not a single-replica risk; the grace period is not shorter than a
    // preStop that does not exist.
    assert!(!found.contains(&FindingId::SingleReplica));
    assert!(!found.contains(&FindingId::GracePeriodTooShort));
}

#[test]
fn the_final_seed_deployment_reports_only_what_is_still_worth_saying() {
    let fs = lint_file("seed000_final.yaml");
    assert_eq!(ids(&fs), BTreeSet::from([FindingId::NoPodDisruptionBudget]));
    assert_eq!(fs[0].severity, Severity::Info);
    assert!(fs[0].evidence.details[0].contains("ignore if one is applied separately"));
}

fn args(file: &str, fail_on: FailOn) -> LintOptions {
    LintOptions {
        files: vec![PathBuf::from(file)],
        fail_on,
        format: LintFormat::Text,
        ..LintOptions::default()
    }
}

#[test]
fn lint_fails_the_initial_manifest_and_passes_the_final_one_at_the_default_threshold() {
    let mut out = Vec::new();
    let initial = fixture("seed000_initial.yaml");
    let code = lint::run(
        &args(initial.to_str().expect("utf-8"), FailOn::Error),
        &mut std::io::empty(),
        &mut out,
    )
    .expect("runs");
    assert_eq!(code, 1);
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.contains("no-prestop"), "{text}");
    let mut out = Vec::new();
    let fin = fixture("seed000_final.yaml");
    let code = lint::run(
        &args(fin.to_str().expect("utf-8"), FailOn::Error),
        &mut std::io::empty(),
        &mut out,
    )
    .expect("runs");
    assert_eq!(code, 0);
}

#[test]
fn lint_reads_standard_input_for_a_dash() {
    let text = std::fs::read_to_string(fixture("seed000_initial.yaml")).expect("fixture");
    let mut out = Vec::new();
    let code = lint::run(&args("-", FailOn::Never), &mut text.as_bytes(), &mut out).expect("runs");
    assert_eq!(code, 0);
    assert!(
        String::from_utf8(out)
            .expect("utf-8")
            .contains("no-readiness-probe")
    );
}

#[test]
fn a_file_without_a_workload_is_bad_input() {
    let err = lint::run(
        &args("-", FailOn::Error),
        &mut "kind: Service\nmetadata: {name: s}\n".as_bytes(),
        &mut Vec::new(),
    )
    .expect_err("no workload");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("no Deployment"));
}
