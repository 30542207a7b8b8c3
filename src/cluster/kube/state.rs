//! Where a [`KubeCluster`](super::KubeCluster) is in its run, with the data each phase needs
//! held in its variant, in the spirit of kube-runtime's `watcher::State`.
//!
//! ```text
//! New ─prepare─► Prepared ─trigger─► Triggering ─answered─► Triggered ─wait_complete─► Completed
//!                                        │                      └──────────────────► Failed
//!                                        └─ the trigger command failed ────────────► Failed
//! any ─shutdown─► ShutDown
//! ```
//!
//! Every transition here is synchronous and replaces the state by value, so none is ever
//! half-done across an `await`: a step the run flow drops mid-way (an interrupt) leaves a state
//! `shutdown` can still clean up. A call in the wrong phase is one explicit error,
//! [`KubeError::OutOfOrder`], instead of a flag nobody checked.
//!
//! This module owns no I/O: the phase files (`prepare`, `start`, `complete`, `shutdown`) make
//! the calls and move the state on through these transitions.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::connect::Connection;
use super::error::KubeError;
use super::service::ServiceInfo;
use super::trigger::Trigger;
use super::watch::{Watches, lock};

/// The phases of one run of the Kubernetes runtime.
pub enum State {
    /// Built and not prepared; `prepare` connects unless a connection was given.
    New { conn: Option<Connection> },
    /// The watches run and the workload is ready for load. Nothing is rolled yet.
    Prepared(Live),
    /// The trigger began: the old pods are counted and the request (or command) that starts
    /// the rollout is under way. A trigger that failed or was interrupted stays here.
    Triggering(Live, Rollout),
    /// The trigger answered: `wait_complete` judges the rollout.
    Triggered(Triggered),
    /// `wait_complete` saw the rollout through and every old pod gone.
    Completed(Live),
    /// The rollout, or the command that triggered it, failed: `shutdown` rolls back when asked.
    Failed(Live, Rollout),
    /// `shutdown` ran: the watches are stopped and nothing of the run is still running.
    ShutDown,
}

/// What `prepare` found and started: what every later phase needs.
pub struct Live {
    pub conn: Connection,
    pub service: ServiceInfo,
    pub watches: Watches,
    /// The workload's generation when the watches had listed.
    pub generation: i64,
}

/// A rollout under way: what the trigger counted and started.
pub struct Rollout {
    /// When the trigger began: the rollout timeout counts from here.
    pub triggered_at: Instant,
    /// Pods present at the trigger: uid → name (StatefulSet pods come back under the same name).
    pub old_pods: BTreeMap<String, String>,
    /// The workload's generation before the trigger: a later one means it was changed.
    pub generation_before: i64,
    /// The kill-pod trigger's deletions, which go on after the trigger returned.
    pub kill_task: Option<JoinHandle<Result<(), KubeError>>>,
}

/// A triggered rollout, as `wait_complete` judges it.
pub struct Triggered {
    pub live: Live,
    pub rollout: Rollout,
    /// The generation the trigger's answer produced: older status snapshots are ignored.
    pub min_generation: i64,
    /// kubectl's verdict ("successfully rolled out") is on the timeline already.
    pub status_done_noted: bool,
}

impl Rollout {
    /// Starts counting a rollout: the pods present now are the old ones, and from now on a new
    /// pod is a new one.
    pub fn begin(live: &Live, trigger: &Trigger) -> Rollout {
        let triggered_at = Instant::now();
        let mut pods = lock(&live.watches.pods);
        pods.differ.triggered = true;
        let old_pods = pods
            .known()
            .values()
            .map(|p| (p.uid.clone(), p.name.clone()))
            .collect();
        drop(pods);
        // `external` keeps the generation seen when the watches started: a rollout begun during
        // the baseline (a deploy step beside zerodrop, or generator 0 of a distributed run
        // starting a moment before this one) is still seen as the rollout.
        let generation_before = match live.watches.workload_view() {
            Some(v) if *trigger != Trigger::External => v.generation,
            _ => live.generation,
        };
        Rollout {
            triggered_at,
            old_pods,
            generation_before,
            kill_task: None,
        }
    }

    /// The instant `--rollout-timeout` runs out, counted from the trigger. The one place the
    /// rollout's deadline is defined: `wait_complete` fails at it, `shutdown` judges by it.
    pub fn deadline(&self, timeout: Duration) -> Instant {
        self.triggered_at + timeout
    }
}

impl State {
    /// The phase, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            State::New { .. } => "not prepared",
            State::Prepared(_) => "prepared",
            State::Triggering(..) => "still triggering",
            State::Triggered(_) => "triggered",
            State::Completed(_) => "completed",
            State::Failed(..) => "failed",
            State::ShutDown => "shut down",
        }
    }

    /// The error for `call` made in this phase.
    pub fn out_of_order(&self, call: &'static str) -> KubeError {
        KubeError::OutOfOrder {
            call,
            phase: self.name(),
        }
    }

    /// Replaces the state by value through `step`, which gets the current state and moves it
    /// on or refuses it, for `call` made in the wrong phase. Synchronous, so never half-done.
    fn advance(
        &mut self,
        call: &'static str,
        step: impl FnOnce(State) -> Moved,
    ) -> Result<(), KubeError> {
        match step(std::mem::replace(self, State::ShutDown)) {
            Moved::To(next) => {
                *self = next;
                Ok(())
            }
            Moved::Refused(current) => {
                *self = current;
                Err(self.out_of_order(call))
            }
        }
    }

    /// `prepare` succeeded: New → Prepared.
    pub fn prepared(&mut self, live: Live) -> Result<(), KubeError> {
        self.advance("prepare", |s| match s {
            State::New { .. } => Moved::To(State::Prepared(live)),
            other => Moved::Refused(other),
        })
    }

    /// `trigger` begins: Prepared → Triggering.
    pub fn begin_trigger(&mut self, trigger: &Trigger) -> Result<(), KubeError> {
        self.advance("trigger", |s| match s {
            State::Prepared(live) => {
                let rollout = Rollout::begin(&live, trigger);
                Moved::To(State::Triggering(live, rollout))
            }
            other => Moved::Refused(other),
        })
    }

    /// The trigger answered: Triggering → Triggered, judged from `min_generation` on.
    pub fn triggered(&mut self, min_generation: i64) -> Result<(), KubeError> {
        self.advance("trigger", |s| match s {
            State::Triggering(live, rollout) => Moved::To(State::Triggered(Triggered {
                live,
                rollout,
                min_generation,
                status_done_noted: false,
            })),
            other => Moved::Refused(other),
        })
    }

    /// The rollout is complete: Triggered → Completed.
    pub fn completed(&mut self) -> Result<(), KubeError> {
        self.advance("wait_complete", |s| match s {
            State::Triggered(t) => Moved::To(State::Completed(t.live)),
            other => Moved::Refused(other),
        })
    }

    /// The rollout (Triggered) or its trigger command (Triggering) failed → Failed. Any other
    /// phase is left as it is: only a rollout that was started can fail.
    pub fn failed(&mut self) {
        *self = match std::mem::replace(self, State::ShutDown) {
            State::Triggering(live, rollout) => State::Failed(live, rollout),
            State::Triggered(t) => State::Failed(t.live, t.rollout),
            other => other,
        };
    }

    /// The rollout started, whatever became of it since.
    pub fn rollout(&self) -> Option<(&Live, &Rollout)> {
        match self {
            State::Triggering(live, r) | State::Failed(live, r) => Some((live, r)),
            State::Triggered(t) => Some((&t.live, &t.rollout)),
            _ => None,
        }
    }

    /// Did the rollout fail or run out of time? A rollout still triggering or triggered at
    /// shutdown is judged by its deadline: past it, it timed out (a trigger request that
    /// outlived `--rollout-timeout`); before it, the run was interrupted and nothing failed.
    pub fn rollout_failed(&self, timeout: Duration) -> bool {
        match self {
            State::Failed(..) => true,
            State::Triggering(_, r) => Instant::now() >= r.deadline(timeout),
            State::Triggered(t) => Instant::now() >= t.rollout.deadline(timeout),
            _ => false,
        }
    }

    /// Stops the kill-pod trigger's deletions, if they still run.
    pub fn abort_kill_task(&mut self) {
        let task = match self {
            State::Triggering(_, r) | State::Failed(_, r) => r.kill_task.take(),
            State::Triggered(t) => t.rollout.kill_task.take(),
            _ => None,
        };
        if let Some(t) = task {
            t.abort();
        }
    }

    /// `shutdown`: any → ShutDown, handing back the live part (watches to stop), if any.
    pub fn shut_down(&mut self) -> Option<Live> {
        match std::mem::replace(self, State::ShutDown) {
            State::Prepared(live)
            | State::Triggering(live, _)
            | State::Completed(live)
            | State::Failed(live, _) => Some(live),
            State::Triggered(t) => Some(t.live),
            State::New { .. } | State::ShutDown => None,
        }
    }
}

/// What a transition made of the state: the next one, or the same one, refused.
enum Moved {
    To(State),
    Refused(State),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::kube::{KubeCluster, KubeConfig, WorkloadRef};
    use crate::cluster::{Cluster, ClusterError};
    use crate::model::clock::RunClock;
    use crate::timeline::TimelineRecorder;

    fn recorder() -> TimelineRecorder {
        TimelineRecorder::new(RunClock::start())
    }

    fn cluster() -> KubeCluster {
        let cfg = KubeConfig::new(WorkloadRef::parse("deploy/web").expect("ref"));
        KubeCluster::new(cfg, recorder())
    }

    /// Watches against a port nothing listens on: they retry in the background, unlisted,
    /// which is all a transition needs of them.
    fn live() -> Live {
        super::super::connect::install_crypto_provider();
        let url = "http://127.0.0.1:9".parse().expect("url");
        let client = kube::Client::try_from(kube::Config::new(url)).expect("client");
        let spec = super::super::watch::WatchSpec {
            namespace: "shop".into(),
            kind: super::super::WorkloadKind::Deployment,
            workload: "web".into(),
            pod_selector: "app=web".into(),
            service: "web".into(),
        };
        Live {
            watches: Watches::start(&client, &spec, &recorder()),
            conn: Connection {
                client,
                namespace: "shop".into(),
                server: "http://127.0.0.1:9".into(),
            },
            service: ServiceInfo::default(),
            generation: 1,
        }
    }

    #[tokio::test]
    async fn a_trigger_before_prepare_is_one_error_naming_the_phase() {
        let mut c = cluster();
        let e = c.trigger().await.expect_err("not prepared");
        assert!(
            matches!(&e, ClusterError::CouldNotRun(m) if m.starts_with(
                "trigger was called while the cluster was not prepared: the calls go prepare, trigger"
            )),
            "{e}"
        );
        assert_eq!(e.exit_code(), crate::model::exit::COULD_NOT_RUN);
        assert_eq!(c.phase(), "not prepared", "a refused call changes nothing");
    }

    #[tokio::test]
    async fn waiting_for_a_rollout_that_was_never_triggered_is_refused() {
        let mut c = cluster();
        let e = c.wait_complete().await.expect_err("not triggered");
        assert!(e.to_string().starts_with("wait_complete was called"), "{e}");
    }

    #[tokio::test]
    async fn a_shut_down_cluster_refuses_to_prepare_again_and_undid_nothing() {
        let mut c = cluster();
        c.shutdown().await;
        assert_eq!(c.phase(), "shut down");
        let e = c.prepare().await.expect_err("shut down");
        assert!(
            e.to_string()
                .starts_with("prepare was called while the cluster was shut down"),
            "{e}"
        );
        assert_eq!(c.undo_outcome(), None);
    }

    #[tokio::test]
    async fn a_rollout_goes_prepared_triggering_triggered_completed_and_only_that_way() {
        let mut s = State::Prepared(live());
        assert!(
            s.completed().is_err(),
            "nothing to complete before a trigger"
        );
        assert!(s.triggered(2).is_err(), "the trigger has not begun");
        assert_eq!(s.name(), "prepared");
        s.begin_trigger(&Trigger::Restart).expect("begin");
        assert_eq!(s.name(), "still triggering");
        assert!(
            s.begin_trigger(&Trigger::Restart).is_err(),
            "one trigger per run"
        );
        s.triggered(2).expect("answered");
        let State::Triggered(t) = &s else {
            panic!("{}", s.name())
        };
        assert_eq!((t.min_generation, t.status_done_noted), (2, false));
        s.completed().expect("complete");
        s.failed();
        assert_eq!(
            s.name(),
            "completed",
            "a completed rollout cannot fail any more"
        );
        assert!(!s.rollout_failed(Duration::ZERO));
        assert!(
            s.shut_down().is_some(),
            "the watches are handed back to be stopped"
        );
        assert_eq!(s.name(), "shut down");
        assert!(s.shut_down().is_none());
    }

    #[tokio::test]
    async fn a_failed_trigger_command_fails_the_rollout_and_a_prepared_run_cannot_fail() {
        let mut s = State::Prepared(live());
        s.failed();
        assert_eq!(s.name(), "prepared");
        assert!(!s.rollout_failed(Duration::ZERO), "nothing was rolled");
        s.begin_trigger(&Trigger::Exec { argv: vec![] })
            .expect("begin");
        s.failed();
        assert_eq!(s.name(), "failed");
        assert!(s.rollout_failed(Duration::from_secs(600)));
        assert!(
            s.rollout().is_some(),
            "undo knows the generation before the trigger"
        );
    }

    #[tokio::test]
    async fn a_rollout_stopped_before_its_deadline_did_not_fail_and_one_past_it_timed_out() {
        let mut s = State::Prepared(live());
        s.begin_trigger(&Trigger::Restart).expect("begin");
        s.triggered(2).expect("answered");
        assert!(!s.rollout_failed(Duration::from_secs(600)), "interrupted");
        assert!(s.rollout_failed(Duration::ZERO), "timed out");
    }

    #[tokio::test]
    async fn the_old_pods_and_generation_are_counted_when_the_trigger_begins() {
        let l = live();
        let r = Rollout::begin(&l, &Trigger::External);
        assert!(r.old_pods.is_empty() && r.kill_task.is_none());
        assert_eq!(r.generation_before, 1, "the generation seen at prepare");
        assert!(
            lock(&l.watches.pods).differ.triggered,
            "new pods are new from now on"
        );
        assert_eq!(
            r.deadline(Duration::from_secs(5)),
            r.triggered_at + Duration::from_secs(5)
        );
    }
}
