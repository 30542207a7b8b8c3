//! Errors of the Kubernetes runtime, and how each reaches the user.
//!
//! Every API call zerodrop makes is described by an [`ApiCall`] (verb, resource, group,
//! namespace), so a failure can name exactly what was refused — an RBAC 403 prints the Role
//! rule that would grant it — without parsing the API server's message. This module only
//! classifies and words errors; it makes no calls.

use std::fmt;

use crate::cluster::ClusterError;

/// One API request as zerodrop made it, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall {
    /// The RBAC verb: get, list, watch, patch, delete.
    pub verb: &'static str,
    /// The plural resource: pods, deployments, endpointslices, …
    pub resource: &'static str,
    /// The API group ("" for the core group).
    pub group: &'static str,
    pub namespace: String,
    /// The object's name, for calls on one object.
    pub name: Option<String>,
}

impl ApiCall {
    pub fn new(verb: &'static str, resource: &'static str, group: &'static str, ns: &str) -> Self {
        ApiCall {
            verb,
            resource,
            group,
            namespace: ns.to_string(),
            name: None,
        }
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// The Role rule that would allow this call, as YAML.
    pub fn role_rule(&self) -> String {
        format!(
            "- apiGroups: [\"{}\"]\n  resources: [\"{}\"]\n  verbs: [\"{}\"]",
            self.group, self.resource, self.verb
        )
    }
}

impl fmt::Display for ApiCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!(".{}", self.group)
        };
        match &self.name {
            Some(n) => write!(
                f,
                "{} {}{}/{} in namespace {}",
                self.verb, self.resource, group, n, self.namespace
            ),
            None => write!(
                f,
                "{} {}{} in namespace {}",
                self.verb, self.resource, group, self.namespace
            ),
        }
    }
}

/// What went wrong on the Kubernetes side.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No kubeconfig could be loaded and zerodrop is not running in a pod (exit 4).
    #[error("no Kubernetes configuration: {0}")]
    NoConfig(String),
    /// The API server could not be reached at all (exit 4).
    #[error("cannot reach the Kubernetes API server ({call}): {cause}")]
    Unreachable { call: ApiCall, cause: String },
    /// RBAC refused a call (exit 4): names what is missing and the rule that grants it.
    #[error(
        "forbidden: zerodrop may not {call}.\nGrant it with this Role rule:\n{rule}\n(API server said: {message})",
        rule = call.role_rule()
    )]
    Forbidden { call: ApiCall, message: String },
    /// The named object does not exist (exit 2: the name given is wrong).
    #[error("{what} not found in namespace {namespace}")]
    NotFound { what: String, namespace: String },
    /// The input cannot work: unsupported kind, bad trigger argument, unreadable patch (exit 2).
    #[error("{0}")]
    BadInput(String),
    /// The workload or its Service is not in a state that can be tested (exit 4).
    #[error("{0}")]
    Unhealthy(String),
    /// The API server answered a call with an error zerodrop has no better words for (exit 4).
    #[error("the API server refused to {call}: {message}")]
    Api { call: ApiCall, message: String },
    /// The API server did not answer a call in time (exit 4).
    #[error("the API server did not answer {call} within {secs} s")]
    Slow { call: ApiCall, secs: u64 },
    /// The rollout failed, timed out, or its trigger failed (exit 3).
    #[error("{0}")]
    Rollout(String),
    /// A `Cluster` call came in the wrong phase of the run, e.g. `trigger` before `prepare`
    /// (exit 4). The run flow never does this; a caller driving the runtime by hand can.
    #[error(
        "{call} was called while the cluster was {phase}: the calls go prepare, trigger, wait_complete, shutdown"
    )]
    OutOfOrder {
        call: &'static str,
        phase: &'static str,
    },
}

impl KubeError {
    /// Classifies a kube client error raised by `call`.
    pub fn from_kube(call: ApiCall, err: kube::Error) -> KubeError {
        match err {
            kube::Error::Api(status) => {
                if status.is_forbidden() {
                    KubeError::Forbidden {
                        call,
                        message: status.message.clone(),
                    }
                } else if status.is_not_found() {
                    let what = match (&call.name, call.resource) {
                        (Some(n), r) => format!("{}/{}", singular(r), n),
                        (None, r) => r.to_string(),
                    };
                    KubeError::NotFound {
                        what,
                        namespace: call.namespace,
                    }
                } else {
                    KubeError::Api {
                        call,
                        message: format!("{} ({})", status.message, status.code),
                    }
                }
            }
            // Everything below the HTTP layer means no answer came back: the server is down,
            // the address is wrong, or TLS failed.
            kube::Error::HyperError(e) => KubeError::Unreachable {
                call,
                cause: error_chain(&e),
            },
            kube::Error::Service(e) => KubeError::Unreachable {
                call,
                cause: error_chain(e.as_ref()),
            },
            other => KubeError::Api {
                call,
                message: error_chain(&other),
            },
        }
    }
}

impl From<KubeError> for ClusterError {
    fn from(e: KubeError) -> ClusterError {
        let text = e.to_string();
        match e {
            KubeError::NotFound { .. } | KubeError::BadInput(_) => ClusterError::BadInput(text),
            KubeError::Rollout(_) => ClusterError::RolloutFailed(text),
            KubeError::NoConfig(_)
            | KubeError::Unreachable { .. }
            | KubeError::Forbidden { .. }
            | KubeError::Unhealthy(_)
            | KubeError::Api { .. }
            | KubeError::Slow { .. }
            | KubeError::OutOfOrder { .. } => ClusterError::CouldNotRun(text),
        }
    }
}

/// "deployments" → "deployment", for messages.
fn singular(resource: &str) -> &str {
    resource.strip_suffix('s').unwrap_or(resource)
}

/// An error and its sources on one line: the innermost cause is usually the useful part
/// ("Connection refused").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        let mut s = kube::core::Status::failure(message, reason);
        s.code = code;
        kube::Error::Api(Box::new(s))
    }

    #[test]
    fn forbidden_names_the_verb_resource_namespace_and_the_rule_granting_it() {
        let call = ApiCall::new("patch", "deployments", "apps", "shop").named("web");
        let e = KubeError::from_kube(
            call,
            status(403, "Forbidden", "deployments.apps \"web\" is forbidden"),
        );
        let text = e.to_string();
        assert!(text.contains("may not patch deployments.apps/web in namespace shop"));
        assert!(text.contains(
            "- apiGroups: [\"apps\"]\n  resources: [\"deployments\"]\n  verbs: [\"patch\"]"
        ));
        assert_eq!(
            ClusterError::from(e).exit_code(),
            crate::model::exit::COULD_NOT_RUN
        );
    }

    #[test]
    fn not_found_is_bad_input_naming_the_object() {
        let call = ApiCall::new("get", "deployments", "apps", "shop").named("wbe");
        let e = KubeError::from_kube(call, status(404, "NotFound", "not found"));
        assert_eq!(e.to_string(), "deployment/wbe not found in namespace shop");
        assert_eq!(
            ClusterError::from(e).exit_code(),
            crate::model::exit::BAD_INPUT
        );
    }

    #[test]
    fn other_api_errors_keep_the_servers_message_and_code() {
        let call = ApiCall::new("list", "pods", "", "shop");
        let e = KubeError::from_kube(call, status(500, "InternalError", "etcd is sad"));
        assert_eq!(
            e.to_string(),
            "the API server refused to list pods in namespace shop: etcd is sad (500)"
        );
    }

    #[test]
    fn rollout_errors_exit_3() {
        let e = KubeError::Rollout("timed out".into());
        assert_eq!(
            ClusterError::from(e).exit_code(),
            crate::model::exit::ROLLOUT_FAILED
        );
    }
}
