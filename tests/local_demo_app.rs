//! The built-in demo app under the local runtime: the naive configuration drops requests, each
//! on a replica that was terminating; the fixed one drops none; and the proxy's account of every
//! connection agrees with the load engine's. That last check reads every request record,
//! successes included, which the run flow's recorder does not keep: these rollouts drive the
//! engine with a sink that keeps them all (`local_support::rollout_under_load`).

mod local_support;

use std::time::Duration;

use local_support::*;
use zerodrop::cluster::local::PreStop;
use zerodrop::cluster::local::probe::{ProbeAction, ProbeSpec};
use zerodrop::model::units::CountOrPercent;

fn readiness() -> ProbeSpec {
    ProbeSpec {
        period: Duration::from_millis(200),
        ..ProbeSpec::new(ProbeAction::Http {
            path: "/readyz".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_config_drops_requests_and_each_failure_is_on_a_terminating_replica() {
    let mut cfg = config(demo_app(&["--shutdown", "immediate", "--delay", "5ms"]));
    cfg.readiness_probe = Some(readiness());
    let run = rollout_under_load(cfg, Traffic::default())
        .await
        .expect("run");
    assert!(run.rollout.is_ok(), "{:?}", run.rollout);
    let failures = run.failures();
    assert!(
        !failures.is_empty(),
        "the naive configuration dropped nothing"
    );
    let trigger = trigger_at(&run);
    for f in &failures {
        // Due before the trigger is possible (a late send); ended before it is not.
        assert!(
            f.end >= trigger,
            "failure before the trigger at {trigger}: {f:?}{}",
            run.events_text()
        );
        let pod = run
            .routed_pod(f)
            .unwrap_or_else(|| panic!("failure without a route: {f:?}{}", run.describe_failures()));
        let term = run
            .terminating_at(&pod)
            .unwrap_or_else(|| panic!("{pod} never terminated but failed {f:?}"));
        assert!(
            term <= f.end,
            "{pod} failed before it began terminating: {f:?}"
        );
    }
    assert_accounts_agree(&run);
    assert!(run.live_groups_after_shutdown.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_config_drops_nothing() {
    let mut cfg = config(demo_app(&[
        "--shutdown",
        "graceful",
        "--keepalive-on-shutdown",
        "connection-close",
        "--delay",
        "5ms",
    ]));
    cfg.readiness_probe = Some(readiness());
    cfg.termination.prestop = Some(PreStop::Sleep(Duration::from_millis(1500)));
    cfg.max_unavailable = CountOrPercent::Count(0);
    cfg.max_surge = CountOrPercent::Count(1);
    let run = rollout_under_load(cfg, Traffic::default())
        .await
        .expect("run");
    assert!(run.rollout.is_ok(), "{:?}", run.rollout);
    assert!(run.ok() > 500, "only {} requests succeeded", run.ok());
    assert!(
        run.failures().is_empty(),
        "{} failures:{}",
        run.failures().len(),
        run.describe_failures()
    );
    // Every old replica exited on its own after draining, none was killed.
    assert!(
        !run.timeline
            .events
            .iter()
            .any(|e| e.kind.name() == "killed_at_grace_deadline")
    );
    assert_accounts_agree(&run);
}
