//! `prepare` (New → Prepared): connect, find the workload and its Service, check every
//! permission the run needs, start the watches and wait until each has listed, make sure there
//! is something to send load to, and (one generator of several) wait for the others.
//!
//! Every refusal names the call that was refused, before any watch starts retrying it in the
//! background while the run goes on blind.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, WatchParams};

use super::calls::Calls;
use super::connect::{self, Connection};
use super::error::KubeError;
use super::service::{self, ServiceInfo};
use super::start::refuse_paused;
use super::state::{Live, State};
use super::trigger::Trigger;
use super::watch::{WatchSpec, Watches};
use super::workload::{WorkloadKind, selector_string};
use super::{KubeCluster, KubeConfig, rendezvous};
use crate::cluster::{EventKind, Prepared};
use crate::timeline::TimelineRecorder;

/// The workload's Service and the pods to watch.
struct Found {
    service: ServiceInfo,
    pod_selector: String,
}

impl KubeCluster {
    pub(super) async fn prepare_step(&mut self) -> Result<Prepared, KubeError> {
        let conn = self.connection().await?;
        let calls = Calls::new(&conn, &self.cfg);
        let ns = calls.ns();
        let wref = &self.cfg.workload;
        let found = find(&calls).await?;
        check_access(&calls, &found.pod_selector, &found.service.name).await?;
        let spec = WatchSpec {
            namespace: ns.to_string(),
            kind: wref.kind,
            workload: wref.name.clone(),
            pod_selector: found.pod_selector,
            service: found.service.name.clone(),
        };
        let watches = Watches::start(&conn.client, &spec, &self.recorder);
        wait_listed(&watches, &self.cfg).await?;
        let endpoints = watches.endpoints();
        let ready = endpoints.values().filter(|e| e.conditions.ready).count();
        if ready == 0 {
            return Err(KubeError::Unhealthy(format!(
                "Service {} has no ready endpoints ({} listed): nothing to send load to before the rollout",
                found.service.name,
                endpoints.len()
            )));
        }
        let view = watches.workload_view().ok_or_else(|| KubeError::NotFound {
            what: wref.to_string(),
            namespace: ns.to_string(),
        })?;
        let desired = view.counts().0;
        self.recorder.set_desired_replicas(desired);
        let target = self.target(&found.service, ns)?;
        start_together(&calls, &self.recorder).await?;
        let description = format!("{wref} in namespace {ns} (Service {})", found.service.name);
        self.state.prepared(Live {
            service: found.service,
            watches,
            generation: view.generation,
            conn: conn.clone(),
        })?;
        Ok(Prepared {
            target,
            desired_replicas: desired,
            ready_endpoints: u32::try_from(ready).unwrap_or(u32::MAX),
            description,
        })
    }

    /// The connection given at construction, or a new one (kept, should `prepare` be retried).
    async fn connection(&mut self) -> Result<Connection, KubeError> {
        let State::New { conn } = &mut self.state else {
            return Err(self.state.out_of_order("prepare"));
        };
        if let Some(c) = conn {
            return Ok(c.clone());
        }
        let c = connect::connect(&self.cfg.connect).await?;
        *conn = Some(c.clone());
        Ok(c)
    }

    /// The Service's cluster DNS name as the load target, when asked for.
    fn target(&self, service: &ServiceInfo, ns: &str) -> Result<Option<String>, KubeError> {
        if !self.cfg.service_target {
            return Ok(None);
        }
        let url = service.cluster_url(ns).ok_or_else(|| {
            KubeError::BadInput(format!(
                "Service {} has no port to send load to: give the URL with --target",
                service.name
            ))
        })?;
        Ok(Some(url))
    }
}

/// Reads the workload (refusing a paused one a restart cannot roll) and resolves its Service
/// and the pods to watch.
async fn find(calls: &Calls<'_>) -> Result<Found, KubeError> {
    let cfg = calls.cfg;
    let wref = &cfg.workload;
    let workload = calls.get_workload().await?;
    if cfg.trigger == Trigger::Restart {
        refuse_paused(&workload, wref)?;
    }
    let selector = workload
        .selector()
        .map(selector_string)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| KubeError::BadInput(format!("{wref} has no pod selector")))?;
    let labels = workload.pod_labels();
    let service = service::resolve(
        &calls.conn.client,
        calls.ns(),
        cfg.service.as_deref(),
        &labels,
        &wref.to_string(),
    )
    .await?;
    let pod_selector = match &cfg.trigger {
        // Blue-green: watch the pods both selectors pick, i.e. the labels they share.
        Trigger::Selector { key, .. } => service
            .selector
            .iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => selector,
    };
    Ok(Found {
        service,
        pod_selector,
    })
}

/// Waits until every watch has completed its first list, at most the request timeout.
async fn wait_listed(watches: &Watches, cfg: &KubeConfig) -> Result<(), KubeError> {
    let mut changed = watches.changed.clone();
    let deadline = tokio::time::Instant::now() + cfg.request_timeout;
    while !watches.all_listed() {
        if let Some(f) = watches.take_fatal() {
            return Err(f);
        }
        let wait = tokio::time::timeout_at(deadline, changed.changed()).await;
        if wait.is_err() || matches!(wait, Ok(Err(_))) {
            return Err(KubeError::Unhealthy(format!(
                "the watches of {} did not start within {} s: {}",
                cfg.workload,
                cfg.request_timeout.as_secs(),
                watches
                    .listing_error()
                    .unwrap_or_else(|| "no answer from the API server".into())
            )));
        }
    }
    Ok(())
}

/// One generator of several: waits for every worker's pod, then notes when the load starts.
async fn start_together(calls: &Calls<'_>, recorder: &TimelineRecorder) -> Result<(), KubeError> {
    let Some(st) = &calls.cfg.start_together else {
        return Ok(());
    };
    let late = rendezvous::wait(
        &calls.conn.client,
        calls.ns(),
        st,
        calls.cfg.request_timeout,
    )
    .await?;
    let message = if late.is_zero() {
        format!("all {} generators start their load now", st.count)
    } else {
        format!(
            "this generator arrived {:.1} s after the others started their load",
            late.as_secs_f64()
        )
    };
    recorder.now(
        None,
        EventKind::Note {
            reason: "GeneratorsStart".into(),
            message,
        },
    );
    Ok(())
}

/// Lists one object of each watched resource, so a missing permission is reported as the
/// exact call that was refused before any watch starts retrying it.
async fn check_access(
    calls: &Calls<'_>,
    pod_selector: &str,
    service: &str,
) -> Result<(), KubeError> {
    let one = ListParams::default().limit(1);
    let slices = format!("kubernetes.io/service-name={service}");
    check_watch_access(calls, pod_selector, &slices).await?;
    calls
        .list::<Pod>("pods", "", &one.clone().labels(pod_selector))
        .await?;
    calls
        .list::<EndpointSlice>(
            "endpointslices",
            "discovery.k8s.io",
            &one.clone().labels(&slices),
        )
        .await?;
    calls.list::<Event>("events", "", &one).await?;
    Ok(())
}

/// Opens (and drops) a watch on each watched resource: a refused watch is reported as that
/// call, not retried in the background while the run goes on blind.
async fn check_watch_access(
    calls: &Calls<'_>,
    pod_selector: &str,
    slices: &str,
) -> Result<(), KubeError> {
    let wp = WatchParams::default().timeout(1);
    let wref = &calls.cfg.workload;
    let by_name = wp.clone().fields(&format!("metadata.name={}", wref.name));
    let resource = wref.kind.resource();
    match wref.kind {
        WorkloadKind::Deployment => {
            calls
                .open_watch::<Deployment>(resource, "apps", &by_name)
                .await?
        }
        WorkloadKind::StatefulSet => {
            calls
                .open_watch::<StatefulSet>(resource, "apps", &by_name)
                .await?
        }
        WorkloadKind::DaemonSet => {
            calls
                .open_watch::<DaemonSet>(resource, "apps", &by_name)
                .await?
        }
    }
    calls
        .open_watch::<Pod>("pods", "", &wp.clone().labels(pod_selector))
        .await?;
    calls
        .open_watch::<EndpointSlice>(
            "endpointslices",
            "discovery.k8s.io",
            &wp.clone().labels(slices),
        )
        .await?;
    calls.open_watch::<Event>("events", "", &wp).await
}
