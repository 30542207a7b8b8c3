//! Writing results: the JSON document and the reports the plan asks for (each atomically, so an
//! interrupted write never leaves half a file) and the terminal summary. Rendering itself
//! belongs to `report`.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use crate::cli::OutputArgs;
use crate::config::Plan;
use crate::report;
use crate::report::redact::Redactor;
use crate::result::RunResult;

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)
}

fn tempfile_in(dir: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    for i in 0..100u32 {
        let p = dir.join(format!(".zerodrop-{}-{i}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

/// The end of every command that runs load: judges the result (the gate, with the run flow's
/// early stop if there was one), prints the summary, writes every output the plan asks for, and
/// returns the exit code. A report that could not be written is said loudly; the verdict
/// stands.
pub fn finish(plan: &Plan, result: &mut RunResult, stopped: Option<&crate::gate::Stopped>) -> u8 {
    crate::gate::apply_stopped(&plan.thresholds, result, stopped);
    print_summary(result, &plan.redactor());
    for p in write_outputs(plan, result) {
        super::error(p);
    }
    result.verdict.exit_code
}

/// The end of `report` and `merge`, which render a result already judged: prints the summary
/// unless `--quiet`, writes the reports `output` asks for, and returns the result's exit code,
/// or `COULD_NOT_RUN` when a report could not be written.
pub fn finish_saved(result: &RunResult, output: &OutputArgs, redactor: &Redactor) -> u8 {
    if !output.quiet {
        print_summary(result, redactor);
    }
    let to = Reports {
        json: output.out.as_deref(),
        html: output.html.as_deref(),
        junit: output.junit.as_deref(),
    };
    let problems = write_reports(result, &to, redactor);
    for p in &problems {
        super::error(p);
    }
    if !problems.is_empty() {
        return crate::model::exit::COULD_NOT_RUN;
    }
    result.verdict.exit_code
}

/// Writes every output the plan asks for; returns the problems (the run's verdict stands, but
/// a lost report must be said loudly).
pub fn write_outputs(plan: &Plan, result: &RunResult) -> Vec<String> {
    write_reports(
        result,
        &Reports {
            json: plan.output.out.as_deref(),
            html: plan.output.html.as_deref(),
            junit: plan.output.junit.as_deref(),
        },
        &plan.redactor(),
    )
}

/// Which report files to write.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reports<'a> {
    pub json: Option<&'a Path>,
    pub html: Option<&'a Path>,
    pub junit: Option<&'a Path>,
}

/// Renders and writes the requested reports, each atomically; returns the problems.
pub fn write_reports(result: &RunResult, to: &Reports<'_>, redactor: &Redactor) -> Vec<String> {
    let mut problems = Vec::new();
    let mut put = |path: Option<&Path>, what: &str, render: &dyn Fn() -> Result<String, String>| {
        let Some(path) = path else { return };
        match render() {
            Ok(text) => {
                if let Err(e) = write_atomic(path, text.as_bytes()) {
                    problems.push(format!("could not write {}: {e}", path.display()));
                }
            }
            Err(e) => problems.push(format!("could not render the {what}: {e}")),
        }
    };
    put(to.json, "JSON result", &|| {
        report::json::render(result, redactor).map_err(|e| e.to_string())
    });
    put(to.html, "HTML report", &|| {
        Ok(report::html::render(result, redactor))
    });
    put(to.junit, "JUnit report", &|| {
        Ok(report::junit::render(result, redactor))
    });
    problems
}

/// Prints the terminal summary to standard output, coloured only on a terminal without
/// `NO_COLOR`.
pub fn print_summary(result: &RunResult, redactor: &Redactor) {
    let stdout = std::io::stdout();
    let color = report::use_color(
        stdout.is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let mut w = stdout.lock();
    let _ = w.write_all(report::text::render_with(result, color, redactor).as_bytes());
    let _ = w.flush();
}
