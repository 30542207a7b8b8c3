//! Tests of the default zero-drop check and the verdict: the exit code of each kind of run and
//! the reasons it gives, most important first.

use super::*;

#[test]
fn a_clean_run_passes_with_exit_code_0() {
    let r = healthy();
    let (res, v) = judge(&[th("p(99)<1s")], &r);
    assert!(res[0].passed);
    assert!(v.passed);
    assert_eq!(v.exit_code, exit::PASSED);
    assert!(v.reasons[0].contains("200 requests"), "{:?}", v.reasons);
}

#[test]
fn a_failed_threshold_fails_the_gate_with_exit_code_1() {
    let r = healthy();
    let (_, v) = judge(&[th("p(99)<10ms")], &r);
    assert!(!v.passed);
    assert_eq!(v.exit_code, exit::GATE_FAILED);
    assert!(
        v.reasons.iter().any(|x| x.contains("`p(99)<10ms` failed")),
        "{:?}",
        v.reasons
    );
}

#[test]
fn a_failure_during_the_rollout_fails_the_default_gate() {
    let r = run(
        &[("baseline", 0), ("rollout", 100)],
        &[
            (0, 1, OutcomeClass::Ok),
            (100, 1, OutcomeClass::ConnectionReset),
            (110, 1, OutcomeClass::Ok),
        ],
    );
    let (_, v) = judge(&[], &r);
    assert_eq!(v.exit_code, exit::GATE_FAILED);
    let check = v.zero_drop.as_ref().expect("stored");
    assert_eq!(check.failed_outside_baseline, 1);
    assert_eq!(check.failed_by_phase.get("rollout"), Some(&1));
    assert!(
        v.reasons[0]
            .contains("1 request failed during the rollout (1 in rollout): 1 connection_reset"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn baseline_failures_do_not_fail_the_gate_and_are_not_blamed_on_the_rollout() {
    let r = run(
        &[("baseline", 0), ("rollout", 100)],
        &[
            (0, 1, OutcomeClass::Http5xx),
            (10, 1, OutcomeClass::Ok),
            (100, 1, OutcomeClass::Ok),
        ],
    );
    let (_, v) = judge(&[], &r);
    assert!(v.passed, "{v:?}");
    assert_eq!(v.exit_code, exit::PASSED);
    assert!(
        v.reasons
            .iter()
            .any(|x| x.contains("during the baseline") && x.contains("not caused by the rollout")),
        "{:?}",
        v.reasons
    );
}

#[test]
fn generator_drops_fail_the_gate_and_say_the_load_did_not_happen() {
    let r = run(
        &[("baseline", 0)],
        &[
            (0, 1, OutcomeClass::Ok),
            (10, 0, OutcomeClass::DroppedByGenerator),
        ],
    );
    let (_, v) = judge(&[], &r);
    assert_eq!(v.exit_code, exit::GATE_FAILED);
    assert!(
        v.reasons
            .iter()
            .any(|x| x.contains("never sent") && x.contains("requested load did not happen")),
        "{:?}",
        v.reasons
    );
}

#[test]
fn a_failed_rollout_exits_3_even_when_the_gate_fails() {
    let mut r = run(&[], &[(0, 1, OutcomeClass::ConnectRefused)]);
    r.rollout = Some(RolloutInfo {
        description: "deploy/web".into(),
        triggered_at: None,
        completed_at: None,
        outcome: "timed out after 5m".into(),
        ..RolloutInfo::default()
    });
    let (_, v) = judge(&[], &r);
    assert_eq!(v.exit_code, exit::ROLLOUT_FAILED);
    assert_eq!(v.reasons[0], "the rollout timed out after 5m");
}

#[test]
fn an_interrupted_run_exits_130_whatever_else_happened() {
    let mut r = healthy();
    r.interrupted = true;
    r.rollout = Some(RolloutInfo {
        outcome: "failed: ProgressDeadlineExceeded".into(),
        ..Default::default()
    });
    let (_, v) = judge(&[], &r);
    assert!(!v.passed);
    assert_eq!(v.exit_code, exit::INTERRUPTED);
    assert!(v.reasons[0].contains("interrupted"), "{:?}", v.reasons);
}

#[test]
fn a_baseline_without_one_success_means_the_run_could_not_run() {
    let r = run(
        &[("baseline", 0), ("rollout", 100)],
        &[
            (0, 1, OutcomeClass::ConnectRefused),
            (10, 1, OutcomeClass::ConnectRefused),
            (100, 1, OutcomeClass::ConnectRefused),
        ],
    );
    let (_, v) = judge(&[], &r);
    assert_eq!(v.exit_code, exit::COULD_NOT_RUN);
    assert!(
        v.reasons[0].contains("not healthy enough"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn apply_stores_thresholds_and_verdict_in_the_result() {
    let mut r = healthy();
    apply(&[th("failed==0"), th("max<1ms")], &mut r);
    assert_eq!(r.thresholds.len(), 2);
    assert!(r.thresholds[0].passed && !r.thresholds[1].passed);
    assert_eq!(r.verdict.exit_code, exit::GATE_FAILED);
}

#[test]
fn a_run_without_a_baseline_counts_every_failure_and_does_not_mention_one() {
    let clean = run(&[("load", 0)], &[(0, 1, OutcomeClass::Ok)]);
    let (_, v) = judge(&[], &clean);
    assert_eq!(v.reasons[0], "no request failed or was dropped (1 request)");
    let failing = run(&[("load", 0)], &[(0, 1, OutcomeClass::Http5xx)]);
    let (_, v) = judge(&[], &failing);
    assert_eq!(v.exit_code, exit::GATE_FAILED);
    assert!(!v.zero_drop.as_ref().is_some_and(|z| z.has_baseline));
}

/// Like [`run`], with each request's end given too: (due ms, end ms, class).
fn run_ends(phases: &[(&str, u64)], reqs: &[(u64, u64, OutcomeClass)]) -> RunResult {
    let spans: Vec<Req> = reqs.iter().map(|&(d, e, c)| (d, e - d, c)).collect();
    run(phases, &spans)
}

#[test]
fn a_baseline_request_cut_after_the_trigger_is_the_rollouts() {
    let r = run_ends(
        &[("baseline", 0), ("rollout", 100)],
        &[
            (0, 5, OutcomeClass::Ok),
            (50, 60, OutcomeClass::Http5xx), // failed before the trigger: excused
            (90, 150, OutcomeClass::ConnectionReset), // due before, cut after: the rollout's
            (120, 125, OutcomeClass::Ok),
        ],
    );
    let (_, v) = judge(&[], &r);
    let z = v.zero_drop.as_ref().expect("stored");
    assert_eq!(z.baseline_failures, 1);
    assert_eq!(z.failed_outside_baseline, 1);
    assert_eq!(z.failed_by_phase.get("baseline"), Some(&1));
    assert_eq!(v.exit_code, exit::GATE_FAILED);
    assert!(
        v.reasons[0].contains("1 due in the baseline and cut after the trigger"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn baseline_failures_the_log_did_not_keep_are_not_excused() {
    let mut r = run(
        &[("baseline", 0), ("rollout", 100)],
        &[
            (0, 5, OutcomeClass::Ok),
            (10, 5, OutcomeClass::Http5xx),
            (120, 5, OutcomeClass::Ok),
        ],
    );
    r.recorded.failures.clear();
    r.recorded.failures_not_kept = 1;
    let (_, v) = judge(&[], &r);
    assert_eq!(v.exit_code, exit::GATE_FAILED, "{v:?}");
}

#[test]
fn a_stopped_run_takes_the_flows_exit_code_and_reason_first() {
    let r = healthy();
    let stopped = Stopped {
        exit_code: exit::COULD_NOT_RUN,
        reason: "the baseline was not healthy".into(),
    };
    let (res, v) = judge_stopped(&[th("p(99)<1s")], &r, Some(&stopped));
    assert!(res[0].passed, "thresholds are still measured");
    assert!(!v.passed);
    assert_eq!(v.exit_code, exit::COULD_NOT_RUN);
    assert_eq!(v.reasons[0], "the baseline was not healthy");
}
