//! `--undo-on-failure`, as `kubectl rollout undo` does it.
//!
//! - Deployment: find the ReplicaSet of the previous revision, and send a JSON patch that puts
//!   its pod template back (without the `pod-template-hash` label) and carries its annotations
//!   over, keeping the Deployment's own bookkeeping annotations.
//! - StatefulSet and DaemonSet: their controllers keep history as ControllerRevisions whose
//!   `data` is already a strategic merge patch (`{"spec":{"template":{…,"$patch":"replace"}}}`);
//!   the previous revision's data is sent as is, unless the current template already matches it.
//!
//! Pure: choosing the revision and building the patch. `shutdown.rs` lists and sends.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{Value, json};

use super::error::KubeError;

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

/// Annotations that stay the Deployment's own and are not copied back from the ReplicaSet.
const KEEP_FROM_DEPLOYMENT: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

fn revision(rs: &ReplicaSet) -> Option<i64> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(REVISION)?
        .parse()
        .ok()
}

/// The ReplicaSet of the second-newest revision among those the Deployment controls.
pub fn previous_replica_set<'a>(
    deploy: &Deployment,
    sets: &'a [ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let uid = deploy.metadata.uid.as_deref()?;
    let mut owned: Vec<(i64, &ReplicaSet)> = sets
        .iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .filter_map(|rs| Some((revision(rs)?, rs)))
        .collect();
    owned.sort_by_key(|(r, _)| *r);
    owned.iter().rev().nth(1).map(|(_, rs)| *rs)
}

/// The JSON patch restoring `rs`'s template, or `None` when the Deployment already has it.
pub fn rollback_patch(deploy: &Deployment, rs: &ReplicaSet) -> Result<Option<Value>, KubeError> {
    let mut template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .ok_or_else(|| KubeError::Rollout("the previous ReplicaSet has no pod template".into()))?;
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(HASH_LABEL);
    }
    let current = deploy.spec.as_ref().map(|s| s.template.clone());
    if current.as_ref() == Some(&template) {
        return Ok(None);
    }
    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    let deploy_ann = deploy.metadata.annotations.clone().unwrap_or_default();
    for k in KEEP_FROM_DEPLOYMENT {
        if let Some(v) = deploy_ann.get(k) {
            annotations.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in rs.metadata.annotations.iter().flatten() {
        if !KEEP_FROM_DEPLOYMENT.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    let template = serde_json::to_value(&template)
        .map_err(|e| KubeError::Rollout(format!("cannot encode the previous template: {e}")))?;
    Ok(Some(json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ])))
}

/// The revision number of a ReplicaSet, for messages.
pub fn revision_of(rs: &ReplicaSet) -> String {
    revision(rs).map_or_else(|| "?".into(), |r| r.to_string())
}

/// The ControllerRevision of the second-newest revision among those controlled by the object
/// with `owner_uid` (kubectl's `findHistory` with no `--to-revision`).
pub fn previous_controller_revision<'a>(
    owner_uid: &str,
    history: &'a [ControllerRevision],
) -> Option<&'a ControllerRevision> {
    let mut owned: Vec<&ControllerRevision> = history
        .iter()
        .filter(|r| {
            r.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == owner_uid && o.controller == Some(true))
        })
        .collect();
    owned.sort_by_key(|r| r.revision);
    owned.iter().rev().nth(1).copied()
}

/// What a StatefulSet's or DaemonSet's controller records for `template`: the patch that
/// replaces the whole pod template.
pub fn template_patch(template: Option<&PodTemplateSpec>) -> Value {
    let mut t = template
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or_else(|| json!({}));
    if let Some(obj) = t.as_object_mut() {
        obj.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The strategic merge patch restoring `rev`, or `None` when `current` (the current template's
/// [`template_patch`]) already matches it.
pub fn revision_patch(
    rev: &ControllerRevision,
    current: &Value,
) -> Result<Option<Value>, KubeError> {
    let data = rev.data.as_ref().map(|d| &d.0).ok_or_else(|| {
        KubeError::Rollout(format!(
            "revision {} has no recorded template to roll back to",
            rev.revision
        ))
    })?;
    if data.pointer("/spec/template").is_none() {
        return Err(KubeError::Rollout(format!(
            "revision {} does not hold a pod template patch",
            rev.revision
        )));
    }
    // kubectl compares the encoded bytes; comparing values is the same test without depending
    // on key order.
    Ok((data != current).then(|| data.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(image: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "uid": "d1",
                         "annotations": {"deployment.kubernetes.io/revision": "3", "team": "a"}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}
        }))
        .expect("deployment")
    }

    fn rs(name: &str, rev: &str, owner: &str, image: &str) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": name,
                         "annotations": {"deployment.kubernetes.io/revision": rev, "note": name},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                              "uid": owner, "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": name}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}
        }))
        .expect("replicaset")
    }

    #[test]
    fn the_previous_revision_is_the_second_newest_owned_replica_set() {
        let sets = [
            rs("a", "1", "d1", "web:1"),
            rs("c", "3", "d1", "web:3"),
            rs("b", "2", "d1", "web:2"),
            rs("x", "9", "other", "web:9"),
        ];
        let prev = previous_replica_set(&deploy("web:3"), &sets).expect("found");
        assert_eq!(prev.metadata.name.as_deref(), Some("b"));
        assert_eq!(revision_of(prev), "2");
    }

    #[test]
    fn no_history_means_no_previous_revision() {
        assert!(previous_replica_set(&deploy("web:1"), &[rs("a", "1", "d1", "web:1")]).is_none());
    }

    #[test]
    fn the_patch_restores_the_template_without_the_hash_label_and_keeps_bookkeeping() {
        let p = rollback_patch(&deploy("web:3"), &rs("b", "2", "d1", "web:2"))
            .expect("ok")
            .expect("a patch");
        assert_eq!(p[0]["op"], "replace");
        assert_eq!(p[0]["path"], "/spec/template");
        assert_eq!(p[0]["value"]["spec"]["containers"][0]["image"], "web:2");
        assert_eq!(p[0]["value"]["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(p[1]["path"], "/metadata/annotations");
        assert_eq!(
            p[1]["value"],
            json!({"deployment.kubernetes.io/revision": "3", "note": "b"})
        );
    }

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({"metadata": {"labels": {"app": "db"}},
                                      "spec": {"containers": [{"name": "db", "image": image}]}}))
        .expect("template")
    }

    fn revision(name: &str, rev: i64, owner: &str, image: &str) -> ControllerRevision {
        serde_json::from_value(json!({
            "metadata": {"name": name,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                              "uid": owner, "controller": true}]},
            "revision": rev,
            "data": template_patch(Some(&template(image)))
        }))
        .expect("controllerrevision")
    }

    #[test]
    fn the_previous_controller_revision_is_the_second_newest_owned_one() {
        let history = [
            revision("db-1", 1, "s1", "db:1"),
            revision("db-3", 3, "s1", "db:3"),
            revision("db-2", 2, "s1", "db:2"),
            revision("other-9", 9, "s2", "db:9"),
        ];
        let prev = previous_controller_revision("s1", &history).expect("found");
        assert_eq!(prev.metadata.name.as_deref(), Some("db-2"));
        assert!(previous_controller_revision("s1", &history[..1]).is_none());
    }

    #[test]
    fn a_controller_revision_is_restored_with_its_own_replace_patch() {
        let prev = revision("db-2", 2, "s1", "db:2");
        let current = template_patch(Some(&template("db:3")));
        let p = revision_patch(&prev, &current)
            .expect("ok")
            .expect("a patch");
        assert_eq!(p["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            p["spec"]["template"]["spec"]["containers"][0]["image"],
            "db:2"
        );
        let same = template_patch(Some(&template("db:2")));
        assert_eq!(revision_patch(&prev, &same).expect("ok"), None);
    }

    #[test]
    fn rolling_back_to_the_current_template_does_nothing() {
        assert_eq!(
            rollback_patch(&deploy("web:2"), &rs("b", "2", "d1", "web:2")).expect("ok"),
            None
        );
    }
}
