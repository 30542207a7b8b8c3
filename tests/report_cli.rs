//! The gate and the reports through the real binary: `zerodrop load` against a server on
//! 127.0.0.1 writes JSON that validates against the schema, HTML and JUnit; exit code 0 when
//! every threshold passes and 1 when one fails; bad thresholds are refused at plan time, all at
//! once, with exit 2; `zerodrop report` re-renders and re-judges a saved result, also from a log.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod report_support;
#[path = "support/tool.rs"]
mod tool;

use zerodrop::report::RESULT_MARKER;

/// An HTTP/1.1 server answering 200 to every request, keep-alive, on an ephemeral port. Its
/// threads end with the test process.
fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    format!("http://{addr}/")
}

fn serve(mut s: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            let reply =
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
            if s.write_all(reply).is_err() {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn zerodrop(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zerodrop"))
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zerodrop starts");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("zerodrop ends")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn load(target: &str, dir: &Path, thresholds: &[&str]) -> Output {
    let out = dir.join("result.json");
    let html = dir.join("report.html");
    let junit = dir.join("junit.xml");
    let mut args = vec![
        "load",
        "--target",
        target,
        "--rate",
        "40",
        "--duration",
        "1s",
        "--quiet",
        "-H",
        "Authorization: Bearer very-secret-token",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--html",
        html.to_str().expect("utf-8 path"),
        "--junit",
        junit.to_str().expect("utf-8 path"),
    ];
    for t in thresholds {
        args.push("--threshold");
        args.push(t);
    }
    zerodrop(&args, None)
}

#[test]
fn a_real_run_passes_its_thresholds_exits_0_and_writes_valid_reports() {
    let target = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let o = load(
        &target,
        dir.path(),
        &["p(99)<10s", "failed==0", "requests==40"],
    );
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{}", stderr(&o));
    assert!(out.starts_with("PASS  "), "{out}");
    assert!(out.contains("✓ p(99)<10s"), "{out}");
    assert!(!out.contains('\x1b'), "colour on a pipe");

    // The JSON of the real run validates against the schema in the repository.
    let doc = std::fs::read_to_string(dir.path().join("result.json")).expect("json written");
    let v: serde_json::Value = serde_json::from_str(&doc).expect("json parses");
    // Closed: every field of the real document is documented (the plan's own shape excepted).
    report_support::assert_valid_closed(&v);
    assert_eq!(v["verdict"]["exit_code"], 0);
    assert_eq!(v["thresholds"].as_array().map(Vec::len), Some(3));

    for file in ["result.json", "report.html", "junit.xml"] {
        let text = std::fs::read_to_string(dir.path().join(file)).expect("written");
        assert!(
            !text.contains("very-secret-token"),
            "{file} leaks the token"
        );
    }
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit written");
    let suites = junit_parser::from_reader(junit.as_bytes()).expect("junit parses");
    assert_eq!(suites.suites[0].failures, 0);
    assert_eq!(suites.suites[0].cases.len(), 4);
}

#[test]
fn a_real_run_that_fails_a_threshold_exits_1_and_says_which() {
    let target = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let o = load(&target, dir.path(), &["p(99)<1us", "failed==0"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "stdout:\n{out}\nstderr:\n{}", stderr(&o));
    assert!(
        out.starts_with("FAIL  threshold `p(99)<1us` failed"),
        "{out}"
    );
    assert!(out.contains("✗ p(99)<1us"), "{out}");
    assert!(out.contains("✓ failed==0"), "{out}");
}

#[test]
fn bad_thresholds_are_refused_at_plan_time_all_at_once_with_exit_2() {
    let o = zerodrop(
        &[
            "load",
            "--target",
            "http://127.0.0.1:9/",
            "--rate",
            "10",
            "--duration",
            "1s",
            "--threshold",
            "p99<1s",
            "--threshold",
            "rate<5ms",
            "--threshold",
            "p(99)<1s",
        ],
        None,
    );
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("`p99<1s`: unknown metric `p99`"), "{err}");
    assert!(err.contains("`rate<5ms`"), "{err}");
    assert!(!err.contains("`p(99)<1s`"), "{err}");
}

#[test]
fn report_re_renders_a_saved_result_and_exits_with_its_verdict() {
    let target = server();
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(code(&load(&target, dir.path(), &["p(99)<10s"])), 0);
    let saved = dir.path().join("result.json");
    let saved = saved.to_str().expect("utf-8 path");
    let html = dir.path().join("again.html");

    let o = zerodrop(
        &[
            "report",
            saved,
            "--html",
            html.to_str().expect("utf-8 path"),
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("PASS"));
    assert!(html.is_file());

    // Judged again with a threshold it cannot meet: exit 1.
    let o = zerodrop(&["report", saved, "--threshold", "max<1us"], None);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("✗ max<1us"));

    // A bad threshold given to report: exit 2, named.
    let o = zerodrop(&["report", saved, "--threshold", "max<<1s"], None);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unknown operator `<<`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn report_reads_a_result_from_a_job_log_on_standard_input() {
    let target = server();
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(code(&load(&target, dir.path(), &[])), 0);
    let json = std::fs::read_to_string(dir.path().join("result.json")).expect("json written");
    let one_line: serde_json::Value = serde_json::from_str(&json).expect("parses");
    let log = format!(
        "2026-11-02T09:30:00Z starting\n2026-11-02T09:30:01Z {RESULT_MARKER}\n2026-11-02T09:30:01Z {one_line}\n2026-11-02T09:30:02Z done\n"
    );
    let o = zerodrop(&["report", "-"], Some(&log));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("PASS"), "{}", stdout(&o));
}

#[test]
fn report_of_a_missing_file_is_bad_input() {
    let o = zerodrop(&["report", "/nonexistent/result.json"], None);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("cannot read /nonexistent/result.json"));
}

/// Runs `zerodrop ARGS` on a pseudo-terminal made by util-linux `script`, returning what it
/// printed.
fn on_terminal(script: &Path, args: &str, no_color: bool) -> String {
    let mut cmd = Command::new(script);
    cmd.args([
        "-qec",
        &format!("{} {args}", env!("CARGO_BIN_EXE_zerodrop")),
        "/dev/null",
    ])
    .stdin(Stdio::null())
    .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let o = cmd.output().expect("script runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_summary_is_coloured_on_a_terminal_unless_no_color_is_set() {
    let Some(script) = tool::require_on_path(tool::SCRIPT, &["script"]) else {
        return;
    };
    let target = server();
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(code(&load(&target, dir.path(), &[])), 0);
    let saved = dir.path().join("result.json");
    let args = format!("report {}", saved.display());
    let coloured = on_terminal(&script, &args, false);
    assert!(coloured.contains("\x1b[1;32mPASS\x1b[0m"), "{coloured:?}");
    let plain = on_terminal(&script, &args, true);
    assert!(plain.starts_with("PASS"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn a_real_local_rollout_that_drops_requests_exits_1_with_a_valid_result_and_lanes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("result.json");
    let html = dir.path().join("report.html");
    let junit = dir.path().join("junit.xml");
    let exe = env!("CARGO_BIN_EXE_zerodrop");
    // The demo's naive half: replicas that exit on SIGTERM with no preStop hook while the local
    // Service keeps routing to them for its 1 s propagation delay.
    let o = zerodrop(
        &[
            "local",
            "--rate",
            "200",
            "--baseline",
            "2s",
            "--settle",
            "1s",
            "--readiness-path",
            "/readyz",
            "--readiness-period",
            "250ms",
            "--max-surge",
            "1",
            "--max-unavailable",
            "0",
            "--quiet",
            "--threshold",
            "p(99)<10s",
            "--out",
            out.to_str().expect("utf-8 path"),
            "--html",
            html.to_str().expect("utf-8 path"),
            "--junit",
            junit.to_str().expect("utf-8 path"),
            "--",
            exe,
            "demo-app",
            "--delay",
            "2ms",
            "--shutdown",
            "immediate",
        ],
        None,
    );
    let text = stdout(&o);
    assert_eq!(code(&o), 1, "stdout:\n{text}\nstderr:\n{}", stderr(&o));
    assert!(text.starts_with("FAIL  "), "{text}");
    assert!(text.contains("failed during the rollout"), "{text}");
    assert!(text.contains("✓ p(99)<10s"), "{text}");

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("json written"))
            .expect("json parses");
    report_support::assert_valid_closed(&v);
    assert_eq!(v["command"], "local");
    assert_eq!(v["verdict"]["exit_code"], 1);

    let page = std::fs::read_to_string(&html).expect("html written");
    let pods = v["timeline"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["pod"].as_str())
        .collect::<std::collections::BTreeSet<_>>();
    assert!(pods.len() >= 6, "3 old and 3 new replicas: {pods:?}");
    for pod in pods {
        assert!(page.contains(pod), "no lane for {pod}");
    }
    let suites = junit_parser::from_reader(
        std::fs::read_to_string(&junit)
            .expect("junit written")
            .as_bytes(),
    )
    .expect("junit parses");
    let drops = suites.suites[0]
        .cases
        .iter()
        .find(|c| c.original_name == "no dropped requests")
        .expect("case");
    assert!(drops.status.is_failure());
}
