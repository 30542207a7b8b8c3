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
    /// That port speaks TLS: named `https`, `appProtocol: https`, or port 443.
    pub https: bool,
}

impl ServiceInfo {
    /// The URL that reaches the Service from inside the cluster: its DNS name in `ns` (which a
    /// pod's resolver completes with the cluster domain) and its first port.
    pub fn cluster_url(&self, ns: &str) -> Option<String> {
        let scheme = if self.https { "https" } else { "http" };
        self.port
            .map(|p| format!("{scheme}://{}.{ns}.svc:{p}", self.name))
    }
}

fn info(s: &Service) -> ServiceInfo {
    let spec = s.spec.as_ref();
    let first = spec.and_then(|s| s.ports.as_ref()).and_then(|p| p.first());
    let https = first.is_some_and(|p| {
        p.port == 443
            || p.name.as_deref() == Some("https")
            || p.app_protocol.as_deref() == Some("https")
    });
    ServiceInfo {
        name: s.metadata.name.clone().unwrap_or_default(),
        selector: spec.and_then(|s| s.selector.clone()).unwrap_or_default(),
        port: first.map(|p| p.port),
        https,
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
            https: false,
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
    fn the_cluster_url_is_the_services_dns_name_and_first_port() {
        assert_eq!(
            svc("web", &[]).cluster_url("shop").as_deref(),
            Some("http://web.shop.svc:80")
        );
        let tls = ServiceInfo {
            port: Some(8443),
            https: true,
            ..svc("api", &[])
        };
        assert_eq!(
            tls.cluster_url("prod").as_deref(),
            Some("https://api.prod.svc:8443")
        );
        let portless = ServiceInfo {
            port: None,
            ..svc("headless", &[])
        };
        assert_eq!(portless.cluster_url("shop"), None);
    }

    #[test]
    fn https_is_recognised_by_port_name_app_protocol_or_443() {
        let svc = |port: serde_json::Value| -> Service {
            serde_json::from_value(
                serde_json::json!({"metadata": {"name": "s"}, "spec": {"ports": [port]}}),
            )
            .expect("service")
        };
        assert!(info(&svc(serde_json::json!({"port": 443}))).https);
        assert!(info(&svc(serde_json::json!({"port": 8443, "name": "https"}))).https);
        assert!(
            info(&svc(
                serde_json::json!({"port": 8443, "appProtocol": "https"})
            ))
            .https
        );
        assert!(!info(&svc(serde_json::json!({"port": 8080, "name": "http"}))).https);
    }

    #[test]
    fn a_service_without_a_selector_selects_nothing() {
        assert!(services_selecting(&[svc("ext", &[])], &labels(&[("app", "web")])).is_empty());
    }
}
