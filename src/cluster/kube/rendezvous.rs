//! Starting N generators together without a coordinator of our own: every worker reads the same
//! facts from the API server — the start times of the N worker pods' containers — and computes
//! the same start instant from them, then waits for it on its own clock.
//!
//! Container start times are immutable once set, so all workers agree on the instant as soon as
//! they have each seen every pod running. The instant is the latest start plus [`MARGIN`] (time
//! for the slowest worker to connect and start its watches), rounded up to a whole second. How
//! closely the loads line up is then bounded by how well the nodes' clocks agree (NTP: usually
//! milliseconds). A worker that arrives after the instant starts at once and says so.
//!
//! [`common_start`] is pure; [`wait`] lists pods (RBAC: `list pods`, which every run has).

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

use super::error::{ApiCall, KubeError};

/// Time allowed after the last worker's container started for every worker to be ready.
pub const MARGIN: Duration = Duration::from_secs(15);

/// How long to wait for every worker's pod to run (a Job whose pods cannot all be scheduled
/// must not hang its run until the rollout timeout).
pub const POD_WAIT: Duration = Duration::from_secs(300);

/// Start the load together with the other workers of a distributed run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartTogether {
    /// Label selector matching every worker's pod (`batch.kubernetes.io/job-name=NAME`).
    pub pod_selector: String,
    /// How many workers there are.
    pub count: u32,
}

/// When each container of a pod started, if all of them are running.
fn pod_started(p: &Pod) -> Option<jiff::Timestamp> {
    let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
    if statuses.is_empty() {
        return None;
    }
    statuses
        .iter()
        .map(|c| {
            c.state
                .as_ref()?
                .running
                .as_ref()?
                .started_at
                .as_ref()
                .map(|t| t.0)
        })
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .max()
}

/// The common start instant once `count` pods run: the latest container start plus
/// [`MARGIN`], rounded up to a whole second; `None` while fewer than `count` pods run.
pub fn common_start(pods: &[Pod], count: u32) -> Option<jiff::Timestamp> {
    let starts: Vec<jiff::Timestamp> = pods.iter().filter_map(pod_started).collect();
    if starts.len() < count as usize {
        return None;
    }
    let latest = starts.into_iter().max()?;
    let secs = latest.as_second() + i64::try_from(MARGIN.as_secs()).ok()?;
    let rounded = if latest.subsec_nanosecond() > 0 {
        secs + 1
    } else {
        secs
    };
    jiff::Timestamp::from_second(rounded).ok()
}

/// Waits until every worker's pod runs, then until the common start instant. Returns how late
/// this worker was past that instant (zero when it waited for it).
pub async fn wait(
    client: &kube::Client,
    ns: &str,
    st: &StartTogether,
    request_timeout: Duration,
) -> Result<Duration, KubeError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let params = ListParams::default().labels(&st.pod_selector);
    let deadline = tokio::time::Instant::now() + POD_WAIT;
    let start = loop {
        let call = ApiCall::new("list", "pods", "", ns);
        let list = match tokio::time::timeout(request_timeout, api.list(&params)).await {
            Ok(r) => r.map_err(|e| KubeError::from_kube(call, e))?,
            Err(_) => {
                return Err(KubeError::Slow {
                    call,
                    secs: request_timeout.as_secs(),
                });
            }
        };
        if let Some(t) = common_start(&list.items, st.count) {
            break t;
        }
        if tokio::time::Instant::now() >= deadline {
            let running = list.items.iter().filter_map(pod_started).count();
            return Err(KubeError::Unhealthy(format!(
                "only {running} of {} worker pods ({}) were running after {} s: the generators \
                 start together, so all of them must be scheduled",
                st.count,
                st.pod_selector,
                POD_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let now = jiff::Timestamp::now();
    let until = start.duration_since(now);
    if until.is_negative() {
        return Ok(Duration::try_from(until.abs()).unwrap_or_default());
    }
    tokio::time::sleep(Duration::try_from(until).unwrap_or_default()).await;
    Ok(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStatus, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod(started: Option<&str>) -> Pod {
        let state = started.map(|t| ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(t.parse().expect("timestamp"))),
            }),
            ..ContainerState::default()
        });
        Pod {
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: "zerodrop".into(),
                    state,
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn no_start_until_every_worker_runs() {
        let pods = [pod(Some("2026-11-01T10:00:00Z")), pod(None)];
        assert_eq!(common_start(&pods, 2), None);
        assert_eq!(common_start(&pods[..1], 2), None);
    }

    #[test]
    fn the_start_is_the_latest_container_start_plus_the_margin_on_a_whole_second() {
        let pods = [
            pod(Some("2026-11-01T10:00:03Z")),
            pod(Some("2026-11-01T10:00:07.250Z")),
            pod(Some("2026-11-01T10:00:01Z")),
        ];
        let t = common_start(&pods, 3).expect("all running");
        assert_eq!(t.to_string(), "2026-11-01T10:00:23Z");
        // Every worker computes it from the same facts, whatever order it lists them in.
        let mut reversed = pods.to_vec();
        reversed.reverse();
        assert_eq!(common_start(&reversed, 3), Some(t));
    }
}
