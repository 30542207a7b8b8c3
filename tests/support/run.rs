//! Support for tests of the real `zerodrop run` binary: a tiny HTTP service on 127.0.0.1 that
//! stands in for the pods behind the Service (it can be told to fail), and the binary as a
//! child process whose `--events` lines tell the scripted cluster what it has observed.
//!
//! Test support only. Every wait is bounded.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// The service the load goes to: answers 200, or 503 while told to fail.
pub struct TestService {
    pub addr: SocketAddr,
    failing: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestService {
    pub async fn start() -> TestService {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let failing = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (f, o, x) = (failing.clone(), ok.clone(), failed.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (f, o, x) = (f.clone(), o.clone(), x.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |_req| {
                        let fail = f.load(Ordering::SeqCst);
                        let status = if fail {
                            x.fetch_add(1, Ordering::SeqCst);
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            o.fetch_add(1, Ordering::SeqCst);
                            StatusCode::OK
                        };
                        async move {
                            let mut r = Response::new(Full::new(Bytes::from_static(b"ok\n")));
                            *r.status_mut() = status;
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        TestService {
            addr,
            failing,
            ok,
            failed,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn set_failing(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }

    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::SeqCst)
    }

    /// Fails every request until `n` failures were answered (bounded), then recovers.
    pub async fn fail_for(&self, n: u64) {
        let start = self.failed();
        self.set_failing(true);
        for _ in 0..3000 {
            if self.failed() >= start + n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.set_failing(false);
        assert!(
            self.failed() >= start + n,
            "the load never reached the service"
        );
    }
}

/// How a finished `zerodrop` run ended.
pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The real binary, running.
pub struct Zerodrop {
    child: tokio::process::Child,
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_task: tokio::task::JoinHandle<()>,
}

impl Zerodrop {
    /// Starts `zerodrop ARGS…` outside any cluster (no in-cluster environment, no KUBECONFIG).
    pub fn spawn(args: &[String]) -> Zerodrop {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_zerodrop"))
            .args(args)
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the zerodrop binary starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().expect("stderr piped");
        let lines = stderr.clone();
        let stderr_task = tokio::spawn(async move {
            let mut r = BufReader::new(pipe).lines();
            while let Ok(Some(l)) = r.next_line().await {
                lines.lock().expect("lines").push(l);
            }
        });
        Zerodrop {
            child,
            stderr,
            stderr_task,
        }
    }

    /// `--events` lines after the trigger's, as (pod, kind).
    fn observed_since_trigger(&self) -> Vec<(Option<String>, String)> {
        let lines = self.stderr.lock().expect("lines");
        let events: Vec<(Option<String>, String)> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("zerodrop: event +"))
            .filter_map(|l| {
                let mut w = l.split_whitespace().skip(1);
                let kind = w.next()?.to_string();
                let pod = w.next()?;
                Some(((pod != "-").then(|| pod.to_string()), kind))
            })
            .collect();
        match events.iter().position(|(_, k)| k == "trigger") {
            Some(i) => events[i + 1..].to_vec(),
            None => Vec::new(),
        }
    }

    /// Has the binary printed its trigger event (the rollout phase has begun)?
    pub fn saw_trigger(&self) -> bool {
        let lines = self.stderr.lock().expect("lines");
        lines
            .iter()
            .filter_map(|l| l.strip_prefix("zerodrop: event +"))
            .any(|l| l.split_whitespace().nth(1) == Some("trigger"))
    }

    /// Has the binary printed `kind` for `pod` `n` times since the trigger? (For
    /// `scenario::roll`, which waits for each scripted change to be observed.)
    pub fn seen(&self) -> impl Fn(Option<&str>, &str, usize) -> bool + Sync + '_ {
        move |pod, kind, n| {
            self.observed_since_trigger()
                .iter()
                .filter(|(p, k)| p.as_deref() == pod && k == kind)
                .count()
                >= n
        }
    }

    /// Sends SIGINT, as Ctrl-C would.
    pub fn interrupt(&self) {
        let pid = self.child.id().expect("still running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("signal sent");
    }

    /// Waits (bounded) for the process to end; kills it if it does not.
    pub async fn finish(mut self) -> Finished {
        let mut stdout = String::new();
        let mut pipe = self.child.stdout.take().expect("stdout piped");
        let read = async {
            let _ = pipe.read_to_string(&mut stdout).await;
            self.child.wait().await
        };
        let status = match tokio::time::timeout(Duration::from_secs(120), read).await {
            Ok(s) => s.expect("wait"),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!("zerodrop did not finish within 120 s");
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.stderr_task).await;
        let stderr = self.stderr.lock().expect("lines").join("\n");
        Finished {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

/// `zerodrop run deploy/web` arguments shared by every test: the kubeconfig of the fake API
/// server, a short baseline and settle, a modest rate, events on stderr, the result saved to
/// `out`. A flag in `extra` replaces the default of the same name.
pub fn run_args(kubeconfig: &Path, target: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let kc = kubeconfig.display().to_string();
    let out = out.display().to_string();
    let defaults: [(&str, Option<&str>); 10] = [
        ("--kubeconfig", Some(&kc)),
        ("--target", Some(target)),
        ("--rate", Some("40")),
        ("--baseline", Some("1s")),
        ("--settle", Some("500ms")),
        ("--rollout-timeout", Some("60s")),
        ("--request-timeout", Some("10s")),
        ("--events", None),
        ("--out", Some(&out)),
        ("--quiet", None),
    ];
    let mut a = vec!["run".to_string(), "deploy/web".to_string()];
    for (flag, value) in defaults {
        if extra.contains(&flag) {
            continue;
        }
        a.push(flag.to_string());
        a.extend(value.map(str::to_string));
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// The saved result.
pub fn result(out: &Path) -> zerodrop::result::RunResult {
    let text = std::fs::read_to_string(out).expect("the result was written");
    serde_json::from_str(&text).expect("the result parses")
}
