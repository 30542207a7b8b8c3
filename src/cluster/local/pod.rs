//! One pod's life, as the kubelet lives it: start the container, run the startup then the
//! readiness probe, publish the endpoint's conditions, restart a container that crashes after
//! it was ready, and terminate on request — endpoint de-registration and preStop at the same
//! instant, then the stop signal, then SIGKILL when the grace period (counted from the start of
//! termination, preStop included; never less than 2 s after preStop, as the kubelet allows) runs
//! out. Every step is recorded on the timeline as it happens.
//!
//! This module does not decide *when* a pod is created or terminated (the rollout controller in
//! `controller.rs` does) and never touches the proxy directly (it proposes endpoint changes).

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::config::PreStop;
use super::probe::{ProbeSpec, Tracker, Transition, probe_once};
use super::process::{self, LogTail, SpawnError};
use super::state::{Fatal, RuntimeState};
use crate::model::event::{EventKind, Revision};

/// The kubelet never gives a container less than this after preStop.
const MIN_STOP_GRACE: Duration = Duration::from_secs(2);
/// The kubelet's first crash-loop back-off; it doubles up to five minutes.
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What a pod is made of.
pub(super) struct PodSpec {
    pub name: String,
    pub revision: Revision,
    pub command: process::CommandSpec,
    pub port: u16,
    pub logs: Arc<LogTail>,
}

impl PodSpec {
    /// The revision's name: `v1` runs the command, `v2` the rollout's (`--new-cmd`, or the same
    /// command again for a restart).
    fn revision_name(&self) -> &'static str {
        if self.revision == Revision::New {
            "v2"
        } else {
            "v1"
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn env(&self, port_env: &str) -> Vec<(String, String)> {
        vec![
            (port_env.to_string(), self.port.to_string()),
            ("ZERODROP_POD".to_string(), self.name.clone()),
        ]
    }
}

enum Outcome {
    Terminate,
    Exited(Option<ExitStatus>),
    StartupFailed(String),
}

/// Runs the pod until it is terminated (by the controller or at shutdown) and gone.
pub(super) async fn run_pod(
    sh: Arc<RuntimeState>,
    p: PodSpec,
    mut terminate: oneshot::Receiver<()>,
) {
    let addr = p.addr();
    let name = p.name.as_str();
    sh.record(
        name,
        EventKind::PodCreated {
            revision: p.revision,
            revision_name: Some(p.revision_name().to_string()),
        },
    );
    let mut backoff = FIRST_BACKOFF;
    let mut endpoint_added = false;
    // Each turn runs the container once; a `break` leaves a pod that cannot go on.
    loop {
        let Some(mut proc) = start_container(&sh, &p) else {
            break;
        };
        sh.record(
            name,
            EventKind::PodStarted {
                address: Some(addr.to_string()),
            },
        );
        if !endpoint_added {
            // A started pod is listed in the EndpointSlice at once, as not ready.
            sh.propose_endpoint(name, addr);
            endpoint_added = true;
        }
        let probes = probe_loop(sh.clone(), name.to_string(), addr).fuse();
        tokio::pin!(probes);
        let outcome = tokio::select! {
            biased;
            _ = &mut terminate => Outcome::Terminate,
            s = proc.child.wait() => Outcome::Exited(s.ok()),
            reason = &mut probes => Outcome::StartupFailed(reason),
        };
        match outcome {
            Outcome::Terminate => {
                terminate_pod(&sh, &p, &mut proc, probes).await;
                return;
            }
            Outcome::StartupFailed(reason) => {
                startup_failed(&sh, &p, &mut proc, &reason).await;
                break;
            }
            Outcome::Exited(status) => {
                // The probes are no longer polled: a dead container is not probed.
                if !crashed(&sh, &p, proc.pid, status) {
                    break;
                }
                if !back_off(&sh, name, backoff, &mut terminate).await {
                    finish_dead(&sh, &p).await;
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    // The pod cannot go on (its fatal error is set): it stays until it is terminated.
    let _ = terminate.await;
    finish_dead(&sh, &p).await;
}

/// Counts the restart and waits out the crash-loop back-off; false when the pod is terminated
/// meanwhile.
async fn back_off(
    sh: &RuntimeState,
    name: &str,
    backoff: Duration,
    terminate: &mut oneshot::Receiver<()>,
) -> bool {
    sh.update(name, |v| v.restarts += 1);
    sh.record(
        name,
        EventKind::Note {
            reason: "BackOff".into(),
            message: format!("restarting the container in {}s", backoff.as_secs()),
        },
    );
    tokio::select! {
        _ = tokio::time::sleep(backoff) => true,
        _ = terminate => false,
    }
}

/// Starts the pod's container. `None` when the command could not be spawned: the failure is
/// recorded and set as the pod's fatal error.
fn start_container(sh: &RuntimeState, p: &PodSpec) -> Option<process::Process> {
    let args = p.command.args_for(p.port);
    let env = p.env(&sh.config.port_env);
    let e = match process::spawn(&p.command.program, &args, &env, &sh.groups, &p.logs) {
        Ok(proc) => return Some(proc),
        Err(e) => e,
    };
    let fatal = match &e {
        SpawnError::NotFound(_) | SpawnError::NotExecutable(_) => Fatal::BadInput(e.to_string()),
        SpawnError::Other { .. } => Fatal::Failed(e.to_string()),
    };
    p.logs.note(&e.to_string());
    sh.record(
        &p.name,
        EventKind::Note {
            reason: "Failed".into(),
            message: e.to_string(),
        },
    );
    sh.update(&p.name, |v| v.fatal = Some(fatal));
    None
}

/// The kubelet kills a container whose startup probe is exhausted; the pod cannot go on.
async fn startup_failed(sh: &RuntimeState, p: &PodSpec, proc: &mut process::Process, reason: &str) {
    let name = p.name.as_str();
    sh.groups.kill_group(proc.pid);
    let status = proc.child.wait().await.ok();
    record_exit(sh, name, status, Some("failed its startup probe".into()));
    set_ready(sh, name, p.addr(), false, "container exited");
    let msg = format!("replica {name} failed its startup probe: {reason}");
    p.logs.note(&msg);
    sh.update(name, |v| v.fatal = Some(Fatal::Failed(msg)));
}

/// A container that exited on its own, recorded and taken out of service. Returns whether it
/// is restarted: only one that got as far as serving is. Locally a crash before readiness is a
/// bug to report now (the pod's fatal error), not a crash loop to wait out until the progress
/// deadline.
fn crashed(sh: &RuntimeState, p: &PodSpec, pid: i32, status: Option<ExitStatus>) -> bool {
    let name = p.name.as_str();
    sh.groups.kill_group(pid);
    let how = status.map_or("an unknown status".to_string(), process::describe_exit);
    record_exit(sh, name, status, Some("exited while running".into()));
    set_ready(sh, name, p.addr(), false, "container exited");
    p.logs.note(&format!("exited with {how}"));
    if sh.view(name).is_some_and(|v| v.served) {
        return true;
    }
    let msg = format!(
        "replica {name} (`{}`) exited with {how} before it became ready to serve",
        p.command.display()
    );
    sh.update(name, |v| v.fatal = Some(Fatal::Failed(msg)));
    false
}

/// Termination of a running container, in the kubelet's order.
async fn terminate_pod(
    sh: &Arc<RuntimeState>,
    p: &PodSpec,
    proc: &mut process::Process,
    mut probes: std::pin::Pin<&mut futures::future::Fuse<impl Future<Output = String>>>,
) {
    let name = p.name.as_str();
    let addr = p.addr();
    let term = &sh.config.termination;
    let t0 = Instant::now();
    let deadline = t0 + term.grace_period;
    sh.update(name, |v| v.terminating = true);
    sh.record(
        name,
        EventKind::PodTerminating {
            grace_period: Some(term.grace_period),
        },
    );
    // Endpoint de-registration starts now, together with preStop.
    sh.propose_endpoint(name, addr);

    let mut status: Option<ExitStatus> = None;
    {
        let prestop = run_prestop(sh, p, deadline);
        tokio::pin!(prestop);
        loop {
            tokio::select! {
                _ = &mut prestop => break,
                s = proc.child.wait() => {
                    status = s.ok();
                    break;
                }
                // Readiness keeps being probed while terminating (the `serving` condition).
                _ = &mut probes => {}
            }
        }
    }
    let mut exited = status.is_some();
    if !exited {
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_STOP_GRACE);
        let at = sh.now();
        if process::signal(proc.pid, term.stop_signal).is_ok() {
            sh.record_at(
                name,
                at,
                EventKind::StopSignalSent {
                    signal: term.stop_signal.as_str().to_string(),
                },
            );
        }
        let kill_at = Instant::now() + remaining;
        while !exited {
            tokio::select! {
                s = proc.child.wait() => {
                    status = s.ok();
                    exited = true;
                }
                _ = tokio::time::sleep_until(kill_at) => {
                    let at = sh.now();
                    sh.groups.kill_group(proc.pid);
                    sh.record_at(name, at, EventKind::KilledAtGraceDeadline);
                    p.logs.note("killed at the grace deadline");
                    status = proc.child.wait().await.ok();
                    exited = true;
                }
                _ = &mut probes => {}
            }
        }
    }
    record_exit(sh, name, status, None);
    // Stopping a container stops everything in it.
    sh.groups.kill_group(proc.pid);
    set_ready(sh, name, addr, false, "container exited");
    sh.remove_endpoint(name, addr);
    sh.update(name, |v| v.gone = true);
    sh.record(name, EventKind::PodDeleted);
}

/// A pod whose container is not running is terminated: nothing to signal, just cleanup.
async fn finish_dead(sh: &Arc<RuntimeState>, p: &PodSpec) {
    let name = p.name.as_str();
    sh.update(name, |v| v.terminating = true);
    sh.record(
        name,
        EventKind::PodTerminating {
            grace_period: Some(sh.config.termination.grace_period),
        },
    );
    sh.remove_endpoint(name, p.addr());
    sh.update(name, |v| v.gone = true);
    sh.record(name, EventKind::PodDeleted);
}

/// The preStop hook, bounded by the grace deadline. A failing hook is recorded and termination
/// goes on, as the kubelet does.
async fn run_prestop(sh: &Arc<RuntimeState>, p: &PodSpec, deadline: Instant) {
    let name = p.name.as_str();
    match &sh.config.termination.prestop {
        None => {}
        Some(PreStop::Sleep(d)) => {
            tokio::time::sleep_until((Instant::now() + *d).min(deadline)).await;
        }
        Some(PreStop::Exec(cmd)) => {
            let args = vec!["-c".to_string(), cmd.clone()];
            let env = p.env(&sh.config.port_env);
            let failed = |message: String| {
                p.logs.note(&format!("preStop: {message}"));
                sh.record(
                    name,
                    EventKind::Note {
                        reason: "FailedPreStopHook".into(),
                        message,
                    },
                );
            };
            match process::spawn("sh", &args, &env, &sh.groups, &p.logs) {
                Err(e) => failed(e.to_string()),
                Ok(mut hook) => {
                    tokio::select! {
                        s = hook.child.wait() => {
                            sh.groups.kill_group(hook.pid);
                            if let Ok(s) = s {
                                if !s.success() {
                                    failed(format!("`{cmd}` ended with {}", process::describe_exit(s)));
                                }
                            }
                        }
                        _ = tokio::time::sleep_until(deadline) => {
                            sh.groups.kill_group(hook.pid);
                            let _ = hook.child.wait().await;
                            failed(format!("`{cmd}` was still running at the grace deadline"));
                        }
                    }
                }
            }
        }
    }
}

fn record_exit(sh: &RuntimeState, name: &str, status: Option<ExitStatus>, reason: Option<String>) {
    let (code, signal) = status.map_or((None, None), process::exit_parts);
    sh.record(
        name,
        EventKind::ContainerExited {
            code,
            signal,
            reason,
        },
    );
}

/// Marks the pod ready or not, records it, and proposes the endpoint's new conditions.
fn set_ready(sh: &RuntimeState, name: &str, addr: SocketAddr, ready: bool, reason: &str) {
    let mut changed = false;
    sh.update(name, |v| {
        if ready && v.ready_since.is_none() {
            v.ready_since = Some(Instant::now());
            v.ever_ready = true;
            changed = true;
        } else if !ready && v.ready_since.is_some() {
            v.ready_since = None;
            changed = true;
        }
    });
    if !changed {
        return;
    }
    if ready {
        sh.record(name, EventKind::PodReady);
    } else {
        sh.record(
            name,
            EventKind::PodNotReady {
                reason: Some(reason.to_string()),
            },
        );
    }
    if !sh.view(name).is_some_and(|v| v.gone) {
        sh.propose_endpoint(name, addr);
    }
}

/// Waits out the probe's initial delay; then its tracker and a ticker at its period (a late
/// tick delays the next one rather than bursting).
async fn start_probe(p: &ProbeSpec) -> (Tracker, tokio::time::Interval) {
    tokio::time::sleep(p.initial_delay).await;
    let tracker = Tracker::new(p);
    let mut tick = tokio::time::interval(p.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    (tracker, tick)
}

/// The startup probe until it passes, then the readiness probe forever. Returns only when the
/// startup probe is exhausted, with the reason.
async fn probe_loop(sh: Arc<RuntimeState>, name: String, addr: SocketAddr) -> String {
    let cfg = sh.config.clone();
    if let Some(sp) = &cfg.startup_probe {
        let (mut tracker, mut tick) = start_probe(sp).await;
        loop {
            tick.tick().await;
            match probe_once(&sp.action, addr, sp.timeout).await {
                Ok(()) => break,
                Err(e) => {
                    tracker.observe(false);
                    sh.update(&name, |v| {
                        v.last_probe_error = Some(format!("startup probe ({}): {e}", sp.describe()))
                    });
                    if tracker.exhausted() {
                        sh.record(
                            &name,
                            EventKind::ProbeFailed {
                                probe: "startup".into(),
                                detail: e.clone(),
                            },
                        );
                        return format!(
                            "{} failed {} times in a row; last: {e}",
                            sp.describe(),
                            tracker.failures()
                        );
                    }
                }
            }
        }
    }
    let Some(rp) = &cfg.readiness_probe else {
        // No readiness probe: ready as soon as the container has started (Kubernetes' rule).
        set_ready(&sh, &name, addr, true, "");
        // Whether it ever gets to serve only decides how a crash is reported.
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sh.update(&name, |v| v.served = true);
        return std::future::pending().await;
    };
    let (mut tracker, mut tick) = start_probe(rp).await;
    loop {
        tick.tick().await;
        let result = probe_once(&rp.action, addr, rp.timeout).await;
        let was_passing = tracker.passing();
        match tracker.observe(result.is_ok()) {
            Transition::Passed => {
                sh.update(&name, |v| v.served = true);
                set_ready(&sh, &name, addr, true, "");
            }
            Transition::Failed => set_ready(&sh, &name, addr, false, "readiness probe failed"),
            Transition::None => {}
        }
        if let Err(e) = result {
            if was_passing {
                sh.record(
                    &name,
                    EventKind::ProbeFailed {
                        probe: "readiness".into(),
                        detail: e.clone(),
                    },
                );
            }
            sh.update(&name, |v| {
                v.last_probe_error = Some(format!("readiness probe ({}): {e}", rp.describe()))
            });
        }
    }
}
