//! Writes every report format of the report tests' synthetic rollout to a directory, for a
//! person to look at what the renderers make of it:
//!
//! ```text
//! cargo run --example dump_reports -- DIR
//! ```
//!
//! `DIR/failing.{txt,html,xml,json}` is the rollout that drops requests (judged with the
//! tests' thresholds), `DIR/clean.{txt,html}` its graceful twin judged with `p(99)<1s`. The
//! rollouts are the fixtures of `tests/report_support`, analysed by the real analysis.

#[path = "../tests/report_support/mod.rs"]
mod report_support;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use zerodrop::report::redact::Redactor;
use zerodrop::report::{html, json, junit, text};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: cargo run --example dump_reports -- DIR");
        return ExitCode::from(2);
    };
    match dump(&PathBuf::from(dir)) {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dump_reports: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the reports into `dir` (created if missing) and returns the paths written.
fn dump(dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let red = Redactor::default();
    let failing = report_support::failing_rollout();
    let clean = report_support::clean_rollout(&["p(99)<1s"]);
    let failing_json = json::render(&failing, &red).map_err(|e| e.to_string())?;
    let files = [
        ("failing.txt", text::render(&failing, false)),
        ("failing.html", html::render(&failing, &red)),
        ("failing.xml", junit::render(&failing, &red)),
        ("failing.json", failing_json),
        ("clean.txt", text::render(&clean, false)),
        ("clean.html", html::render(&clean, &red)),
    ];
    let mut written = Vec::new();
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::write(&path, body).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
