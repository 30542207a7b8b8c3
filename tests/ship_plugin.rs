//! The binary as a kubectl plugin and its shell completions: installed as `kubectl-zerodrop`
//! it speaks as `kubectl zerodrop`, and `zerodrop completions` prints a script each shell loads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn plugin_in(dir: &Path) -> PathBuf {
    let link = dir.join("kubectl-zerodrop");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_zerodrop"), &link).expect("symlink");
    link
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn installed_as_kubectl_zerodrop_help_and_usage_say_kubectl_zerodrop() {
    let dir = tempfile::tempdir().expect("tmp");
    let plugin = plugin_in(dir.path());
    let help = run(&plugin, &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(
        text(&help).contains("Usage: kubectl zerodrop <COMMAND>"),
        "{}",
        text(&help)
    );
    let run_help = run(&plugin, &["run", "--help"]);
    assert!(
        text(&run_help).contains("Usage: kubectl zerodrop run [OPTIONS] <WORKLOAD>"),
        "{}",
        text(&run_help)
    );
    // A usage error is still exit 2, and names the plugin as kubectl users typed it.
    let bad = run(&plugin, &["run", "--no-such-flag", "deploy/web"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).contains("kubectl zerodrop run"),
        "{}",
        text(&bad)
    );
}

#[test]
fn the_plugin_runs_the_same_commands() {
    let dir = tempfile::tempdir().expect("tmp");
    let plugin = plugin_in(dir.path());
    let out = run(&plugin, &["manifest", "job", "-n", "shop", "deploy/web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind: Job"));
}

#[test]
fn completion_scripts_cover_every_command_for_each_shell() {
    let bin = Path::new(env!("CARGO_BIN_EXE_zerodrop"));
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef zerodrop"),
        ("fish", "complete -c zerodrop"),
    ] {
        let out = run(bin, &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {marker}");
        for command in ["run", "manifest", "merge", "report", "rollout-timeout"] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
    let bad = run(bin, &["completions", "powershell"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_bash_script_loads_in_bash() {
    let bin = Path::new(env!("CARGO_BIN_EXE_zerodrop"));
    let out = run(bin, &["completions", "bash"]);
    let status = Command::new("bash")
        .args(["-c", "source /dev/stdin && complete -p zerodrop"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().expect("stdin").write_all(&out.stdout)?;
            c.wait_with_output()
        })
        .expect("bash runs");
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("zerodrop"));
}
