//! External programs that some tests drive — nginx, Chromium, kubectl, util-linux `script` —
//! found the same way everywhere, with one contract when one is missing:
//!
//! - under CI (`CI` set to anything but empty, `0` or `false`; `.ci/run` exports `CI=true`)
//!   the test **fails**, naming the program and the package `.ci/run` installs it from: CI must
//!   run every test, so a missing program is a broken CI machine, not a pass;
//! - elsewhere the test prints `SKIP <test>: <program> not found (…)` and returns.
//!
//! Why a printed line and not `#[ignore]`: whether a program is installed is known only when
//! the test runs, and libtest's `ignore` is decided at compile time (a build script probing for
//! programs would go stale the moment one is installed). So a skipped test still counts as
//! passed in cargo's summary; the SKIP line is what tells it apart. It is written straight to
//! the process's standard error rather than with `eprintln!`, which the test harness captures
//! and shows only for failing tests, so it appears in every `cargo test` output.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::PathBuf;

/// A program a test needs and how `.ci/run` installs it.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    /// The program's name, as the messages say it.
    pub name: &'static str,
    /// How `.ci/run` installs it, for the messages.
    pub install: &'static str,
}

pub const NGINX: Tool = Tool {
    name: "nginx",
    install: "apt-get install nginx-light",
};
pub const PYTHON3: Tool = Tool {
    name: "python3",
    install: "apt-get install python3",
};
pub const CHROMIUM: Tool = Tool {
    name: "chromium",
    install: "apt-get install chromium (or set ZERODROP_CHROMIUM)",
};
pub const KUBECTL: Tool = Tool {
    name: "kubectl",
    install: "the machine image's kubectl, else apt-get install kubernetes-client",
};
pub const SCRIPT: Tool = Tool {
    name: "script",
    install: "apt-get install util-linux",
};

pub const GRPCIO: Tool = Tool {
    name: "python3 with grpcio, grpcio-health-checking and grpcio-reflection",
    install: "pip install grpcio grpcio-health-checking grpcio-reflection",
};

/// python3, when it can import every one of `modules`.
pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let python = on_path(&["python3"])?;
    let ok = std::process::Command::new(&python)
        .arg("-c")
        .arg(format!("import {}", modules.join(", ")))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

pub const NODE_WS: Tool = Tool {
    name: "node with the `ws` package",
    install: "apt-get install nodejs npm, then npm install in tests/fixtures/ws",
};

/// The Node `ws` fixture server (`tests/fixtures/ws/server.js`) when node and its `ws` package
/// are installed; the SKIP/fail contract of [`require_tool`] otherwise.
pub fn require_node_ws() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ws");
    let installed = dir.join("node_modules/ws/package.json").is_file();
    let node = on_path(&["node", "nodejs"]).filter(|_| installed);
    require_tool(NODE_WS, node)
}

/// Whether this run is CI's: `CI` set to anything but empty, `0` or `false`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The first of `names` found as a file in a directory of `PATH`.
pub fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The first of `paths` that exists as a file.
pub fn first_file(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The name of the running test (libtest names each test's thread after it).
fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string()
}

/// What the skip or failure message says is missing.
fn missing(tool: Tool) -> String {
    format!("{} not found (CI installs it: {})", tool.name, tool.install)
}

/// `found`, the program as the caller looked it up; when it is `None`, fails the test under
/// CI and, elsewhere, prints the SKIP line and returns `None` for the test to return on.
pub fn require_tool(tool: Tool, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    let what = missing(tool);
    let test = test_name();
    assert!(
        !under_ci(),
        "{test}: {what}; under CI every test must run, so a missing program fails it"
    );
    // Past the harness's capture, so the line shows without `--nocapture`.
    let _ = writeln!(std::io::stderr().lock(), "SKIP {test}: {what}");
    None
}

/// [`require_tool`] for a program looked up on `PATH` by any of `names`.
pub fn require_on_path(tool: Tool, names: &[&str]) -> Option<PathBuf> {
    require_tool(tool, on_path(names))
}
