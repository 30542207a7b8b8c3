//! The read-only look at one live workload that `zerodrop lint deploy/web` and the pre-flight
//! lint of `zerodrop run` check: the workload (`get`) and every PodDisruptionBudget of its
//! namespace (`list`). Each read is bounded, and its failure is the [`KubeError`] of the call,
//! so an RBAC refusal names the Role rule that would allow it. It reads and judges nothing else:
//! lint checks what it returns.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::ListParams;

use super::workload::Workload;
use super::{ApiCall, Connection, KubeError, WorkloadKind, WorkloadRef};

/// The longest one read may take before lint gives up on the API server.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

async fn call<T>(
    call: ApiCall,
    fut: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubeError> {
    match tokio::time::timeout(READ_TIMEOUT, fut).await {
        Ok(r) => r.map_err(|e| KubeError::from_kube(call, e)),
        Err(_) => Err(KubeError::Slow {
            call,
            secs: READ_TIMEOUT.as_secs(),
        }),
    }
}

/// A live workload and every PodDisruptionBudget of its namespace (the list is complete).
#[derive(Clone, Debug)]
pub struct LiveWorkload {
    pub workload: Workload,
    pub budgets: Vec<PodDisruptionBudget>,
}

/// Reads the workload and lists every PodDisruptionBudget of its namespace.
pub async fn read_workload(
    conn: &Connection,
    workload: &WorkloadRef,
) -> Result<LiveWorkload, KubeError> {
    let ns = conn.namespace.as_str();
    let name = workload.name.as_str();
    let client = conn.client.clone();
    let get = ApiCall::new("get", workload.kind.resource(), "apps", ns).named(name);
    let read = match workload.kind {
        WorkloadKind::Deployment => Workload::Deployment(Box::new(
            call(
                get,
                Api::<Deployment>::namespaced(client.clone(), ns).get(name),
            )
            .await?,
        )),
        WorkloadKind::StatefulSet => Workload::StatefulSet(Box::new(
            call(
                get,
                Api::<StatefulSet>::namespaced(client.clone(), ns).get(name),
            )
            .await?,
        )),
        WorkloadKind::DaemonSet => Workload::DaemonSet(Box::new(
            call(
                get,
                Api::<DaemonSet>::namespaced(client.clone(), ns).get(name),
            )
            .await?,
        )),
    };
    let list = ApiCall::new("list", "poddisruptionbudgets", "policy", ns);
    let pdbs = call(
        list,
        Api::<PodDisruptionBudget>::namespaced(client, ns).list(&ListParams::default()),
    )
    .await?;
    Ok(LiveWorkload {
        workload: read,
        budgets: pdbs.items,
    })
}
