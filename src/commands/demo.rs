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
    findings(&mut s, r);
    s
}

fn side_by_side(naive: &RunResult, fixed: &RunResult) -> String {
    let mut s = counts_rows(28, "requests sent", naive, fixed);
    let row = |s: &mut String, what: &str, a: String, b: String| row(s, 28, what, a, b);
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
    row(&mut s, "verdict", verdict_word(naive), verdict_word(fixed));
    s
}

/// A side-by-side's first rows: the halves' names, what each sent (`sent` names it) and how
/// many failed.
pub(super) fn counts_rows(
    width: usize,
    sent: &str,
    naive: &RunResult,
    fixed: &RunResult,
) -> String {
    let mut s = String::new();
    row(&mut s, width, "", "naive".into(), "fixed".into());
    let (a, b) = (
        &naive.recorded.overall.counts,
        &fixed.recorded.overall.counts,
    );
    row(
        &mut s,
        width,
        sent,
        a.sent().to_string(),
        b.sent().to_string(),
    );
    row(
        &mut s,
        width,
        "failed",
        a.failed().to_string(),
        b.failed().to_string(),
    );
    s
}

/// Each finding of a half, with its fix.
pub(super) fn findings(s: &mut String, r: &RunResult) {
    for f in &r.analysis.findings {
        let _ = writeln!(s, "  finding {}: {}\n    fix: {}", f.id, f.title, f.fix);
    }
}

/// One row of a side-by-side: what, then the naive and the fixed value.
pub(super) fn row(s: &mut String, width: usize, what: &str, a: String, b: String) {
    let _ = writeln!(s, "  {what:<width$} {a:>14} {b:>14}");
}

/// PASS or FAIL.
pub(super) fn verdict_word(r: &RunResult) -> String {
    if r.verdict.passed { "PASS" } else { "FAIL" }.into()
}

/// This executable, which serves as the demo app.
pub(super) fn own_exe() -> Result<String, u8> {
    std::env::current_exe()
        .map(|p| p.to_string_lossy().to_string())
        .map_err(|e| {
            error(format!(
                "cannot find my own executable to run the demo app: {e}"
            ));
            exit::COULD_NOT_RUN
        })
}

/// One half of a demo: `config`'s replicas rolled by `local` under `plan`; a run that could
/// not complete is reported, with its exit code.
pub(super) async fn half(
    plan: &Plan,
    config: LocalConfig,
    interrupt: &Interrupt,
) -> Result<RunResult, u8> {
    match super::local::run_local(plan, config, interrupt.clone()).await {
        Ok((r, Stop::Completed | Stop::Interrupted)) => Ok(r),
        Ok((_, stop)) => {
            error(format!("the demo run did not complete: {stop:?}"));
            Err(exit::COULD_NOT_RUN)
        }
        Err(e) => {
            error(&e);
            Err(e.exit_code())
        }
    }
}

/// What a demo shows: its introduction, each half's announcement and replicas, how a half is
/// described, the side-by-side, and whether the halves showed what they should (the closing
/// line, or what went wrong).
pub(super) struct Story {
    pub intro: String,
    pub naive: (String, LocalConfig),
    pub fixed: (String, LocalConfig),
    pub describe: fn(&str, &RunResult) -> String,
    pub side_by_side: fn(&RunResult, &RunResult) -> String,
    pub judge: fn(&RunResult, &RunResult) -> Result<String, String>,
}

/// Runs both halves of `story` under `plan` and prints them; exit 0 when the judge agrees.
pub(super) fn tell(plan: &Plan, story: Story) -> u8 {
    with_runtime(|rt| {
        let code = rt.block_on(async {
            let interrupt = Interrupt::install();
            println!("{}\n", story.intro);
            let mut results = Vec::new();
            for (title, (announce, config)) in [("naive", story.naive), ("fixed", story.fixed)] {
                if title == "fixed" {
                    println!();
                }
                println!("{announce}");
                let r = match half(plan, config, &interrupt).await {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                print!("{}", (story.describe)(title, &r));
                if interrupt.is_set() {
                    return exit::INTERRUPTED;
                }
                results.push(r);
            }
            let (naive, fixed) = (&results[0], &results[1]);
            println!("\n{}", (story.side_by_side)(naive, fixed));
            match (story.judge)(naive, fixed) {
                Ok(line) => {
                    println!("{line}");
                    exit::PASSED
                }
                Err(e) => {
                    error(e);
                    exit::GATE_FAILED
                }
            }
        });
        rt.shutdown_background();
        code
    })
}

/// The naive half failed requests and the fixed one none.
fn judge(naive: &RunResult, fixed: &RunResult) -> Result<String, String> {
    let naive_failed = naive.recorded.overall.counts.failed();
    let fixed_counts = fixed.recorded.overall.counts;
    if naive_failed > 0 && fixed_counts.failed() == 0 {
        Ok(format!(
            "The naive rollout dropped {naive_failed} requests; the fixed one dropped none of {}.",
            fixed_counts.sent()
        ))
    } else {
        Err("the demo did not show what it should (naive failures and a clean fixed run); see above".into())
    }
}

pub fn run() -> u8 {
    let exe = match own_exe() {
        Ok(exe) => exe,
        Err(code) => return code,
    };
    let story = Story {
        intro: format!(
            "zerodrop demo: 3 replicas of a demo server behind a local Service proxy (endpoint changes reach it after 1 s, as in a cluster), {RATE} requests/s, rolled twice."
        ),
        naive: (
            "1/2 naive: no preStop hook, the server dies on SIGTERM".into(),
            config(&exe, false),
        ),
        fixed: (
            format!(
                "2/2 fixed: preStop sleep {}s (> the 1 s propagation delay), graceful drain answering Connection: close",
                FIXED_PRESTOP.as_secs()
            ),
            config(&exe, true),
        ),
        describe,
        side_by_side,
        judge,
    };
    tell(&plan(), story)
}

/// The plan `zerodrop local` builds from `traffic` and the demos' flow (2 s baseline, 3 s
/// settle, 40 s rollout timeout): what each demo's own plan must equal.
#[cfg(test)]
pub(super) fn plan_from_flags(traffic: &crate::config::TrafficFlags) -> Plan {
    use crate::config::{FlowFlags, OutputFlags};
    let flow = FlowFlags {
        baseline: Some("2s".into()),
        settle: Some("3s".into()),
        rollout_timeout: Some("40s".into()),
    };
    Plan::build(
        PlanKind::Local,
        traffic,
        Some(&flow),
        &OutputFlags::default(),
    )
    .expect("valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrafficFlags;

    #[test]
    fn the_demo_plan_is_the_one_its_flags_would_give() {
        let traffic = TrafficFlags {
            rate: Some("1000".into()),
            pod_header: Some(REPLICA_HEADER.into()),
            ..TrafficFlags::default()
        };
        let flagged = plan_from_flags(&traffic);
        assert_eq!(plan().masked_json(), flagged.masked_json());
    }
}
