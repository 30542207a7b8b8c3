//! A private nginx for tests: its own config, pid file and port in a temp dir, one worker,
//! `return 200`. A test finds the binary with `tool::require_tool(tool::NGINX, nginx_binary())`
//! (a failure under CI, a printed SKIP elsewhere, when nginx is not installed); once it is
//! found, nginx failing to start fails the test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Nginx {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

/// Debian's nginx (`nginx-light` and its siblings install it in /usr/sbin).
pub fn nginx_binary() -> Option<PathBuf> {
    super::tool::first_file(&["/usr/sbin/nginx", "/usr/bin/nginx"])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18_999)
}

impl Nginx {
    /// Starts `bin` in the background (master + one worker); panics, saying why, if it does
    /// not start and answer.
    pub fn start(bin: &Path) -> Nginx {
        Self::start_with(bin, "", r#"location / { return 200 "ok\n"; }"#)
    }

    /// Starts `bin` serving `locations` (nginx directives inside the `server` block), with
    /// `listen_options` after the port (`http2` for HTTP/2 by prior knowledge).
    pub fn start_with(bin: &Path, listen_options: &str, locations: &str) -> Nginx {
        Self::try_start(bin, listen_options, locations)
            .unwrap_or_else(|why| panic!("nginx ({}) {why}", bin.display()))
    }

    fn try_start(bin: &Path, listen_options: &str, locations: &str) -> Result<Nginx, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("has no temp dir: {e}"))?;
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1;\ndaemon on;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 8192; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n\
               keepalive_requests 100000000;\n  server {{ listen 127.0.0.1:{port} backlog=4096 {listen_options}; {locations} }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf)
            .map_err(|e| format!("config not written: {e}"))?;
        let status = Command::new(bin)
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .status()
            .map_err(|e| format!("did not run: {e}"))?;
        if !status.success() {
            let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
            return Err(format!("exited with {status}:\n{log}"));
        }
        let nginx = Nginx { dir, port };
        // Ready when it answers and its worker exists (the master forks it after the pid file).
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && !nginx.worker_pids().is_empty()
            {
                return Ok(nginx);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "did not answer on port {} with a worker within 2 s",
            nginx.port
        ))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn master_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("nginx.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Pids of the worker processes (children of the master).
    pub fn worker_pids(&self) -> Vec<i32> {
        let Some(master) = self.master_pid() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                // Field 4 (after the parenthesised command) is the parent pid.
                let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
                let ppid = after
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.parse::<i32>().ok());
                if ppid == Some(master) {
                    out.push(pid);
                }
            }
        }
        out
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        for w in self.worker_pids() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(w),
                nix::sys::signal::Signal::SIGCONT,
            );
        }
        if let Some(pid) = self.master_pid() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}
