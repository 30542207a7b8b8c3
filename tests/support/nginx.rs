//! A private nginx for tests: its own config, pid file and port in a temp dir, one worker,
//! `return 200`. Tests that need it skip (with a message) only when nginx is not installed;
//! CI installs it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct Nginx {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

pub fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18_999)
}

impl Nginx {
    /// Starts nginx in the background (master + one worker); `None` if nginx is not installed.
    pub fn start() -> Option<Nginx> {
        let bin = nginx_binary()?;
        let dir = tempfile::tempdir().ok()?;
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1;\ndaemon on;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 8192; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n\
               keepalive_requests 100000000;\n  server {{ listen 127.0.0.1:{port} backlog=4096; location / {{ return 200 \"ok\\n\"; }} }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).ok()?;
        let status = Command::new(bin)
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        let nginx = Nginx { dir, port };
        // Ready when it answers and its worker exists (the master forks it after the pid file).
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && !nginx.worker_pids().is_empty()
            {
                return Some(nginx);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
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
