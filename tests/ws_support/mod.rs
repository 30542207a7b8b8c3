//! The Node `ws` fixture server for the WebSocket tests: started on a free loopback port,
//! stopped (and reaped) when dropped; and `zerodrop` runs that return their result.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zerodrop::result::RunResult;

/// The fixture's directory.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ws")
}

/// A running Node `ws` echo server.
pub struct NodeWs {
    child: Child,
    pub port: u16,
}

impl NodeWs {
    /// Starts `server.js` with `SHUTDOWN=shutdown` and waits until it accepts connections.
    pub fn start(node: &Path, shutdown: &str) -> NodeWs {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(node)
            .arg(fixture_dir().join("server.js"))
            .arg(port.to_string())
            .env("SHUTDOWN", shutdown)
            .current_dir(fixture_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the ws server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        NodeWs { child, port }
    }

    pub fn url(&self, query: &str) -> String {
        format!("ws://127.0.0.1:{}/ws{query}", self.port)
    }
}

impl Drop for NodeWs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `zerodrop ARGS… --out FILE` and returns the exit code, the result and the output.
pub fn zerodrop(dir: &Path, args: &[&str]) -> (i32, RunResult, String) {
    let out_json = dir.join("result.json");
    let _ = std::fs::remove_file(&out_json);
    // `--out` right after the subcommand: `local` takes the server's command after `--`.
    let (command, rest) = args.split_first().expect("a subcommand");
    let out = Command::new(env!("CARGO_BIN_EXE_zerodrop"))
        .arg(command)
        .arg("--out")
        .arg(&out_json)
        .args(rest)
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

/// `zerodrop load --ws URL` with a small bounded load: 2 sessions × 20 messages/s for `secs`.
pub fn load(dir: &Path, url: &str, secs: &str, extra: &[&str]) -> (i32, RunResult, String) {
    let mut args = vec![
        "load",
        "--quiet",
        "--ws",
        url,
        "--sessions",
        "2",
        "--message-rate",
        "20",
        "--duration",
        secs,
    ];
    args.extend_from_slice(extra);
    zerodrop(dir, &args)
}
