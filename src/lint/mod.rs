//! `zerodrop lint`: static checks of a workload for the rollout risks that drop requests,
//! before anything runs — the same finding ids and fix snippets as the analysis of a run.
//!
//! - `parse`: manifests (multi-document YAML, Helm output, `kind: List`) into typed objects.
//! - `live`: a live workload and its namespace's PodDisruptionBudgets, as the kube runtime read
//!   them (`cluster::kube::read_workload`): checked knowing the PDB list is complete.
//! - `workload`: what lint reads of a workload, whatever its kind.
//! - `checks`: the pure core, [`lint_objects`].
//!
//! This module reads the manifest files it is given and writes the report it is asked for; it
//! never calls a cluster (a live workload is read by its caller, `commands::lint`) and never
//! decides the process exit (it returns the code).

mod checks;
pub mod live;
mod parse;
#[cfg(test)]
mod tests;
mod workload;

use std::io::{Read, Write};
use std::path::PathBuf;

pub use checks::{PdbScope, lint_objects, lint_with};
pub use parse::{Object, parse_manifests};
pub use workload::{prestop_sleep, workload_config};

use crate::model::finding::{Finding, Severity};

/// Why lint could not check anything. Every variant but `Write` is bad input (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// No manifest was given.
    #[error(
        "nothing to lint: give -f FILE (-f - reads standard input) or a live workload such as deploy/web"
    )]
    NoInput,
    /// A manifest file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A document is not valid YAML; the message names the file, line and column.
    #[error("{message}")]
    Yaml { message: String },
    /// A document is YAML but not a valid object of its kind; the message names the line.
    #[error("invalid {kind} {name}: {message}")]
    Invalid {
        kind: String,
        name: String,
        message: String,
    },
    /// The input holds no Deployment, StatefulSet or DaemonSet.
    #[error("no Deployment, StatefulSet or DaemonSet in {0}")]
    NoWorkload(String),
    /// The report could not be written.
    #[error("cannot write the report: {0}")]
    Write(#[from] std::io::Error),
}

impl LintError {
    pub fn exit_code(&self) -> u8 {
        match self {
            LintError::Write(_) => crate::model::exit::COULD_NOT_RUN,
            _ => crate::model::exit::BAD_INPUT,
        }
    }
}

/// Severity threshold of `--fail-on`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Info,
    Warning,
    #[default]
    Error,
    /// Never fail: report only.
    Never,
}

impl FailOn {
    fn fails(self, s: Severity) -> bool {
        match self {
            FailOn::Info => true,
            FailOn::Warning => s >= Severity::Warning,
            FailOn::Error => s >= Severity::Error,
            FailOn::Never => false,
        }
    }
}

/// Output format of `lint`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LintFormat {
    #[default]
    Text,
    Json,
}

/// What `zerodrop lint` checks and how it reports (its flags, once parsed).
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    /// Manifest files to check (`-` reads standard input).
    pub files: Vec<PathBuf>,
    /// A live workload to check instead, read-only: deploy/NAME, sts/NAME or ds/NAME.
    pub workload: Option<String>,
    /// Namespace of the live workload (default: the context's).
    pub namespace: Option<String>,
    /// Kubeconfig context to use.
    pub context: Option<String>,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity fires.
    pub fail_on: FailOn,
    /// Report format.
    pub format: LintFormat,
}

/// Runs `lint` on manifest files (standard input for `-`). Writes the report and returns the
/// exit code: 0, or 1 when a finding reaches `--fail-on`. A live workload (`args.workload`) is
/// read by the caller and checked with [`live::lint_live_objects`].
pub fn run(args: &LintOptions, stdin: &mut dyn Read, out: &mut dyn Write) -> Result<u8, LintError> {
    let findings = lint_objects(&read_manifests(&args.files, stdin)?);
    write_report(&findings, args.format, out)?;
    Ok(exit_code(&findings, args.fail_on))
}

/// Writes the report of `findings` in `format`.
pub fn write_report(
    findings: &[Finding],
    format: LintFormat,
    out: &mut dyn Write,
) -> Result<(), LintError> {
    match format {
        LintFormat::Text => write_text(findings, out)?,
        LintFormat::Json => {
            let doc = serde_json::json!({ "findings": findings });
            serde_json::to_writer_pretty(&mut *out, &doc).map_err(std::io::Error::other)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Reads and parses every manifest file; at least one workload must be among them.
pub fn read_manifests(files: &[PathBuf], stdin: &mut dyn Read) -> Result<Vec<Object>, LintError> {
    if files.is_empty() {
        return Err(LintError::NoInput);
    }
    let mut objects = Vec::new();
    for path in files {
        let shown = path.display().to_string();
        let mut text = String::new();
        let read = if shown == "-" {
            stdin.read_to_string(&mut text)
        } else {
            std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
        };
        read.map_err(|source| LintError::Read {
            path: shown.clone(),
            source,
        })?;
        let name = if shown == "-" { "<stdin>" } else { &shown };
        objects.extend(parse_manifests(name, &text)?);
    }
    let has_workload = objects.iter().any(|o| {
        matches!(
            o,
            Object::Deployment(_) | Object::StatefulSet(_) | Object::DaemonSet(_)
        )
    });
    if !has_workload {
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        return Err(LintError::NoWorkload(names.join(", ")));
    }
    Ok(objects)
}

/// One line per finding, most serious first ("error no-prestop deploy/web: …"), for a
/// pre-flight note before a run.
pub fn summary_lines(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| format!("{} {} {}", severity_word(f.severity), f.id, f.title))
        .collect()
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// 1 when any finding reaches the threshold, else 0.
pub fn exit_code(findings: &[Finding], fail_on: FailOn) -> u8 {
    if findings.iter().any(|f| fail_on.fails(f.severity)) {
        crate::model::exit::GATE_FAILED
    } else {
        crate::model::exit::PASSED
    }
}

fn write_text(findings: &[Finding], out: &mut dyn Write) -> std::io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "no rollout risk found");
    }
    for f in findings {
        let sev = severity_word(f.severity);
        writeln!(out, "{sev:<7} {:<26} {}", f.id.as_str(), f.title)?;
        for d in &f.evidence.details {
            writeln!(out, "        - {d}")?;
        }
        writeln!(out, "        cause: {}", f.cause)?;
        writeln!(out, "        fix:   {}", f.fix)?;
        if let Some(y) = &f.fix_yaml {
            for line in y.lines() {
                writeln!(out, "          | {line}")?;
            }
        }
        writeln!(out)?;
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "{} error(s), {} warning(s), {} note(s)",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    )
}
