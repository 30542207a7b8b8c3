//! Real servers nobody on this team wrote, rolled by `zerodrop local`: Debian's nginx (SIGTERM
//! is its fast shutdown, SIGQUIT its graceful one) and Python's standard-library HTTP server
//! (killed by SIGTERM, or stopped gracefully by a SIGTERM handler). For each, one configuration
//! that drops requests and one that does not, and the verdict must match what really happened:
//! every failure on a replica that was being terminated, and — where the server keeps its own
//! account (nginx's access log) — as many requests served as zerodrop counted ok.
//!
//! Needs `nginx` and `python3` on PATH (.ci/run installs nginx-light and python3): without
//! them these tests fail under CI and print a SKIP line elsewhere (see `support/tool.rs`).

use std::path::Path;
use std::process::{Command, Stdio};

use zerodrop::result::RunResult;

#[path = "support/tool.rs"]
mod tool;

/// Runs `zerodrop local ARGS… -- CMD…` with bounded load; returns the exit code and the result.
fn local(dir: &Path, args: &[&str], cmd: &[&str]) -> (i32, RunResult, String) {
    let out_json = dir.join(format!("result-{}.json", args.len() * 31 + cmd.len()));
    let out = Command::new(env!("CARGO_BIN_EXE_zerodrop"))
        .arg("local")
        .args([
            "--quiet",
            "--rate",
            "200",
            "--baseline",
            "2s",
            "--settle",
            "2s",
        ])
        .args(["--progress-deadline", "30s", "--rollout-timeout", "60s"])
        .arg("--out")
        .arg(&out_json)
        .args(args)
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("zerodrop runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = std::fs::read(&out_json).unwrap_or_else(|e| panic!("no result ({e}):\n{text}"));
    let result: RunResult = serde_json::from_slice(&doc).expect("result parses");
    (out.status.code().unwrap_or(-1), result, text)
}

/// Every logged failure maps, through the proxy's connection routes, to a replica whose
/// termination had begun when the failure ended.
fn assert_failures_on_terminating_replicas(r: &RunResult, text: &str) {
    assert!(
        !r.recorded.failures.is_empty(),
        "no failure logged:\n{text}"
    );
    for f in &r.recorded.failures {
        let conn = f
            .conn
            .unwrap_or_else(|| panic!("failure without a connection: {f:?}"));
        let route = r
            .timeline
            .route_at(conn.local, f.end)
            .unwrap_or_else(|| panic!("no route for {f:?}"));
        let term = r
            .timeline
            .first(&route.pod, "pod_terminating")
            .unwrap_or_else(|| panic!("{} failed but never terminated: {f:?}", route.pod));
        assert!(
            term.at <= f.end,
            "{} failed before terminating: {f:?}",
            route.pod
        );
    }
}

/// An nginx replica: renders its configuration for $PORT in `dir`, then becomes nginx.
/// nginx's config and start script. `keepalive_timeout` is nginx's own setting: `0` answers
/// every response with `Connection: close`. `extra` goes into the server block.
fn nginx_setup(dir: &Path, keepalive_timeout: &str, extra: &str) -> String {
    let conf = r#"daemon off;
master_process on;
worker_processes 1;
pid @DIR@/nginx-@PORT@.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log @DIR@/access-@PORT@.log;
  client_body_temp_path @DIR@/body-@PORT@;
  proxy_temp_path @DIR@/proxy-@PORT@;
  keepalive_timeout @KEEPALIVE@;
  server {
    listen 127.0.0.1:@PORT@;
    @EXTRA@
    location = /ready { access_log off; return 200 "ready\n"; }
    location / { return 200 "hello\n"; }
  }
}
"#;
    let conf = conf
        .replace("@KEEPALIVE@", keepalive_timeout)
        .replace("@EXTRA@", extra);
    std::fs::write(dir.join("nginx.conf.in"), conf).expect("write conf");
    let script = dir.join("nginx.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ndir=$(dirname \"$0\")\nsed \"s#@PORT@#$PORT#g; s#@DIR@#$dir#g\" \"$dir/nginx.conf.in\" > \"$dir/nginx-$PORT.conf\"\nexec nginx -e stderr -p \"$dir\" -c \"$dir/nginx-$PORT.conf\"\n",
    )
    .expect("write script");
    script.to_string_lossy().to_string()
}

/// Requests the run sent before its load, looking for a header that names the pod (its
/// timeline says how many: "12 requests sent before the load, …").
fn sent_before_the_load(r: &RunResult) -> u64 {
    r.timeline
        .events
        .iter()
        .find_map(|e| match &e.kind {
            zerodrop::model::event::EventKind::Note { reason, message }
                if reason == "PodHeaderSearch" =>
            {
                message.split(' ').next()?.parse().ok()
            }
            _ => None,
        })
        .expect("the search for a pod header is in the timeline")
}

/// Requests nginx itself logged as served (every replica's access log).
fn nginx_served(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("access-") {
            n += std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("\" 200 "))
                .count();
        }
    }
    n
}

#[test]
fn nginx_fast_shutdown_on_sigterm_drops_requests_and_fails_the_gate() {
    if tool::require_on_path(tool::NGINX, &["nginx"]).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let script = nginx_setup(dir.path(), "65", "");
    let (code, r, text) = local(dir.path(), &[], &["sh", &script]);
    assert_eq!(code, 1, "{text}");
    assert_failures_on_terminating_replicas(&r, &text);
}

#[test]
fn nginx_naming_itself_in_a_header_is_discovered_and_explains_failures_behind_an_opaque_proxy() {
    if tool::require_on_path(tool::NGINX, &["nginx"]).is_none() {
        return;
    }
    // nginx names the address it answered on, as many apps echo their pod IP; nobody tells
    // zerodrop the header, and the proxy keeps its route map to itself (a cluster path).
    // Most failures here are fresh connections the dead replicas reset (no header seen on
    // them yet); only a request racing nginx's exit on a keep-alive connection it had answered
    // on can be tied by the header, and at 200 req/s that race is lost in some runs (none in
    // 2 of 8 runs before responses were read at the dispatcher's wake-ups, 7 of 17 after, on a
    // 2-core VM; once all five in a row under the whole suite): a bounded number of runs is allowed
    // for it, as for the close-idle race, enough that all failing is under one in a thousand.
    for _ in 0..8 {
        let dir = tempfile::tempdir().expect("tempdir");
        let served_by = "add_header X-Served-By $server_addr:$server_port always;";
        let script = nginx_setup(dir.path(), "65", served_by);
        let (code, r, text) = local(
            dir.path(),
            &["--proxy", "opaque", "--balance", "random"],
            &["sh", &script],
        );
        assert_eq!(code, 1, "{text}");
        let header = r.analysis.pod_header.as_ref().expect("a header discovered");
        assert_eq!(header.name, "x-served-by", "{text}");
        assert!(header.discovered, "{text}");
        assert!(text.contains("x-served-by"), "the run says so:\n{text}");
        // The route map agrees with every near-certain attribution; failures on connections
        // that had been answered are tied by nginx's own word.
        let check = r.analysis.attribution_check.as_ref().expect("scored");
        assert!(check.checkable > 0, "{text}");
        assert_eq!(check.near_certain_wrong, 0, "{check:?}\n{text}");
        let by_header = r
            .analysis
            .attributions
            .iter()
            .filter(|a| a.method == zerodrop::analysis::AttributionMethod::IdentityHeader)
            .count();
        if by_header > 0 {
            return;
        }
    }
    panic!("in eight runs no failure came on a connection nginx had named itself on");
}

#[test]
fn nginx_graceful_quit_after_a_prestop_sleep_drops_nothing() {
    // Keep-alive off on the server side: on QUIT nginx closes its *idle* keep-alive
    // connections at once, and a request sent on one at that instant fails — the real
    // keep-alive close race, which zerodrop reports as `keepalive-close-race` (seen here when
    // this configuration kept nginx's default keep-alive). Answering every response with
    // `Connection: close` leaves no idle connection to close under a request: truly clean.
    if tool::require_on_path(tool::NGINX, &["nginx"]).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let script = nginx_setup(dir.path(), "0", "");
    let (code, r, text) = local(
        dir.path(),
        &[
            "--stop-signal",
            "QUIT",
            "--prestop-sleep",
            "2s",
            "--readiness-path",
            "/ready",
            "--readiness-period",
            "200ms",
        ],
        &["sh", &script],
    );
    assert_eq!(code, 0, "{text}");
    let ok = r.recorded.overall.counts.ok();
    assert_eq!(r.recorded.overall.counts.failed(), 0, "{text}");
    // nginx's own account agrees: every request zerodrop counted ok, nginx logged as served,
    // besides the few the run sent before its load to look for a pod-naming header.
    assert_eq!(
        nginx_served(dir.path()) as u64,
        ok + sent_before_the_load(&r),
        "{text}"
    );
    // Every old replica stopped by itself on QUIT, none was killed at the deadline.
    assert!(
        r.timeline
            .events
            .iter()
            .all(|e| e.kind.name() != "killed_at_grace_deadline")
    );
}

#[test]
fn python_http_server_killed_by_sigterm_drops_requests_and_fails_the_gate() {
    if tool::require_on_path(tool::PYTHON3, &["python3"]).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_string_lossy().to_string();
    // A readiness probe, as in the clean case: only the termination handling differs.
    let (code, r, text) = local(
        dir.path(),
        &["--readiness-tcp", "--readiness-period", "200ms"],
        &[
            "python3",
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "--directory",
            &root,
            "{port}",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert_failures_on_terminating_replicas(&r, &text);
}

#[test]
fn python_http_server_with_a_graceful_sigterm_handler_and_prestop_drops_nothing() {
    if tool::require_on_path(tool::PYTHON3, &["python3"]).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Standard-library server; SIGTERM stops accepting and lets in-flight requests finish.
    let server = dir.path().join("graceful.py");
    std::fs::write(
        &server,
        r#"import http.server, os, signal, threading

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Hello)
server.daemon_threads = False
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
server.server_close()
"#,
    )
    .expect("write server");
    let (code, r, text) = local(
        dir.path(),
        &[
            "--prestop-sleep",
            "2s",
            "--readiness-tcp",
            "--readiness-period",
            "200ms",
        ],
        &["python3", &server.to_string_lossy()],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(r.recorded.overall.counts.failed(), 0, "{text}");
    assert!(r.recorded.overall.counts.ok() > 500, "{text}");
    // The replicas exited on their own (code 0), not by the signal or at the deadline.
    let exits: Vec<_> = r
        .timeline
        .events
        .iter()
        .filter(|e| e.kind.name() == "container_exited")
        .collect();
    assert!(!exits.is_empty());
    for e in exits {
        assert!(
            matches!(
                e.kind,
                zerodrop::cluster::EventKind::ContainerExited { code: Some(0), .. }
            ),
            "{e:?}"
        );
    }
}
