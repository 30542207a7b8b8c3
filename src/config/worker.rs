//! The flags that make `zerodrop run` one generator of several (an Indexed Job's pod), as
//! typed ([`WorkerFlags`]), validated into a [`Worker`], and what a worker changes in the plan
//! and the Kubernetes configuration ([`shape`]): generator K of N sends every N-th request of
//! the schedule (`Plan::shard`), only generator 0 triggers the rollout and may undo it — the
//! others watch with the `external` trigger — and all of them start their load together once
//! every worker's pod runs. Where a worker's result goes is `distributed::worker`'s.

use super::parse::dns_subdomain;
use super::plan::Plan;
use super::problems::Problems;
use crate::cluster::kube::{KubeConfig, StartTogether, Trigger};
use crate::model::units;

/// The worker flags as the user typed them.
#[derive(Clone, Debug, Default)]
pub struct WorkerFlags {
    pub workers: Option<String>,
    pub worker_index: Option<String>,
    pub worker_pods: Option<String>,
    pub result_log: bool,
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

/// The worker settings; `None` when any of these flags has a problem.
pub fn from_args(w: &WorkerFlags, p: &mut Problems<'_>) -> Option<Worker> {
    let start = p.count();
    let count = match w.workers.as_deref().map(str::trim) {
        None => 1,
        Some(s) => match units::count(s).ok().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n <= 1000 => n,
            _ => {
                p.push(
                    "--workers",
                    format!("`{s}` is not a number of generators from 1 to 1000"),
                );
                1
            }
        },
    };
    // A single generator ignores the index: $JOB_COMPLETION_INDEX may be set by a Job that
    // runs zerodrop for reasons of its own.
    let index = match (count, w.worker_index.as_deref().map(str::trim)) {
        (1, _) => 0,
        (_, None) => {
            p.push(
                "--worker-index",
                format!(
                    "--workers {count} needs this generator's index: --worker-index K or \
                     $JOB_COMPLETION_INDEX (set by an Indexed Job)"
                ),
            );
            0
        }
        (n, Some(s)) => match units::count0(s).ok().and_then(|k| u32::try_from(k).ok()) {
            Some(k) if k < n => k,
            _ => {
                p.push(
                    "--worker-index",
                    format!("`{s}` is not an index from 0 to {}", n - 1),
                );
                0
            }
        },
    };
    if w.worker_pods.as_ref().is_some_and(|s| s.trim().is_empty()) {
        p.push("--worker-pods", "must not be empty");
    }
    if let Some(cm) = &w.result_configmap {
        p.check("--result-configmap", dns_subdomain(cm));
    }
    (p.count() == start).then(|| Worker {
        index,
        count,
        pods: w.worker_pods.clone(),
        result_log: w.result_log,
        result_configmap: w.result_configmap.clone(),
    })
}

/// Checks that the trigger can be shared by several generators. Generators other than 0
/// wait for the rollout as `external` does — by the workload's generation changing — so
/// a trigger that changes no generation could not be seen by them.
pub fn check_trigger(worker: &Worker, trigger: &Trigger, p: &mut Problems<'_>) {
    if worker.count == 1 {
        return;
    }
    let what = match trigger {
        Trigger::KillPod => "--trigger kill-pod deletes pods",
        Trigger::Selector { .. } => "--trigger selector switches the Service",
        _ => return,
    };
    p.push(
        "--workers",
        format!(
            "{what} without changing the workload's generation, so the other generators \
             could not see the rollout start: use one generator (--workers 1)"
        ),
    );
}

/// Makes the plan and the Kubernetes configuration this generator's: its share of the
/// schedule; for generators other than 0 the `external` trigger and no undo (generator 0
/// alone changes the cluster); and the start-together wait when the pods are named.
pub fn shape(worker: &Worker, plan: &mut Plan, cfg: &mut KubeConfig) {
    if worker.count == 1 {
        return;
    }
    plan.shard(worker.index, worker.count);
    if worker.index != 0 {
        cfg.trigger = Trigger::External;
        cfg.undo_on_failure = false;
    }
    cfg.start_together = worker.pods.as_ref().map(|selector| StartTogether {
        pod_selector: selector.clone(),
        count: worker.count,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Problem;

    fn args(workers: Option<&str>, index: Option<&str>) -> WorkerFlags {
        WorkerFlags {
            workers: workers.map(str::to_string),
            worker_index: index.map(str::to_string),
            ..WorkerFlags::default()
        }
    }

    /// The flags validated on their own.
    fn check(w: &WorkerFlags) -> Result<Worker, Vec<Problem>> {
        let mut p = Problems::new(None);
        let worker = from_args(w, &mut p);
        p.finish(worker)
            .map_err(|e| e.problems)
            .map(|w| w.expect("a worker when there is no problem"))
    }

    fn trigger_problems(w: &Worker, t: &Trigger) -> Vec<Problem> {
        let mut p = Problems::new(None);
        check_trigger(w, t, &mut p);
        p.finish(()).err().map(|e| e.problems).unwrap_or_default()
    }

    #[test]
    fn one_generator_ignores_an_index_set_by_someone_elses_job() {
        let w = check(&args(None, Some("7"))).expect("valid");
        assert_eq!((w.index, w.count), (0, 1));
    }

    #[test]
    fn several_generators_need_an_index_below_their_count() {
        let p = check(&args(Some("3"), None)).expect_err("no index");
        assert_eq!(p[0].place, "--worker-index");
        let p = check(&args(Some("3"), Some("3"))).expect_err("out of range");
        assert!(p[0].message.contains("0 to 2"), "{}", p[0]);
        let w = check(&args(Some("3"), Some("2"))).expect("valid");
        assert_eq!((w.index, w.count), (2, 3));
    }

    #[test]
    fn bad_counts_and_configmap_names_are_all_reported() {
        let a = WorkerFlags {
            workers: Some("many".into()),
            result_configmap: Some("Results_1".into()),
            ..WorkerFlags::default()
        };
        let places: Vec<String> = check(&a)
            .expect_err("invalid")
            .into_iter()
            .map(|p| p.place)
            .collect();
        assert_eq!(places, ["--workers", "--result-configmap"]);
    }

    #[test]
    fn triggers_that_change_no_generation_cannot_be_shared() {
        let w = check(&args(Some("2"), Some("0"))).expect("valid");
        assert!(!trigger_problems(&w, &Trigger::KillPod).is_empty());
        assert!(
            !trigger_problems(
                &w,
                &Trigger::Selector {
                    key: "v".into(),
                    value: "g".into()
                }
            )
            .is_empty()
        );
        assert!(trigger_problems(&w, &Trigger::Restart).is_empty());
        let one = Worker::default();
        assert!(trigger_problems(&one, &Trigger::KillPod).is_empty());
    }
}
