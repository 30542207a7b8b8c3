//! `trigger` (Prepared → Triggering → Triggered, or → Failed when the trigger command fails):
//! count the old pods, record the `Trigger` event, and send what starts the rollout.
//!
//! The `Trigger` event is the instant the run flow reads as the rollout's start, so it is taken
//! just before the request (or command) that starts it, after any reads it needs. The request
//! bodies are built by [`trigger`](super::trigger); this file sends them.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::DeleteParams;
use tokio::task::JoinHandle;

use super::KubeCluster;
use super::calls::Calls;
use super::error::{ApiCall, KubeError};
use super::service::ServiceInfo;
use super::state::{Rollout, State};
use super::trigger::{self, CommandOutcome, PatchKind, Trigger};
use super::workload::{Workload, WorkloadRef};
use crate::cluster::EventKind;
use crate::timeline::TimelineRecorder;

/// How a trigger that answered ended.
enum Sent {
    /// The rollout is under way: status snapshots older than this generation are ignored.
    From(i64),
    /// The trigger command failed. It may have changed the workload half way: undo (when
    /// asked) compares generations before rolling anything back.
    CommandFailed(KubeError),
}

impl KubeCluster {
    pub(super) async fn trigger_step(&mut self) -> Result<(), KubeError> {
        self.state.begin_trigger(&self.cfg.trigger)?;
        let KubeCluster {
            cfg,
            recorder,
            state,
            command,
            ..
        } = self;
        let State::Triggering(live, rollout) = state else {
            return Err(state.out_of_order("trigger"));
        };
        let starter = Starter {
            calls: Calls::new(&live.conn, cfg),
            recorder,
        };
        let sent = match &cfg.trigger {
            Trigger::Restart => starter.restart().await,
            Trigger::Image { container, image } => starter.image(container, image).await,
            Trigger::Patch { file, kind } => starter.patch_file(file, *kind).await,
            Trigger::Exec { argv } => starter.exec(argv, command).await,
            Trigger::External => {
                starter.mark();
                Ok(Sent::From(0))
            }
            Trigger::KillPod => {
                rollout.kill_task = Some(starter.kill_pods(rollout));
                Ok(Sent::From(0))
            }
            Trigger::Selector { key, value } => starter.selector(&live.service, key, value).await,
        };
        // An error leaves the run triggering: nothing is known to have failed (shutdown judges
        // it by the rollout's deadline).
        match sent? {
            Sent::From(generation) => self.state.triggered(generation),
            Sent::CommandFailed(e) => {
                self.state.failed();
                Err(e)
            }
        }
    }
}

/// `kubectl rollout restart`'s refusal of a paused Deployment.
pub(super) fn refuse_paused(workload: &Workload, wref: &WorkloadRef) -> Result<(), KubeError> {
    if workload.paused() {
        return Err(KubeError::BadInput(format!(
            "{wref}: can't restart paused deployment (run rollout resume first)"
        )));
    }
    Ok(())
}

/// What one trigger needs: the calls and the timeline its `Trigger` event goes to.
struct Starter<'a> {
    calls: Calls<'a>,
    recorder: &'a TimelineRecorder,
}

impl Starter<'_> {
    /// Records the `Trigger` event.
    fn mark(&self) {
        let description = self.calls.cfg.trigger.describe();
        self.recorder.now(None, EventKind::Trigger { description });
    }

    async fn restart(&self) -> Result<Sent, KubeError> {
        let w = self.calls.get_workload().await?;
        refuse_paused(&w, &self.calls.cfg.workload)?;
        let at = trigger::rfc3339_now(&jiff::Zoned::now());
        self.mark();
        let body = trigger::restart_patch(&at);
        let generation = self
            .calls
            .patch_workload(PatchKind::Strategic, &body)
            .await?;
        Ok(Sent::From(generation))
    }

    async fn image(&self, container: &str, image: &str) -> Result<Sent, KubeError> {
        let w = self.calls.get_workload().await?;
        let template = w.template().cloned().unwrap_or_default();
        let body = trigger::image_patch(&template, container, image)?;
        self.mark();
        let generation = self
            .calls
            .patch_workload(PatchKind::Strategic, &body)
            .await?;
        Ok(Sent::From(generation))
    }

    async fn patch_file(&self, file: &Path, kind: PatchKind) -> Result<Sent, KubeError> {
        let body = trigger::read_patch(file, kind)?;
        self.mark();
        Ok(Sent::From(self.calls.patch_workload(kind, &body).await?))
    }

    /// Runs the command (bounded by the rollout timeout), keeping its outcome for the report.
    async fn exec(
        &self,
        argv: &[String],
        command: &mut Option<CommandOutcome>,
    ) -> Result<Sent, KubeError> {
        let timeout = self.calls.cfg.rollout_timeout;
        self.mark();
        let out = trigger::run_command(argv, timeout).await?;
        let code = out
            .code
            .map_or_else(|| "no exit code".to_string(), |c| format!("exit code {c}"));
        let status = if out.timed_out {
            format!(
                "did not finish within --rollout-timeout {} s",
                timeout.as_secs()
            )
        } else {
            format!("ended with {code}")
        };
        self.recorder.now(
            None,
            EventKind::Note {
                reason: "TriggerCommand".into(),
                message: format!("`{}` {status}\n{}", argv.join(" "), out.output),
            },
        );
        let ok = out.succeeded();
        let last = out.output.lines().last().unwrap_or("").to_string();
        *command = Some(out);
        if !ok {
            return Ok(Sent::CommandFailed(KubeError::Rollout(format!(
                "trigger command `{}` {status}: {last}",
                argv.join(" ")
            ))));
        }
        Ok(Sent::From(self.calls.get_workload().await?.generation()))
    }

    /// Starts deleting the old pods one at a time, in name order; the deletions go on after
    /// the trigger returns.
    fn kill_pods(&self, rollout: &Rollout) -> JoinHandle<Result<(), KubeError>> {
        let mut names: Vec<String> = rollout.old_pods.values().cloned().collect();
        names.sort();
        let cfg = self.calls.cfg;
        let (client, ns) = (self.calls.client(), self.calls.ns().to_string());
        self.mark();
        tokio::spawn(kill_pods(
            client,
            ns,
            names,
            cfg.interval,
            cfg.request_timeout,
        ))
    }

    /// Blue-green: points the Service's selector KEY at VALUE.
    async fn selector(
        &self,
        service: &ServiceInfo,
        key: &str,
        value: &str,
    ) -> Result<Sent, KubeError> {
        self.mark();
        let body = trigger::selector_patch(key, value);
        self.calls.patch_service(&service.name, &body).await?;
        Ok(Sent::From(0))
    }
}

/// Deletes pods one at a time, `interval` apart.
async fn kill_pods(
    client: kube::Client,
    ns: String,
    names: Vec<String>,
    interval: Duration,
    timeout: Duration,
) -> Result<(), KubeError> {
    let api: Api<Pod> = Api::namespaced(client, &ns);
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        let call = ApiCall::new("delete", "pods", "", &ns).named(name);
        match tokio::time::timeout(timeout, api.delete(name, &DeleteParams::default())).await {
            Ok(Ok(_)) => {}
            // Already gone (its controller replaced it): nothing to kill.
            Ok(Err(kube::Error::Api(s))) if s.is_not_found() => {}
            Ok(Err(e)) => return Err(KubeError::from_kube(call, e)),
            Err(_) => {
                return Err(KubeError::Slow {
                    call,
                    secs: timeout.as_secs(),
                });
            }
        }
    }
    Ok(())
}
