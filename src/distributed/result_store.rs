//! Keeping a run's result in a ConfigMap (`--result-configmap NAME`), for pipelines that read
//! objects rather than logs.
//!
//! Each worker patches only its own key (`result-K.json`) with a JSON merge patch, so N workers
//! write one ConfigMap without conflicts and without reading it first. The ConfigMap is created
//! by `zerodrop manifest`, so the Role needs `patch` on that one name and nothing else. Fitting
//! the result into the ConfigMap's 1 MiB is the caller's job (`worker::trim_to_fit`).

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::cluster::kube::connect::{ConnectOptions, connect};
use crate::cluster::kube::error::{ApiCall, KubeError};

/// Patches `json` into ConfigMap `name` under `key`.
pub async fn store(
    opts: &ConnectOptions,
    name: &str,
    key: &str,
    json: &str,
    request_timeout: Duration,
) -> Result<(), KubeError> {
    let conn = connect(opts).await?;
    let ns = conn.namespace.as_str();
    let api: Api<ConfigMap> = Api::namespaced(conn.client.clone(), ns);
    let body = serde_json::json!({"data": {key: json}});
    let call = ApiCall::new("patch", "configmaps", "", ns).named(name);
    let params = PatchParams::default();
    match tokio::time::timeout(
        request_timeout,
        api.patch(name, &params, &Patch::Merge(&body)),
    )
    .await
    {
        Ok(r) => r.map(drop).map_err(|e| KubeError::from_kube(call, e)),
        Err(_) => Err(KubeError::Slow {
            call,
            secs: request_timeout.as_secs(),
        }),
    }
}
