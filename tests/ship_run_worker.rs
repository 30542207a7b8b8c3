//! The real `zerodrop run` binary as an in-cluster worker, against the fake API server: the
//! result follows the marker line on standard output and lands in the ConfigMap, every API call
//! it makes is one the generated Role allows, and two generators start together, split the
//! rate, trigger once and merge into one result.

mod support;

use std::time::Duration;

use k8s_openapi::api::rbac::v1::{PolicyRule, Role};
use serde_json::json;
use support::fake_apiserver::{FakeApiServer, Recorded};
use support::run::{TestService, Zerodrop, result, run_args};
use support::scenario::{NS, Web, pod, roll};
use zerodrop::cli::{CliCommand, ManifestKind};
use zerodrop::cluster::EventKind;
use zerodrop::commands::manifest::render;
use zerodrop::distributed::merge::{MergeInput, merge, results_in};
use zerodrop::result::RunResult;

struct Env {
    server: FakeApiServer,
    web: Web,
    service: TestService,
    dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Env {
        let server = FakeApiServer::start().await;
        let web = Web::install(&server, 2);
        Env {
            server,
            web,
            service: TestService::start().await,
            dir: tempfile::tempdir().expect("tmp"),
        }
    }

    fn out(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn spawn(&self, out: &str, extra: &[&str]) -> Zerodrop {
        let kc = self.server.write_kubeconfig(self.dir.path(), NS);
        Zerodrop::spawn(&run_args(&kc, &self.service.url(), &self.out(out), extra))
    }

    /// Waits (bounded) until the trigger's PATCH was applied.
    async fn triggered(&self) {
        self.server
            .wait_for_request(Duration::from_secs(60), |r| r.method == "PATCH")
            .await;
        for _ in 0..2000 {
            let d = self.server.get("deployments", NS, "web").expect("deploy");
            if d["metadata"]["generation"].as_i64() > Some(1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the trigger's patch was never applied");
    }
}

/// The Role `zerodrop manifest job` generates for these run flags.
fn role_for(flags: &[&str]) -> Vec<PolicyRule> {
    let argv = ["zerodrop", "manifest", "job", "-n", NS]
        .iter()
        .chain(flags)
        .map(|s| s.to_string());
    let CliCommand::Manifest(m) = zerodrop::plugin::parse_from(argv).expect("parses").command
    else {
        panic!("not manifest");
    };
    let ManifestKind::Job(job) = m.kind;
    let yaml = render(&job).expect("renders");
    let doc = yaml
        .split("\n---\n")
        .find(|d| d.contains("\nkind: Role\n"))
        .expect("a Role");
    let role: Role = serde_saphyr::from_str(doc).expect("Role");
    role.rules.unwrap_or_default()
}

/// The RBAC request one recorded API call is: (verb, group, resource, name).
fn rbac_request(r: &Recorded) -> (String, String, String, Option<String>) {
    let segs: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => (String::new(), rest),
        ["apis", g, _, rest @ ..] => (g.to_string(), rest),
        _ => panic!("an unexpected API path: {}", r.path),
    };
    let (resource, name) = match rest {
        ["namespaces", _, res] => (res.to_string(), None),
        ["namespaces", _, res, name] => (res.to_string(), Some(name.to_string())),
        _ => panic!("a call outside the namespace: {}", r.path),
    };
    let watch = r
        .query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (r.method.as_str(), &name, watch) {
        ("GET", Some(_), _) => "get",
        ("GET", None, true) => "watch",
        ("GET", None, false) => "list",
        ("PATCH", _, _) => "patch",
        ("DELETE", _, _) => "delete",
        (m, _, _) => panic!("an unexpected method {m} on {}", r.path),
    };
    (verb.to_string(), group, resource, name)
}

fn allowed(
    rules: &[PolicyRule],
    (verb, group, resource, name): &(String, String, String, Option<String>),
) -> bool {
    rules.iter().any(|rule| {
        let has = |list: &Option<Vec<String>>, v: &str| {
            list.as_ref().is_some_and(|l| l.iter().any(|x| x == v))
        };
        rule.verbs.iter().any(|v| v == verb)
            && has(&rule.api_groups, group)
            && has(&rule.resources, resource)
            && match &rule.resource_names {
                None => true,
                Some(names) => name.as_ref().is_some_and(|n| names.contains(n)),
            }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_follows_the_marker_lands_in_the_configmap_and_every_call_is_one_the_role_allows()
 {
    let env = Env::new().await;
    env.server.put_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "zd-result", "namespace": NS}
    }));
    let z = env.spawn(
        "r.json",
        &["--result-log", "--result-configmap", "zd-result"],
    );
    env.triggered().await;
    roll(&env.server, &env.web, &z.seen(), &[], false, &|_| None).await;
    let done = z.finish().await;
    assert_eq!(
        done.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );

    // `kubectl logs job/… | zerodrop report -` finds it after the marker.
    let docs = results_in(&done.stdout);
    assert_eq!(docs.len(), 1, "{}", done.stdout);
    let logged: RunResult = serde_json::from_str(docs[0]).expect("a result");
    let saved = result(&env.out("r.json"));
    assert_eq!(logged, saved);
    let report = std::process::Command::new(env!("CARGO_BIN_EXE_zerodrop"))
        .args(["report", "-", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(done.stdout.as_bytes())?;
            c.wait_with_output()
        })
        .expect("zerodrop report runs");
    assert_eq!(
        report.status.code(),
        Some(0),
        "the log re-renders with the run's verdict"
    );

    let cm = env
        .server
        .get("configmaps", NS, "zd-result")
        .expect("ConfigMap");
    let stored: RunResult =
        serde_json::from_str(cm["data"]["result-0.json"].as_str().expect("the key"))
            .expect("a result");
    assert_eq!(stored, saved, "small enough to be stored whole");

    let rules = role_for(&["--result-configmap", "zd-result", "deploy/web"]);
    let calls: Vec<_> = env.server.requests().iter().map(rbac_request).collect();
    assert!(calls.iter().any(|c| c.0 == "patch" && c.2 == "configmaps"));
    for c in &calls {
        assert!(allowed(&rules, c), "{c:?} is not allowed by {rules:#?}");
    }
}

/// A worker pod of the Job, its container started `ago` before now (whole seconds).
fn worker_pod(env: &Env, name: &str, started: jiff::Timestamp) {
    env.server
        .put(&pod(name, "zd", "10.0.9.1", true, json!({})));
    env.server.update("pods", NS, name, |p| {
        p["status"]["containerStatuses"][0]["state"] =
            json!({"running": {"startedAt": started.to_string()}});
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_generators_start_together_split_the_load_trigger_once_and_merge_into_one_result() {
    let env = Env::new().await;
    // Both containers started a while ago: the common start is 15 s after the later one,
    // a few seconds from now — time for both generators to connect.
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .expect("round");
    let later = now - jiff::SignedDuration::from_secs(10);
    worker_pod(&env, "zd-0", later - jiff::SignedDuration::from_secs(3));
    worker_pod(&env, "zd-1", later);
    let common_start = later + jiff::SignedDuration::from_secs(15);

    let shared = ["--workers", "2", "--worker-pods", "app=zd", "--rate", "40"];
    let z0 = env.spawn("r0.json", &[&shared[..], &["--worker-index", "0"]].concat());
    let z1 = env.spawn("r1.json", &[&shared[..], &["--worker-index", "1"]].concat());
    env.triggered().await;
    roll(&env.server, &env.web, &z0.seen(), &[], false, &|_| None).await;
    let (d0, d1) = (z0.finish().await, z1.finish().await);
    assert_eq!(d0.code, 0, "stdout:\n{}\nstderr:\n{}", d0.stdout, d0.stderr);
    assert_eq!(d1.code, 0, "stdout:\n{}\nstderr:\n{}", d1.stdout, d1.stderr);
    assert_eq!(
        env.server.requests_by("PATCH").len(),
        1,
        "only generator 0 triggers"
    );

    let (r0, r1) = (result(&env.out("r0.json")), result(&env.out("r1.json")));
    for (k, r) in [(0, &r0), (1, &r1)] {
        assert_eq!(r.plan["traffic"]["shard"], json!({"index": k, "count": 2}));
        // Neither started its load before the instant both computed.
        let load_start = r.started_at
            + jiff::SignedDuration::try_from(r.load.start.as_duration()).expect("fits");
        assert!(
            load_start >= common_start,
            "generator {k}: {load_start} < {common_start}"
        );
        assert!(r.recorded.overall.counts.sent() > 0);
        assert!(
            r.rollout
                .as_ref()
                .expect("rollout")
                .outcome
                .starts_with("complete")
        );
    }
    let trigger = |r: &RunResult| {
        r.timeline.events.iter().find_map(|e| match &e.kind {
            EventKind::Trigger { description } => Some(description.clone()),
            _ => None,
        })
    };
    assert!(trigger(&r0).expect("trigger").starts_with("restart"));
    assert!(trigger(&r1).expect("trigger").starts_with("external"));

    let merged = merge(
        vec![
            MergeInput {
                origin: "r0".into(),
                result: r0.clone(),
            },
            MergeInput {
                origin: "r1".into(),
                result: r1.clone(),
            },
        ],
        false,
    )
    .expect("merges");
    assert_eq!(merged.workers, 2);
    assert_eq!(
        merged.recorded.overall.counts.sent(),
        r0.recorded.overall.counts.sent() + r1.recorded.overall.counts.sent()
    );
    let triggers = merged
        .timeline
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Trigger { .. }))
        .count();
    assert_eq!(triggers, 1);
    assert!(merged.verdict.passed, "{:?}", merged.verdict);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_external_trigger_sees_a_rollout_that_began_during_the_baseline() {
    let env = Env::new().await;
    let z = env.spawn("r.json", &["--trigger", "external", "--baseline", "3s"]);
    // The load is running, so the watches are up: someone else deploys now, before zerodrop's
    // baseline is over (generator 0 of a distributed run, or a CI deploy step).
    for _ in 0..3000 {
        if env.service.ok() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(env.service.ok() > 0, "the load never started");
    env.server.update("deployments", NS, "web", |d| {
        d["metadata"]["generation"] = json!(2);
        d["spec"]["template"]["metadata"]["annotations"] = json!({"deployed-by": "ci"});
    });
    // The controller goes on rolling once zerodrop's baseline is over.
    for _ in 0..3000 {
        if z.saw_trigger() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(z.saw_trigger(), "the baseline never ended");
    roll(&env.server, &env.web, &z.seen(), &[], false, &|_| None).await;
    let done = z.finish().await;
    assert_eq!(
        done.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        done.stdout, done.stderr
    );
    let r = result(&env.out("r.json"));
    assert!(r.rollout.expect("rollout").outcome.starts_with("complete"));
    assert!(
        env.server.requests_by("PATCH").is_empty(),
        "external sends nothing"
    );
}
