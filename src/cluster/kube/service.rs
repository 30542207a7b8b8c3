//! Which Service's endpoints to watch: the one named by `--service`, or the one Service in the
//! namespace whose selector matches the workload's pod labels.
//!
//! The matching rule is pure ([`services_selecting`]); [`resolve`] makes the calls.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::ListParams;

use super::error::{ApiCall, KubeError};

/// The Service zerodrop watches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: String,
    pub selector: BTreeMap<String, String>,
    /// The first port, for the in-cluster target URL.
    pub port: Option<i32>,
}

fn info(s: &Service) -> ServiceInfo {
    let spec = s.spec.as_ref();
    ServiceInfo {
        name: s.metadata.name.clone().unwrap_or_default(),
        selector: spec.and_then(|s| s.selector.clone()).unwrap_or_default(),
        port: spec
            .and_then(|s| s.ports.as_ref())
            .and_then(|p| p.first())
            .map(|p| p.port),
    }
}

/// Names of the Services whose (non-empty) selector matches `labels`, as the endpoints
/// controller would match them.
pub fn services_selecting<'a>(
    services: impl IntoIterator<Item = &'a ServiceInfo>,
    labels: &BTreeMap<String, String>,
) -> Vec<String> {
    services
        .into_iter()
        .filter(|s| selects(s, labels))
        .map(|s| s.name.clone())
        .collect()
}

fn selects(s: &ServiceInfo, labels: &BTreeMap<String, String>) -> bool {
    !s.selector.is_empty() && s.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Finds the Service: by name, or by selector match against the pod labels.
pub async fn resolve(
    client: &kube::Client,
    ns: &str,
    named: Option<&str>,
    pod_labels: &BTreeMap<String, String>,
    workload: &str,
) -> Result<ServiceInfo, KubeError> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    if let Some(name) = named {
        let call = ApiCall::new("get", "services", "", ns).named(name);
        let s = api
            .get(name)
            .await
            .map_err(|e| KubeError::from_kube(call, e))?;
        return Ok(info(&s));
    }
    let call = ApiCall::new("list", "services", "", ns);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| KubeError::from_kube(call, e))?;
    let mut matched: Vec<ServiceInfo> = list
        .items
        .iter()
        .map(info)
        .filter(|s| selects(s, pod_labels))
        .collect();
    let labels = pod_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    match matched.len() {
        0 => Err(KubeError::BadInput(format!(
            "no Service in namespace {ns} selects the pods of {workload} (labels {labels}); name one with --service"
        ))),
        1 => Ok(matched.remove(0)),
        _ => Err(KubeError::BadInput(format!(
            "several Services in namespace {ns} select the pods of {workload}: {}; choose one with --service",
            matched
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, sel: &[(&str, &str)]) -> ServiceInfo {
        ServiceInfo {
            name: name.into(),
            selector: sel
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            port: Some(80),
        }
    }

    fn labels(l: &[(&str, &str)]) -> BTreeMap<String, String> {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_service_selects_pods_carrying_every_label_of_its_selector() {
        let svcs = [
            svc("web", &[("app", "web")]),
            svc("web-canary", &[("app", "web"), ("track", "canary")]),
            svc("db", &[("app", "db")]),
            svc("headless-external", &[]),
        ];
        let pods = labels(&[("app", "web"), ("pod-template-hash", "abc")]);
        assert_eq!(services_selecting(&svcs, &pods), ["web"]);
    }

    #[test]
    fn a_service_without_a_selector_selects_nothing() {
        assert!(services_selecting(&[svc("ext", &[])], &labels(&[("app", "web")])).is_empty());
    }
}
