//! The API requests every phase makes, each bounded by `--request-timeout` and its failure
//! classified as the call it was ([`ApiCall`]): reading the workload, and sending a patch with
//! exactly the content type and body given (one code path for every patch kind, JSON patch
//! included).
//!
//! No state and no decisions: the phase files say what to call and judge the answers.

use std::fmt::Debug;
use std::future::Future;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::api::{ListParams, ObjectList, WatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::KubeConfig;
use super::connect::Connection;
use super::error::{ApiCall, KubeError};
use super::trigger::PatchKind;
use super::workload::{Workload, WorkloadKind};

/// A connection and the config whose workload and request timeout the calls use.
pub struct Calls<'a> {
    pub conn: &'a Connection,
    pub cfg: &'a KubeConfig,
}

impl<'a> Calls<'a> {
    pub fn new(conn: &'a Connection, cfg: &'a KubeConfig) -> Calls<'a> {
        Calls { conn, cfg }
    }

    /// The namespace the run works in.
    pub fn ns(&self) -> &'a str {
        &self.conn.namespace
    }

    pub fn client(&self) -> kube::Client {
        self.conn.client.clone()
    }

    /// Runs one API request under the request timeout, classifying its failure.
    pub async fn call<T>(
        &self,
        call: ApiCall,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, KubeError> {
        match tokio::time::timeout(self.cfg.request_timeout, fut).await {
            Ok(r) => r.map_err(|e| KubeError::from_kube(call, e)),
            Err(_) => Err(KubeError::Slow {
                call,
                secs: self.cfg.request_timeout.as_secs(),
            }),
        }
    }

    /// Lists the objects of `resource` (in API `group`) that `params` selects.
    pub async fn list<K>(
        &self,
        resource: &'static str,
        group: &'static str,
        params: &ListParams,
    ) -> Result<ObjectList<K>, KubeError>
    where
        K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        let ns = self.ns();
        let api = Api::<K>::namespaced(self.client(), ns);
        self.call(ApiCall::new("list", resource, group, ns), api.list(params))
            .await
    }

    /// Opens (and drops) a watch of `resource`: is it allowed?
    pub async fn open_watch<K>(
        &self,
        resource: &'static str,
        group: &'static str,
        params: &WatchParams,
    ) -> Result<(), KubeError>
    where
        K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
        K::DynamicType: Default,
    {
        let ns = self.ns();
        let api = Api::<K>::namespaced(self.client(), ns);
        let call = ApiCall::new("watch", resource, group, ns);
        self.call(call, api.watch(params, "0")).await.map(drop)
    }

    pub async fn get_workload(&self) -> Result<Workload, KubeError> {
        let ns = self.ns();
        let name = self.cfg.workload.name.as_str();
        let kind = self.cfg.workload.kind;
        let c = ApiCall::new("get", kind.resource(), "apps", ns).named(name);
        let client = self.client();
        Ok(match kind {
            WorkloadKind::Deployment => Workload::Deployment(Box::new(
                self.call(c, Api::<Deployment>::namespaced(client, ns).get(name))
                    .await?,
            )),
            WorkloadKind::StatefulSet => Workload::StatefulSet(Box::new(
                self.call(c, Api::<StatefulSet>::namespaced(client, ns).get(name))
                    .await?,
            )),
            WorkloadKind::DaemonSet => Workload::DaemonSet(Box::new(
                self.call(c, Api::<DaemonSet>::namespaced(client, ns).get(name))
                    .await?,
            )),
        })
    }

    /// Sends a patch with exactly the given content type and body (one code path for every
    /// patch kind, JSON patch included), returning the object the server answered with.
    pub async fn send_patch(
        &self,
        call: ApiCall,
        path: String,
        kind: PatchKind,
        body: &Value,
    ) -> Result<Value, KubeError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| KubeError::BadInput(format!("cannot encode the patch: {e}")))?;
        let req = http::Request::builder()
            .method(http::Method::PATCH)
            .uri(format!("{path}?fieldManager=zerodrop"))
            .header(http::header::CONTENT_TYPE, kind.content_type())
            .header(http::header::ACCEPT, "application/json")
            .body(bytes)
            .map_err(|e| KubeError::BadInput(format!("cannot build the patch request: {e}")))?;
        self.call(call, self.conn.client.request::<Value>(req))
            .await
    }

    /// Patches the workload, returning the generation the server answered with.
    pub async fn patch_workload(&self, kind: PatchKind, body: &Value) -> Result<i64, KubeError> {
        let ns = self.ns();
        let w = &self.cfg.workload;
        let call = ApiCall::new("patch", w.kind.resource(), "apps", ns).named(&w.name);
        let path = format!(
            "/apis/apps/v1/namespaces/{ns}/{}/{}",
            w.kind.resource(),
            w.name
        );
        let obj = self.send_patch(call, path, kind, body).await?;
        Ok(obj["metadata"]["generation"].as_i64().unwrap_or(0))
    }

    /// Patches the Service's selector (the blue-green trigger and its undo).
    pub async fn patch_service(&self, service: &str, body: &Value) -> Result<Value, KubeError> {
        let ns = self.ns();
        let call = ApiCall::new("patch", "services", "", ns).named(service);
        let path = format!("/api/v1/namespaces/{ns}/services/{service}");
        self.send_patch(call, path, PatchKind::Strategic, body)
            .await
    }
}
