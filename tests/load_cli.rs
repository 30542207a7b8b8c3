//! `zerodrop load` through the real binary: exit codes, the result file, interrupts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

fn zerodrop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zerodrop"))
}

/// An HTTP server answering 200 on a thread of its own; returns its URL.
fn server() -> String {
    let addr = support::on_own_thread(|| async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut have = Vec::new();
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        have.extend_from_slice(&buf[..n]);
                        while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                            have.drain(..end + 4);
                            if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                });
            }
        });
        addr
    });
    format!("http://{addr}/")
}

#[test]
fn sigint_stops_the_run_and_writes_a_partial_result_marked_interrupted() {
    let url = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r.json");
    let child = zerodrop()
        .args([
            "load",
            "--target",
            &url,
            "--rate",
            "200",
            "--duration",
            "60s",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal");
    let output = child.wait_with_output().expect("ends");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stops well before the planned 60 s"
    );
    assert_eq!(output.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted"));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("partial result written"))
            .expect("json");
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["load"]["completed"], false);
    let ok = r["recorded"]["overall"]["counts"]["ok"]
        .as_u64()
        .expect("ok count");
    assert!(
        ok > 100 && ok < 12_000,
        "the requests sent before the interrupt are kept: {ok}"
    );
}

/// `zerodrop load --target URL ARGS… --quiet --out FILE` against a fresh server: its exit code
/// and the result it saved.
fn load_result(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let url = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r.json");
    let status = zerodrop()
        .args(["load", "--target", &url])
        .args(args)
        .args(["--quiet", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .expect("runs");
    let r = serde_json::from_slice(&std::fs::read(&out).expect("written")).expect("json");
    (status.code(), r)
}

#[test]
fn a_clean_run_exits_0_and_saves_the_versioned_result() {
    let (code, r) = load_result(&["--rate", "300", "--duration", "1s"]);
    assert_eq!(code, Some(0));
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["recorded"]["overall"]["counts"]["ok"], 300);
    // Seconds are on the run's axis (shared with cluster events), so 1 s of load may straddle two.
    let series = r["recorded"]["series"].as_array().expect("series");
    let per_second: u64 = series
        .iter()
        .map(|s| s["counts"]["ok"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(per_second, 300);
    assert!(
        r["recorded"]["overall"]["send_lateness"]["p99_us"].is_u64(),
        "lateness is reported"
    );
}

/// 1,000 req/s with an 8 ms `--send-window`: each wake-up sends the eight requests that fell due
/// since the last one, the first of them 7 ms late, so the median request waits about 3.5 ms.
/// Requests are never sent early and noise only adds lateness, so these lower bounds fail only
/// if the window is not applied (with `auto`, 400 µs, the median is a few microseconds).
#[test]
fn a_send_window_holds_due_requests_back_to_leave_together() {
    let (code, r) = load_result(&["--rate", "1000", "--duration", "1s", "--send-window", "8ms"]);
    assert_eq!(code, Some(0));
    assert_eq!(r["recorded"]["overall"]["counts"]["ok"], 1000);
    assert_eq!(r["plan"]["traffic"]["send_window"], 0.008);
    let late = &r["recorded"]["overall"]["send_lateness"];
    let (p50, max) = (
        late["p50_us"].as_u64().expect("p50"),
        late["max_us"].as_u64().expect("max"),
    );
    assert!(
        p50 >= 2_000 && max >= 6_000,
        "requests held back by the window: lateness p50 {p50} us, max {max} us"
    );
}

#[test]
fn bad_input_is_exit_2_with_every_problem_named() {
    let output = zerodrop()
        .args(["load", "--target", "nope", "--rate", "0", "--duration", "5"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("--target") && err.contains("--rate") && err.contains("--duration"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

#[test]
fn an_unreachable_target_is_exit_4() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let output = zerodrop()
        .args([
            "load",
            "--target",
            &format!("http://127.0.0.1:{port}/"),
            "--rate",
            "10",
            "--duration",
            "1s",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unreachable"));
}

#[test]
fn an_unknown_flag_is_exit_2() {
    let output = zerodrop()
        .args(["load", "--rat", "5"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
}
