//! Request mixes and response checks through the real binary against servers nobody here wrote:
//! nginx (JSON bodies with Content-Length, headers, HTTP/2 by prior knowledge) and Node's `http`
//! (chunked bodies). What a check failure is called, what it says, what `warn` changes, what
//! `--max-body` cuts, and how a 7:2:1 mix is spread over 10,000 requests.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::nginx::{Nginx, nginx_binary};
use support::tool::{self, NGINX, NODE};

const EXE: &str = env!("CARGO_BIN_EXE_zerodrop");

/// nginx answering the two versions of a user, a long body, and a 503.
const LOCATIONS: &str = r#"
  default_type application/json;
  location = /v1 { add_header x-api-version v1; return 200 '{"id":42,"fullname":"Ada"}'; }
  location = /v2 { add_header x-api-version v2; return 200 '{"id":42,"full_name":"Ada"}'; }
  location = /big { return 200 '{"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","id":1}'; }
  location / { return 200 '{}'; }
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// `zerodrop load --scenario scenario --target target` with `extra` flags; the exit code and
/// the JSON result.
fn load(dir: &Path, scenario: &Path, target: &str, extra: &[&str]) -> (i32, Value, String) {
    let out_file = dir.join(format!(
        "out-{}.json",
        extra.join("").len() + scenario.as_os_str().len()
    ));
    let out = Command::new(EXE)
        .args(["load", "--quiet", "--scenario"])
        .arg(scenario)
        .args(["--target", target, "--out"])
        .arg(&out_file)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let text = std::fs::read_to_string(&out_file)
        .unwrap_or_else(|e| panic!("no result ({e}); stderr:\n{stderr}"));
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&text).expect("JSON"),
        stderr,
    )
}

fn template<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["recorded"]["templates"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no template {name}"))
}

/// nginx serving the test locations (`listen` flags in `flavor`) and a directory for the
/// scenario files; `None` (a SKIP line) only where nginx is missing outside CI.
fn nginx_and_dir(flavor: &str) -> Option<(Nginx, tempfile::TempDir)> {
    let bin = tool::require_tool(NGINX, nginx_binary())?;
    let nginx = Nginx::start_with(&bin, flavor, LOCATIONS);
    Some((nginx, tempfile::tempdir().expect("tempdir")))
}

#[test]
fn responses_that_break_a_check_fail_as_check_failed_and_warn_checks_only_count() {
    let Some((nginx, dir)) = nginx_and_dir("") else {
        return;
    };
    let scenario = write(
        dir.path(),
        "mix.yaml",
        r#"
rate: 400
duration: 2s
requests:
  - name: old
    weight: 2
    path: /v1
    checks:
      - status: 200
      - header: x-api-version
        equals: v1
      - name: reads fullname
        json: /fullname
        type: string
  - name: new
    weight: 1
    path: /v2
    checks:
      - name: reads fullname
        json: /fullname
        type: string
  - name: hopeful
    weight: 1
    path: /v1
    checks:
      - name: greets
        body_contains: hello
        warn: true
      - body_matches: '"id":\s*42'
thresholds:
  - checks>0.999
  - old:p(99)<2s
"#,
    );
    let (code, v, stderr) = load(dir.path(), &scenario, &nginx.url(), &[]);
    assert_eq!(code, 1, "a failed check fails the gate: {stderr}");
    let counts = &v["recorded"]["overall"]["counts"];
    let new = template(&v, "new");
    let sent_new = new["overall"]["counts"]["check_failed"]
        .as_u64()
        .unwrap_or(0);
    assert!(sent_new > 100, "{new}");
    assert_eq!(
        counts["check_failed"].as_u64(),
        Some(sent_new),
        "only `new` breaks"
    );
    assert_eq!(counts["http_5xx"], 0);
    assert_eq!(new["overall"]["checks_failed"][0].as_u64(), Some(sent_new));
    let old = template(&v, "old");
    assert_eq!(old["overall"]["counts"]["check_failed"], 0);
    assert_eq!(
        old["overall"]["checks_failed"],
        serde_json::json!([0, 0, 0])
    );
    // The warn check failed on every response, and not one request failed for it.
    let hopeful = template(&v, "hopeful");
    let checked = hopeful["overall"]["checked"].as_u64().unwrap_or(0);
    assert!(checked > 100);
    assert_eq!(
        hopeful["overall"]["checks_failed"],
        serde_json::json!([checked, 0])
    );
    assert_eq!(hopeful["overall"]["counts"]["ok"].as_u64(), Some(checked));
    let failure = &v["recorded"]["failures"][0];
    assert_eq!(failure["class"], "check_failed");
    assert_eq!(
        failure["error"],
        "check `reads fullname` failed: /fullname is missing"
    );
    assert!(
        failure["excerpt"]
            .as_str()
            .unwrap_or("")
            .contains(r#""full_name":"Ada""#)
    );
    let thresholds = v["thresholds"].as_array().expect("thresholds");
    assert_eq!(thresholds[0]["passed"], false, "{}", thresholds[0]);
    assert_eq!(thresholds[1]["passed"], true, "{}", thresholds[1]);
}

#[test]
fn a_7_2_1_mix_over_10000_requests_sends_each_template_within_1_percent_the_same_every_time() {
    let Some((nginx, dir)) = nginx_and_dir("") else {
        return;
    };
    let scenario = write(
        dir.path(),
        "721.yaml",
        "rate: 2500\nduration: 4s\nseed: 11\nrequests:\n  - {name: a, weight: 7, path: /v1}\n  - {name: b, weight: 2, path: /v2}\n  - {name: c, weight: 1, path: /}\n",
    );
    let totals = |v: &Value| -> Vec<u64> {
        ["a", "b", "c"]
            .iter()
            .map(|t| {
                template(v, t)["overall"]["counts"]
                    .as_object()
                    .map_or(0, |c| c.values().filter_map(Value::as_u64).sum())
            })
            .collect()
    };
    let (code, first, stderr) = load(dir.path(), &scenario, &nginx.url(), &[]);
    assert_eq!(code, 0, "{stderr}");
    let t = totals(&first);
    assert_eq!(t.iter().sum::<u64>(), 10_000, "{t:?}");
    for (got, share) in t.iter().zip([7_000.0, 2_000.0, 1_000.0]) {
        assert!(
            (*got as f64 - share).abs() <= share * 0.01,
            "{got} sent against a share of {share}: {t:?}"
        );
    }
    let (_, again, _) = load(dir.path(), &scenario, &nginx.url(), &["--rate", "2500"]);
    assert_eq!(totals(&again), t, "the same seed sends the same mix");
}

#[test]
fn max_body_cuts_what_a_json_check_reads_and_says_so() {
    let Some((nginx, dir)) = nginx_and_dir("") else {
        return;
    };
    let scenario = write(
        dir.path(),
        "big.yaml",
        "rate: 50\nduration: 1s\nrequests:\n  - name: big\n    path: /big\n    checks:\n      - json: /id\n        equals: 1\n",
    );
    let (code, v, _) = load(dir.path(), &scenario, &nginx.url(), &[]);
    assert_eq!(code, 0, "the whole body fits in 64 KiB");
    assert_eq!(v["recorded"]["overall"]["counts"]["check_failed"], 0);
    let (code, v, _) = load(dir.path(), &scenario, &nginx.url(), &["--max-body", "64B"]);
    assert_eq!(code, 1);
    let error = v["recorded"]["failures"][0]["error"].as_str().unwrap_or("");
    assert!(error.contains("longer than --max-body"), "{error}");
}

#[test]
fn checks_read_headers_and_bodies_over_http2() {
    let Some((nginx, dir)) = nginx_and_dir("http2") else {
        return;
    };
    let scenario = write(
        dir.path(),
        "h2.yaml",
        "rate: 100\nduration: 1s\nhttp2: true\nrequests:\n  - name: v2\n    path: /v2\n    checks:\n      - {header: x-api-version, equals: v2}\n      - {json: /full_name, equals: Ada}\n      - {json: /fullname, name: old field}\n",
    );
    let (code, v, stderr) = load(dir.path(), &scenario, &nginx.url(), &[]);
    assert_eq!(code, 1, "{stderr}");
    let t = template(&v, "v2");
    let checked = t["overall"]["checked"].as_u64().unwrap_or(0);
    assert!(checked >= 90, "{t}");
    assert_eq!(
        t["overall"]["checks_failed"],
        serde_json::json!([0, 0, checked])
    );
}

/// A Node `http` server answering `{"id": 7, "name": "Ada"}` in three chunks.
const CHUNKED: &str = r#"
const http = require('http');
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.write('{"id": 7,');
  setImmediate(() => { res.write(' "name": "Ada"'); setImmediate(() => res.end('}')); });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"#;

#[test]
fn json_and_regex_checks_read_a_chunked_body_from_node() {
    let Some(node) = tool::require_on_path(NODE, &["node", "nodejs"]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let script = write(dir.path(), "chunked.js", CHUNKED);
    let mut child = Command::new(node)
        .arg(&script)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("node starts");
    let mut line = String::new();
    {
        use std::io::BufRead as _;
        let out = child.stdout.take().expect("stdout");
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("port");
    }
    let url = format!("http://127.0.0.1:{}/", line.trim());
    let scenario = write(
        dir.path(),
        "chunked.yaml",
        "rate: 50\nduration: 1s\nrequests:\n  - name: user\n    checks:\n      - {json: /id, equals: 7}\n      - {json: /name, type: string}\n      - {body_matches: '\"name\":\\s*\"Ada\"'}\n",
    );
    let (code, v, stderr) = load(dir.path(), &scenario, &url, &[]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0, "{stderr}");
    let t = template(&v, "user");
    assert!(t["overall"]["checked"].as_u64() >= Some(45), "{t}");
    assert_eq!(t["overall"]["checks_failed"], serde_json::json!([0, 0, 0]));
}

#[test]
fn every_malformed_check_and_mix_is_refused_at_once_with_exit_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write(
        dir.path(),
        "bad.yaml",
        "rate: 10\nduration: 1s\nrequests:\n  - name: a\n    weight: 0\n    checks:\n      - json: id\n      - jsonpath: $.id\n      - body_matches: '(x'\n  - name: b\n    weight: -1\n",
    );
    let out = Command::new(EXE)
        .args(["load", "--target", "http://127.0.0.1:9/", "--scenario"])
        .arg(&scenario)
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = scenario.display().to_string();
    for (line, key, says) in [
        (
            5,
            "requests[0].weight",
            "a weight must be a positive number",
        ),
        (7, "requests[0].checks[0].json", "is not a JSON Pointer"),
        (
            8,
            "requests[0].checks[1].jsonpath",
            "unknown check `jsonpath`",
        ),
        (
            9,
            "requests[0].checks[2].body_matches",
            "is not a regular expression",
        ),
        (
            11,
            "requests[1].weight",
            "a weight must be a positive number",
        ),
    ] {
        let place = format!("{file} line {line} ({key})");
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&place) && l.contains(says)),
            "no `{place}: …{says}` in:\n{stderr}"
        );
    }
    assert!(stderr.contains("(5 problems)"), "{stderr}");
}
