//! Coordinated omission: with the target frozen (SIGSTOP) for 1 s in the middle of a
//! 5,000 req/s run, latency measured from the due instant shows the stall, while the service
//! time from the actual send is reported beside it.
//!
//! Why p99 ≥ 0.95 s and not ≥ 1 s: arrivals are uniform, so a request due *t* into the freeze
//! waits 1 s − *t* (plus the drain after the thaw). Over a 2 s run the slowest 1 % are the
//! first 2 % of the freeze, which waited 0.98 s plus the drain — a few milliseconds here. The
//! request due at the freeze's start waits the whole second, which `max` shows. A generator
//! suffering coordinated omission would report a p99 of a few milliseconds instead.

mod support;

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::nginx::{Nginx, nginx_binary};
use support::tool::{NGINX, require_tool};

#[test]
fn a_one_second_freeze_shows_in_latency_from_the_due_instant() {
    let Some(bin) = require_tool(NGINX, nginx_binary()) else {
        return;
    };
    let nginx = Nginx::start(&bin);
    let workers = nginx.worker_pids();
    assert!(!workers.is_empty(), "nginx has a worker");
    let out = nginx.dir.path().join("result.json");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_zerodrop"))
        .args([
            "load",
            "--target",
            &nginx.url(),
            "--rate",
            "5000",
            "--duration",
            "2s",
            "--quiet",
        ])
        // 50 connections, as wrk2 and oha are run: during the freeze 50 requests sit on the
        // wire (their service time includes the stall) and the rest wait for a connection.
        .args([
            "--connections",
            "50",
            "--max-in-flight",
            "20000",
            "--timeout",
            "5s",
            "--out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("zerodrop starts");
    std::thread::sleep(Duration::from_millis(600));
    for w in &workers {
        kill(Pid::from_raw(*w), Signal::SIGSTOP).expect("freeze the worker");
    }
    std::thread::sleep(Duration::from_secs(1));
    for w in &workers {
        kill(Pid::from_raw(*w), Signal::SIGCONT).expect("thaw the worker");
    }
    let status = child.wait_with_output().expect("zerodrop ends").status;
    assert_eq!(status.code(), Some(0), "every request eventually succeeded");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("result written")).expect("json");
    let overall = &r["recorded"]["overall"];
    let p99 = overall["latency"]["p99_us"].as_u64().expect("p99");
    let max = overall["latency"]["max_us"].as_u64().expect("max");
    let service_p99 = overall["service_time"]["p99_us"]
        .as_u64()
        .expect("service p99");
    assert_eq!(overall["counts"]["dropped_by_generator"], 0);
    eprintln!("latency p99 {p99} µs, max {max} µs; service time p99 {service_p99} µs");
    assert!(
        max >= 1_000_000,
        "the request due when the freeze began waited the whole second: {max}"
    );
    assert!(
        p99 >= 950_000,
        "p99 from the due instant includes the stall: {p99}"
    );
    assert!(
        service_p99 * 4 < p99,
        "service time, from the actual send, is reported beside it: {service_p99}"
    );
}
