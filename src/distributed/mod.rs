//! A run spread over several generators, and a run that lives in the cluster: Kubernetes is the
//! distributed engine, there is no coordinator of our own.
//!
//! - [`worker`]: one run as generator K of N (an Indexed Job's pod): its flags, its share of
//!   the schedule, where its result goes besides the terminal, trimming it to fit a ConfigMap.
//! - [`result_store`]: the result patched into a ConfigMap (`--result-configmap`).
//! - [`merge`]: the generators' results combined into one, losslessly (`zerodrop merge`).
//! - [`manifest`]: the ServiceAccount, Role, RoleBinding, ConfigMaps and (Indexed) Job that run
//!   `zerodrop run` in-cluster (`zerodrop manifest job`). Pure.
//!
//! Starting the workers together (`cluster::kube::rendezvous`) and the Role's rules
//! (`cluster::kube::rbac`) stay beside the API calls they mirror.

pub mod manifest;
pub mod merge;
pub mod result_store;
pub mod worker;
