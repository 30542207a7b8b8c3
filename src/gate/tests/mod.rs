//! Tests of the gate: every threshold form parsed, every malformed one rejected with a message
//! naming it, and measurement against runs recorded through the real recorder. The default
//! zero-drop check and the exit code of each kind of verdict are in [`verdict`].

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::model::clock::At;
use crate::model::request::{LiveStats, RequestRecord, Sink};
use crate::model::result::LoadReport;
use crate::model::result::{Command, RolloutInfo};
use crate::record::{PhaseMarks, Recorder, RecorderConfig};
use crate::result::RunResult;

mod sessions;
mod verdict;

/// Requests as (due in ms, latency in ms, class).
type Req = (u64, u64, OutcomeClass);

/// A run whose phases begin at the given milliseconds, with these requests recorded through
/// the real recorder.
fn run(phases: &[(&str, u64)], reqs: &[Req]) -> RunResult {
    let marks = PhaseMarks::new();
    for (name, at_ms) in phases {
        marks.begin(name, || At(at_ms * 1000));
    }
    let mut rec = Recorder::new(
        RecorderConfig {
            failure_log_limit: 100,
            max_open: Duration::from_secs(5),
            ..RecorderConfig::default()
        },
        marks,
        Arc::new(LiveStats::default()),
    );
    for (seq, &(due_ms, lat_ms, class)) in reqs.iter().enumerate() {
        let due = At(due_ms * 1000);
        rec.record(&RequestRecord {
            seq: seq as u64,
            due,
            sent: due,
            end: due.plus(Duration::from_millis(lat_ms)),
            class,
            status: None,
            conn: None,
            dialed: None,
            error: None,
            identity: None,
            template: 0,
            checks_failed: 0,
            version: None,
            excerpt: None,
        });
    }
    let end = At(reqs.iter().map(|r| r.0 + r.1).max().unwrap_or(0) * 1000 + 1);
    RunResult {
        schema_version: crate::model::result::SCHEMA_VERSION,
        zerodrop_version: "test".into(),
        command: Command::Run,
        started_at: jiff::Timestamp::UNIX_EPOCH,
        interrupted: false,
        plan: serde_json::Value::Null,
        load: LoadReport {
            start: At::ZERO,
            end,
            requests_due: reqs.len() as u64,
            connections_opened: 1,
            completed: true,
            precise_timer: true,
            kernel_receive_timestamps: true,
            addresses: vec![],
        },
        recorded: rec.finish(end),
        timeline: Default::default(),
        rollout: None,
        analysis: Default::default(),
        thresholds: vec![],
        verdict: Default::default(),
        workers: 1,
    }
}

/// 100 ok requests in each phase with latencies 1..=100 ms (baseline) and 2..=200 ms (rollout).
fn healthy() -> RunResult {
    let mut reqs = Vec::new();
    for i in 0..100 {
        reqs.push((i * 10, i + 1, OutcomeClass::Ok));
    }
    for i in 0..100 {
        reqs.push((1_000 + i * 10, 2 * (i + 1), OutcomeClass::Ok));
    }
    run(&[("baseline", 0), ("rollout", 1_000)], &reqs)
}

fn th(s: &str) -> Threshold {
    match parse(s) {
        Ok(t) => t,
        Err(e) => panic!("`{s}` should parse: {e}"),
    }
}

fn err(s: &str) -> String {
    match parse(s) {
        Ok(t) => panic!("`{s}` should be rejected, parsed as {t:?}"),
        Err(e) => e.to_string(),
    }
}

fn results(exprs: &[&str], r: &RunResult) -> Vec<ThresholdResult> {
    let ts: Vec<Threshold> = exprs.iter().map(|e| th(e)).collect();
    evaluate(&ts, r)
}

// ---- parsing: every form ----

#[test]
fn percentile_with_milliseconds_parses() {
    let t = th("p(99)<500ms");
    assert_eq!(t.metric(), Metric::Percentile(99.0));
    assert_eq!(t.op(), Op::Lt);
    assert_eq!(t.bound, 500_000.0);
    assert_eq!(t.phase(), None);
}

#[test]
fn fractional_percentile_with_seconds_and_le_parses() {
    let t = th("p(99.9)<=1s");
    assert_eq!(t.metric(), Metric::Percentile(99.9));
    assert_eq!(t.op(), Op::Le);
    assert_eq!(t.bound, 1_000_000.0);
}

#[test]
fn max_avg_med_min_parse_with_every_duration_unit() {
    assert_eq!(th("max<2s").bound, 2_000_000.0);
    assert_eq!(th("avg<800us").bound, 800.0);
    assert_eq!(th("med<800µs").bound, 800.0);
    assert_eq!(th("min>=1m").bound, 60_000_000.0);
    assert_eq!(th("max<2s").metric(), Metric::Max);
    assert_eq!(th("avg<800us").metric(), Metric::Avg);
    assert_eq!(th("med<800µs").metric(), Metric::Med);
    assert_eq!(th("min>=1m").metric(), Metric::Min);
}

#[test]
fn a_bare_latency_value_is_rejected_with_the_fix() {
    assert_eq!(th("p(95)<200ms").bound, 200_000.0);
    let m = err("p(95)<200");
    assert_eq!(m, "`p(95)<200`: `200` needs a unit: 200s, 200ms or 1m30s");
}

#[test]
fn rate_takes_a_plain_ratio() {
    let t = th("rate<0.001");
    assert_eq!(t.metric(), Metric::Rate);
    assert_eq!(t.bound, 0.001);
}

#[test]
fn counts_parse_with_equality() {
    assert_eq!(th("failed==0").metric(), Metric::Failed);
    assert_eq!(th("failed==0").op(), Op::Eq);
    assert_eq!(
        th("dropped_by_generator==0").metric(),
        Metric::DroppedByGenerator
    );
    assert_eq!(th("requests>=1000").metric(), Metric::Requests);
    assert_eq!(
        th("connection_reset==0").metric(),
        Metric::Class(OutcomeClass::ConnectionReset)
    );
    assert_eq!(th("failed===0").op(), Op::Eq);
    assert_eq!(th("http_5xx!=3").op(), Op::Ne);
}

#[test]
fn p99_ratio_parses() {
    let t = th("p99_ratio<2");
    assert_eq!(t.metric(), Metric::P99Ratio);
    assert_eq!(t.bound, 2.0);
}

#[test]
fn a_phase_prefix_scopes_the_threshold() {
    let t = th("rollout:p(99)<300ms");
    assert_eq!(t.phase(), Some("rollout"));
    assert_eq!(t.metric(), Metric::Percentile(99.0));
}

#[test]
fn blanks_around_the_parts_are_allowed_and_the_expression_is_kept_trimmed() {
    let t = th("  settle : p( 90 ) >  5 ms ");
    assert_eq!(t.phase(), Some("settle"));
    assert_eq!(t.metric(), Metric::Percentile(90.0));
    assert_eq!(t.op(), Op::Gt);
    assert_eq!(t.bound, 5_000.0);
    assert_eq!(t.expression(), "settle : p( 90 ) >  5 ms");
}

#[test]
fn thresholds_round_trip_through_serde_as_their_expression() {
    let t = th("rollout:p(99)<300ms");
    let v = serde_json::to_value(&t).expect("serialises");
    assert_eq!(v, serde_json::json!("rollout:p(99)<300ms"));
    let back: Threshold = serde_json::from_value(v).expect("deserialises");
    assert_eq!(back, t);
}

// ---- parsing: every malformed form, named ----

#[test]
fn empty_expression_fails() {
    assert!(err("   ").contains("empty"));
}

#[test]
fn expression_without_operator_fails() {
    let m = err("p(99) 500ms");
    assert!(
        m.contains("`p(99) 500ms`") && m.contains("no operator"),
        "{m}"
    );
}

#[test]
fn unknown_expressions_operator_fails() {
    let m = err("p(99)=<500ms");
    assert!(m.contains("`p(99)=<500ms`"), "{m}");
    assert!(m.contains("unknown operator `=<`"), "{m}");
    assert!(err("failed=0").contains("unknown operator `=`"));
    assert!(err("failed<>0").contains("unknown operator `<>`"));
}

#[test]
fn unknown_metric_fails() {
    let m = err("p99<500ms");
    assert!(
        m.contains("`p99<500ms`") && m.contains("unknown metric `p99`"),
        "{m}"
    );
    assert!(err("latency<1s").contains("unknown metric `latency`"));
}

#[test]
fn missing_metric_fails() {
    let m = err("<500ms");
    assert!(m.contains("nothing to compare before `<`"), "{m}");
    assert!(err("rollout:<5").contains("nothing to compare"));
}

#[test]
fn percentile_out_of_range_or_not_a_number_fails() {
    assert!(err("p(0)<1s").contains("percentile `0`"));
    assert!(err("p(101)<1s").contains("percentile `101`"));
    assert!(err("p(abc)<1s").contains("percentile `abc`"));
    assert!(err("p()<1s").contains("percentile ``"));
}

#[test]
fn missing_value_fails() {
    let m = err("max<");
    assert!(
        m.contains("`max<`") && m.contains("no value after `<`"),
        "{m}"
    );
}

#[test]
fn unknown_duration_unit_fails() {
    let m = err("p(99)<5d");
    assert!(m.contains("`5d` is not a duration"), "{m}");
}

#[test]
fn duration_that_is_not_a_number_fails() {
    assert!(err("max<fast").contains("`fast` is not a duration"));
    assert!(err("max<-5ms").contains("`-5ms` is not a duration"));
}

#[test]
fn unit_on_a_rate_fails() {
    let m = err("rate<5ms");
    assert!(m.contains("`5ms` has a unit, but rate is a ratio"), "{m}");
}

#[test]
fn unit_on_a_count_fails() {
    assert!(err("failed==0s").contains("failed is a count"));
}

#[test]
fn fractional_count_fails() {
    assert!(err("failed<0.5").contains("`0.5` is not a whole number"));
}

#[test]
fn bad_scope_name_fails() {
    assert!(err(" :p(99)<1s").contains("is not a template or phase name"));
    assert!(err("roll out:p(99)<1s").contains("`roll out` is not a template or phase name"));
    assert!(err("orders::p(99)<1s").contains("`` is not a template or phase name"));
}

#[test]
fn three_scopes_fail() {
    assert!(err("a:b:c:p(99)<1s").contains("at most two scopes"));
}

#[test]
fn a_template_and_a_phase_scope_sort_by_the_mix_in_either_order() {
    let names = ["orders", "users"];
    for expr in ["orders:rollout:p(99)<300ms", "rollout:orders:p(99)<300ms"] {
        let t = parse(expr).expect("valid");
        let s = t.scopes_in(&names).expect("one of each");
        assert_eq!(s.template.as_deref(), Some("orders"));
        assert_eq!(s.phase.as_deref(), Some("rollout"));
    }
    let t = parse("orders:p(99)<300ms").expect("valid");
    assert_eq!(
        t.scopes_in(&names).expect("a template").template.as_deref(),
        Some("orders")
    );
    let two = parse("orders:users:p(99)<1s").expect("parses");
    assert!(
        two.scopes_in(&names)
            .expect_err("two templates")
            .contains("names two templates")
    );
    let phases = parse("baseline:rollout:p(99)<1s").expect("parses");
    assert!(
        phases
            .scopes_in(&names)
            .expect_err("two phases")
            .contains("two phases")
    );
}

#[test]
fn checks_is_a_ratio() {
    let t = parse("checks>0.999").expect("valid");
    assert_eq!(t.metric(), Metric::Checks);
    assert!(err("checks>99%").contains("checks is a ratio"));
    assert!(err("checks>1ms").contains("has a unit"));
    assert_eq!(
        parse("check_failed==0").expect("valid").metric(),
        Metric::Class(OutcomeClass::CheckFailed)
    );
}

#[test]
fn parse_all_reports_every_bad_expression_at_once() {
    let exprs: Vec<String> = ["p(99)<500ms", "p99<1s", "rate<5ms", "failed==0", "max=<1s"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let errors = parse_all(&exprs).expect_err("three are bad");
    assert_eq!(errors.len(), 3);
    assert!(errors[0].to_string().contains("p99<1s"));
    assert!(errors[1].to_string().contains("rate<5ms"));
    assert!(errors[2].to_string().contains("max=<1s"));
}

#[test]
fn parse_all_keeps_order_when_everything_parses() {
    let exprs = vec!["failed==0".to_string(), "p(99)<1s".to_string()];
    let ts = parse_all(&exprs).expect("all good");
    assert_eq!(ts[0].expression(), "failed==0");
    assert_eq!(ts[1].expression(), "p(99)<1s");
}

// ---- evaluation ----

#[test]
fn percentiles_are_measured_from_the_histogram() {
    let r = healthy();
    // Overall: 200 requests; p(50) lies between 50 ms and 100 ms, p(99) at ~196 ms.
    let res = results(
        &["p(99)<250ms", "p(99)<150ms", "p(50)>=50ms", "med<=100ms"],
        &r,
    );
    assert!(res[0].passed, "{res:?}");
    assert!(!res[1].passed, "{res:?}");
    assert!(res[2].passed && res[3].passed, "{res:?}");
    assert!(res[1].actual.ends_with("ms"), "{}", res[1].actual);
}

#[test]
fn a_phase_scoped_threshold_only_sees_its_phase() {
    let r = healthy();
    let res = results(&["baseline:max<=101ms", "rollout:max<=101ms"], &r);
    assert!(res[0].passed, "{res:?}");
    assert!(!res[1].passed, "{res:?}");
}

#[test]
fn a_threshold_on_a_phase_the_run_lacks_fails_and_says_why() {
    let r = healthy();
    let res = results(&["settle:p(99)<1s"], &r);
    assert!(!res[0].passed);
    assert!(
        res[0].actual.contains("no `settle` phase"),
        "{}",
        res[0].actual
    );
    assert!(
        res[0].actual.contains("baseline, rollout"),
        "{}",
        res[0].actual
    );
}

#[test]
fn failure_rate_is_failed_over_sent() {
    let r = run(
        &[("baseline", 0)],
        &[
            (0, 1, OutcomeClass::Ok),
            (10, 1, OutcomeClass::Ok),
            (20, 1, OutcomeClass::Ok),
            (30, 1, OutcomeClass::ConnectionReset),
            (40, 0, OutcomeClass::DroppedByGenerator),
        ],
    );
    let res = results(&["rate<=0.25", "rate<0.25", "failed==1"], &r);
    assert!(res[0].passed && !res[1].passed && res[2].passed, "{res:?}");
    assert!(res[0].actual.contains("1 of 4 failed"), "{}", res[0].actual);
}

#[test]
fn counts_of_one_outcome_class_are_measured() {
    let r = run(
        &[],
        &[
            (0, 1, OutcomeClass::ConnectionReset),
            (10, 1, OutcomeClass::ClosedBeforeResponse),
            (20, 1, OutcomeClass::ClosedBeforeResponse),
        ],
    );
    let res = results(
        &[
            "closed_before_response==2",
            "connection_reset==0",
            "requests==3",
        ],
        &r,
    );
    assert!(res[0].passed && !res[1].passed && res[2].passed, "{res:?}");
}

#[test]
fn p99_ratio_compares_the_rollout_with_the_baseline() {
    let r = healthy();
    // Rollout latencies are exactly twice the baseline's.
    let res = results(&["p99_ratio<2.1", "p99_ratio<1.9"], &r);
    assert!(res[0].passed && !res[1].passed, "{res:?}");
    assert!(res[0].actual.contains("rollout p99"), "{}", res[0].actual);
}

#[test]
fn thresholds_over_nothing_sent_fail_as_not_measured() {
    let r = run(&[], &[(0, 0, OutcomeClass::DroppedByGenerator)]);
    let res = results(&["p(99)<1s", "rate<1", "avg<1s"], &r);
    for t in &res {
        assert!(!t.passed, "{t:?}");
        assert!(t.actual.starts_with("not measured"), "{t:?}");
    }
}

#[test]
fn thresholds_count_grpc_calls_and_each_grpc_class_by_name() {
    use crate::model::grpc::{GrpcClass, GrpcCode};
    let g = OutcomeClass::Grpc;
    let r = run(
        &[],
        &[
            (0, 1, OutcomeClass::Ok),
            (10, 3, OutcomeClass::Ok),
            (20, 1, g(GrpcClass::GoawayGraceful)),
            (30, 1, g(GrpcClass::Status(GrpcCode::Unavailable))),
            (40, 1, g(GrpcClass::ResetWithoutGoaway)),
        ],
    );
    let res = results(
        &[
            "goaway_graceful==1",
            "goaway_abrupt==0",
            "grpc_unavailable<1",
            "reset_without_goaway==1",
            "failed==3",
            "rate<0.5",
            "requests==5",
        ],
        &r,
    );
    let passed: Vec<bool> = res.iter().map(|t| t.passed).collect();
    assert_eq!(
        passed,
        [true, true, false, true, true, false, true],
        "{res:?}"
    );
    assert!(
        err("grpc_nonsense==0").contains("unknown metric"),
        "{}",
        err("grpc_nonsense==0")
    );
}
