//! `zerodrop demo`: the whole story with no cluster and no arguments, in well under a minute.
//! Three replicas of the built-in demo app are rolled twice under the same load through the
//! local runtime: first naively (no preStop hook, the process dies on SIGTERM), which drops
//! requests on the replicas being terminated; then fixed (a preStop sleep longer than the
//! endpoint propagation delay, a graceful drain that answers `Connection: close`), which drops
//! none. A side-by-side closes it. Exit 0 when the demo showed exactly that.
//!
//! This module only configures the two runs, with typed values, and prints; the runs themselves
//! are `local`'s.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::cluster::local::LocalConfig;
use crate::cluster::local::config::PreStop;
use crate::cluster::local::probe::{ProbeAction, ProbeSpec};
use crate::cluster::local::process::CommandSpec;
use crate::cluster::local::rollout::CountOrPercent;
use crate::commands::{error, with_runtime};
use crate::config::{FlowPlan, Pattern, Plan, PlanKind};
use crate::demo_app::REPLICA_HEADER;
use crate::model::exit;
use crate::model::outcome::OutcomeClass;
use crate::result::RunResult;
use crate::run::flow::Stop;
use crate::run::interrupt::Interrupt;

/// Requests per second in both halves: with the phases below, the fixed half sends > 5,000.
const RATE: f64 = 1000.0;
/// The fixed half's preStop sleep: longer than the proxy's 1 s propagation delay.
const FIXED_PRESTOP: Duration = Duration::from_secs(2);

/// The demo's plan: the same load and phases for both halves; every other setting at its
/// default. Replicas are told apart by the header the demo app names itself in.
pub fn plan() -> Plan {
    let mut plan = Plan::new(
        PlanKind::Local,
        Pattern::Rate {
            rate: RATE,
            duration_s: None,
        },
    );
    plan.request.pod_header = Some(REPLICA_HEADER.into());
    plan.flow = FlowPlan {
        baseline: Duration::from_secs(2),
        settle: Duration::from_secs(3),
        rollout_timeout: Duration::from_secs(40),
    };
    plan
}

/// Three demo-app replicas, rolled one at a time with a surge (Kubernetes' defaults on three
/// replicas), with an honest readiness probe; `fixed` adds the preStop sleep and the drain.
pub fn config(exe: &str, fixed: bool) -> LocalConfig {
    let mut args = vec!["demo-app".to_string(), "--delay".into(), "2ms".into()];
    if fixed {
        args.extend(
            [
                "--shutdown",
                "graceful",
                "--keepalive-on-shutdown",
                "connection-close",
            ]
            .map(String::from),
        );
    } else {
        args.extend(["--shutdown", "immediate"].map(String::from));
    }
    let mut c = LocalConfig::new(CommandSpec {
        program: exe.to_string(),
        args,
    });
    c.name = if fixed { "fixed" } else { "naive" }.to_string();
    c.replicas = 3;
    c.max_surge = CountOrPercent::Count(1);
    c.max_unavailable = CountOrPercent::Count(0);
    c.readiness_probe = Some(ProbeSpec {
        period: Duration::from_millis(250),
        ..ProbeSpec::new(ProbeAction::Http {
            path: "/readyz".into(),
        })
    });
    c.progress_deadline = Duration::from_secs(30);
    if fixed {
        c.termination.prestop = Some(PreStop::Sleep(FIXED_PRESTOP));
    }
    c
}

/// Failures per replica, through the proxy's connection map: (failures, of which after the
/// replica began terminating, by class).
pub fn failures_by_replica(
    r: &RunResult,
) -> BTreeMap<String, (u64, u64, BTreeMap<OutcomeClass, u64>)> {
    let mut out: BTreeMap<String, (u64, u64, BTreeMap<OutcomeClass, u64>)> = BTreeMap::new();
    for f in &r.recorded.failures {
        let pod = f
            .conn
            .and_then(|c| r.timeline.route_at(c.local, f.end))
            .map_or_else(|| "(no connection)".to_string(), |route| route.pod.clone());
        let terminating = r.timeline.first(&pod, "pod_terminating").map(|e| e.at);
        let e = out.entry(pod).or_default();
        e.0 += 1;
        if terminating.is_some_and(|t| t <= f.end) {
            e.1 += 1;
        }
        *e.2.entry(f.class).or_default() += 1;
    }
    out
}

fn describe(title: &str, r: &RunResult) -> String {
    let mut s = String::new();
    let c = &r.recorded.overall.counts;
    let _ = writeln!(s, "{title}: {} of {} requests failed", c.failed(), c.sent());
    for (pod, (n, after, classes)) in failures_by_replica(r) {
        let classes: Vec<String> = classes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let when = match r.timeline.first(&pod, "pod_terminating") {
            Some(e) if after == n => format!("all after it began terminating at {}", e.at),
            Some(e) => format!("{after} after it began terminating at {}", e.at),
            None => "it was not terminating".to_string(),
        };
        let _ = writeln!(s, "  {pod}: {n} failed ({}) — {when}", classes.join(", "));
    }
    for f in &r.analysis.findings {
        let _ = writeln!(s, "  finding {}: {}\n    fix: {}", f.id, f.title, f.fix);
    }
    s
}

fn side_by_side(naive: &RunResult, fixed: &RunResult) -> String {
    let mut s = String::new();
    let row = |s: &mut String, what: &str, a: String, b: String| {
        let _ = writeln!(s, "  {what:<28} {a:>14} {b:>14}");
    };
    row(&mut s, "", "naive".into(), "fixed".into());
    let (a, b) = (
        &naive.recorded.overall.counts,
        &fixed.recorded.overall.counts,
    );
    row(
        &mut s,
        "requests sent",
        a.sent().to_string(),
        b.sent().to_string(),
    );
    row(
        &mut s,
        "failed",
        a.failed().to_string(),
        b.failed().to_string(),
    );
    row(
        &mut s,
        "preStop sleep",
        "none".into(),
        format!("{}s", FIXED_PRESTOP.as_secs()),
    );
    row(&mut s, "on SIGTERM", "dies".into(), "drains".into());
    row(
        &mut s,
        "idle keep-alive at shutdown",
        "cut".into(),
        "Connection: close".into(),
    );
    row(
        &mut s,
        "verdict",
        if naive.verdict.passed { "PASS" } else { "FAIL" }.into(),
        if fixed.verdict.passed { "PASS" } else { "FAIL" }.into(),
    );
    s
}

pub fn run() -> u8 {
    let exe = match std::env::current_exe() {
        Ok(p) => p.to_string_lossy().to_string(),
        Err(e) => {
            error(format!(
                "cannot find my own executable to run the demo app: {e}"
            ));
            return exit::COULD_NOT_RUN;
        }
    };
    let plan = plan();
    with_runtime(|rt| {
        let code = rt.block_on(async {
            let interrupt = Interrupt::install();
            println!("zerodrop demo: 3 replicas of a demo server behind a local Service proxy (endpoint changes reach it after 1 s, as in a cluster), {RATE} requests/s, rolled twice.\n");
            println!("1/2 naive: no preStop hook, the server dies on SIGTERM");
            let naive = match super::local::run_local(&plan, config(&exe, false), interrupt.clone()).await {
                Ok(x) => x,
                Err(e) => {
                    error(&e);
                    return e.exit_code();
                }
            };
            if naive.1 != Stop::Completed && naive.1 != Stop::Interrupted {
                error(format!("the naive run did not complete: {:?}", naive.1));
                return exit::COULD_NOT_RUN;
            }
            print!("{}", describe("naive", &naive.0));
            if interrupt.is_set() {
                return exit::INTERRUPTED;
            }
            println!("\n2/2 fixed: preStop sleep {}s (> the 1 s propagation delay), graceful drain answering Connection: close", FIXED_PRESTOP.as_secs());
            let fixed = match super::local::run_local(&plan, config(&exe, true), interrupt.clone()).await {
                Ok(x) => x,
                Err(e) => {
                    error(&e);
                    return e.exit_code();
                }
            };
            print!("{}", describe("fixed", &fixed.0));
            if interrupt.is_set() {
                return exit::INTERRUPTED;
            }
            println!("\n{}", side_by_side(&naive.0, &fixed.0));
            let naive_failed = naive.0.recorded.overall.counts.failed();
            let fixed_counts = fixed.0.recorded.overall.counts;
            if naive_failed > 0 && fixed.1 == Stop::Completed && fixed_counts.failed() == 0 {
                println!("The naive rollout dropped {naive_failed} requests; the fixed one dropped none of {}.", fixed_counts.sent());
                exit::PASSED
            } else {
                error("the demo did not show what it should (naive failures and a clean fixed run); see above");
                exit::GATE_FAILED
            }
        });
        rt.shutdown_background();
        code
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FlowFlags, OutputFlags, TrafficFlags};

    #[test]
    fn the_demo_plan_is_the_one_its_flags_would_give() {
        let traffic = TrafficFlags {
            rate: Some("1000".into()),
            pod_header: Some(REPLICA_HEADER.into()),
            ..TrafficFlags::default()
        };
        let flow = FlowFlags {
            baseline: Some("2s".into()),
            settle: Some("3s".into()),
            rollout_timeout: Some("40s".into()),
        };
        let flagged = Plan::build(
            PlanKind::Local,
            &traffic,
            Some(&flow),
            &OutputFlags::default(),
        )
        .expect("valid");
        assert_eq!(plan().masked_json(), flagged.masked_json());
    }
}
