//! `wait_complete` (Triggered → Completed | Failed): judges the rollout from the watches' last
//! known state as `kubectl rollout status` would, then waits for every old pod to be gone.
//!
//! `--rollout-timeout` is enforced here, and only here for a Kubernetes run (the run flow
//! leaves it to this runtime): at the deadline the error says what the rollout was still
//! waiting for, in kubectl's words. The deadline itself is [`Rollout::deadline`].
//!
//! [`Rollout::deadline`]: super::state::Rollout::deadline

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::KubeCluster;
use super::error::KubeError;
use super::state::{Live, State, Triggered};
use super::status::{RolloutStatus, rollout_status};
use super::trigger::Trigger;
use super::watch::lock;
use crate::cluster::{EventKind, RolloutDone};
use crate::timeline::TimelineRecorder;

/// How the rollout stands at one check.
enum Progress {
    Waiting(String),
    Done(String),
    Failed(String),
}

impl KubeCluster {
    pub(super) async fn wait_step(&mut self) -> Result<RolloutDone, KubeError> {
        // Counted from the trigger's start: the error names what the rollout was still
        // waiting for.
        let timeout = self.cfg.rollout_timeout;
        let (deadline, mut changed) = match &self.state {
            State::Triggered(t) => (t.rollout.deadline(timeout), t.live.watches.changed.clone()),
            other => return Err(other.out_of_order("wait_complete")),
        };
        loop {
            let last = match self.check().await? {
                Progress::Done(summary) => {
                    self.recorder.now(None, EventKind::RolloutComplete);
                    self.state.completed()?;
                    return Ok(RolloutDone { summary });
                }
                Progress::Failed(m) => return Err(self.fail(m)),
                Progress::Waiting(m) => m,
            };
            // Woken by any watch; the cap re-checks the pod killer's progress.
            let cap = Instant::now() + Duration::from_millis(250);
            let _ = tokio::time::timeout_at(deadline.min(cap), changed.changed()).await;
            if Instant::now() >= deadline {
                let m = format!(
                    "the rollout did not complete within --rollout-timeout {} s: {last}",
                    timeout.as_secs()
                );
                return Err(self.fail(m));
            }
        }
    }

    /// One look: a watch failure no retry will cure, the pod killer's end, then the rollout.
    async fn check(&mut self) -> Result<Progress, KubeError> {
        let State::Triggered(t) = &mut self.state else {
            return Err(self.state.out_of_order("wait_complete"));
        };
        if let Some(f) = t.live.watches.take_fatal() {
            return Err(f);
        }
        if let Some(task) = t.rollout.kill_task.as_mut()
            && task.is_finished()
        {
            let res = task.await.unwrap_or_else(|e| {
                Err(KubeError::Rollout(format!("the pod killer stopped: {e}")))
            });
            t.rollout.kill_task = None;
            res?;
        }
        Ok(t.progress(&self.cfg.trigger, &self.recorder))
    }

    /// Moves to Failed (which `shutdown` rolls back when asked) and words the error. The run
    /// flow records the `RolloutFailed` event, once, whichever side noticed the failure.
    ///
    /// Rolling back here could be cut short: the flow drops this future when interrupted.
    /// `shutdown` is always awaited to its end.
    fn fail(&mut self, reason: String) -> KubeError {
        self.state.failed();
        KubeError::Rollout(reason)
    }
}

impl Triggered {
    /// Judges the rollout from the watches' last known state.
    fn progress(&mut self, trigger: &Trigger, recorder: &TimelineRecorder) -> Progress {
        if let Trigger::Selector { key, value } = trigger {
            return selector_progress(&self.live, key, value);
        }
        let Some(view) = self.live.watches.workload_view() else {
            return Progress::Waiting("waiting for the workload's status".into());
        };
        let before = self.rollout.generation_before;
        if *trigger == Trigger::External && view.generation == before {
            return Progress::Waiting(format!(
                "waiting for a rollout to start (generation {})",
                view.generation
            ));
        }
        if matches!(trigger, Trigger::Exec { .. }) && self.min_generation == before {
            return Progress::Done(
                "the command changed nothing in the workload: no rollout".into(),
            );
        }
        if view.generation < self.min_generation {
            return Progress::Waiting("waiting for the watch to see the new generation".into());
        }
        if let Some(t) = &self.rollout.kill_task
            && !t.is_finished()
        {
            return Progress::Waiting("deleting pods one at a time".into());
        }
        let msg = match rollout_status(&view) {
            RolloutStatus::Failed(m) => return Progress::Failed(m),
            RolloutStatus::Waiting(m) => return Progress::Waiting(m),
            RolloutStatus::Done(m) => m,
        };
        if !self.status_done_noted {
            self.status_done_noted = true;
            recorder.now(
                None,
                EventKind::Note {
                    reason: "RolloutStatusComplete".into(),
                    message: msg.clone(),
                },
            );
        }
        self.old_pods_gone(msg)
    }

    /// kubectl says done (`done`) while old pods may still be terminating; the settle period
    /// must not start until they are gone.
    fn old_pods_gone(&self, done: String) -> Progress {
        let old_pods = &self.rollout.old_pods;
        let pods = lock(&self.live.watches.pods);
        let lingering: Vec<&str> = pods
            .known()
            .values()
            .filter(|p| old_pods.contains_key(&p.uid) && p.deletion.is_some())
            .map(|p| p.name.as_str())
            .collect();
        if !lingering.is_empty() {
            return Progress::Waiting(format!(
                "{done}; waiting for {} old pods to go: {}",
                lingering.len(),
                lingering.join(", ")
            ));
        }
        let replaced = old_pods
            .keys()
            .filter(|uid| !pods.known().values().any(|p| &&p.uid == uid))
            .count();
        Progress::Done(format!("{done}; {replaced} old pods gone"))
    }
}

/// Blue-green convergence: every endpoint belongs to a pod carrying KEY=VALUE and one is ready.
fn selector_progress(live: &Live, key: &str, value: &str) -> Progress {
    let endpoints = live.watches.endpoints();
    let pods = lock(&live.watches.pods);
    let labels_of = |pod: &Option<String>| {
        pod.as_ref()
            .and_then(|p| pods.known().get(p))
            .and_then(|p| p.labels.get(key))
            .map(String::as_str)
    };
    let stale: BTreeSet<&str> = endpoints
        .iter()
        .filter(|(_, e)| labels_of(&e.pod) != Some(value))
        .map(|(a, _)| a.as_str())
        .collect();
    let ready = endpoints.values().filter(|e| e.conditions.ready).count();
    if stale.is_empty() && ready > 0 {
        Progress::Done(format!(
            "Service {} converged on {key}={value}: {ready} ready endpoints",
            live.service.name
        ))
    } else {
        Progress::Waiting(format!(
            "waiting for Service {} to converge on {key}={value}: {} endpoints still elsewhere, {ready} ready",
            live.service.name,
            stale.len()
        ))
    }
}
