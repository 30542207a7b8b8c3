//! `zerodrop lint -n NS deploy/NAME` against the fake API server: the live workload is read
//! (never written), the namespace's PodDisruptionBudgets count, and errors exit as documented.

mod support;

use serde_json::json;
use support::fake_apiserver::FakeApiServer;
use support::scenario::{self, NS};
use zerodrop::commands;
use zerodrop::lint::{FailOn, LintOptions};
use zerodrop::model::finding::{FindingId, Severity};

struct Env {
    server: FakeApiServer,
    dir: tempfile::TempDir,
}

async fn env() -> Env {
    let server = FakeApiServer::start().await;
    server.put(&scenario::deployment("web", 3));
    Env {
        server,
        dir: tempfile::tempdir().expect("tmp"),
    }
}

impl Env {
    fn args(&self, workload: &str) -> LintOptions {
        LintOptions {
            workload: Some(workload.to_string()),
            kubeconfig: Some(self.server.write_kubeconfig(self.dir.path(), NS)),
            fail_on: FailOn::Error,
            ..LintOptions::default()
        }
    }

    fn pdb(&self, app: &str) {
        self.server.put_value(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": format!("{app}-pdb"), "namespace": NS},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}}
        }));
    }
}

#[tokio::test]
async fn a_live_deployment_is_linted_read_only_with_the_namespaces_pdbs() {
    let e = env().await;
    e.pdb("other");
    let findings = commands::lint::lint_live(&e.args("deploy/web"), "deploy/web")
        .await
        .expect("lints");
    let ids: Vec<FindingId> = findings.iter().map(|f| f.id).collect();
    // The scenario's Deployment has no probes and no preStop.
    assert!(ids.contains(&FindingId::NoReadinessProbe), "{ids:?}");
    assert!(ids.contains(&FindingId::NoPrestop), "{ids:?}");
    // The namespace was listed completely: a PDB for other pods does not cover these.
    let pdb = findings
        .iter()
        .find(|f| f.id == FindingId::NoPodDisruptionBudget)
        .expect("pdb finding");
    assert_eq!(pdb.severity, Severity::Warning);
    assert!(pdb.title.starts_with("deploy/web:"));
    assert!(
        e.server.requests().iter().all(|r| r.method == "GET"),
        "lint only reads"
    );
}

#[tokio::test]
async fn a_pdb_selecting_the_pods_silences_the_pdb_check() {
    let e = env().await;
    e.pdb("web");
    let findings = commands::lint::lint_live(&e.args("deploy/web"), "deploy/web")
        .await
        .expect("lints");
    assert!(
        findings
            .iter()
            .all(|f| f.id != FindingId::NoPodDisruptionBudget)
    );
}

#[tokio::test]
async fn a_missing_workload_is_bad_input_naming_it() {
    let e = env().await;
    let err = commands::lint::lint_live(&e.args("deploy/wbe"), "deploy/wbe")
        .await
        .expect_err("not found");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("wbe"), "{err}");
}

#[tokio::test]
async fn a_forbidden_pdb_list_names_the_rule_that_allows_it() {
    let e = env().await;
    e.server.deny("list", "poddisruptionbudgets");
    let err = commands::lint::lint_live(&e.args("deploy/web"), "deploy/web")
        .await
        .expect_err("forbidden");
    assert_eq!(err.exit_code(), 4);
    let text = err.to_string();
    assert!(text.contains("poddisruptionbudgets"), "{text}");
    assert!(text.contains("verbs: [\"list\"]"), "{text}");
}

#[tokio::test]
async fn the_run_gets_the_live_workloads_configuration_for_its_analysis() {
    use zerodrop::cluster::kube::{ConnectOptions, WorkloadRef, connect::connect};
    let e = env().await;
    let conn = connect(&ConnectOptions {
        kubeconfig: e.args("deploy/web").kubeconfig,
        ..ConnectOptions::default()
    })
    .await
    .expect("connects");
    let live =
        commands::lint::lint_workload(&conn, &WorkloadRef::parse("deploy/web").expect("ref"))
            .await
            .expect("lints");
    let w = live.workload.expect("config");
    // No preStop hook: the stop signal comes as termination begins.
    assert_eq!(w.prestop, Some(std::time::Duration::ZERO));
    assert_eq!(w.grace_period, Some(std::time::Duration::from_secs(30)));
    assert_eq!((w.max_surge, w.max_unavailable), (Some(1), Some(0)));
    assert_eq!(w.readiness_probe, Some(false));
    assert!(!live.findings.is_empty());
}
