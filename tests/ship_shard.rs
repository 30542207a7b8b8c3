//! A generator of several (`zerodrop run --workers N --worker-index K`): its plan sends every
//! N-th request, so the generators' schedules together are exactly the unsharded one, evenly
//! spaced; only generator 0 triggers; pool and in-flight cap are sized for its share.

use std::time::Duration;

use zerodrop::cli::CliCommand;
use zerodrop::cluster::kube::Trigger;
use zerodrop::commands::run::build_in;
use zerodrop::load::engine::Mode;

fn build(flags: &[&str]) -> (zerodrop::config::Plan, zerodrop::cluster::kube::KubeConfig) {
    let argv = ["zerodrop", "run", "-n", "shop", "--rate", "3000"]
        .iter()
        .chain(flags)
        .map(|s| s.to_string());
    let CliCommand::Run(args) = zerodrop::plugin::parse_from(argv).expect("parses").command else {
        panic!("not run");
    };
    let (plan, config, _) = build_in(&args, true).expect("valid");
    (plan, config)
}

fn dues(plan: &zerodrop::config::Plan, n: u64) -> Vec<Duration> {
    let spec = plan.load_spec(Some("http://web:80/")).expect("spec");
    let Mode::Open { schedule, .. } = spec.mode else {
        panic!("open model");
    };
    (0..n).map_while(|i| schedule.due(i)).collect()
}

#[test]
fn three_generators_schedules_together_are_the_whole_schedule_evenly_spaced() {
    let (whole, _) = build(&["deploy/web"]);
    let mut union: Vec<Duration> = (0..3)
        .flat_map(|k| {
            let (plan, _) = build(&[
                "--workers",
                "3",
                "--worker-index",
                &k.to_string(),
                "deploy/web",
            ]);
            dues(&plan, 300)
        })
        .collect();
    union.sort();
    assert_eq!(union, dues(&whole, 900));
}

#[test]
fn only_generator_zero_triggers_and_undoes() {
    let (_, lead) = build(&[
        "--workers",
        "2",
        "--worker-index",
        "0",
        "--undo-on-failure",
        "deploy/web",
    ]);
    assert_eq!(lead.trigger, Trigger::Restart);
    assert!(lead.undo_on_failure);
    let (_, other) = build(&[
        "--workers",
        "2",
        "--worker-index",
        "1",
        "--undo-on-failure",
        "deploy/web",
    ]);
    assert_eq!(other.trigger, Trigger::External);
    assert!(!other.undo_on_failure);
}

#[test]
fn default_pool_and_cap_are_sized_for_the_share_and_explicit_ones_kept() {
    let (whole, _) = build(&["deploy/web"]);
    let (share, _) = build(&["--workers", "3", "--worker-index", "1", "deploy/web"]);
    assert_eq!(
        whole.traffic.connections, 256,
        "3,000 req/s: the pool's ceiling"
    );
    assert_eq!(
        share.traffic.connections, 100,
        "1,000 req/s: one connection per 10 req/s"
    );
    assert_eq!(share.traffic.max_in_flight, 1_000);
    let (explicit, _) = build(&[
        "--workers",
        "3",
        "--worker-index",
        "1",
        "--connections",
        "40",
        "deploy/web",
    ]);
    assert_eq!(explicit.traffic.connections, 40);
}
