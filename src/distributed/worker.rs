//! One `zerodrop run` as a worker of a distributed run (an Indexed Job's pod) and where its
//! result goes besides the terminal: after `report::RESULT_MARKER` in the log (so `zerodrop
//! report -` and `zerodrop merge -` find it in `kubectl logs` output), and into a ConfigMap.
//!
//! The worker flags, their validation and what they change in the plan and the Kubernetes
//! configuration are `config::worker`'s (generator K of N sends every N-th request, only
//! generator 0 triggers, all start together once every worker's pod runs — Kubernetes is the
//! coordinator; there is none of our own). This module owns where a worker's result goes and
//! trimming a result to fit a ConfigMap.
//!
//! It must not talk to the API server itself (that is `cluster::kube`) nor render reports.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cluster::EventKind;
use crate::cluster::LifecycleEvent;
use crate::cluster::kube::ConnectOptions;
use crate::config::worker::Worker;
use crate::distributed::result_store::store;
use crate::record::Hist;
use crate::report::{self, redact::Redactor};
use crate::result::RunResult;

/// The most a ConfigMap may hold (data keys and values together).
pub const CONFIGMAP_LIMIT: usize = 1024 * 1024;

// `Worker` is the validated worker flags (`config::worker`); what it means for the result's
// destination is defined here.
impl Worker {
    /// The ConfigMap key this generator's result goes under.
    pub fn configmap_key(&self) -> String {
        format!("result-{}.json", self.index)
    }

    /// The share of the ConfigMap's 1 MiB this generator's result may take: the generators
    /// patch their own keys into one ConfigMap.
    pub fn configmap_budget(&self) -> usize {
        // Room for the keys and for rounding, so N full shares still fit.
        let room = 1024 + 32 * self.count as usize;
        (CONFIGMAP_LIMIT - room.min(CONFIGMAP_LIMIT / 2)) / self.count.max(1) as usize
    }
}

/// Sends the result where the worker flags ask: after the marker on standard output
/// (`--result-log`) and into the ConfigMap (`--result-configmap`). Returns the problems: the
/// run's verdict stands, but a lost result must be said loudly.
pub async fn publish(
    worker: &Worker,
    result: &RunResult,
    redactor: &Redactor,
    connect: &ConnectOptions,
    request_timeout: Duration,
) -> Vec<String> {
    let mut problems = Vec::new();
    if worker.result_log
        && let Err(e) = report::write_to_log(result, redactor, &mut std::io::stdout().lock())
    {
        problems.push(format!("could not print the result: {e}"));
    }
    if let Some(cm) = &worker.result_configmap {
        let key = worker.configmap_key();
        // Masked as every other output is.
        let masked = report::json::redacted(result, redactor);
        match trim_to_fit(&masked, worker.configmap_budget()) {
            Ok(t) => {
                if !t.left_out.is_empty() {
                    eprintln!(
                        "zerodrop: the copy in ConfigMap {cm} leaves out {}",
                        t.left_out.join("; ")
                    );
                }
                if let Err(e) = store(connect, cm, &key, &t.json, request_timeout).await {
                    problems.push(format!("could not write the result to ConfigMap {cm}: {e}"));
                }
            }
            Err(e) => problems.push(format!("result not written to ConfigMap {cm}: {e}")),
        }
    }
    problems
}

/// A result trimmed to fit a ConfigMap, and what was left out.
#[derive(Debug)]
pub struct Trimmed {
    pub json: String,
    /// What was left out, in words (also recorded in the result's timeline); empty when the
    /// whole result fit.
    pub left_out: Vec<String>,
}

/// The result could not be made small enough.
#[derive(Debug, thiserror::Error)]
pub enum TrimError {
    /// Even without its failure log, per-second histograms and timeline details the result is
    /// larger than the budget.
    #[error(
        "the result takes {size} bytes even trimmed, more than the {budget} bytes it may take in the ConfigMap; the full result is in the pod log"
    )]
    TooLarge { size: usize, budget: usize },
    /// The result could not be serialised.
    #[error("cannot serialise the result: {0}")]
    Json(#[from] serde_json::Error),
}

/// Trims `result` until its JSON takes at most `budget` bytes. What goes first is what the
/// reports need least and what the rest still summarises:
/// 1. the failure log, thinned evenly over the run (every failure stays counted, per second
///    and overall, as `failures_not_kept`);
/// 2. the per-second latency histograms (each second keeps its counts and percentile summary);
/// 3. the trigger command's output;
/// 4. the details of Kubernetes Events (`note` events) in the timeline.
///
/// A `note` event (`ResultTrimmed`) saying what was left out is added to the timeline, so a
/// report rendered from the trimmed copy says so; the full result is in the pod log.
pub fn trim_to_fit(result: &RunResult, budget: usize) -> Result<Trimmed, TrimError> {
    let mut r = result.clone();
    let mut left_out: Vec<String> = Vec::new();
    // The note itself takes room: reserve it up front.
    let budget_for_data = budget.saturating_sub(600);
    if json_len(&r)? <= budget {
        return Ok(Trimmed {
            json: serde_json::to_string(&r)?,
            left_out,
        });
    }

    // 1. The failure log, thinned until it fits (at most a few passes: sizes are estimates).
    left_out.extend(thin_failure_log(&mut r, budget_for_data)?);

    // 2. Per-second histograms.
    if json_len(&r)? > budget_for_data {
        left_out.push(drop_second_histograms(&mut r));
    }

    // 3. The trigger command's output.
    if json_len(&r)? > budget_for_data
        && let Some(c) = r.rollout.as_mut().and_then(|ro| ro.command.as_mut())
        && !c.output.is_empty()
    {
        c.output.clear();
        left_out.push("the trigger command's output".into());
    }

    // 4. Event messages.
    if json_len(&r)? > budget_for_data {
        left_out.extend(clear_event_messages(&mut r));
    }

    note_trimmed(&mut r, &left_out);
    let json = serde_json::to_string(&r)?;
    if json.len() > budget {
        return Err(TrimError::TooLarge {
            size: json.len(),
            budget,
        });
    }
    Ok(Trimmed { json, left_out })
}

/// Thins the failure log until the result takes at most `budget_for_data` bytes or the log is empty;
/// says how many failures it left out, if any.
fn thin_failure_log(
    r: &mut RunResult,
    budget_for_data: usize,
) -> Result<Option<String>, serde_json::Error> {
    let total_failures = r.recorded.failures.len();
    let mut passes = 0;
    while json_len(r)? > budget_for_data && !r.recorded.failures.is_empty() && passes < 20 {
        passes += 1;
        let over = json_len(r)? - budget_for_data;
        let n = r.recorded.failures.len();
        let per = serde_json::to_string(&r.recorded.failures)?.len() / n.max(1);
        let drop = (over / per.max(1) + 1).min(n);
        thin_failures(r, n - drop);
    }
    let kept = r.recorded.failures.len();
    Ok((kept < total_failures).then(|| {
        format!(
            "{} of {total_failures} logged failures (every one is still counted)",
            total_failures - kept
        )
    }))
}

/// Empties every second's latency histogram (its counts and percentiles stay); says so.
fn drop_second_histograms(r: &mut RunResult) -> String {
    let empty = Hist::new().encode();
    let mut cells = 0;
    for s in &mut r.recorded.series {
        s.latency_hist = empty.clone();
        for c in &mut s.split {
            c.latency_hist = empty.clone();
            cells += 1;
        }
    }
    let split = if cells > 0 {
        format!(" and of {cells} per-template, per-revision cells (their counts are kept)")
    } else {
        String::new()
    };
    format!(
        "the per-second latency histograms of {} seconds (their percentiles are kept){split}",
        r.recorded.series.len()
    )
}

/// Clears the messages of Kubernetes Events in the timeline; says how many, if any.
fn clear_event_messages(r: &mut RunResult) -> Option<String> {
    let mut n = 0;
    for e in &mut r.timeline.events {
        if let EventKind::Note { message, .. } = &mut e.kind
            && !message.is_empty()
        {
            message.clear();
            n += 1;
        }
    }
    (n > 0).then(|| format!("the messages of {n} Kubernetes Events"))
}

/// The length of the result's JSON.
fn json_len(r: &RunResult) -> Result<usize, serde_json::Error> {
    serde_json::to_string(r).map(|s| s.len())
}

/// Adds the `ResultTrimmed` note saying what this copy leaves out.
fn note_trimmed(r: &mut RunResult, left_out: &[String]) {
    let mut message = String::from("to fit the ConfigMap, this copy leaves out ");
    let _ = write!(message, "{}", left_out.join("; "));
    message.push_str(". The full result is in the pod log (kubectl logs … | zerodrop report -).");
    let at = r.timeline.events.last().map(|e| e.at).unwrap_or_default();
    r.timeline.events.push(LifecycleEvent {
        at,
        source_time: None,
        pod: None,
        kind: EventKind::Note {
            reason: "ResultTrimmed".into(),
            message,
        },
    });
}

/// Keeps `keep` of the logged failures, spread evenly over the log so every part of the run
/// keeps examples; the rest are counted as not kept, in their own second and overall.
fn thin_failures(r: &mut RunResult, keep: usize) {
    let all = std::mem::take(&mut r.recorded.failures);
    let n = all.len();
    let mut last_slot = None;
    for (i, f) in all.into_iter().enumerate() {
        // Slot i*keep/n advances `keep` times over the n failures: keep the first of each.
        let slot = i * keep / n.max(1);
        if keep > 0 && last_slot != Some(slot) {
            last_slot = Some(slot);
            r.recorded.failures.push(f);
        } else {
            r.recorded.failures_not_kept += 1;
            let second = f.due.second();
            if let Some(s) = r.recorded.series.iter_mut().find(|s| s.second == second) {
                s.failures_not_kept += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generators_share_of_the_configmap_fits_together() {
        for n in [1u32, 2, 3, 10, 100] {
            let w = Worker {
                count: n,
                ..Worker::default()
            };
            let total = w.configmap_budget() * n as usize + n as usize * w.configmap_key().len();
            assert!(total <= CONFIGMAP_LIMIT, "{n}: {total}");
        }
    }
}
