//! Child processes of the local runtime, and the hygiene that guarantees none outlives zerodrop.
//!
//! Every process (a replica's container, a preStop command) runs in its own process group,
//! registered in [`ProcessGroups`] until the group is empty; the group is what gets SIGKILL at a
//! grace deadline, and what [`ProcessGroups::kill_all`] kills when the runtime is dropped (a
//! normal end, an error, a panic). `PR_SET_PDEATHSIG` is the last resort when zerodrop itself is
//! killed with no chance to clean up. Output is captured per replica: a bounded tail for
//! reports and error messages, everything in a file when a log directory is given.
//!
//! This module spawns and signals; it does not decide when (that is the pod lifecycle's job).

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// A command line as the user gave it; `{port}` in any argument becomes the replica's port.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
}

impl CommandSpec {
    /// The arguments with `{port}` substituted.
    pub fn args_for(&self, port: u16) -> Vec<String> {
        let p = port.to_string();
        self.args.iter().map(|a| a.replace("{port}", &p)).collect()
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The program does not exist (not a path that exists, not on `PATH`).
    #[error("command `{0}` not found")]
    NotFound(String),
    /// The program exists but may not be executed.
    #[error("command `{0}` is not executable (permission denied)")]
    NotExecutable(String),
    /// Any other failure of fork/exec.
    #[error("could not start `{program}`: {error}")]
    Other {
        program: String,
        error: std::io::Error,
    },
}

/// The process groups this runtime has started and not yet seen empty.
#[derive(Clone, Debug, Default)]
pub struct ProcessGroups(Arc<Mutex<BTreeSet<i32>>>);

impl ProcessGroups {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<i32>> {
        // The set stays valid if a holder panicked; cleanup must still find every group.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, pgid: i32) {
        self.lock().insert(pgid);
    }

    /// SIGKILLs whatever is left of group `pgid` and forgets it.
    pub fn kill_group(&self, pgid: i32) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        self.lock().remove(&pgid);
    }

    /// SIGKILLs every group still registered. Synchronous, so it can run in `Drop`.
    pub fn kill_all(&self) {
        let groups: Vec<i32> = std::mem::take(&mut *self.lock()).into_iter().collect();
        for g in groups {
            let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
        }
    }

    /// Groups still registered (for tests and diagnostics).
    pub fn live(&self) -> Vec<i32> {
        self.lock().iter().copied().collect()
    }
}

/// The last lines a replica wrote to stdout or stderr (stderr lines are marked).
#[derive(Debug)]
pub struct LogTail {
    capacity: usize,
    lines: Mutex<VecDeque<String>>,
    file: Option<Mutex<File>>,
}

impl LogTail {
    /// A tail of `capacity` lines, also appending everything to `file` when given.
    pub fn new(capacity: usize, file: Option<&Path>) -> std::io::Result<LogTail> {
        let file = match file {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            None => None,
        };
        Ok(LogTail {
            capacity,
            lines: Mutex::new(VecDeque::new()),
            file,
        })
    }

    fn push(&self, line: String) {
        if let Some(f) = &self.file {
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            // A full disk must not stop the run; the tail still has the line.
            let _ = writeln!(f, "{line}");
        }
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// Records a line written by zerodrop itself about this replica.
    pub fn note(&self, line: &str) {
        self.push(format!("[zerodrop] {line}"));
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// The last `n` lines, indented, for an error message.
    pub fn excerpt(&self, n: usize) -> String {
        let lines = self.lines();
        let skip = lines.len().saturating_sub(n);
        let mut out = String::new();
        for l in &lines[skip..] {
            out.push_str("\n    ");
            out.push_str(l);
        }
        out
    }
}

/// A started process: the child (for waiting) and its process group.
pub struct Process {
    pub child: Child,
    pub pid: i32,
}

/// Starts `program args` in a new process group, with `env` added, output captured into `logs`.
pub fn spawn(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    groups: &ProcessGroups,
    logs: &Arc<LogTail>,
) -> Result<Process, SpawnError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: the terminal's Ctrl-C reaches zerodrop only, which then stops replicas
        // the Kubernetes way; and the whole group can be killed at once.
        .process_group(0)
        .kill_on_drop(true);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe
    // functions (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // Last resort: if zerodrop dies without cleaning up, the kernel kills the replica.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // zerodrop died between fork and prctl: do not run orphaned.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("zerodrop exited during spawn"));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SpawnError::NotFound(program.to_string()),
        std::io::ErrorKind::PermissionDenied => SpawnError::NotExecutable(program.to_string()),
        _ => SpawnError::Other {
            program: program.to_string(),
            error: e,
        },
    })?;
    let pid = child
        .id()
        .map(|p| p as i32)
        .ok_or_else(|| SpawnError::Other {
            program: program.to_string(),
            error: std::io::Error::other("the process exited before its id was read"),
        })?;
    groups.add(pid);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(capture(out, logs.clone(), ""));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(capture(err, logs.clone(), "[stderr] "));
    }
    Ok(Process { child, pid })
}

async fn capture(stream: impl AsyncRead + Unpin, logs: Arc<LogTail>, prefix: &'static str) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                logs.push(format!("{prefix}{}", line.trim_end_matches(['\n', '\r'])));
            }
        }
    }
}

/// Sends `signal` to the process itself (as a container runtime signals PID 1).
pub fn signal(pid: i32, signal: Signal) -> Result<(), nix::Error> {
    kill(Pid::from_raw(pid), signal)
}

/// A signal name as users write it: `TERM`, `SIGTERM`, `sigquit`, or a number.
pub fn parse_signal(s: &str) -> Result<Signal, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("`{s}` is not a signal number"));
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| format!("`{s}` is not a signal name (e.g. TERM, QUIT, INT)"))
}

/// `(code, signal)` of an exit status.
pub fn exit_parts(status: ExitStatus) -> (Option<i32>, Option<i32>) {
    (status.code(), status.signal())
}

/// "exit code 1" / "signal 9 (SIGKILL)".
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => match Signal::try_from(s) {
            Ok(sig) => format!("signal {s} ({})", sig.as_str()),
            Err(_) => format!("signal {s}"),
        },
        _ => "an unknown status".to_string(),
    }
}

/// The log file of a replica in `dir`.
pub fn log_path(dir: &Path, pod: &str) -> PathBuf {
    dir.join(format!("{pod}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_placeholders_are_substituted_in_every_argument() {
        let c = CommandSpec {
            program: "srv".into(),
            args: vec!["--listen=127.0.0.1:{port}".into(), "{port}".into()],
        };
        assert_eq!(c.args_for(8080), vec!["--listen=127.0.0.1:8080", "8080"]);
    }

    #[test]
    fn signal_names_parse_with_or_without_prefix() {
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("sigquit"), Ok(Signal::SIGQUIT));
        assert_eq!(parse_signal("2"), Ok(Signal::SIGINT));
        assert!(parse_signal("NOPE").is_err());
    }

    #[test]
    fn the_log_tail_keeps_only_the_last_lines() {
        let t = LogTail::new(2, None).expect("tail");
        t.push("a".into());
        t.push("b".into());
        t.push("c".into());
        assert_eq!(t.lines(), vec!["b", "c"]);
        assert_eq!(t.excerpt(1), "\n    c");
    }

    #[tokio::test]
    async fn a_missing_program_is_named_in_the_error() {
        let logs = Arc::new(LogTail::new(10, None).expect("tail"));
        let groups = ProcessGroups::default();
        match spawn("/nonexistent/zerodrop-test-srv", &[], &[], &groups, &logs) {
            Err(SpawnError::NotFound(p)) => assert_eq!(p, "/nonexistent/zerodrop-test-srv"),
            other => panic!("expected NotFound, got {:?}", other.map(|p| p.pid)),
        }
        assert!(groups.live().is_empty());
    }

    #[tokio::test]
    async fn output_is_captured_and_the_group_is_killed_with_its_children() {
        let logs = Arc::new(LogTail::new(10, None).expect("tail"));
        let groups = ProcessGroups::default();
        // The shell starts a grandchild in the same group, then reports and waits.
        let args = vec![
            "-c".to_string(),
            "sleep 300 & echo started; echo oops >&2; wait".to_string(),
        ];
        let mut p = spawn("sh", &args, &[], &groups, &logs).expect("spawn");
        assert_eq!(groups.live(), vec![p.pid]);
        for _ in 0..200 {
            if logs.lines().len() >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let mut lines = logs.lines();
        lines.sort();
        assert_eq!(lines, vec!["[stderr] oops", "started"]);
        groups.kill_all();
        let status = p.child.wait().await.expect("wait");
        assert_eq!(exit_parts(status).1, Some(libc::SIGKILL));
        // Nothing of the group is left: signal 0 to the group fails.
        let mut gone = false;
        for _ in 0..200 {
            if killpg(Pid::from_raw(p.pid), None::<Signal>).is_err() {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(gone, "the grandchild survived");
    }
}
