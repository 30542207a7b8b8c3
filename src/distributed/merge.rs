//! Combining the results of the generators of one distributed run (`zerodrop merge`) into one
//! result that every report renders: counts and histograms are added without loss
//! ([`Recorded::merge`]), failure logs concatenated in due order, timelines merged with each
//! cluster event kept once, and `workers` set to the number of generators.
//!
//! Each generator measured on its own clock; results are put on one axis — the earliest
//! generator's start — by the difference of their wall-clock starts. Instants (events, failure
//! records, phase bounds) move exactly; per-second buckets move by that difference rounded to
//! whole seconds, so a bucket of a generator that started at a fractional offset may sit up to
//! half a second from its instants (totals are exact either way).
//!
//! The verdict is decided again on the merged data by the gate (the default zero-drop check and
//! the run's thresholds, as one run would be judged); a generator that stopped early (bad
//! input, could not run, rollout failed, interrupted) or a missing one decides the exit code, the
//! most serious first. The analysis is recomputed on the merged data too (the workers' own
//! analyses each saw only their share of the failures), with the identity header the plan
//! named and default settings otherwise: the workers' workload configuration is not part of a
//! saved result. This module reads and writes no files.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::analysis::AnalysisInput;
use crate::cluster::EventKind;
use crate::cluster::LifecycleEvent;
use crate::gate::{self, Stopped};
use crate::model::clock::At;
use crate::model::exit;
use crate::model::result::{Command, LoadReport, SCHEMA_VERSION, Verdict};
use crate::record::{MergeError as RecordMergeError, Recorded};
use crate::report::RESULT_MARKER;
use crate::result::RunResult;

/// Two observations of the same cluster change by two generators, without the API server's
/// timestamp to match them by, are taken as one when this close (watch delivery differs by
/// milliseconds between pods; a real repeat of the same change on the same pod takes longer).
pub const SAME_EVENT_WINDOW: Duration = Duration::from_secs(2);

/// How far back a duplicate is looked for: one generator may see a change well after another
/// (its watch was re-listing); the API server's timestamp still identifies it.
const SCAN_HORIZON: Duration = Duration::from_secs(60);

/// Why results could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No result was given.
    #[error("no results to merge")]
    Empty,
    /// The inputs come from different runs (their plans differ beyond the generator index).
    #[error("results {first} and {other} are not from the same run: their plans differ at `{at}`")]
    DifferentRuns {
        first: String,
        other: String,
        at: String,
    },
    /// Two inputs are the same generator's result.
    #[error("generator {index} of {count} appears twice ({first} and {other})")]
    Duplicate {
        index: u32,
        count: u32,
        first: String,
        other: String,
    },
    /// Some generators' results are missing (allowed with `--partial`).
    #[error(
        "generators {missing:?} of {count} are missing: their share of the load is not in the inputs (merge anyway with --partial; the merged result then fails)"
    )]
    Missing { missing: Vec<u32>, count: u32 },
    /// The recorded data could not be combined (a corrupt histogram).
    #[error(transparent)]
    Record(#[from] RecordMergeError),
    /// The run's thresholds no longer parse (a result from another zerodrop version).
    #[error("the run's thresholds cannot be judged again: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Thresholds(Vec<gate::ThresholdError>),
}

impl MergeError {
    /// Every merge error is a problem with the input.
    pub fn exit_code(&self) -> u8 {
        exit::BAD_INPUT
    }
}

/// Every result document in `text`: each JSON value that follows a [`RESULT_MARKER`] line (a
/// log holding several generators' output, `kubectl logs -l … --prefix` included), or the text
/// itself when it is one JSON document and holds no marker.
pub fn results_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut found = false;
    while let Some(i) = rest.find(RESULT_MARKER) {
        found = true;
        rest = &rest[i + RESULT_MARKER.len()..];
        // The document starts on the next line, maybe after a log prefix.
        let Some(open) = rest.find('{') else { break };
        let doc = &rest[open..];
        let mut values =
            serde_json::Deserializer::from_str(doc).into_iter::<serde::de::IgnoredAny>();
        match values.next() {
            Some(Ok(_)) => {
                out.push(&doc[..values.byte_offset()]);
                rest = &doc[values.byte_offset()..];
            }
            // Let the caller's parser say what is wrong with it.
            _ => {
                out.push(doc.lines().next().unwrap_or(doc));
                rest = &doc[doc.find('\n').unwrap_or(doc.len())..];
            }
        }
    }
    if !found {
        let t = text.trim();
        if t.starts_with('{') {
            out.push(t);
        }
    }
    out
}

/// Which generator produced a result, from its plan (`traffic.shard`); a result without one
/// is the only generator of its run.
pub fn shard_of(r: &RunResult) -> (u32, u32) {
    let s = r.plan.pointer("/traffic/shard");
    let get = |k: &str| {
        s.and_then(|s| s.get(k))
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    };
    match (get("index"), get("count")) {
        (Some(i), Some(c)) => (i, c),
        _ => (0, 1),
    }
}

/// The plan without what may differ between generators of one run: the generator index, and
/// where each wrote its outputs.
fn plan_without_shard(r: &RunResult) -> serde_json::Value {
    let mut p = r.plan.clone();
    if let Some(t) = p.get_mut("traffic").and_then(|t| t.as_object_mut()) {
        t.remove("shard");
    }
    if let Some(o) = p.as_object_mut() {
        o.remove("output");
    }
    p
}

/// The first place where two JSON values differ, as a path.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, &format!("{path}.{k}")),
                _ => Some(format!("{path}.{k}")),
            })
        }
        _ if a == b => None,
        _ => Some(path.trim_start_matches('.').to_string()),
    }
}

fn shift_at(a: &mut At, d: Duration) {
    *a = a.plus(d);
}

/// Moves a result's instants later by `d` (and its seconds by `d` rounded).
fn shift(r: &mut RunResult, d: Duration) {
    if d.is_zero() {
        return;
    }
    let secs = d.as_secs_f64().round() as u64;
    let rec = &mut r.recorded;
    for s in &mut rec.series {
        s.second += secs;
    }
    for c in &mut rec.load_by_connection {
        for s in &mut c.seconds {
            s.second += secs;
        }
    }
    for p in rec
        .phases
        .iter_mut()
        .chain(std::iter::once(&mut rec.overall))
    {
        shift_at(&mut p.start, d);
        shift_at(&mut p.end, d);
    }
    for f in &mut rec.failures {
        shift_at(&mut f.due, d);
        shift_at(&mut f.sent, d);
        shift_at(&mut f.end, d);
    }
    for e in &mut r.timeline.events {
        shift_at(&mut e.at, d);
        if let EventKind::WatchGap { from, .. } = &mut e.kind {
            shift_at(from, d);
        }
    }
    for route in &mut r.timeline.routes {
        shift_at(&mut route.opened, d);
        if let Some(c) = route.closed.as_mut() {
            shift_at(c, d);
        }
    }
    shift_at(&mut r.load.start, d);
    shift_at(&mut r.load.end, d);
    if let Some(ro) = r.rollout.as_mut() {
        for a in [ro.triggered_at.as_mut(), ro.completed_at.as_mut()]
            .into_iter()
            .flatten()
        {
            shift_at(a, d);
        }
    }
}

/// How serious an exit code is, for picking the merged one: a problem that stopped a generator
/// outranks a gate that judged it.
fn severity(code: u8) -> u8 {
    match code {
        exit::PASSED => 0,
        exit::GATE_FAILED => 1,
        exit::INTERRUPTED => 2,
        exit::ROLLOUT_FAILED => 3,
        exit::COULD_NOT_RUN => 4,
        _ => 5,
    }
}

/// One input to [`merge`]: a result and where it came from (for messages).
pub struct MergeInput {
    pub origin: String,
    pub result: RunResult,
}

/// Merges the generators' results into one. With `partial`, missing generators are allowed
/// and make the merged result fail.
pub fn merge(inputs: Vec<MergeInput>, partial: bool) -> Result<RunResult, MergeError> {
    let (count, missing) = check_inputs(&inputs, partial)?;
    let (base, parts) = on_one_axis(inputs)?;
    let stopped = stopped(&parts, &missing, count);
    let lead = &parts[0].1;
    let plan = plan_without_shard(lead);
    let timeline = merged_timeline(&parts);
    let rollout = lead.rollout.clone();
    let started_at = base;
    let interrupted = parts.iter().any(|(_, r)| r.interrupted);
    let workers = parts.iter().map(|(_, r)| r.workers.max(1)).sum();
    let load = merged_load(&parts);
    let thresholds =
        gate::parse_all(&threshold_expressions(&plan)).map_err(MergeError::Thresholds)?;
    let recorded = Recorded::merge(parts.into_iter().map(|(_, r)| r.recorded).collect())?;
    let input = AnalysisInput {
        pod_header: plan
            .pointer("/request/pod_header")
            .and_then(|h| h.as_str())
            .map(str::to_string),
        ..AnalysisInput::default()
    };
    let analysis = crate::analysis::analyse(&recorded, &timeline, &input);
    let mut merged = RunResult {
        schema_version: SCHEMA_VERSION,
        zerodrop_version: env!("CARGO_PKG_VERSION").to_string(),
        command: Command::Merge,
        started_at,
        interrupted,
        plan,
        load,
        recorded,
        timeline,
        rollout,
        analysis,
        thresholds: Vec::new(),
        verdict: Verdict::default(),
        workers,
    };
    gate::apply_stopped(&thresholds, &mut merged, stopped.as_ref());
    Ok(merged)
}

/// Checks that the inputs are one run's, each generator at most once, and none missing unless
/// `partial`; returns the run's generator count and the missing generators.
fn check_inputs(inputs: &[MergeInput], partial: bool) -> Result<(u32, Vec<u32>), MergeError> {
    let first = inputs.first().ok_or(MergeError::Empty)?;
    let first_plan = plan_without_shard(&first.result);
    let first_origin = first.origin.clone();
    let count = shard_of(&first.result).1;
    let mut seen: Vec<(u32, String)> = Vec::new();
    for i in inputs {
        if let Some(at) = first_difference(&first_plan, &plan_without_shard(&i.result), "") {
            return Err(MergeError::DifferentRuns {
                first: first_origin,
                other: i.origin.clone(),
                at,
            });
        }
        let (index, c) = shard_of(&i.result);
        // A result that is itself a merge covers every generator; its plan has no shard.
        if c > 1
            && let Some((_, o)) = seen.iter().find(|(k, _)| *k == index)
        {
            return Err(MergeError::Duplicate {
                index,
                count: c,
                first: o.clone(),
                other: i.origin.clone(),
            });
        }
        seen.push((index, i.origin.clone()));
    }
    let missing: Vec<u32> = (0..count)
        .filter(|k| count > 1 && !seen.iter().any(|(i, _)| i == k))
        .collect();
    if !missing.is_empty() && !partial {
        return Err(MergeError::Missing { missing, count });
    }
    Ok((count, missing))
}

/// The results on one axis, the earliest start (returned with them), generator 0 first.
fn on_one_axis(
    inputs: Vec<MergeInput>,
) -> Result<(jiff::Timestamp, Vec<(u32, RunResult)>), MergeError> {
    // One axis: the earliest start.
    let base = inputs
        .iter()
        .map(|i| i.result.started_at)
        .min()
        .ok_or(MergeError::Empty)?;
    let mut parts: Vec<(u32, RunResult)> = inputs
        .into_iter()
        .map(|i| {
            let mut r = i.result;
            let d = r.started_at.duration_since(base);
            shift(&mut r, Duration::try_from(d).unwrap_or_default());
            (shard_of(&r).0, r)
        })
        .collect();
    // Generator 0 first: it triggered the rollout, so its account of it leads.
    parts.sort_by_key(|(k, _)| *k);
    Ok((base, parts))
}

/// The generators' load reports as one: the widest span, every count added, every address once.
/// `parts` is not empty: [`check_inputs`] refused an empty list.
fn merged_load(parts: &[(u32, RunResult)]) -> LoadReport {
    let lead = &parts[0].1;
    let mut load = lead.load.clone();
    for (_, r) in &parts[1..] {
        load.start = load.start.min(r.load.start);
        load.end = load.end.max(r.load.end);
        load.requests_due += r.load.requests_due;
        load.connections_opened += r.load.connections_opened;
        load.completed &= r.load.completed;
        load.precise_timer &= r.load.precise_timer;
        load.kernel_receive_timestamps &= r.load.kernel_receive_timestamps;
        for a in &r.load.addresses {
            if !load.addresses.contains(a) {
                load.addresses.push(*a);
            }
        }
    }
    load
}

/// The thresholds the generators ran with (they are one run's: the plans are equal).
fn threshold_expressions(plan: &serde_json::Value) -> Vec<String> {
    plan.get("thresholds")
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Why the merged run stopped early, when a generator did (bad input, could not run, rollout
/// failed, interrupted) or some are missing: the most serious exit code among them, and every
/// reason. `None` when every generator ran to its end — then the gate alone decides.
fn stopped(parts: &[(u32, RunResult)], missing: &[u32], count: u32) -> Option<Stopped> {
    let mut code = exit::PASSED;
    let mut reasons = Vec::new();
    if !missing.is_empty() {
        code = exit::COULD_NOT_RUN;
        reasons.push(format!(
            "generators {missing:?} of {count} are missing: their share of the load is not counted"
        ));
    }
    for (k, r) in parts {
        let c = r.verdict.exit_code;
        // A generator's own gate failure is judged again from the merged data.
        if matches!(c, exit::PASSED | exit::GATE_FAILED) {
            continue;
        }
        if severity(c) > severity(code) {
            code = c;
        }
        let why = r.verdict.reasons.first().cloned().unwrap_or_default();
        reasons.push(format!("generator {k} stopped with exit code {c}: {why}"));
    }
    (code != exit::PASSED).then(|| Stopped {
        exit_code: code,
        reason: reasons.join("; "),
    })
}

/// Two observations are of the same change: same pod and kind (with its details), and the
/// same API-server time when both have one, else observed within [`SAME_EVENT_WINDOW`].
fn same_change(a: &LifecycleEvent, b: &LifecycleEvent) -> bool {
    if a.pod != b.pod || a.kind != b.kind {
        return false;
    }
    match (a.source_time, b.source_time) {
        (Some(x), Some(y)) => x == y,
        _ => a.at.max(b.at).saturating_sub(a.at.min(b.at)) <= SAME_EVENT_WINDOW,
    }
}

/// The generators' timelines as one: every cluster change once (its earliest observation);
/// the trigger as generator 0 recorded it; each generator's own notes kept and named.
fn merged_timeline(parts: &[(u32, RunResult)]) -> crate::timeline::Timeline {
    let has_lead = parts.iter().any(|(k, _)| *k == 0);
    let mut all: Vec<(u32, LifecycleEvent)> = Vec::new();
    for (k, r) in parts {
        for e in &r.timeline.events {
            // The others' "trigger" is their wait for generator 0's.
            if *k != 0 && has_lead && matches!(e.kind, EventKind::Trigger { .. }) {
                continue;
            }
            all.push((*k, e.clone()));
        }
    }
    all.sort_by_key(|(k, e)| (e.at, *k));
    let mut kept: Vec<(u32, LifecycleEvent)> = Vec::new();
    for (k, mut e) in all {
        let duplicate = kept
            .iter()
            .rev()
            .take_while(|(_, x)| e.at.saturating_sub(x.at) <= SCAN_HORIZON)
            .any(|(j, x)| *j != k && same_change(x, &e));
        if duplicate {
            continue;
        }
        // Notes without an API-server time are this generator's own (its start, a trimmed
        // copy): say whose.
        if parts.len() > 1
            && e.source_time.is_none()
            && let EventKind::Note { message, .. } = &mut e.kind
        {
            *message = format!("generator {k}: {message}");
        }
        kept.push((k, e));
    }
    crate::timeline::Timeline {
        events: kept.into_iter().map(|(_, e)| e).collect(),
        desired_replicas: parts.iter().find_map(|(_, r)| r.timeline.desired_replicas),
        routes: parts
            .iter()
            .flat_map(|(_, r)| r.timeline.routes.iter().cloned())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marked_result_in_a_log_is_found_with_prefixes_and_noise_around() {
        let log = format!(
            "[pod/zd-0] starting\n[pod/zd-0] {RESULT_MARKER}\n[pod/zd-0] {{\"n\": 0, \"a\": {{\"b\": \"}}\"}}}}\n\
             [pod/zd-1] progress 50%\n[pod/zd-1] {RESULT_MARKER}\n[pod/zd-1] {{\"n\": 1}}\nbye\n"
        );
        assert_eq!(
            results_in(&log),
            ["{\"n\": 0, \"a\": {\"b\": \"}\"}}", "{\"n\": 1}"]
        );
    }

    #[test]
    fn a_bare_document_is_one_result_and_other_text_none() {
        assert_eq!(results_in("  {\"n\": 2}\n"), ["{\"n\": 2}"]);
        assert!(results_in("no result here {\"n\": 3}").is_empty());
    }

    #[test]
    fn the_first_difference_between_plans_is_named_by_its_path() {
        let a = serde_json::json!({"traffic": {"pattern": {"rate": 100}}, "target": "x"});
        let b = serde_json::json!({"traffic": {"pattern": {"rate": 200}}, "target": "x"});
        assert_eq!(
            first_difference(&a, &b, "").as_deref(),
            Some("traffic.pattern.rate")
        );
        assert_eq!(first_difference(&a, &a, ""), None);
    }
}
