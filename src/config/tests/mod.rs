use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn traffic(args: &[(&str, &str)]) -> TrafficFlags {
    let mut t = TrafficFlags::default();
    for (k, v) in args {
        let text = v.to_string();
        let v = Some(text.clone());
        match *k {
            "target" => t.target = v,
            "rate" => t.rate = v,
            "duration" => t.duration = v,
            "stages" => t.stages = v,
            "timeout" => t.timeout = v,
            "max-in-flight" => t.max_in_flight = v,
            "accept-status" => t.accept_status = v,
            "method" => t.method = v,
            "path" => t.path = v,
            "connections" => t.connections = v,
            "pod-header" => t.pod_header = v,
            "header" => t.header.push(text),
            "scenario" => t.scenario = v.map(PathBuf::from),
            "via" => t.via = v,
            "send-window" => t.send_window = v,
            "max" => t.max = true,
            other => panic!("unknown test flag {other}"),
        }
    }
    t
}

fn load(args: &[(&str, &str)]) -> Result<Plan, PlanError> {
    Plan::build(
        PlanKind::Load,
        &traffic(args),
        None,
        &OutputFlags::default(),
    )
}

fn scenario_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    f
}

#[test]
fn a_complete_load_plan_validates() {
    let p = load(&[
        ("target", "http://127.0.0.1:8080/x"),
        ("rate", "500"),
        ("duration", "10s"),
    ])
    .expect("valid");
    assert_eq!(
        p.traffic.pattern,
        Pattern::Rate {
            rate: 500.0,
            duration_s: Some(10.0)
        }
    );
    assert_eq!(p.request.shape.method, "GET");
    assert_eq!(p.traffic.timeout, Duration::from_secs(10));
    assert!(p.traffic.keepalive);
}

#[test]
fn a_pod_header_is_searched_for_unless_named_or_turned_off_with_none() {
    let url = ("target", "http://127.0.0.1:8080/");
    let p = load(&[url, ("rate", "10"), ("duration", "1s")]).expect("valid");
    assert_eq!(p.request.pod_header, None);
    assert!(p.request.discover_pod_header);
    let p = load(&[
        url,
        ("rate", "10"),
        ("duration", "1s"),
        ("pod-header", "X-Served-By"),
    ])
    .expect("valid");
    assert_eq!(p.request.pod_header.as_deref(), Some("x-served-by"));
    let p = load(&[
        url,
        ("rate", "10"),
        ("duration", "1s"),
        ("pod-header", "none"),
    ])
    .expect("valid");
    assert_eq!(p.request.pod_header, None);
    assert!(!p.request.discover_pod_header);
    let e = load(&[
        url,
        ("rate", "10"),
        ("duration", "1s"),
        ("pod-header", "bad header"),
    ])
    .expect_err("refused");
    assert!(e.to_string().contains("--pod-header"), "{e}");
}

#[test]
fn every_problem_is_reported_at_once_naming_its_flag() {
    let e = load(&[
        ("target", "ftp://x"),
        ("rate", "-1"),
        ("duration", "ten"),
        ("timeout", "5"),
    ])
    .unwrap_err();
    let places: Vec<&str> = e.problems.iter().map(|p| p.place.as_str()).collect();
    assert_eq!(
        places,
        vec!["--target", "--rate", "--duration", "--timeout"],
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains("4 problems"), "{text}");
}

#[test]
fn load_without_target_or_rate_says_what_is_missing() {
    let e = load(&[]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("--target: required"), "{text}");
    assert!(text.contains("--rate: required"), "{text}");
}

#[test]
fn rate_and_stages_together_are_rejected() {
    let e = load(&[
        ("target", "http://h/"),
        ("rate", "5"),
        ("stages", "0s:1,10s:2"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("either --rate or --stages"), "{e}");
}

#[test]
fn stages_set_the_length_and_conflict_with_duration() {
    let p = load(&[
        ("target", "http://h/"),
        ("stages", "0s:100,30s:1000,90s:1000"),
    ])
    .expect("valid");
    assert_eq!(p.traffic.pattern.peak_rate(), Some(1000.0));
    let e = load(&[
        ("target", "http://h/"),
        ("stages", "0s:1,10s:2"),
        ("duration", "5s"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("--stages sets the length"), "{e}");
}

#[test]
fn scenario_values_are_validated_with_their_file_line() {
    let f = scenario_file(
        "# a comment\ntarget: http://127.0.0.1:9/\nrate: lots\nduration: 10s\ntimeout: 3\n",
    );
    let path = f.path().to_string_lossy().to_string();
    let e = load(&[("scenario", &path)]).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("line 3 (rate)"), "{text}");
    assert!(text.contains("line 5 (timeout)"), "{text}");
}

#[test]
fn flags_override_the_scenario_file() {
    let f = scenario_file(
        "target: http://127.0.0.1:9/\nrate: 10\nduration: 10s\nheaders:\n  X-A: file\n  X-B: file\n",
    );
    let path = f.path().to_string_lossy().to_string();
    let p = load(&[("scenario", &path), ("rate", "20"), ("header", "X-A: flag")]).expect("valid");
    assert_eq!(p.traffic.pattern.peak_rate(), Some(20.0));
    assert_eq!(
        p.request.shape.headers,
        vec![
            ("x-b".to_string(), "file".to_string()),
            ("x-a".to_string(), "flag".to_string())
        ]
    );
}

#[test]
fn unknown_scenario_keys_are_errors_with_a_line() {
    let f = scenario_file("target: http://127.0.0.1:9/\nrat: 10\n");
    let path = f.path().to_string_lossy().to_string();
    let e = load(&[("scenario", &path)]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("--scenario")
            && text.contains("unknown field `rat`")
            && text.contains("line 2"),
        "{text}"
    );
}

#[test]
fn stages_can_be_written_as_a_list_in_a_scenario() {
    let f = scenario_file(
        "target: http://h/\nstages:\n  - {at: 0s, rate: 10}\n  - {at: 1m, rate: 100}\n",
    );
    let path = f.path().to_string_lossy().to_string();
    let p = load(&[("scenario", &path)]).expect("valid");
    assert_eq!(
        p.traffic.pattern,
        Pattern::Stages {
            points: vec![(0.0, 10.0), (60.0, 100.0)]
        }
    );
}

#[test]
fn a_missing_body_file_is_named() {
    let mut t = traffic(&[("target", "http://h/"), ("rate", "1"), ("duration", "1s")]);
    t.body_file = Some(PathBuf::from("/nonexistent/body.json"));
    let e = Plan::build(PlanKind::Load, &t, None, &OutputFlags::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("--body-file: cannot read /nonexistent/body.json"),
        "{e}"
    );
}

#[test]
fn an_output_into_a_missing_directory_is_caught_before_the_run() {
    let out = OutputFlags {
        out: Some(PathBuf::from("/nonexistent/dir/r.json")),
        ..OutputFlags::default()
    };
    let e = Plan::build(
        PlanKind::Load,
        &traffic(&[("target", "http://h/"), ("rate", "1"), ("duration", "1s")]),
        None,
        &out,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("--out: directory /nonexistent/dir does not exist"),
        "{e}"
    );
}

#[test]
fn local_rejects_a_target_and_rollout_runs_reject_duration() {
    let e = Plan::build(
        PlanKind::Local,
        &traffic(&[("target", "http://h/"), ("duration", "5s")]),
        None,
        &OutputFlags::default(),
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("its own service proxy"), "{text}");
    assert!(text.contains("--baseline and --settle"), "{text}");
}

#[test]
fn the_path_replaces_the_targets_path() {
    let p = load(&[
        ("target", "http://h:81/a?b=1"),
        ("rate", "1"),
        ("duration", "1s"),
        ("path", "/health?x=2"),
    ])
    .expect("valid");
    assert_eq!(
        p.url(None).expect("url").to_string(),
        "http://h:81/health?x=2"
    );
    assert_eq!(
        p.url(Some("http://127.0.0.1:5000/"))
            .expect("url")
            .to_string(),
        "http://127.0.0.1:5000/health?x=2"
    );
}

#[test]
fn default_connections_spread_over_pods_but_never_exceed_the_cap() {
    let p = load(&[
        ("target", "http://h/"),
        ("rate", "20000"),
        ("duration", "1s"),
    ])
    .expect("valid");
    assert_eq!(p.traffic.connections, 256);
    assert_eq!(p.traffic.max_in_flight, 20_000);
    let p = load(&[
        ("target", "http://h/"),
        ("rate", "20000"),
        ("duration", "1s"),
        ("max-in-flight", "8"),
    ])
    .expect("valid");
    assert_eq!(p.traffic.connections, 8);
}

#[test]
fn shipped_scenarios_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let t = TrafficFlags {
                scenario: Some(path.clone()),
                ..TrafficFlags::default()
            };
            let name = path.to_string_lossy();
            let kind = if name.contains("load") {
                PlanKind::Load
            } else if name.contains("local") {
                PlanKind::Local
            } else {
                PlanKind::Run
            };
            Plan::build(kind, &t, None, &OutputFlags::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 2, "at least two scenario examples ship");
}

#[test]
fn a_duration_flag_without_a_unit_is_rejected_with_the_fix() {
    let e = load(&[
        ("target", "http://h/"),
        ("rate", "1"),
        ("duration", "1s"),
        ("timeout", "2"),
    ])
    .unwrap_err();
    assert_eq!(
        e.problems,
        vec![Problem {
            place: "--timeout".into(),
            message: "`2` needs a unit: 2s, 2ms or 1m30s".into()
        }]
    );
}

#[test]
fn a_scenario_duration_without_a_unit_is_rejected_with_the_fix_at_its_line() {
    let f = scenario_file("target: http://h/\nrate: 1\nduration: 1s\nconnect_timeout: 2\n");
    let path = f.path().to_string_lossy().to_string();
    let e = load(&[("scenario", &path)]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("line 4 (connect_timeout): `2` needs a unit: 2s, 2ms or 1m30s"),
        "{text}"
    );
}

#[test]
fn a_threshold_latency_without_a_unit_is_rejected_with_the_fix() {
    let mut t = traffic(&[("target", "http://h/"), ("rate", "1"), ("duration", "1s")]);
    t.threshold.push("p(99)<500".into());
    let e = Plan::build(PlanKind::Load, &t, None, &OutputFlags::default()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("--threshold: `p(99)<500`: `500` needs a unit: 500s, 500ms or 1m30s"),
        "{text}"
    );
}

#[test]
fn a_bare_rate_is_per_second_in_flags_and_scenario_stages() {
    let p = load(&[("target", "http://h/"), ("rate", "60"), ("duration", "1s")]).expect("valid");
    assert_eq!(p.traffic.pattern.peak_rate(), Some(60.0));
    let f = scenario_file(
        "target: http://h/\nstages:\n  - {at: 0s, rate: 1}\n  - {at: 1s, rate: 60}\n",
    );
    let path = f.path().to_string_lossy().to_string();
    let p = load(&[("scenario", &path)]).expect("valid");
    assert_eq!(p.traffic.pattern.peak_rate(), Some(60.0));
}

#[test]
fn a_plan_built_from_typed_values_is_the_one_the_same_flags_give() {
    let typed = {
        let mut p = Plan::new(
            PlanKind::Local,
            Pattern::Rate {
                rate: 1000.0,
                duration_s: None,
            },
        );
        p.request.pod_header = Some("x-pod".into());
        p.flow = FlowPlan {
            baseline: Duration::from_secs(2),
            settle: Duration::from_secs(3),
            rollout_timeout: Duration::from_secs(40),
        };
        p
    };
    let t = TrafficFlags {
        rate: Some("1000".into()),
        pod_header: Some("x-pod".into()),
        ..TrafficFlags::default()
    };
    let flow = FlowFlags {
        baseline: Some("2s".into()),
        settle: Some("3s".into()),
        rollout_timeout: Some("40s".into()),
    };
    let flagged =
        Plan::build(PlanKind::Local, &t, Some(&flow), &OutputFlags::default()).expect("valid");
    assert_eq!(typed.masked_json(), flagged.masked_json());
    let load = Plan::new(
        PlanKind::Load,
        Pattern::Rate {
            rate: 20_000.0,
            duration_s: Some(1.0),
        },
    );
    let flagged = self::load(&[
        ("target", "http://h/"),
        ("rate", "20000"),
        ("duration", "1s"),
    ])
    .expect("valid");
    assert_eq!(
        (load.traffic.connections, load.traffic.max_in_flight),
        (flagged.traffic.connections, flagged.traffic.max_in_flight)
    );
    assert_eq!(
        load.output.failure_log_limit,
        flagged.output.failure_log_limit
    );
}

#[test]
fn the_kube_runtimes_default_rollout_timeout_is_the_plans() {
    let w = crate::cluster::kube::WorkloadRef::parse("deploy/web").expect("valid");
    assert_eq!(
        KubeConfig::new(w).rollout_timeout,
        FlowPlan::default().rollout_timeout
    );
}

#[test]
fn via_takes_service_or_endpoints_and_refuses_anything_else_with_every_other_problem() {
    let local = |args: &[(&str, &str)]| {
        Plan::build(
            PlanKind::Local,
            &traffic(args),
            None,
            &OutputFlags::default(),
        )
    };
    assert_eq!(local(&[]).expect("valid").traffic.via, Via::Service);
    let p = local(&[("via", "Endpoints")]).expect("valid");
    assert_eq!(p.traffic.via, Via::Endpoints);
    assert_eq!(
        local(&[("via", "service")]).expect("valid").traffic.via,
        Via::Service
    );
    let e = local(&[("via", "pods"), ("rate", "x")]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("--via") && text.contains("`pods` is neither `service` nor `endpoints`"),
        "{text}"
    );
    assert!(text.contains("--rate"), "every problem at once: {text}");
}

#[test]
fn via_endpoints_is_refused_by_load_which_has_no_endpoints_to_follow() {
    let e = load(&[("target", "http://127.0.0.1:9/"), ("via", "endpoints")]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("--via") && text.contains("needs a rollout run (`local` or `run`)"),
        "{text}"
    );
    let p = load(&[
        ("target", "http://127.0.0.1:9/"),
        ("rate", "10"),
        ("duration", "1s"),
        ("via", "service"),
    ])
    .expect("valid");
    assert_eq!(p.traffic.via, Via::Service);
}

#[test]
fn via_is_read_from_the_scenario_with_its_line() {
    let f = scenario_file("rate: 10\nvia: endpoints\n");
    let path = f.path().to_string_lossy().to_string();
    let p = Plan::build(
        PlanKind::Local,
        &traffic(&[("scenario", &path)]),
        None,
        &OutputFlags::default(),
    )
    .expect("valid");
    assert_eq!(p.traffic.via, Via::Endpoints);
    let f = scenario_file("target: http://127.0.0.1:9/\nvia: endpoints\n");
    let path = f.path().to_string_lossy().to_string();
    let text = load(&[("scenario", &path)]).unwrap_err().to_string();
    assert!(text.contains("line 2 (via)"), "{text}");
}
mod mix;
mod send_window;
