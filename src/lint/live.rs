//! `zerodrop lint -n NS deploy/web`: reads one live workload and the namespace's
//! PodDisruptionBudgets — read-only (`get` on the workload, `list` on PDBs) — and hands them to
//! the same checks as manifest files. Connection and error wording come from the kube runtime,
//! so an RBAC refusal names the Role rule that would allow the read.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::ListParams;

use super::parse::Object;
use crate::cluster::kube::{ApiCall, Connection, KubeError, WorkloadKind, WorkloadRef};

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

/// The workload and every PodDisruptionBudget of its namespace, as lint objects.
pub async fn fetch(conn: &Connection, workload: &WorkloadRef) -> Result<Vec<Object>, KubeError> {
    let ns = conn.namespace.as_str();
    let name = workload.name.as_str();
    let client = conn.client.clone();
    let get = ApiCall::new("get", workload.kind.resource(), "apps", ns).named(name);
    let mut out = vec![match workload.kind {
        WorkloadKind::Deployment => Object::Deployment(Box::new(
            call(
                get,
                Api::<Deployment>::namespaced(client.clone(), ns).get(name),
            )
            .await?,
        )),
        WorkloadKind::StatefulSet => Object::StatefulSet(Box::new(
            call(
                get,
                Api::<StatefulSet>::namespaced(client.clone(), ns).get(name),
            )
            .await?,
        )),
        WorkloadKind::DaemonSet => Object::DaemonSet(Box::new(
            call(
                get,
                Api::<DaemonSet>::namespaced(client.clone(), ns).get(name),
            )
            .await?,
        )),
    }];
    let list = ApiCall::new("list", "poddisruptionbudgets", "policy", ns);
    let pdbs = call(
        list,
        Api::<PodDisruptionBudget>::namespaced(client, ns).list(&ListParams::default()),
    )
    .await?;
    out.extend(
        pdbs.items
            .into_iter()
            .map(|p| Object::PodDisruptionBudget(Box::new(p))),
    );
    Ok(out)
}

/// What `zerodrop run` needs from lint before it starts: the findings to print, and the
/// workload's configuration for the analysis of the run.
#[derive(Clone, Debug)]
pub struct LiveLint {
    pub findings: Vec<crate::model::finding::Finding>,
    pub workload: Option<crate::analysis::WorkloadConfig>,
}

/// Lints a live workload over an existing connection.
pub async fn lint_workload(
    conn: &Connection,
    workload: &WorkloadRef,
) -> Result<LiveLint, KubeError> {
    let objects = fetch(conn, workload).await?;
    Ok(LiveLint {
        findings: super::lint_with(&objects, super::PdbScope::Complete),
        workload: super::workload_config(&objects),
    })
}
