//! `zerodrop merge`: the generators' results combine exactly — counts per second and per
//! outcome add up, HDR percentiles equal those of one histogram fed every sample — timelines
//! keep each cluster change once, the verdict fails if any generator failed, and the command
//! reads several generators' logs from one stream.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;
use zerodrop::cluster::{EventKind, LifecycleEvent};
use zerodrop::distributed::merge::{MergeError, MergeInput, merge};
use zerodrop::model::clock::At;
use zerodrop::model::outcome::OutcomeClass;
use zerodrop::model::request::{LiveStats, RequestRecord, Sink as _};
use zerodrop::model::result::LoadReport;
use zerodrop::model::result::{Command as ResultCommand, Verdict};
use zerodrop::record::{Hist, PhaseMarks, Recorded, Recorder, RecorderConfig};
use zerodrop::report::redact::Redactor;
use zerodrop::result::RunResult;

/// One request as a generator saw it.
#[derive(Clone, Debug)]
struct Sample {
    due_us: u64,
    latency_us: u64,
    class: OutcomeClass,
}

fn record(samples: &[Sample]) -> Recorded {
    let marks = PhaseMarks::new();
    marks.begin("baseline", || At::ZERO);
    marks.begin("rollout", || At(2_000_000));
    let mut r = Recorder::new(
        RecorderConfig {
            failure_log_limit: 10_000,
            max_open: Duration::from_secs(3),
            ..RecorderConfig::default()
        },
        marks,
        Arc::new(LiveStats::default()),
    );
    let mut sorted = samples.to_vec();
    sorted.sort_by_key(|s| s.due_us);
    let mut end = At::ZERO;
    for (seq, s) in sorted.iter().enumerate() {
        let due = At(s.due_us);
        let rec = RequestRecord {
            seq: seq as u64,
            due,
            sent: due,
            end: due.plus(Duration::from_micros(s.latency_us)),
            class: s.class,
            status: (s.class == OutcomeClass::Ok).then_some(200),
            conn: None,
            dialed: None,
            error: None,
            identity: None,
            template: 0,
            checks_failed: 0,
            version: None,
            excerpt: None,
        };
        end = end.max(rec.end);
        r.record(&rec);
    }
    r.finish(end.plus(Duration::from_secs(1)))
}

fn result(index: u32, count: u32, started_at: jiff::Timestamp, recorded: Recorded) -> RunResult {
    let failed = recorded.overall.counts.failed() > 0;
    RunResult {
        schema_version: zerodrop::model::result::SCHEMA_VERSION,
        zerodrop_version: "test".into(),
        command: ResultCommand::Run,
        started_at,
        interrupted: false,
        plan: serde_json::json!({
            "kind": "run",
            "target": "http://web.shop.svc:80/",
            "traffic": {"pattern": {"kind": "rate", "rate": 300.0}, "shard": {"index": index, "count": count}},
        }),
        load: LoadReport {
            start: At::ZERO,
            end: recorded.overall.end,
            requests_due: recorded.overall.counts.total(),
            connections_opened: 4,
            completed: true,
            precise_timer: true,
            kernel_receive_timestamps: true,
            addresses: Vec::new(),
        },
        recorded,
        timeline: Default::default(),
        rollout: None,
        analysis: Default::default(),
        thresholds: Vec::new(),
        verdict: Verdict {
            passed: !failed,
            exit_code: if failed { 1 } else { 0 },
            ..Verdict::default()
        },
        workers: 1,
    }
}

fn t0() -> jiff::Timestamp {
    "2026-11-01T10:00:00Z".parse().expect("timestamp")
}

fn inputs(results: Vec<RunResult>) -> Vec<MergeInput> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, result)| MergeInput {
            origin: format!("worker-{i}.json"),
            result,
        })
        .collect()
}

fn class() -> impl Strategy<Value = OutcomeClass> {
    prop::sample::select(OutcomeClass::ALL.to_vec())
}

fn samples() -> impl Strategy<Value = Vec<Sample>> {
    prop::collection::vec(
        (0u64..6_000_000, 1u64..3_000_000, class()).prop_map(|(due_us, latency_us, class)| {
            Sample {
                due_us,
                latency_us,
                class,
            }
        }),
        0..150,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merging_three_generators_adds_every_count_and_matches_one_histogram_of_all_samples(
        parts in prop::collection::vec(samples(), 3)
    ) {
        let results: Vec<RunResult> = parts
            .iter()
            .enumerate()
            .map(|(k, s)| result(k as u32, 3, t0(), record(s)))
            .collect();
        let merged = merge(inputs(results.clone()), false).expect("merges");
        prop_assert_eq!(merged.workers, 3);
        let all: Vec<&Sample> = parts.iter().flatten().collect();

        // Per second and per outcome: the sums of the generators' counts, and what the
        // samples themselves say.
        for class in OutcomeClass::ALL {
            let expected = all.iter().filter(|s| s.class == class).count() as u64;
            prop_assert_eq!(merged.recorded.overall.counts.get(class), expected);
            let summed: u64 = results.iter().map(|r| r.recorded.overall.counts.get(class)).sum();
            prop_assert_eq!(merged.recorded.overall.counts.get(class), summed);
        }
        let seconds: std::collections::BTreeSet<u64> = all.iter().map(|s| s.due_us / 1_000_000).collect();
        prop_assert_eq!(merged.recorded.series.len(), seconds.len());
        for sec in &merged.recorded.series {
            for class in OutcomeClass::ALL {
                let summed: u64 = results
                    .iter()
                    .flat_map(|r| r.recorded.series.iter().filter(|s| s.second == sec.second))
                    .map(|s| s.counts.get(class))
                    .sum();
                prop_assert_eq!(sec.counts.get(class), summed, "second {} {}", sec.second, class);
            }
        }

        // HDR percentiles: one histogram fed every sent request's latency.
        let mut one = Hist::new();
        for s in all.iter().filter(|s| s.class != OutcomeClass::DroppedByGenerator) {
            one.record(s.latency_us);
        }
        let merged_hist = merged.recorded.overall.latency_hist.decode().expect("decodes");
        prop_assert_eq!(merged_hist.len(), one.len());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            prop_assert_eq!(merged_hist.quantile(q), one.quantile(q), "quantile {}", q);
        }
        prop_assert_eq!(merged.recorded.overall.latency, one.summary());

        // Failure logs: concatenated, in due order.
        let logged: usize = results.iter().map(|r| r.recorded.failures.len()).sum();
        prop_assert_eq!(merged.recorded.failures.len(), logged);
        prop_assert!(merged.recorded.failures.windows(2).all(|w| w[0].due <= w[1].due));
    }
}

fn ok(due_s: f64) -> Sample {
    Sample {
        due_us: (due_s * 1e6) as u64,
        latency_us: 2_000,
        class: OutcomeClass::Ok,
    }
}

#[test]
fn a_generator_that_started_later_is_put_on_the_first_ones_axis() {
    let a = result(0, 2, t0(), record(&[ok(0.5)]));
    let mut b = result(
        1,
        2,
        t0() + jiff::SignedDuration::from_secs(2),
        record(&[ok(0.5)]),
    );
    b.timeline.events.push(LifecycleEvent::pod(
        At(500_000),
        "web-1",
        EventKind::PodReady,
    ));
    let merged = merge(inputs(vec![a, b]), false).expect("merges");
    let seconds: Vec<u64> = merged.recorded.series.iter().map(|s| s.second).collect();
    assert_eq!(seconds, [0, 2]);
    assert_eq!(merged.started_at, t0());
    assert_eq!(merged.timeline.events[0].at, At(2_500_000));
}

#[test]
fn each_cluster_change_is_kept_once_and_the_trigger_as_generator_zero_recorded_it() {
    let mut a = result(0, 2, t0(), record(&[ok(0.1)]));
    let mut b = result(1, 2, t0(), record(&[ok(0.1)]));
    let trigger = |d: &str| LifecycleEvent {
        at: At(1_000_000),
        source_time: None,
        pod: None,
        kind: EventKind::Trigger {
            description: d.into(),
        },
    };
    a.timeline.events = vec![
        trigger("restart (kubectl rollout restart)"),
        LifecycleEvent::pod(At(1_200_000), "web-new", EventKind::PodReady),
        LifecycleEvent::pod(At(9_000_000), "web-new", EventKind::PodReady),
    ];
    b.timeline.events = vec![
        trigger("external (waiting for a rollout started elsewhere)"),
        // The same change, seen 30 ms later by the other generator.
        LifecycleEvent::pod(At(1_230_000), "web-new", EventKind::PodReady),
        LifecycleEvent::pod(
            At(1_300_000),
            "web-old",
            EventKind::PodTerminating { grace_period: None },
        ),
    ];
    let merged = merge(inputs(vec![b, a]), false).expect("merges");
    let names: Vec<(u64, &str, Option<&str>)> = merged
        .timeline
        .events
        .iter()
        .map(|e| (e.at.0, e.kind.name(), e.pod.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            (1_000_000, "trigger", None),
            (1_200_000, "pod_ready", Some("web-new")),
            (1_300_000, "pod_terminating", Some("web-old")),
            // Far from the first: a change of its own, not a second sighting.
            (9_000_000, "pod_ready", Some("web-new")),
        ]
    );
    assert!(matches!(
        &merged.timeline.events[0].kind,
        EventKind::Trigger { description } if description.starts_with("restart")
    ));
}

#[test]
fn the_merged_verdict_fails_with_the_most_serious_code_of_any_generator() {
    let a = result(0, 3, t0(), record(&[ok(0.1)]));
    let mut b = result(1, 3, t0(), record(&[ok(0.1)]));
    b.verdict = Verdict {
        passed: false,
        exit_code: 3,
        reasons: vec!["the rollout did not complete".into()],
        ..Verdict::default()
    };
    // A request cut during the rollout, in the third generator's share.
    let c = result(
        2,
        3,
        t0(),
        record(&[
            ok(0.3),
            Sample {
                due_us: 2_500_000,
                latency_us: 10,
                class: OutcomeClass::ConnectionReset,
            },
        ]),
    );
    let merged = merge(inputs(vec![a.clone(), b, c.clone()]), false).expect("merges");
    assert!(!merged.verdict.passed);
    assert_eq!(merged.verdict.exit_code, 3);
    let reasons = merged.verdict.reasons.join("\n");
    assert!(
        reasons.contains("generator 1 stopped with exit code 3: the rollout did not complete"),
        "{reasons}"
    );
    assert!(
        reasons.contains("1 request failed during the rollout"),
        "{reasons}"
    );

    // Without the stopped generator, the gate's own judgement of the merged data decides.
    let b_ok = result(1, 3, t0(), record(&[ok(0.2)]));
    let gate_failed = merge(inputs(vec![a.clone(), b_ok, c]), false).expect("merges");
    assert_eq!(
        gate_failed.verdict.exit_code, 1,
        "{:?}",
        gate_failed.verdict
    );

    let b_ok = result(1, 3, t0(), record(&[ok(0.2)]));
    let c_ok = result(2, 3, t0(), record(&[ok(0.3)]));
    let passed = merge(inputs(vec![a, b_ok, c_ok]), false).expect("merges");
    assert!(passed.verdict.passed, "{:?}", passed.verdict);
    assert_eq!(passed.verdict.exit_code, 0);
}

#[test]
fn missing_duplicate_and_foreign_results_are_refused_naming_them() {
    let a = result(0, 3, t0(), record(&[ok(0.1)]));
    let b = result(1, 3, t0(), record(&[ok(0.1)]));
    match merge(inputs(vec![a.clone(), b.clone()]), false) {
        Err(MergeError::Missing { missing, count }) => assert_eq!((missing, count), (vec![2], 3)),
        other => panic!("expected missing, got {:?}", other.map(|r| r.verdict)),
    }
    let partial = merge(inputs(vec![a.clone(), b.clone()]), true).expect("partial");
    assert!(!partial.verdict.passed);
    assert_eq!(partial.verdict.exit_code, 4);

    match merge(inputs(vec![a.clone(), b.clone(), b.clone()]), false) {
        Err(e @ MergeError::Duplicate { .. }) => {
            assert!(
                e.to_string().contains("generator 1 of 3 appears twice"),
                "{e}"
            )
        }
        other => panic!("expected duplicate, got {:?}", other.map(|r| r.verdict)),
    }
    let mut foreign = result(2, 3, t0(), record(&[ok(0.1)]));
    foreign.plan["target"] = "http://other/".into();
    match merge(inputs(vec![a, b, foreign]), false) {
        Err(e @ MergeError::DifferentRuns { .. }) => {
            assert!(e.to_string().contains("`target`"), "{e}")
        }
        other => panic!(
            "expected different runs, got {:?}",
            other.map(|r| r.verdict)
        ),
    }
}

#[test]
fn merge_reads_every_generators_log_from_one_stream_and_writes_one_result() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut logs = String::new();
    for k in 0..3u32 {
        let r = result(k, 3, t0(), record(&[ok(0.1 + f64::from(k) * 0.2), ok(1.5)]));
        let mut block = Vec::new();
        zerodrop::report::write_to_log(&r, &Redactor::new(&[]), &mut block).expect("encodes");
        let block = String::from_utf8(block).expect("utf-8");
        // `kubectl logs -l … --prefix` puts the pod before every line.
        for line in format!("summary of generator {k}\n{block}").lines() {
            logs.push_str(&format!("[pod/zd-{k}-abcde/zerodrop] {line}\n"));
        }
    }
    let out = dir.path().join("merged.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zerodrop"))
        .args(["merge", "-", "--quiet", "--out"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(logs.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let merged: RunResult =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("a result");
    assert_eq!(merged.workers, 3);
    assert_eq!(merged.command, ResultCommand::Merge);
    assert_eq!(merged.recorded.overall.counts.ok(), 6);
    assert!(merged.plan.pointer("/traffic/shard").is_none());
}

#[test]
fn merge_of_a_log_without_results_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_zerodrop"))
        .args(["merge", "/dev/null"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no zerodrop result found"));
}

#[test]
fn the_runs_thresholds_are_judged_again_on_the_merged_data() {
    let slow = |due_s: f64| Sample {
        due_us: (due_s * 1e6) as u64,
        latency_us: 50_000,
        class: OutcomeClass::Ok,
    };
    // Generator 0 alone had 3 slow requests in 21 during the rollout: its own p95 was slow and
    // its gate failed. The run's p95 is over all 63: fast.
    let results: Vec<RunResult> = (0..3u32)
        .map(|k| {
            let slow_ones = if k == 0 { 3 } else { 0 };
            let mut samples: Vec<Sample> = (0..21 - slow_ones)
                .map(|i| ok(2.0 + f64::from(i) * 0.01))
                .collect();
            samples.extend((0..slow_ones).map(|i| slow(2.5 + f64::from(i) * 0.01)));
            samples.push(ok(0.5));
            let mut r = result(k, 3, t0(), record(&samples));
            r.plan["thresholds"] = json!(["rollout:p(95)<5ms"]);
            if k == 0 {
                r.verdict = Verdict {
                    passed: false,
                    exit_code: 1,
                    reasons: vec!["threshold `rollout:p(95)<5ms` failed".into()],
                    ..Verdict::default()
                };
            }
            r
        })
        .collect();
    let merged = merge(inputs(results.clone()), false).expect("merges");
    assert_eq!(merged.thresholds.len(), 1);
    assert!(merged.thresholds[0].passed, "{:?}", merged.thresholds);
    assert_eq!(merged.verdict.exit_code, 0, "{:?}", merged.verdict);

    // With a fourth slow request the run's p95 is slow too.
    let mut more = results;
    let mut samples: Vec<Sample> = (0..20).map(|i| ok(2.0 + f64::from(i) * 0.01)).collect();
    samples.push(slow(2.7));
    samples.push(ok(0.5));
    let mut r = result(1, 3, t0(), record(&samples));
    r.plan["thresholds"] = json!(["rollout:p(95)<5ms"]);
    more[1] = r;
    let failed = merge(inputs(more), false).expect("merges");
    assert!(!failed.thresholds[0].passed, "{:?}", failed.thresholds);
    assert_eq!(failed.verdict.exit_code, 1);
    assert!(
        failed
            .verdict
            .reasons
            .iter()
            .any(|r| r.contains("rollout:p(95)<5ms")),
        "{:?}",
        failed.verdict.reasons
    );
}

#[test]
fn a_result_too_large_for_its_configmap_share_loses_failure_details_first_and_says_so() {
    // 3,000 logged failures, ~100 bytes each in JSON: far more than a 64 KiB share.
    let samples: Vec<Sample> = (0..3_000)
        .map(|i| Sample {
            due_us: 2_000_000 + i * 1_000,
            latency_us: 10,
            class: OutcomeClass::ConnectionReset,
        })
        .collect();
    let r = result(0, 1, t0(), record(&samples));
    assert_eq!(r.recorded.failures.len(), 3_000);
    let budget = 64 * 1024;
    let t = zerodrop::distributed::worker::trim_to_fit(&r, budget).expect("fits");
    assert!(t.json.len() <= budget, "{} > {budget}", t.json.len());
    let trimmed: RunResult = serde_json::from_str(&t.json).expect("still a result");
    // Counts are untouched; every failure left out of the log is still counted.
    assert_eq!(trimmed.recorded.overall.counts, r.recorded.overall.counts);
    let kept = trimmed.recorded.failures.len() as u64;
    assert!(kept > 0 && kept < 3_000, "{kept}");
    assert_eq!(kept + trimmed.recorded.failures_not_kept, 3_000);
    let per_second: u64 = trimmed
        .recorded
        .series
        .iter()
        .map(|s| s.failures_not_kept)
        .sum();
    assert_eq!(per_second, trimmed.recorded.failures_not_kept);
    // Thinned evenly: the kept ones span the run, not just its start.
    let last = trimmed.recorded.failures.last().expect("kept").due;
    assert!(last >= At(4_000_000), "{last:?}");
    assert!(
        t.left_out[0].contains("logged failures"),
        "{:?}",
        t.left_out
    );
    assert!(trimmed.timeline.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Note { reason, message } if reason == "ResultTrimmed" && message.contains("pod log")
    )));
    // A result that fits is left whole.
    let whole = zerodrop::distributed::worker::trim_to_fit(&r, 10 * 1024 * 1024).expect("fits");
    assert!(whole.left_out.is_empty());
    assert_eq!(
        serde_json::from_str::<RunResult>(&whole.json).expect("result"),
        r
    );
}

#[test]
fn the_merged_result_is_analysed_over_every_generators_failures() {
    let reset = |due_s: f64| Sample {
        due_us: (due_s * 1e6) as u64,
        latency_us: 1_000,
        class: OutcomeClass::ConnectionReset,
    };
    let a = result(0, 2, t0(), record(&[ok(0.5), reset(2.5), reset(2.6)]));
    let b = result(1, 2, t0(), record(&[ok(0.5), reset(2.7)]));
    let merged = merge(inputs(vec![a, b]), false).expect("merges");
    // No cluster events explain them: all three failures, from both workers, are reported as
    // unexplained by the merged run's own analysis.
    let explained: u64 = merged
        .analysis
        .findings
        .iter()
        .map(|f| f.evidence.failures)
        .sum();
    assert_eq!(explained, 3, "{:?}", merged.analysis.findings);
    assert_eq!(merged.analysis.unexplained_failures, 3);
}
