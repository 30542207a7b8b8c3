//! `zerodrop manifest job`: the generated objects deserialize into k8s-openapi types, the
//! Role grants exactly what each trigger and watch needs, the Job is a CI gate (no retry, exit
//! code decides) that runs hardened, and its arguments are the user's run flags.

use clap::CommandFactory as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding};
use zerodrop::cli::{Cli, CliCommand, JobArgs, ManifestKind, RunArgs};
use zerodrop::commands::manifest::{render, run_argv};

fn job_args(flags: &[&str]) -> JobArgs {
    let argv = ["zerodrop", "manifest", "job"].iter().chain(flags);
    let cli = zerodrop::plugin::parse_from(argv.map(|s| s.to_string())).expect("parses");
    match cli.command {
        CliCommand::Manifest(m) => match m.kind {
            ManifestKind::Job(j) => *j,
        },
        other => panic!("not a manifest command: {other:?}"),
    }
}

fn run_args(argv: &[String]) -> RunArgs {
    let cli = zerodrop::plugin::parse_from(
        std::iter::once("zerodrop".to_string()).chain(argv.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("{argv:?} does not parse: {e}"));
    match cli.command {
        CliCommand::Run(r) => *r,
        other => panic!("not a run command: {other:?}"),
    }
}

/// The manifest's documents, each deserialized into its k8s-openapi type.
struct Manifest {
    yaml: String,
    service_account: ServiceAccount,
    role: Role,
    binding: RoleBinding,
    config_maps: Vec<ConfigMap>,
    job: Job,
}

fn manifest(flags: &[&str]) -> Manifest {
    let yaml = render(&job_args(flags)).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
    let docs: Vec<&str> = yaml
        .split("\n---\n")
        .skip(1) // the comment header
        .collect();
    let kind = |d: &str| {
        d.lines()
            .find_map(|l| l.strip_prefix("kind: "))
            .unwrap_or_default()
            .to_string()
    };
    let of = |k: &str| -> Vec<&str> { docs.iter().copied().filter(|d| kind(d) == k).collect() };
    let one = |k: &str| -> &str {
        let found = of(k);
        assert_eq!(found.len(), 1, "one {k} in\n{yaml}");
        found[0]
    };
    assert_eq!(
        docs.len(),
        4 + of("ConfigMap").len(),
        "only the expected kinds:\n{yaml}"
    );
    Manifest {
        service_account: serde_saphyr::from_str(one("ServiceAccount")).expect("ServiceAccount"),
        role: serde_saphyr::from_str(one("Role")).expect("Role"),
        binding: serde_saphyr::from_str(one("RoleBinding")).expect("RoleBinding"),
        config_maps: of("ConfigMap")
            .into_iter()
            .map(|d| serde_saphyr::from_str(d).expect("ConfigMap"))
            .collect(),
        job: serde_saphyr::from_str(one("Job")).expect("Job"),
        yaml,
    }
}

fn rule(group: &str, resources: &[&str], verbs: &[&str], names: Option<&str>) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        resource_names: names.map(|n| vec![n.to_string()]),
        non_resource_urls: None,
    }
}

/// What every run reads: the workload, its pods and Events, the Service's EndpointSlices,
/// and the PodDisruptionBudgets its pre-flight lint checks.
fn reads(kind: &str) -> Vec<PolicyRule> {
    vec![
        rule("apps", &[kind], &["get", "list", "watch"], None),
        rule("", &["pods", "events"], &["list", "watch"], None),
        rule(
            "discovery.k8s.io",
            &["endpointslices"],
            &["list", "watch"],
            None,
        ),
        rule("policy", &["poddisruptionbudgets"], &["list"], None),
    ]
}

fn rules_of(m: &Manifest) -> Vec<PolicyRule> {
    m.role.rules.clone().unwrap_or_default()
}

fn sorted(mut v: Vec<PolicyRule>) -> Vec<PolicyRule> {
    v.sort_by_key(|r| format!("{r:?}"));
    v
}

fn assert_rules(flags: &[&str], expected: Vec<PolicyRule>) {
    let m = manifest(flags);
    assert_eq!(
        sorted(rules_of(&m)),
        sorted(expected),
        "rules for {flags:?}:\n{}",
        m.yaml
    );
}

#[test]
fn restart_image_and_patch_may_patch_only_the_named_workload() {
    let dir = tempfile::tempdir().expect("tmp");
    let patch = dir.path().join("fix.yaml");
    std::fs::write(&patch, "spec:\n  minReadySeconds: 5\n").expect("write");
    let patch_trigger = format!("patch {}", patch.display());
    for trigger in ["restart", "image web=web:2", patch_trigger.as_str()] {
        let mut expected = reads("deployments");
        expected.push(rule("apps", &["deployments"], &["patch"], Some("web")));
        expected.push(rule("", &["services"], &["list"], None));
        assert_rules(
            &["-n", "shop", "--trigger", trigger, "deploy/web"],
            expected,
        );
    }
    let mut expected = reads("statefulsets");
    expected.push(rule("apps", &["statefulsets"], &["patch"], Some("db")));
    expected.push(rule("", &["services"], &["get"], Some("db")));
    assert_rules(&["-n", "shop", "--service", "db", "sts/db"], expected);
}

#[test]
fn external_and_exec_triggers_get_read_only_rules() {
    let mut expected = reads("daemonsets");
    expected.push(rule("", &["services"], &["list"], None));
    assert_rules(
        &["-n", "ops", "--trigger", "external", "ds/agent"],
        expected.clone(),
    );
    assert_rules(
        &[
            "-n",
            "ops",
            "--trigger",
            "exec",
            "ds/agent",
            "--",
            "helm",
            "upgrade",
            "agent",
            "./chart",
        ],
        expected,
    );
}

#[test]
fn kill_pod_adds_deleting_pods_and_nothing_else() {
    let mut expected = reads("deployments");
    expected.push(rule("", &["pods"], &["delete"], None));
    expected.push(rule("", &["services"], &["list"], None));
    assert_rules(
        &["-n", "shop", "--trigger", "kill-pod", "deploy/web"],
        expected,
    );
}

#[test]
fn selector_patches_the_service_and_never_the_workload() {
    let mut expected = reads("deployments");
    expected.push(rule("", &["services"], &["get"], Some("web")));
    expected.push(rule("", &["services"], &["patch"], Some("web")));
    assert_rules(
        &[
            "-n",
            "shop",
            "--service",
            "web",
            "--trigger",
            "selector version=green",
            "--undo-on-failure",
            "deploy/web-green",
        ],
        expected,
    );
}

#[test]
fn undo_reads_the_rollout_history_of_the_workloads_kind() {
    let mut expected = reads("deployments");
    expected.push(rule("apps", &["deployments"], &["patch"], Some("web")));
    expected.push(rule("", &["services"], &["list"], None));
    expected.push(rule("apps", &["replicasets"], &["list"], None));
    assert_rules(&["-n", "shop", "--undo-on-failure", "deploy/web"], expected);

    let mut expected = reads("statefulsets");
    expected.push(rule("apps", &["statefulsets"], &["patch"], Some("db")));
    expected.push(rule("", &["services"], &["list"], None));
    expected.push(rule("apps", &["controllerrevisions"], &["list"], None));
    assert_rules(
        &[
            "-n",
            "shop",
            "--trigger",
            "external",
            "--undo-on-failure",
            "sts/db",
        ],
        expected,
    );
}

#[test]
fn a_result_configmap_is_created_and_only_patchable_by_name() {
    let m = manifest(&[
        "-n",
        "shop",
        "--result-configmap",
        "zd-result",
        "deploy/web",
    ]);
    let rules = rules_of(&m);
    assert_eq!(
        rules.last(),
        Some(&rule("", &["configmaps"], &["patch"], Some("zd-result")))
    );
    assert_eq!(m.config_maps.len(), 1);
    assert_eq!(m.config_maps[0].metadata.name.as_deref(), Some("zd-result"));
    assert_eq!(m.config_maps[0].metadata.namespace.as_deref(), Some("shop"));
}

#[test]
fn the_job_is_a_ci_gate_that_runs_hardened_with_its_own_service_account() {
    let m = manifest(&["-n", "shop", "--rate", "400", "deploy/web"]);
    let spec = m.job.spec.as_ref().expect("spec");
    assert_eq!(spec.backoff_limit, Some(0), "a failed run is not retried");
    assert_eq!(spec.completion_mode, None, "one generator: a plain Job");
    assert!(spec.active_deadline_seconds.is_some_and(|s| s > 600));
    let pod = spec.template.spec.as_ref().expect("pod");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let sa = m.service_account.metadata.name.clone().expect("name");
    assert_eq!(pod.service_account_name.as_deref(), Some(sa.as_str()));
    assert_eq!(
        m.binding.role_ref.name,
        m.role.metadata.name.clone().expect("role")
    );
    let subject = &m.binding.subjects.as_ref().expect("subjects")[0];
    assert_eq!(
        (subject.kind.as_str(), subject.name.as_str()),
        ("ServiceAccount", sa.as_str())
    );
    assert_eq!(subject.namespace.as_deref(), Some("shop"));
    let psc = pod.security_context.as_ref().expect("pod security");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert!(psc.run_as_user.is_some_and(|u| u > 0));
    let c = &pod.containers[0];
    let sc = c.security_context.as_ref().expect("container security");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_string()])
    );
    let res = c.resources.as_ref().expect("resources");
    let requests = res.requests.as_ref().expect("requests");
    assert_eq!(
        requests["cpu"].0, "158m",
        "100m base + 2 × 400 req/s × (60 µs a wake-up + 12 µs a request)"
    );
    assert!(requests.contains_key("memory"));
    assert!(
        !res.limits.as_ref().is_some_and(|l| l.contains_key("cpu")),
        "no CPU limit: throttling would look like latency"
    );
}

#[test]
fn the_jobs_arguments_are_the_users_run_flags_printing_the_result_to_the_log() {
    let flags = [
        "-n",
        "shop",
        "--rate",
        "250",
        "-H",
        "X-Env: staging",
        "--threshold",
        "p(99)<300ms",
        "--baseline",
        "5s",
        "--trigger",
        "image web=web:2",
        "deploy/web",
    ];
    let m = manifest(&flags);
    let args = m
        .job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod")
        .containers[0]
        .args
        .clone()
        .expect("args");
    let in_pod = run_args(&args);
    let mut direct = run_args(
        &std::iter::once("run")
            .chain(flags)
            .map(str::to_string)
            .collect::<Vec<_>>(),
    );
    direct.worker.result_log = true;
    assert_eq!(format!("{in_pod:?}"), format!("{direct:?}"));
}

#[test]
fn workers_make_an_indexed_job_whose_pods_start_together_and_split_the_rate() {
    let one = manifest(&["-n", "shop", "--rate", "3000", "deploy/web"]);
    let m = manifest(&[
        "-n",
        "shop",
        "--rate",
        "3000",
        "--workers",
        "3",
        "--name",
        "zd",
        "deploy/web",
    ]);
    let spec = m.job.spec.as_ref().expect("spec");
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!((spec.completions, spec.parallelism), (Some(3), Some(3)));
    let pod = spec.template.spec.as_ref().expect("pod");
    let args = pod.containers[0].args.clone().expect("args");
    assert!(args.contains(&"--workers=3".to_string()), "{args:?}");
    assert!(
        args.contains(&"--worker-pods=batch.kubernetes.io/job-name=zd".to_string()),
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a.starts_with("--worker-index")),
        "each pod takes its index from the Indexed Job"
    );
    let cpu = |m: &Manifest| {
        m.job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .expect("pod")
            .containers[0]
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .map(|r| r["cpu"].0.clone())
    };
    // 3,000 req/s on one generator: 2,500 wake-ups a second (the 400 µs window); 1,000 req/s
    // each on three: a wake-up per request.
    assert_eq!(cpu(&one).as_deref(), Some("472m"));
    assert_eq!(
        cpu(&m).as_deref(),
        Some("244m"),
        "each generator is sized for rate/3"
    );
    assert!(pod.affinity.is_some(), "generators spread over nodes");
}

#[test]
fn files_the_run_reads_travel_in_a_configmap_mounted_read_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let scenario = dir.path().join("s.yaml");
    std::fs::write(&scenario, "rate: 50\nbody_file: body.bin\n").expect("write");
    std::fs::write(dir.path().join("body.bin"), [0xff_u8, 0x00, 0x7f]).expect("write");
    let patch = dir.path().join("p.json");
    std::fs::write(&patch, "{\"spec\": {\"replicas\": 3}}").expect("write");
    let trigger = format!("patch {}", patch.display());
    let m = manifest(&[
        "-n",
        "shop",
        "--scenario",
        scenario.to_str().expect("utf-8"),
        "--trigger",
        &trigger,
        "deploy/web",
    ]);
    let files = m
        .config_maps
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("zerodrop-web-files"))
        .expect("files ConfigMap");
    let data = files.data.clone().unwrap_or_default();
    assert_eq!(data["scenario.yaml"], "rate: 50\nbody_file: body.bin\n");
    assert_eq!(data["patch"], "{\"spec\": {\"replicas\": 3}}");
    let binary = files.binary_data.clone().unwrap_or_default();
    assert_eq!(
        binary["body"].0,
        [0xff_u8, 0x00, 0x7f],
        "a binary body stays exact"
    );
    let pod = m
        .job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod");
    let mount = &pod.containers[0].volume_mounts.as_ref().expect("mounts")[0];
    assert_eq!(mount.mount_path, "/etc/zerodrop/files");
    assert_eq!(mount.read_only, Some(true));
    let args = pod.containers[0].args.clone().expect("args");
    for expected in [
        "--scenario=/etc/zerodrop/files/scenario.yaml",
        "--body-file=/etc/zerodrop/files/body",
        "--trigger=patch /etc/zerodrop/files/patch",
    ] {
        assert!(
            args.contains(&expected.to_string()),
            "{expected} in {args:?}"
        );
    }
}

#[test]
fn a_mixs_template_bodies_travel_beside_the_scenario_and_one_elsewhere_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let scenario = dir.path().join("mix.yaml");
    let text = "rate: 50\nrequests:\n  - {name: order, method: POST, path: /orders, body_file: order.json}\n  - {name: list, path: /orders}\n";
    std::fs::write(&scenario, text).expect("write");
    std::fs::write(dir.path().join("order.json"), "{\"item\": 1}").expect("write");
    let m = manifest(&[
        "-n",
        "shop",
        "--scenario",
        scenario.to_str().expect("utf-8"),
        "--seed",
        "7",
        "deploy/web",
    ]);
    let files = m
        .config_maps
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("zerodrop-web-files"))
        .expect("files ConfigMap");
    let data = files.data.clone().unwrap_or_default();
    assert_eq!(data["scenario.yaml"], text);
    assert_eq!(
        data["order.json"], "{\"item\": 1}",
        "the body sits beside the scenario"
    );
    let args = m
        .job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod")
        .containers[0]
        .args
        .clone()
        .expect("args");
    assert!(args.contains(&"--seed=7".to_string()), "{args:?}");

    std::fs::create_dir(dir.path().join("bodies")).expect("mkdir");
    std::fs::write(dir.path().join("bodies/order.json"), "{}").expect("write");
    std::fs::write(&scenario, text.replace("order.json", "bodies/order.json")).expect("write");
    let err = render(&job_args(&[
        "-n",
        "shop",
        "--scenario",
        scenario.to_str().expect("utf-8"),
        "deploy/web",
    ]))
    .expect_err("a body in a subdirectory cannot be mounted");
    assert!(
        err.to_string()
            .contains("must be a file beside the scenario"),
        "{err}"
    );
}

#[test]
fn flags_that_cannot_mean_the_same_in_a_pod_are_all_refused_naming_each() {
    let e = render(&job_args(&[
        "--context",
        "prod",
        "--out",
        "r.json",
        "--rate",
        "lots",
        "--name",
        "Bad_Name",
        "deploy/web",
    ]))
    .expect_err("refused");
    let places: Vec<&str> = e.problems.iter().map(|p| p.place.as_str()).collect();
    for p in ["--namespace", "--context", "--out", "--name", "--rate"] {
        assert!(places.contains(&p), "{p} in {places:?}");
    }
    let out = e.problems.iter().find(|p| p.place == "--out").expect("out");
    assert!(out.message.contains("zerodrop report -"), "{}", out.message);
}

#[test]
fn triggers_no_other_generator_could_see_are_refused_with_workers() {
    let e = render(&job_args(&[
        "-n",
        "shop",
        "--workers",
        "2",
        "--trigger",
        "kill-pod",
        "deploy/web",
    ]))
    .expect_err("refused");
    assert_eq!(e.problems[0].place, "--workers");
}

/// A value for every kind of `run` argument, so a flag added later and not carried into the
/// Job's arguments fails this test.
#[test]
fn every_run_flag_survives_the_trip_into_the_jobs_arguments() {
    let cmd = Cli::command();
    let run = cmd.find_subcommand("run").expect("run");
    let mut argv = vec!["run".to_string()];
    let mut last = Vec::new();
    for a in run.get_arguments() {
        let id = a.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let value = format!("v-{id}");
        match (a.get_long(), a.get_action()) {
            (Some(l), clap::ArgAction::SetTrue) => argv.push(format!("--{l}")),
            (Some(l), clap::ArgAction::Append) => {
                argv.push(format!("--{l}={value}-1"));
                argv.push(format!("--{l}={value}-2"));
            }
            (Some(l), _) => argv.push(format!("--{l}={value}")),
            (None, _) if a.is_last_set() => last = vec!["cmd".to_string(), "arg".to_string()],
            (None, _) => argv.push("deploy/web".to_string()),
        }
    }
    argv.push("--".into());
    argv.extend(last);
    // --body and --body-file conflict, and so do --data and --data-file; keep one of each.
    argv.retain(|a| !a.starts_with("--body=") && !a.starts_with("--data="));
    let first = run_args(&argv);
    let again = run_args(&run_argv(&first));
    assert_eq!(format!("{first:?}"), format!("{again:?}"));
}

#[test]
fn a_grpc_run_travels_with_its_request_file_and_refuses_proto_files_the_pod_cannot_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("req.json");
    std::fs::write(&data, r#"{"service":""}"#).expect("write");
    let m = manifest(&[
        "-n",
        "shop",
        "--rate",
        "50",
        "--grpc",
        "grpc.health.v1.Health/Check",
        "--data-file",
        data.to_str().expect("utf-8"),
        "--via",
        "endpoints",
        "deploy/web",
    ]);
    let files = m
        .config_maps
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("zerodrop-web-files"))
        .expect("files ConfigMap");
    let carried = files.data.clone().unwrap_or_default();
    assert_eq!(carried["data.json"], r#"{"service":""}"#);
    let pod = m
        .job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod");
    let args = pod.containers[0].args.clone().expect("args");
    for wanted in [
        "--grpc=grpc.health.v1.Health/Check",
        "--data-file=/etc/zerodrop/files/data.json",
        "--via=endpoints",
    ] {
        assert!(args.iter().any(|a| a == wanted), "{wanted} in {args:?}");
    }
    let proto = dir.path().join("x.proto");
    std::fs::write(
        &proto,
        "syntax = \"proto3\";\npackage x;\nmessage M {}\nservice S { rpc C(M) returns (M); }\n",
    )
    .expect("write");
    let e = render(&job_args(&[
        "-n",
        "shop",
        "--rate",
        "50",
        "--grpc",
        "x.S/C",
        "--proto",
        proto.to_str().expect("utf-8"),
        "deploy/web",
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("--proto") && e.contains("reflection"), "{e}");
}
