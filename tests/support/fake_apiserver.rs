//! A fake Kubernetes API server for tests: hyper on 127.0.0.1:0, speaking the real wire format
//! for the calls zerodrop (and `kubectl`) make — list and watch (newline-delimited JSON
//! WatchEvents with resourceVersions, bookmarks, 410 Gone), get, patch (strategic merge, JSON
//! merge, JSON patch), delete — plus legacy discovery so a real `kubectl` can be pointed at it.
//!
//! Objects go in as k8s-openapi types (so field names are the real ones) and are stored as JSON.
//! Tests script the cluster's behaviour by changing objects (`put`, `update`, `remove`) and
//! inject faults: RBAC denials, a slow API, watch streams cut mid-flight, history compacted so a
//! resumed watch gets 410 Gone. Every request is recorded with its exact body and content type.
//!
//! Test support only: it must not be used by the library, and it implements only what is called.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: String,
}

/// Where a plural resource lives and what it is called.
struct Res {
    plural: &'static str,
    prefix: &'static str,
    kind: &'static str,
    api_version: &'static str,
}

const RESOURCES: &[Res] = &[
    Res {
        plural: "pods",
        prefix: "/api/v1",
        kind: "Pod",
        api_version: "v1",
    },
    Res {
        plural: "services",
        prefix: "/api/v1",
        kind: "Service",
        api_version: "v1",
    },
    Res {
        plural: "events",
        prefix: "/api/v1",
        kind: "Event",
        api_version: "v1",
    },
    Res {
        plural: "endpointslices",
        prefix: "/apis/discovery.k8s.io/v1",
        kind: "EndpointSlice",
        api_version: "discovery.k8s.io/v1",
    },
    Res {
        plural: "deployments",
        prefix: "/apis/apps/v1",
        kind: "Deployment",
        api_version: "apps/v1",
    },
    Res {
        plural: "statefulsets",
        prefix: "/apis/apps/v1",
        kind: "StatefulSet",
        api_version: "apps/v1",
    },
    Res {
        plural: "daemonsets",
        prefix: "/apis/apps/v1",
        kind: "DaemonSet",
        api_version: "apps/v1",
    },
    Res {
        plural: "replicasets",
        prefix: "/apis/apps/v1",
        kind: "ReplicaSet",
        api_version: "apps/v1",
    },
    Res {
        plural: "configmaps",
        prefix: "/api/v1",
        kind: "ConfigMap",
        api_version: "v1",
    },
    Res {
        plural: "controllerrevisions",
        prefix: "/apis/apps/v1",
        kind: "ControllerRevision",
        api_version: "apps/v1",
    },
    // Read by `zerodrop lint` on a live workload.
    Res {
        plural: "poddisruptionbudgets",
        prefix: "/apis/policy/v1",
        kind: "PodDisruptionBudget",
        api_version: "policy/v1",
    },
];

fn res(plural: &str) -> Option<&'static Res> {
    RESOURCES.iter().find(|r| r.plural == plural)
}

fn plural_of_kind(kind: &str) -> Option<&'static str> {
    RESOURCES.iter().find(|r| r.kind == kind).map(|r| r.plural)
}

type Key = (String, String, String); // plural, namespace, name

#[derive(Clone, Debug)]
enum Note {
    Change {
        rv: u64,
        plural: String,
        ns: String,
        kind: &'static str,
        obj: Value,
    },
    Bookmark(u64),
    Cut,
}

#[derive(Default)]
struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    log: Vec<Note>,
    compacted_below: u64,
    requests: Vec<Recorded>,
    denied: Vec<(String, String)>,
    delay: Duration,
    uid: u64,
    watch_down_until: Option<std::time::Instant>,
}

/// A running fake API server. Dropping it stops the server.
pub struct FakeApiServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    notes: broadcast::Sender<Note>,
    requests_seen: tokio::sync::watch::Receiver<usize>,
    requests_tx: Arc<tokio::sync::watch::Sender<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.notes.send(Note::Cut);
    }
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

impl FakeApiServer {
    pub async fn start() -> FakeApiServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            rv: 100,
            ..State::default()
        }));
        let (notes, _) = broadcast::channel(4096);
        let (tx, rx) = tokio::sync::watch::channel(0usize);
        let tx = Arc::new(tx);
        let ctx = Ctx {
            state: state.clone(),
            notes: notes.clone(),
            requests: tx.clone(),
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let ctx = ctx.clone();
                        async move { Ok::<_, Infallible>(ctx.handle(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
                });
            }
        });
        FakeApiServer {
            addr,
            state,
            notes,
            requests_seen: rx,
            requests_tx: tx,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig pointing at this server, with `namespace` as the context's default.
    pub fn write_kubeconfig(&self, dir: &Path, namespace: &str) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: {namespace}\ncurrent-context: fake\nusers:\n- name: tester\n  user:\n    token: fake-token\n",
            self.url()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates or replaces an object (ADDED or MODIFIED).
    pub fn put<K: serde::Serialize>(&self, obj: &K) -> Value {
        let v = serde_json::to_value(obj).expect("serialise object");
        self.put_value(v)
    }

    pub fn put_value(&self, mut v: Value) -> Value {
        let kind = v["kind"].as_str().expect("object has a kind").to_string();
        let plural = plural_of_kind(&kind).expect("known kind");
        let ns = v["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = v["metadata"]["name"]
            .as_str()
            .expect("object has a name")
            .to_string();
        let mut st = self.lock();
        let key = (plural.to_string(), ns.clone(), name);
        let existed = st.objects.contains_key(&key);
        if !existed {
            st.uid += 1;
            let uid = format!("uid-{}", st.uid);
            let m = v["metadata"].as_object_mut().expect("metadata");
            m.entry("uid").or_insert(json!(uid));
            m.entry("creationTimestamp").or_insert(json!(now_rfc3339()));
            m.entry("namespace").or_insert(json!(ns));
        }
        drop(st);
        self.commit(key, v, if existed { "MODIFIED" } else { "ADDED" })
    }

    /// Changes a stored object in place (MODIFIED).
    pub fn update(&self, plural: &str, ns: &str, name: &str, f: impl FnOnce(&mut Value)) -> Value {
        let key = (plural.to_string(), ns.to_string(), name.to_string());
        let mut v = self
            .lock()
            .objects
            .get(&key)
            .cloned()
            .unwrap_or_else(|| panic!("no {plural} {ns}/{name}"));
        f(&mut v);
        self.commit(key, v, "MODIFIED")
    }

    /// Removes an object (DELETED).
    pub fn remove(&self, plural: &str, ns: &str, name: &str) {
        let key = (plural.to_string(), ns.to_string(), name.to_string());
        let mut st = self.lock();
        let Some(mut v) = st.objects.remove(&key) else {
            return;
        };
        st.rv += 1;
        let rv = st.rv;
        v["metadata"]["resourceVersion"] = json!(rv.to_string());
        let note = Note::Change {
            rv,
            plural: key.0,
            ns: key.1,
            kind: "DELETED",
            obj: v,
        };
        st.log.push(note.clone());
        let _ = self.notes.send(note);
    }

    fn commit(&self, key: Key, mut v: Value, kind: &'static str) -> Value {
        let mut st = self.lock();
        st.rv += 1;
        let rv = st.rv;
        v["metadata"]["resourceVersion"] = json!(rv.to_string());
        st.objects.insert(key.clone(), v.clone());
        let note = Note::Change {
            rv,
            plural: key.0,
            ns: key.1,
            kind,
            obj: v.clone(),
        };
        st.log.push(note.clone());
        let _ = self.notes.send(note);
        v
    }

    pub fn get(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(plural.to_string(), ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Requests of one method, in order.
    pub fn requests_by(&self, method: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }

    /// Waits (bounded) until a request matching `pred` has arrived.
    pub async fn wait_for_request(
        &self,
        limit: Duration,
        pred: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        let mut rx = self.requests_seen.clone();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(r) = self.requests().into_iter().find(|r| pred(r)) {
                return r;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!(
                    "no matching request within {limit:?}; got {:#?}",
                    self.requests()
                );
            }
        }
    }

    /// Refuses `verb` on `plural` with a 403, as RBAC would.
    pub fn deny(&self, verb: &str, plural: &str) {
        self.lock().denied.push((verb.into(), plural.into()));
    }

    /// Delays every answer (a slow API server).
    pub fn set_delay(&self, d: Duration) {
        self.lock().delay = d;
    }

    /// Cuts every open watch stream mid-flight (the connection drops without a clean end).
    pub fn cut_watches(&self) {
        let _ = self.notes.send(Note::Cut);
    }

    /// Answers every watch request with 500 for `d` (an API server restarting): the client's
    /// watches fail and retry with backoff until it is over.
    pub fn fail_watches_for(&self, d: Duration) {
        self.lock().watch_down_until = Some(std::time::Instant::now() + d);
    }

    /// Forgets history: a watch resumed from any resourceVersion seen so far gets 410 Gone.
    pub fn compact(&self) {
        let mut st = self.lock();
        st.compacted_below = st.rv + 1;
        st.log.clear();
    }

    /// Sends a BOOKMARK to every watch that asked for them.
    pub fn bookmark(&self) {
        let rv = self.lock().rv;
        let _ = self.notes.send(Note::Bookmark(rv));
    }
}

#[derive(Clone)]
struct Ctx {
    state: Arc<Mutex<State>>,
    notes: broadcast::Sender<Note>,
    requests: Arc<tokio::sync::watch::Sender<usize>>,
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(v.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("response")
}

fn status(code: u16, reason: &str, message: String, details: Value) -> Response<Body> {
    full(
        StatusCode::from_u16(code).expect("code"),
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "details": details, "code": code}),
    )
}

fn query_map(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(c) => {
                        out.push(c);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a selector on commas outside parentheses.
fn split_selector(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn labels_match(sel: &str, labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    split_selector(sel).iter().all(|term| {
        let t = term.trim();
        let set = |rest: &str| -> Vec<String> {
            rest.trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(|s| s.trim().to_string())
                .collect()
        };
        if let Some((k, rest)) = t.split_once(" notin ") {
            return !get(k.trim()).is_some_and(|v| set(rest).iter().any(|x| x == v));
        }
        if let Some((k, rest)) = t.split_once(" in ") {
            return get(k.trim()).is_some_and(|v| set(rest).iter().any(|x| x == v));
        }
        if let Some((k, v)) = t.split_once("!=") {
            return get(k.trim()) != Some(v.trim());
        }
        if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            return get(k.trim()) == Some(v.trim());
        }
        if let Some(k) = t.strip_prefix('!') {
            return get(k).is_none();
        }
        get(t).is_some()
    })
}

fn fields_match(sel: &str, obj: &Value) -> bool {
    split_selector(sel).iter().all(|term| {
        let (path, want, neg) = match term.split_once("!=") {
            Some((p, v)) => (p, v, true),
            None => match term.split_once("==").or_else(|| term.split_once('=')) {
                Some((p, v)) => (p, v, false),
                None => return true,
            },
        };
        let mut cur = obj;
        for part in path.trim().split('.') {
            cur = &cur[part];
        }
        let got = cur
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| cur.to_string());
        (got == want.trim()) != neg
    })
}

fn selected(q: &BTreeMap<String, String>, obj: &Value) -> bool {
    q.get("labelSelector")
        .is_none_or(|s| labels_match(s, &obj["metadata"]["labels"]))
        && q.get("fieldSelector").is_none_or(|s| fields_match(s, obj))
}

/// Strategic merge keys of the lists zerodrop and kubectl patch.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "conditions" => Some("type"),
        _ => None,
    }
}

fn merge_patch(target: &mut Value, patch: &Value, strategic: bool) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if strategic && p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = p.clone();
        p.remove("$patch");
        *target = Value::Object(p);
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if strategic
            && (k.starts_with("$setElementOrder/") || k.starts_with("$retainKeys") || k == "$patch")
        {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (strategic, merge_key(k), v) {
            (true, Some(mk), Value::Array(items)) => {
                let list = t.entry(k.clone()).or_insert(json!([]));
                let arr = list.as_array_mut().expect("list");
                for item in items {
                    let id = &item[mk];
                    let pos = arr.iter().position(|e| &e[mk] == id);
                    if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                        if let Some(i) = pos {
                            arr.remove(i);
                        }
                        continue;
                    }
                    match pos {
                        Some(i) => merge_patch(&mut arr[i], item, true),
                        None => arr.push(item.clone()),
                    }
                }
            }
            _ => merge_patch(t.entry(k.clone()).or_insert(Value::Null), v, strategic),
        }
    }
}

fn pointer_parent<'a>(doc: &'a mut Value, path: &str) -> Option<(&'a mut Value, String)> {
    let (parent, last) = path.rsplit_once('/')?;
    let last = last.replace("~1", "/").replace("~0", "~");
    Some((doc.pointer_mut(parent)?, last))
}

fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("JSON patch must be a list")? {
        let path = op["path"].as_str().ok_or("op without path")?;
        match op["op"].as_str() {
            Some("replace") | Some("add") => {
                let (parent, last) =
                    pointer_parent(doc, path).ok_or(format!("no parent for {path}"))?;
                match parent {
                    Value::Object(m) => {
                        m.insert(last, op["value"].clone());
                    }
                    Value::Array(a) => {
                        let i: usize = if last == "-" {
                            a.len()
                        } else {
                            last.parse().map_err(|_| "bad index")?
                        };
                        if op["op"] == "add" {
                            a.insert(i.min(a.len()), op["value"].clone())
                        } else if i < a.len() {
                            a[i] = op["value"].clone()
                        }
                    }
                    _ => return Err(format!("cannot {} at {path}", op["op"])),
                }
            }
            Some("remove") => {
                let (parent, last) =
                    pointer_parent(doc, path).ok_or(format!("no parent for {path}"))?;
                if let Value::Object(m) = parent {
                    m.remove(&last);
                }
            }
            Some("test") => {
                if doc.pointer(path) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unsupported op {other:?}")),
        }
    }
    Ok(())
}

impl Ctx {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&body).into_owned();
        let delay = {
            let mut st = self.lock();
            st.requests.push(Recorded {
                method: method.clone(),
                path: path.clone(),
                query: query.clone(),
                content_type: content_type.clone(),
                body: body.clone(),
            });
            st.delay
        };
        self.requests.send_modify(|n| *n += 1);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let q = query_map(&query);
        let segs: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(r) = discovery(&segs) {
            return r;
        }
        // /api/v1/namespaces/NS/PLURAL[/NAME] or /apis/GROUP/VERSION/namespaces/NS/PLURAL[/NAME]
        let rest = match segs.as_slice() {
            ["api", "v1", rest @ ..] => rest,
            ["apis", _, _, rest @ ..] => rest,
            _ => &[][..],
        };
        let (ns, plural, name) = match rest {
            ["namespaces", ns, plural] => (Some(*ns), *plural, None),
            ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
            [plural] => (None, *plural, None),
            _ => {
                return status(
                    404,
                    "NotFound",
                    format!("the server could not find the requested resource ({path})"),
                    json!({}),
                );
            }
        };
        let Some(r) = res(plural) else {
            return status(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({plural})"),
                json!({}),
            );
        };
        let watching = q.get("watch").is_some_and(|w| w == "true" || w == "1");
        let verb = match (method.as_str(), name, watching) {
            ("GET", Some(_), _) => "get",
            ("GET", None, true) => "watch",
            ("GET", None, false) => "list",
            ("PATCH", _, _) => "patch",
            ("DELETE", _, _) => "delete",
            ("POST", _, _) => "create",
            _ => "update",
        };
        let down = self
            .lock()
            .watch_down_until
            .is_some_and(|t| std::time::Instant::now() < t);
        if down && verb == "watch" {
            return status(
                500,
                "InternalError",
                "the watch cache is not ready yet".into(),
                json!({}),
            );
        }
        let denied = self
            .lock()
            .denied
            .iter()
            .any(|(v, p)| v == verb && p == plural);
        if denied {
            let group = r.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            let nsd = ns.unwrap_or("");
            let target = name.map(|n| format!(" \"{n}\"")).unwrap_or_default();
            return status(
                403,
                "Forbidden",
                format!(
                    "{plural}{}{target} is forbidden: User \"system:serviceaccount:ci:zerodrop\" cannot {verb} resource \"{plural}\" in API group \"{group}\" in the namespace \"{nsd}\"",
                    if group.is_empty() {
                        String::new()
                    } else {
                        format!(".{group}")
                    }
                ),
                match name {
                    Some(n) => json!({"name": n, "group": group, "kind": plural}),
                    None => json!({"group": group, "kind": plural}),
                },
            );
        }
        let not_found = |n: &str| {
            status(
                404,
                "NotFound",
                format!(
                    "{plural}{} \"{n}\" not found",
                    r.api_version
                        .rsplit_once('/')
                        .map(|(g, _)| format!(".{g}"))
                        .unwrap_or_default()
                ),
                json!({"name": n, "kind": plural}),
            )
        };
        match verb {
            "get" => {
                let key = (
                    plural.to_string(),
                    ns.unwrap_or("").to_string(),
                    name.unwrap_or("").to_string(),
                );
                match self.lock().objects.get(&key) {
                    Some(v) => full(StatusCode::OK, v),
                    None => not_found(name.unwrap_or("")),
                }
            }
            "list" => {
                let st = self.lock();
                let items: Vec<Value> = st
                    .objects
                    .iter()
                    .filter(|((p, n, _), _)| p == plural && ns.is_none_or(|ns| ns == n))
                    .map(|(_, v)| v)
                    .filter(|v| selected(&q, v))
                    .cloned()
                    .collect();
                full(
                    StatusCode::OK,
                    &json!({"kind": format!("{}List", r.kind), "apiVersion": r.api_version,
                                             "metadata": {"resourceVersion": st.rv.to_string()}, "items": items}),
                )
            }
            "watch" => self.watch(r, ns.map(str::to_string), q),
            "patch" => self.patch(
                plural,
                ns.unwrap_or(""),
                name.unwrap_or(""),
                &content_type,
                &body,
            ),
            "delete" => self.delete(plural, ns.unwrap_or(""), name.unwrap_or(""), &body),
            _ => status(
                405,
                "MethodNotAllowed",
                format!("{method} is not supported by the fake"),
                json!({}),
            ),
        }
    }

    fn patch(&self, plural: &str, ns: &str, name: &str, ct: &str, body: &str) -> Response<Body> {
        let key = (plural.to_string(), ns.to_string(), name.to_string());
        // Read, change and store under one lock, as the API server's optimistic concurrency
        // makes a patch atomic: a test changing the object meanwhile must not be overwritten.
        let mut st = self.lock();
        let Some(mut obj) = st.objects.get(&key).cloned() else {
            return status(
                404,
                "NotFound",
                format!("{plural} \"{name}\" not found"),
                json!({"name": name, "kind": plural}),
            );
        };
        let Ok(p) = serde_json::from_str::<Value>(body) else {
            return status(
                400,
                "BadRequest",
                "the patch is not valid JSON".into(),
                json!({}),
            );
        };
        let before_spec = obj["spec"].clone();
        let ct = ct.split(';').next().unwrap_or("").trim();
        match ct {
            "application/strategic-merge-patch+json" => merge_patch(&mut obj, &p, true),
            "application/merge-patch+json" => merge_patch(&mut obj, &p, false),
            "application/json-patch+json" => {
                if let Err(e) = json_patch(&mut obj, &p) {
                    return status(422, "Invalid", e, json!({}));
                }
            }
            other => {
                return status(
                    415,
                    "UnsupportedMediaType",
                    format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other})"
                    ),
                    json!({}),
                );
            }
        }
        if obj["spec"] != before_spec {
            let g = obj["metadata"]["generation"].as_i64().unwrap_or(1);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        st.rv += 1;
        let rv = st.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        st.objects.insert(key.clone(), obj.clone());
        let note = Note::Change {
            rv,
            plural: key.0,
            ns: key.1,
            kind: "MODIFIED",
            obj: obj.clone(),
        };
        st.log.push(note.clone());
        let _ = self.notes.send(note);
        full(StatusCode::OK, &obj)
    }

    /// Pods go terminating (deletionTimestamp = now + grace) and stay until the test removes
    /// them, as a kubelet would; other objects go at once.
    fn delete(&self, plural: &str, ns: &str, name: &str, body: &str) -> Response<Body> {
        let key = (plural.to_string(), ns.to_string(), name.to_string());
        // One lock from read to store, for the same reason as `patch`.
        let mut st = self.lock();
        let Some(mut obj) = st.objects.get(&key).cloned() else {
            return status(
                404,
                "NotFound",
                format!("{plural} \"{name}\" not found"),
                json!({"name": name, "kind": plural}),
            );
        };
        st.rv += 1;
        let rv = st.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let (kind, keep) = if plural == "pods" && obj["metadata"]["deletionTimestamp"].is_null() {
            let opts: Value = serde_json::from_str(body).unwrap_or(json!({}));
            let grace = opts["gracePeriodSeconds"]
                .as_i64()
                .or(obj["spec"]["terminationGracePeriodSeconds"].as_i64())
                .unwrap_or(30);
            let end = jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_secs(grace))
                .unwrap_or(jiff::Timestamp::now());
            obj["metadata"]["deletionTimestamp"] =
                json!(end.round(jiff::Unit::Second).unwrap_or(end).to_string());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            ("MODIFIED", true)
        } else {
            ("DELETED", false)
        };
        if keep {
            st.objects.insert(key.clone(), obj.clone());
        } else {
            st.objects.remove(&key);
        }
        let note = Note::Change {
            rv,
            plural: key.0,
            ns: key.1,
            kind,
            obj: obj.clone(),
        };
        st.log.push(note.clone());
        let _ = self.notes.send(note);
        full(StatusCode::OK, &obj)
    }

    fn watch(
        &self,
        r: &'static Res,
        ns: Option<String>,
        q: BTreeMap<String, String>,
    ) -> Response<Body> {
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1024);
        let line = |t: &str, o: &Value| {
            Ok(Frame::data(Bytes::from(format!(
                "{}\n",
                json!({"type": t, "object": o})
            ))))
        };
        let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
        let timeout = q
            .get("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1800);
        let from: Option<u64> = q
            .get("resourceVersion")
            .and_then(|s| s.parse().ok())
            .filter(|v| *v > 0);
        let plural = r.plural;
        let matches = move |p: &str, n: &str, o: &Value| {
            p == plural && ns.as_deref().is_none_or(|ns| ns == n) && selected(&q, o)
        };
        // Replay and subscribe under one lock so no change falls between them.
        let (initial, mut sub) = {
            let st = self.lock();
            let sub = self.notes.subscribe();
            let mut initial: Vec<Result<Frame<Bytes>, std::io::Error>> = Vec::new();
            match from {
                Some(rv) if rv < st.compacted_below => {
                    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("too old resource version: {rv} ({})", st.compacted_below),
                        "reason": "Expired", "code": 410});
                    initial.push(line("ERROR", &status));
                    drop(st);
                    let stream = futures::stream::iter(initial);
                    return Response::builder()
                        .header("content-type", "application/json")
                        .body(BodyExt::boxed(StreamBody::new(stream)))
                        .expect("response");
                }
                Some(rv) => {
                    for n in &st.log {
                        if let Note::Change {
                            rv: erv,
                            plural: p,
                            ns: n2,
                            kind,
                            obj,
                        } = n
                            && *erv > rv
                            && matches(p, n2, obj)
                        {
                            initial.push(line(kind, obj));
                        }
                    }
                }
                None => {
                    for ((p, n, _), o) in &st.objects {
                        if matches(p, n, o) {
                            initial.push(line("ADDED", o));
                        }
                    }
                }
            }
            (initial, sub)
        };
        let (kind, api_version) = (r.kind, r.api_version);
        tokio::spawn(async move {
            for f in initial {
                if tx.send(f).await.is_err() {
                    return;
                }
            }
            let end = tokio::time::sleep(Duration::from_secs(timeout));
            tokio::pin!(end);
            loop {
                tokio::select! {
                    _ = &mut end => return, // a clean end, as the server's timeoutSeconds
                    n = sub.recv() => match n {
                        Ok(Note::Change { plural: p, ns: n2, kind: k, obj, .. }) => {
                            if matches(&p, &n2, &obj) && tx.send(line(k, &obj)).await.is_err() {
                                return;
                            }
                        }
                        Ok(Note::Bookmark(rv)) => {
                            if bookmarks {
                                let o = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": rv.to_string()}});
                                if tx.send(line("BOOKMARK", &o)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Ok(Note::Cut) | Err(broadcast::error::RecvError::Closed) => {
                            // An error frame makes hyper drop the connection mid-body.
                            let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))).await;
                            return;
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            let _ = tx.send(Err(std::io::Error::other("lagged"))).await;
                            return;
                        }
                    }
                }
            }
        });
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
        Response::builder()
            .header("content-type", "application/json")
            .body(BodyExt::boxed(StreamBody::new(stream)))
            .expect("response")
    }
}

/// Legacy discovery, enough for kubectl to map `deploy` and `pods` to their paths.
fn discovery(segs: &[&str]) -> Option<Response<Body>> {
    let resource = |name: &str, kind: &str, short: &[&str], verbs: &[&str]| {
        json!({"name": name, "singularName": kind.to_lowercase(), "namespaced": true, "kind": kind,
               "verbs": verbs, "shortNames": short})
    };
    let all = [
        "get", "list", "watch", "patch", "delete", "create", "update",
    ];
    let v = match segs {
        ["version"] => {
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "platform": "linux/amd64"})
        }
        ["api"] => {
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        }
        ["apis"] => {
            let g = |name: &str| {
                json!({"name": name, "versions": [{"groupVersion": format!("{name}/v1"), "version": "v1"}],
                                        "preferredVersion": {"groupVersion": format!("{name}/v1"), "version": "v1"}})
            };
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [g("apps"), g("discovery.k8s.io")]})
        }
        ["api", "v1"] => json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            resource("pods", "Pod", &["po"], &all), resource("services", "Service", &["svc"], &all),
            resource("events", "Event", &["ev"], &all)]}),
        ["apis", "apps", "v1"] => {
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": [
            resource("deployments", "Deployment", &["deploy"], &all), resource("statefulsets", "StatefulSet", &["sts"], &all),
            resource("daemonsets", "DaemonSet", &["ds"], &all), resource("replicasets", "ReplicaSet", &["rs"], &all)]})
        }
        ["apis", "discovery.k8s.io", "v1"] => {
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "discovery.k8s.io/v1", "resources": [
            resource("endpointslices", "EndpointSlice", &[], &all)]})
        }
        _ => return None,
    };
    Some(full(StatusCode::OK, &v))
}
