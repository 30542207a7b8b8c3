//! Each static check fires on its risk and stays quiet on the fixed manifest.

use super::{Object, PdbScope, lint_objects, lint_with, parse_manifests};
use crate::model::finding::{Finding, FindingId, Severity};

/// A Deployment with every risk fixed; `edit` rewrites lines of it to add one back.
const FIXED: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 40
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              app: web
      containers:
        - name: web
          image: web:1
          ports:
            - containerPort: 8080
          readinessProbe:
            httpGet:
              path: /ready
              port: 8080
          livenessProbe:
            httpGet:
              path: /livez
              port: 8080
          lifecycle:
            preStop:
              sleep:
                seconds: 5
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app: web
";

fn lint(yaml: &str) -> Vec<Finding> {
    lint_objects(&parse_manifests("test.yaml", yaml).expect("parses"))
}

fn ids(yaml: &str) -> Vec<FindingId> {
    lint(yaml).iter().map(|f| f.id).collect()
}

fn edit(from: &str, to: &str) -> String {
    assert!(FIXED.contains(from), "fixture lacks {from:?}");
    FIXED.replacen(from, to, 1)
}

#[test]
fn the_fixed_manifest_has_no_finding() {
    assert_eq!(ids(FIXED), []);
}

#[test]
fn one_replica_is_a_single_replica_risk() {
    assert!(ids(&edit("replicas: 3", "replicas: 1")).contains(&FindingId::SingleReplica));
    // Unset means 1.
    assert!(ids(&edit("  replicas: 3\n", "")).contains(&FindingId::SingleReplica));
}

#[test]
fn max_unavailable_above_zero_is_reported_by_how_many_pods_it_lets_go() {
    let fs = lint(&edit("maxUnavailable: 0", "maxUnavailable: 1"));
    let f = fs
        .iter()
        .find(|f| f.id == FindingId::MaxUnavailableNonZero)
        .expect("fires");
    assert_eq!(f.severity, Severity::Warning);
    let one =
        edit("replicas: 3", "replicas: 1").replacen("maxUnavailable: 0", "maxUnavailable: 1", 1);
    let fs = lint(&one);
    let f = fs
        .iter()
        .find(|f| f.id == FindingId::MaxUnavailableNonZero)
        .expect("fires");
    assert_eq!(f.severity, Severity::Error, "every pod may go at once");
}

#[test]
fn the_default_strategy_at_four_replicas_lets_a_pod_go() {
    let yaml = edit("replicas: 3", "replicas: 4").replacen(
        "  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n",
        "",
        1,
    );
    let fs = lint(&yaml);
    let f = fs
        .iter()
        .find(|f| f.id == FindingId::MaxUnavailableNonZero)
        .expect("fires");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.title.contains("up to 1 pod"), "{}", f.title);
}

#[test]
fn recreate_leaves_the_service_without_endpoints() {
    let yaml = FIXED.replacen(
        "    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n",
        "    type: Recreate\n",
        1,
    );
    let f = lint(&yaml)
        .into_iter()
        .find(|f| f.id == FindingId::MaxUnavailableNonZero)
        .expect("fires");
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn a_missing_readiness_probe_is_an_error() {
    let yaml = edit(
        "          readinessProbe:\n            httpGet:\n              path: /ready\n              port: 8080\n",
        "",
    );
    assert_eq!(ids(&yaml), [FindingId::NoReadinessProbe]);
}

#[test]
fn readiness_checking_the_same_endpoint_as_liveness_is_reported() {
    assert_eq!(
        ids(&edit("path: /ready", "path: /livez")),
        [FindingId::ReadinessEqualsLiveness]
    );
}

#[test]
fn a_missing_prestop_is_an_error_naming_the_grace_period() {
    let yaml = edit(
        "          lifecycle:\n            preStop:\n              sleep:\n                seconds: 5\n",
        "",
    );
    let fs = lint(&yaml);
    assert_eq!(
        fs.iter().map(|f| f.id).collect::<Vec<_>>(),
        [FindingId::NoPrestop]
    );
    assert!(
        fs[0]
            .evidence
            .details
            .iter()
            .any(|d| d.contains("terminationGracePeriodSeconds: 40"))
    );
}

#[test]
fn a_grace_period_not_longer_than_the_prestop_sleep_is_an_error() {
    assert_eq!(
        ids(&edit(
            "terminationGracePeriodSeconds: 40",
            "terminationGracePeriodSeconds: 5"
        )),
        [FindingId::GracePeriodTooShort]
    );
    // The default 30 s against a 45 s exec sleep.
    let yaml = edit("      terminationGracePeriodSeconds: 40\n", "").replacen(
        "              sleep:\n                seconds: 5\n",
        "              exec:\n                command: [\"/bin/sh\", \"-c\", \"sleep 45 && kill 1\"]\n",
        1,
    );
    assert_eq!(ids(&yaml), [FindingId::GracePeriodTooShort]);
}

#[test]
fn a_slow_starter_without_a_startup_probe_is_reported() {
    let yaml = edit(
        "          livenessProbe:\n",
        "          livenessProbe:\n            initialDelaySeconds: 30\n",
    );
    assert_eq!(ids(&yaml), [FindingId::NoStartupProbe]);
}

#[test]
fn a_pdb_that_selects_other_pods_does_not_cover_these() {
    let other = FIXED.replacen(
        "spec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app: web\n",
        "spec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app: api\n",
        1,
    );
    let f = lint(&other)
        .into_iter()
        .find(|f| f.id == FindingId::NoPodDisruptionBudget)
        .expect("fires");
    assert_eq!(f.severity, Severity::Warning);
}

#[test]
fn without_any_pdb_in_the_files_the_pdb_note_is_only_informational() {
    let alone = FIXED.split("---").next().expect("first document");
    let fs = lint(alone);
    assert_eq!(fs.len(), 1);
    assert_eq!(
        (fs[0].id, fs[0].severity),
        (FindingId::NoPodDisruptionBudget, Severity::Info)
    );
    // On a live namespace the list of PDBs is complete: a missing one is a warning.
    let objects: Vec<Object> = parse_manifests("t", alone).expect("parses");
    let live = lint_with(&objects, PdbScope::Complete);
    assert_eq!(live[0].severity, Severity::Warning);
}

#[test]
fn replicas_with_neither_anti_affinity_nor_spread_are_noted() {
    let yaml = edit(
        "      topologySpreadConstraints:\n        - maxSkew: 1\n          topologyKey: kubernetes.io/hostname\n          whenUnsatisfiable: ScheduleAnyway\n          labelSelector:\n            matchLabels:\n              app: web\n",
        "",
    );
    assert_eq!(ids(&yaml), [FindingId::NoSpread]);
}

#[test]
fn findings_are_ordered_most_serious_first() {
    let yaml = edit("replicas: 3", "replicas: 1").replacen(
        "          readinessProbe:\n            httpGet:\n              path: /ready\n              port: 8080\n",
        "",
        1,
    );
    let sev: Vec<Severity> = lint(&yaml).iter().map(|f| f.severity).collect();
    let mut sorted = sev.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sev, sorted);
}

#[test]
fn the_workload_config_for_the_analysis_is_read_from_the_same_manifest() {
    let objects = parse_manifests("t", FIXED).expect("parses");
    let w = super::workload_config(&objects).expect("a workload");
    assert_eq!(w.prestop, Some(std::time::Duration::from_secs(5)));
    assert_eq!(w.grace_period, Some(std::time::Duration::from_secs(40)));
    assert_eq!((w.max_surge, w.max_unavailable), (Some(1), Some(0)));
    assert_eq!(w.readiness_probe, Some(true));
    let t = w.target.expect("names");
    assert_eq!(
        (t.name.as_str(), t.container.as_str(), t.port.as_str()),
        ("web", "web", "8080")
    );
}
