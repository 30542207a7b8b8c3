//! `zerodrop demo --grpc`: the gRPC story with no cluster, in well under a minute. Three
//! replicas of the built-in demo app serve gRPC (`zerodrop.demo.v1.Echo/Echo`); unary calls at
//! a constant rate ride a pool of long-lived HTTP/2 connections the local Service proxy pinned
//! to the replicas, while the replicas are rolled twice: first naively (no preStop, the process
//! dies on SIGTERM: calls in flight are cut with no GOAWAY, and connections re-dialled while
//! the proxy still routes to the dead replica fail too), then fixed (a preStop sleep longer
//! than the propagation delay, a graceful stop that sends GOAWAY and drains, and a max
//! connection age so connections spread over the new replicas), which drops no call. Exit 0
//! when the demo showed exactly that.
//!
//! Like `demo`, this module only configures the two runs and prints; the runs are `local`'s.

use std::fmt::Write as _;
use std::time::Duration;

use super::demo::{Story, counts_rows, findings, own_exe, row, tell, verdict_word};
use crate::cluster::local::LocalConfig;
use crate::commands::error;
use crate::config::Plan;
use crate::config::grpc::{GrpcPlan, descriptors::ECHO_SERVICE};
use crate::model::exit;
use crate::model::finding::FindingId;
use crate::model::grpc::GrpcClass;
use crate::model::outcome::OutcomeClass;
use crate::result::RunResult;

/// Calls per second, over this many connections (3 replicas: one each, as a Service pins them).
const RATE: f64 = 1000.0;
const CONNECTIONS: usize = 6;
/// The request every call sends.
const DATA: &str = r#"{"message":"hello"}"#;
/// The fixed half's server closes connections older than this with a GOAWAY (gRPC's
/// MAX_CONNECTION_AGE), so clients re-dial and spread over the new replicas.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(3);

/// The demo's plan: `demo`'s load and phases, as echo calls over six connections.
pub fn plan() -> Result<Plan, String> {
    let mut plan = super::demo::plan();
    plan.grpc = Some(GrpcPlan::built_in(ECHO_SERVICE, "Echo", DATA)?);
    plan.traffic.connections = CONNECTIONS;
    plan.traffic.http2 = true;
    Ok(plan)
}

/// Calls whose connection went away under them with no GOAWAY.
fn cut_without_goaway(r: &RunResult) -> u64 {
    let c = &r.recorded.overall.counts;
    c.get(OutcomeClass::Grpc(GrpcClass::ResetWithoutGoaway))
        + c.get(OutcomeClass::Grpc(GrpcClass::ClosedWithoutGoaway))
}

fn describe(title: &str, r: &RunResult) -> String {
    let mut s = String::new();
    let c = &r.recorded.overall.counts;
    let classes: Vec<String> = OutcomeClass::ALL
        .into_iter()
        .filter(|k| k.is_failure() && c.get(*k) > 0)
        .map(|k| format!("{k} {}", c.get(k)))
        .collect();
    let _ = writeln!(
        s,
        "{title}: {} of {} calls failed{}",
        c.failed(),
        c.sent(),
        if classes.is_empty() {
            String::new()
        } else {
            format!(" ({})", classes.join(", "))
        }
    );
    findings(&mut s, r);
    s
}

fn side_by_side(naive: &RunResult, fixed: &RunResult) -> String {
    let mut s = counts_rows(34, "calls sent", naive, fixed);
    let row = |s: &mut String, what: &str, a: String, b: String| row(s, 34, what, a, b);
    row(
        &mut s,
        "cut with no GOAWAY",
        cut_without_goaway(naive).to_string(),
        cut_without_goaway(fixed).to_string(),
    );
    let pinned = |r: &RunResult| {
        let found = r
            .analysis
            .findings
            .iter()
            .any(|f| f.id == FindingId::ConnectionsNotRebalanced);
        if found { "yes" } else { "no" }.to_string()
    };
    row(
        &mut s,
        "connections left unbalanced",
        pinned(naive),
        pinned(fixed),
    );
    row(&mut s, "preStop sleep", "none".into(), "2s".into());
    row(&mut s, "on SIGTERM", "dies".into(), "GOAWAY, drain".into());
    row(
        &mut s,
        "max connection age",
        "none".into(),
        format!("{}s", MAX_CONNECTION_AGE.as_secs()),
    );
    row(&mut s, "verdict", verdict_word(naive), verdict_word(fixed));
    s
}

/// The demo app's replicas; `fixed` adds the preStop, the graceful stop and the max
/// connection age.
fn config(exe: &str, fixed: bool) -> LocalConfig {
    let mut config = super::demo::config(exe, fixed);
    config.name = if fixed { "grpc-fixed" } else { "grpc-naive" }.into();
    if fixed {
        config.command.args.extend([
            "--max-connection-age".to_string(),
            format!("{}s", MAX_CONNECTION_AGE.as_secs()),
        ]);
    }
    config
}

/// The naive half failed calls and the fixed one passed with none failed.
fn judge(naive: &RunResult, fixed: &RunResult) -> Result<String, String> {
    let naive_failed = naive.recorded.overall.counts.failed();
    let fixed_counts = fixed.recorded.overall.counts;
    if naive_failed > 0 && fixed.verdict.passed && fixed_counts.failed() == 0 {
        Ok(format!(
            "The naive rollout failed {naive_failed} calls; the fixed one failed none of {}.",
            fixed_counts.sent()
        ))
    } else {
        Err("the demo did not show what it should (failed calls naively, a clean fixed run); see above".into())
    }
}

pub fn run() -> u8 {
    let exe = match own_exe() {
        Ok(exe) => exe,
        Err(code) => return code,
    };
    let plan = match plan() {
        Ok(p) => p,
        Err(e) => {
            error(format!("the demo's gRPC call cannot be built: {e}"));
            return exit::COULD_NOT_RUN;
        }
    };
    let story = Story {
        intro: format!(
            "zerodrop demo --grpc: 3 replicas of a demo gRPC server behind a local Service proxy (endpoint changes reach it after 1 s, as in a cluster), {RATE} unary calls/s over {CONNECTIONS} long-lived HTTP/2 connections, rolled twice."
        ),
        naive: (
            "1/2 naive: no preStop hook, the server dies on SIGTERM with calls in flight".into(),
            config(&exe, false),
        ),
        fixed: (
            format!(
                "2/2 fixed: preStop sleep 2s (> the 1 s propagation delay); on SIGTERM the server sends GOAWAY and drains; connections older than {}s get GOAWAY, so they spread over the new replicas",
                MAX_CONNECTION_AGE.as_secs()
            ),
            config(&exe, true),
        ),
        describe,
        side_by_side,
        judge,
    };
    tell(&plan, story)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::demo::plan_from_flags;
    use crate::config::TrafficFlags;
    use crate::config::grpc::GrpcFlags;
    use crate::demo_app::REPLICA_HEADER;

    #[test]
    fn the_grpc_demo_plan_is_the_one_its_flags_would_give() {
        let traffic = TrafficFlags {
            rate: Some("1000".into()),
            connections: Some("6".into()),
            pod_header: Some(REPLICA_HEADER.into()),
            grpc: GrpcFlags {
                grpc: Some("zerodrop.demo.v1.Echo/Echo".into()),
                data: Some(DATA.into()),
                ..GrpcFlags::default()
            },
            ..TrafficFlags::default()
        };
        let flagged = plan_from_flags(&traffic);
        assert_eq!(plan().expect("built").masked_json(), flagged.masked_json());
    }
}
