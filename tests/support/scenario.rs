//! A small cluster for the fake API server — a Deployment `web` in namespace `shop` with its
//! pods, Service and EndpointSlice, built from k8s-openapi types — and the scripted timeline of
//! a rolling update (surge pod created → started → ready → endpoint added → old pod terminating
//! → endpoint terminating → removed → exited → deleted), one replica at a time.
//!
//! Test support only. Each scripted step waits (bounded) until the observer has seen it, so the
//! order of the timeline is the order of the script however slow the machine is.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use super::fake_apiserver::FakeApiServer;

pub const NS: &str = "shop";

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("fixture matches the k8s-openapi type")
}

pub fn deployment(name: &str, replicas: i32) -> Deployment {
    typed(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": 1,
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "progressDeadlineSeconds": 600,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": format!("{name}:1"),
                                                       "ports": [{"containerPort": 8080}]}],
                                       "terminationGracePeriodSeconds": 30}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": replicas, "availableReplicas": replicas,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    }))
}

pub fn service(name: &str, selector: Value) -> Service {
    typed(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
}

pub fn pod(name: &str, app: &str, ip: &str, ready: bool, extra_labels: Value) -> Pod {
    let mut labels = json!({"app": app});
    if let (Some(l), Some(e)) = (labels.as_object_mut(), extra_labels.as_object()) {
        l.extend(e.clone());
    }
    typed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"containers": [{"name": app, "image": format!("{app}:1"), "ports": [{"containerPort": 8080}]}],
                 "terminationGracePeriodSeconds": 30},
        "status": running_status(ip, ready)
    }))
}

fn running_status(ip: &str, ready: bool) -> Value {
    json!({"phase": "Running", "podIP": ip,
           "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"},
                           "lastTransitionTime": jiff::Timestamp::now().round(jiff::Unit::Second).expect("round").to_string()}],
           "containerStatuses": [{"name": "web", "image": "web:1", "imageID": "", "ready": ready, "restartCount": 0,
                                  "state": {"running": {"startedAt": "2026-11-03T10:00:00Z"}}}]})
}

pub fn endpoint(ip: &str, pod: &str, ready: bool, serving: bool, terminating: bool) -> Value {
    json!({"addresses": [ip], "targetRef": {"kind": "Pod", "name": pod, "namespace": NS},
           "conditions": {"ready": ready, "serving": serving, "terminating": terminating}})
}

pub fn slice(service: &str, name: &str, endpoints: Vec<Value>) -> EndpointSlice {
    typed(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": NS, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    }))
}

pub fn replica_set(deploy: &Value, name: &str, revision: &str, image: &str) -> ReplicaSet {
    typed(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "web", "pod-template-hash": name},
                     "annotations": {"deployment.kubernetes.io/revision": revision},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                          "uid": deploy["metadata"]["uid"], "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": name}},
                              "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]}}}
    }))
}

/// The `web` Deployment, its Service, `replicas` ready old pods and their endpoints.
pub struct Web {
    pub replicas: usize,
    pub old: Vec<(String, String)>,
}

impl Web {
    pub fn install(server: &FakeApiServer, replicas: usize) -> Web {
        server.put(&deployment("web", replicas as i32));
        server.put(&service("web", json!({"app": "web"})));
        let old: Vec<(String, String)> = (0..replicas)
            .map(|i| (format!("web-old-{i}"), format!("10.0.0.{}", 10 + i)))
            .collect();
        for (name, ip) in &old {
            server.put(&pod(
                name,
                "web",
                ip,
                true,
                json!({"pod-template-hash": "old"}),
            ));
        }
        let eps = old
            .iter()
            .map(|(n, ip)| endpoint(ip, n, true, true, false))
            .collect();
        server.put(&slice("web", "web-abcde", eps));
        Web { replicas, old }
    }
}

/// Sets the Deployment's status as its controller would.
pub fn deploy_status(server: &FakeApiServer, replicas: usize, updated: usize, ready: usize) {
    server.update("deployments", NS, "web", |d| {
        let g = d["metadata"]["generation"].clone();
        d["status"] = json!({"observedGeneration": g, "replicas": replicas, "updatedReplicas": updated,
                             "readyReplicas": ready, "availableReplicas": ready,
                             "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]});
    });
}

fn set_endpoint(server: &FakeApiServer, pod: &str, ep: Option<Value>) {
    server.update("endpointslices", NS, "web-abcde", |s| {
        let list = s["endpoints"].as_array_mut().expect("endpoints");
        let pos = list.iter().position(|e| e["targetRef"]["name"] == pod);
        match (pos, ep) {
            (Some(i), Some(e)) => list[i] = e,
            (None, Some(e)) => list.push(e),
            (Some(i), None) => {
                list.remove(i);
            }
            (None, None) => {}
        }
    });
}

/// One scripted change, the pod it concerns and the event kind it must produce.
type ScriptStep<'a> = (Box<dyn FnOnce() + 'a>, Option<&'a str>, &'static str);

/// Plays a rolling update of `web` one replica at a time. After each change it waits until
/// `seen(pod, kind, n)` says the observer has recorded that event `n` times (bounded: panics after
/// 20 s). Replicas listed in `unobserved` are rolled without waiting, as happens while a watch
/// is down; `lossy` says the watch will come back by re-listing (so only end states can be
/// seen). `between(i)` may run a task (a fault) before replica `i`. Returns the expected
/// (pod, kind) events, in script order.
pub async fn roll(
    server: &FakeApiServer,
    web: &Web,
    seen: &(dyn Fn(Option<&str>, &str, usize) -> bool + Sync),
    unobserved: &[usize],
    lossy: bool,
    between: &(dyn Fn(usize) -> Option<tokio::task::JoinHandle<()>> + Sync),
) -> Vec<(Option<String>, &'static str)> {
    let mut script = Vec::new();
    let mut counts: BTreeMap<(Option<String>, &'static str), usize> = BTreeMap::new();
    let n = web.replicas;
    let mut expect = |pod: Option<&str>, kind: &'static str, wait: bool, script: &mut Vec<_>| {
        let key = (pod.map(str::to_string), kind);
        *counts.entry(key.clone()).or_default() += 1;
        script.push(key.clone());
        (key, counts[&(pod.map(str::to_string), kind)], wait)
    };
    deploy_status(server, n, 0, n);
    let (k, c, _) = expect(None, "workload_status", true, &mut script);
    wait_seen(seen, &k, c).await;
    for i in 0..n {
        if let Some(h) = between(i) {
            h.await.expect("between-step task");
        }
        let quiet = unobserved.contains(&i);
        let new = format!("web-new-{i}");
        let new_ip = format!("10.0.1.{}", 10 + i);
        let (old, old_ip) = web.old[i].clone();
        let mut steps: Vec<ScriptStep<'_>> = Vec::new();
        let s = server;
        let (n1, n2, n3, ip1, ip2) = (
            new.clone(),
            new.clone(),
            new.clone(),
            new_ip.clone(),
            new_ip.clone(),
        );
        steps.push((
            Box::new(move || {
                let mut p = pod(&n1, "web", &ip1, false, json!({"pod-template-hash": "new"}));
                p.status = Some(typed(json!({"phase": "Pending"})));
                s.put(&p);
            }),
            Some(&new),
            "pod_created",
        ));
        steps.push((
            Box::new(move || {
                s.update("pods", NS, &n2, |p| {
                    p["status"] = running_status(&ip2, false)
                });
            }),
            Some(&new),
            "pod_started",
        ));
        let ip3 = new_ip.clone();
        steps.push((
            Box::new(move || {
                s.update("pods", NS, &n3, |p| {
                    p["status"] = running_status(&ip3, true)
                });
            }),
            Some(&new),
            "pod_ready",
        ));
        let (n4, ip4) = (new.clone(), new_ip.clone());
        steps.push((
            Box::new(move || set_endpoint(s, &n4, Some(endpoint(&ip4, &n4, true, true, false)))),
            Some(&new),
            "endpoint_added",
        ));
        steps.push((
            Box::new(move || deploy_status(s, n + 1, i + 1, n + 1)),
            None,
            "workload_status",
        ));
        let o1 = old.clone();
        steps.push((
            Box::new(move || {
                s.update("pods", NS, &o1, |p| {
                    let end = jiff::Timestamp::now()
                        .checked_add(jiff::SignedDuration::from_secs(30))
                        .expect("time");
                    p["metadata"]["deletionTimestamp"] =
                        json!(end.round(jiff::Unit::Second).expect("round").to_string());
                    p["metadata"]["deletionGracePeriodSeconds"] = json!(30);
                });
            }),
            Some(&old),
            "pod_terminating",
        ));
        let (o2, oip2) = (old.clone(), old_ip.clone());
        steps.push((
            Box::new(move || set_endpoint(s, &o2, Some(endpoint(&oip2, &o2, false, true, true)))),
            Some(&old),
            "endpoint_changed",
        ));
        let (o6, oip6) = (old.clone(), old_ip.clone());
        steps.push((
            Box::new(move || {
                s.update("pods", NS, &o6, |p| {
                    p["status"] = running_status(&oip6, false)
                });
            }),
            Some(&old),
            "pod_not_ready",
        ));
        steps.push((
            Box::new(move || deploy_status(s, n, i + 1, n)),
            None,
            "workload_status",
        ));
        let o3 = old.clone();
        steps.push((
            Box::new(move || set_endpoint(s, &o3, None)),
            Some(&old),
            "endpoint_removed",
        ));
        let o4 = old.clone();
        steps.push((Box::new(move || {
            s.update("pods", NS, &o4, |p| {
                p["status"]["containerStatuses"][0]["state"] = json!({"terminated": {"exitCode": 0, "reason": "Completed",
                    "finishedAt": jiff::Timestamp::now().round(jiff::Unit::Second).expect("round").to_string()}});
                p["status"]["containerStatuses"][0]["ready"] = json!(false);
            });
        }), Some(&old), "container_exited"));
        let o5 = old.clone();
        steps.push((
            Box::new(move || s.remove("pods", NS, &o5)),
            Some(&old),
            "pod_deleted",
        ));
        if !quiet {
            for (apply, pod_name, kind) in steps {
                apply();
                let (k, c, _) = expect(pod_name, kind, true, &mut script);
                wait_seen(seen, &k, c).await;
            }
            continue;
        }
        // Applied while the watch is down: nothing waits for the observer.
        let mut all = Vec::new();
        for (apply, pod_name, kind) in steps {
            apply();
            all.push((pod_name.map(str::to_string), kind));
        }
        // A resumed watch replays every change. A re-list (410 Gone) sees only the end state:
        // the old pod's terminating / exited / endpoint-terminating states and the transient
        // status are gone for good — the gap in the timeline stands for them.
        let lost = [
            "pod_terminating",
            "endpoint_changed",
            "pod_not_ready",
            "container_exited",
        ];
        let mut status_seen = false;
        let mut pending = Vec::new();
        for (pod_name, kind) in all {
            if lossy && lost.contains(&kind) {
                continue;
            }
            if lossy && kind == "workload_status" {
                if status_seen {
                    continue;
                }
                status_seen = true;
            }
            pending.push(expect(pod_name.as_deref(), kind, true, &mut script));
        }
        for (k, c, _) in pending {
            wait_seen(seen, &k, c).await;
        }
    }
    script
}

async fn wait_seen(
    seen: &(dyn Fn(Option<&str>, &str, usize) -> bool + Sync),
    key: &(Option<String>, &'static str),
    n: usize,
) {
    for _ in 0..2000 {
        if seen(key.0.as_deref(), key.1, n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the observer never recorded {key:?} x{n}");
}
