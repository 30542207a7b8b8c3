//! One `zerodrop run` as a worker of a distributed run (an Indexed Job's pod) and where its
//! result goes besides the terminal: after `report::RESULT_MARKER` in the log (so `zerodrop
//! report -` and `zerodrop merge -` find it in `kubectl logs` output), and into a ConfigMap.
//!
//! Owns the flags that make a run one of N generators, their validation, and what they change
//! in the plan and the Kubernetes configuration: generator K of N sends every N-th request of
//! the schedule (`Plan::shard`), only generator 0 triggers the rollout and may undo it — the
//! others watch with the `external` trigger and stop on the same observed events — and all of
//! them start their load together once every worker's pod runs (Kubernetes is the coordinator;
//! there is none of our own). It also owns trimming a result to fit a ConfigMap.
//!
//! It must not talk to the API server itself (that is `cluster::kube`) nor render reports.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cluster::EventKind;
use crate::cluster::LifecycleEvent;
use crate::cluster::kube::{ConnectOptions, KubeConfig, StartTogether, Trigger};
use crate::distributed::result_store::store;
use crate::plan::{Plan, Problem};
use crate::record::Hist;
use crate::report::{self, redact::Redactor};
use crate::result::RunResult;

/// The most a ConfigMap may hold (data keys and values together).
pub const CONFIGMAP_LIMIT: usize = 1024 * 1024;

/// Flags of `zerodrop run` for in-cluster and distributed runs.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "In-cluster and distributed runs")]
pub struct WorkerArgs {
    /// Generators sharing this run; each sends every N-th request (rate/N). `zerodrop manifest
    /// job --workers N` makes an Indexed Job of N.
    #[arg(long, value_name = "N")]
    pub workers: Option<String>,
    /// This generator's index, 0 to N-1 (an Indexed Job sets $JOB_COMPLETION_INDEX). Only
    /// generator 0 triggers the rollout.
    #[arg(long = "worker-index", env = "JOB_COMPLETION_INDEX", value_name = "K")]
    pub worker_index: Option<String>,
    /// Label selector of every generator's pod: wait until all N run, then start the load
    /// together.
    #[arg(long = "worker-pods", value_name = "SELECTOR")]
    pub worker_pods: Option<String>,
    /// Print the result as one line of JSON after a marker line on standard output, for
    /// `kubectl logs job/NAME | zerodrop report -`.
    #[arg(long = "result-log")]
    pub result_log: bool,
    /// Also patch the result into this ConfigMap (key result-K.json), trimmed to fit its 1 MiB.
    #[arg(long = "result-configmap", value_name = "NAME")]
    pub result_configmap: Option<String>,
}

/// The validated worker settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub index: u32,
    pub count: u32,
    pub pods: Option<String>,
    pub result_log: bool,
    pub result_configmap: Option<String>,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            index: 0,
            count: 1,
            pods: None,
            result_log: false,
            result_configmap: None,
        }
    }
}

fn problem(place: &str, message: impl Into<String>) -> Problem {
    Problem {
        place: place.to_string(),
        message: message.into(),
    }
}

/// A DNS-1123 subdomain, what Kubernetes requires of a ConfigMap's name.
pub fn dns_subdomain(s: &str) -> Result<(), String> {
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends_ok = s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    if s.is_empty() || s.len() > 253 || !ok_chars || !ends_ok {
        return Err(format!(
            "`{s}` is not a valid Kubernetes name: lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters"
        ));
    }
    Ok(())
}

impl WorkerArgs {
    /// Validates the flags; every problem is returned, each naming its flag.
    pub fn check(&self) -> Result<Worker, Vec<Problem>> {
        let mut problems = Vec::new();
        let count = match self.workers.as_deref().map(str::trim) {
            None => 1,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    problems.push(problem(
                        "--workers",
                        format!("`{s}` is not a number of generators from 1 to 1000"),
                    ));
                    1
                }
            },
        };
        // A single generator ignores the index: $JOB_COMPLETION_INDEX may be set by a Job that
        // runs zerodrop for reasons of its own.
        let index = match (count, self.worker_index.as_deref().map(str::trim)) {
            (1, _) => 0,
            (_, None) => {
                problems.push(problem(
                    "--worker-index",
                    format!(
                        "--workers {count} needs this generator's index: --worker-index K or \
                         $JOB_COMPLETION_INDEX (set by an Indexed Job)"
                    ),
                ));
                0
            }
            (n, Some(s)) => match s.parse::<u32>() {
                Ok(k) if k < n => k,
                _ => {
                    problems.push(problem(
                        "--worker-index",
                        format!("`{s}` is not an index from 0 to {}", n - 1),
                    ));
                    0
                }
            },
        };
        if let Some(p) = &self.worker_pods
            && p.trim().is_empty()
        {
            problems.push(problem("--worker-pods", "must not be empty"));
        }
        if let Some(cm) = &self.result_configmap
            && let Err(m) = dns_subdomain(cm)
        {
            problems.push(problem("--result-configmap", m));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Worker {
            index,
            count,
            pods: self.worker_pods.clone(),
            result_log: self.result_log,
            result_configmap: self.result_configmap.clone(),
        })
    }
}

impl Worker {
    /// Checks that the trigger can be shared by several generators. Generators other than 0
    /// wait for the rollout as `external` does — by the workload's generation changing — so
    /// a trigger that changes no generation could not be seen by them.
    pub fn check_trigger(&self, trigger: &Trigger) -> Result<(), Problem> {
        if self.count == 1 {
            return Ok(());
        }
        let what = match trigger {
            Trigger::KillPod => "--trigger kill-pod deletes pods",
            Trigger::Selector { .. } => "--trigger selector switches the Service",
            _ => return Ok(()),
        };
        Err(problem(
            "--workers",
            format!(
                "{what} without changing the workload's generation, so the other generators \
                 could not see the rollout start: use one generator (--workers 1)"
            ),
        ))
    }

    /// Makes the plan and the Kubernetes configuration this generator's: its share of the
    /// schedule; for generators other than 0 the `external` trigger and no undo (generator 0
    /// alone changes the cluster); and the start-together wait when the pods are named.
    pub fn shape(&self, plan: &mut Plan, cfg: &mut KubeConfig) {
        if self.count == 1 {
            return;
        }
        plan.shard(self.index, self.count);
        if self.index != 0 {
            cfg.trigger = Trigger::External;
            cfg.undo_on_failure = false;
        }
        cfg.start_together = self.pods.as_ref().map(|selector| StartTogether {
            pod_selector: selector.clone(),
            count: self.count,
        });
    }

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
    for s in &mut r.recorded.series {
        s.latency_hist = empty.clone();
    }
    format!(
        "the per-second latency histograms of {} seconds (their percentiles are kept)",
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

    fn args(workers: Option<&str>, index: Option<&str>) -> WorkerArgs {
        WorkerArgs {
            workers: workers.map(str::to_string),
            worker_index: index.map(str::to_string),
            ..WorkerArgs::default()
        }
    }

    #[test]
    fn one_generator_ignores_an_index_set_by_someone_elses_job() {
        let w = args(None, Some("7")).check().expect("valid");
        assert_eq!((w.index, w.count), (0, 1));
    }

    #[test]
    fn several_generators_need_an_index_below_their_count() {
        let p = args(Some("3"), None).check().expect_err("no index");
        assert_eq!(p[0].place, "--worker-index");
        let p = args(Some("3"), Some("3"))
            .check()
            .expect_err("out of range");
        assert!(p[0].message.contains("0 to 2"), "{}", p[0]);
        let w = args(Some("3"), Some("2")).check().expect("valid");
        assert_eq!((w.index, w.count), (2, 3));
    }

    #[test]
    fn bad_counts_and_configmap_names_are_all_reported() {
        let a = WorkerArgs {
            workers: Some("many".into()),
            result_configmap: Some("Results_1".into()),
            ..WorkerArgs::default()
        };
        let places: Vec<String> = a
            .check()
            .expect_err("invalid")
            .into_iter()
            .map(|p| p.place)
            .collect();
        assert_eq!(places, ["--workers", "--result-configmap"]);
    }

    #[test]
    fn triggers_that_change_no_generation_cannot_be_shared() {
        let w = args(Some("2"), Some("0")).check().expect("valid");
        assert!(w.check_trigger(&Trigger::KillPod).is_err());
        assert!(
            w.check_trigger(&Trigger::Selector {
                key: "v".into(),
                value: "g".into()
            })
            .is_err()
        );
        assert!(w.check_trigger(&Trigger::Restart).is_ok());
        let one = Worker::default();
        assert!(one.check_trigger(&Trigger::KillPod).is_ok());
    }

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
