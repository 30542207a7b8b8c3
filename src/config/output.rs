//! Where results go and what they judge and mask: the output flags as typed
//! ([`OutputFlags`]), and the thresholds, redactions and failure-log limit of the traffic flags
//! and the scenario file, validated into an [`OutputPlan`], the parsed thresholds and the
//! header names to mask. An output file whose directory does not exist is caught here, before
//! anything runs.

use std::path::{Path, PathBuf};

use super::parse;
use super::plan::{DEFAULT_FAILURE_LOG_LIMIT, OutputPlan};
use super::problems::Problems;
use super::traffic::TrafficFlags;
use crate::gate::Threshold;
use crate::model::units;

/// The output flags as the user typed them.
#[derive(Clone, Debug, Default)]
pub struct OutputFlags {
    pub out: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub quiet: bool,
}

/// What the reports need of the input.
pub struct Output {
    pub plan: OutputPlan,
    pub thresholds: Vec<Threshold>,
    pub redact_headers: Vec<String>,
}

/// `templates` are the names of the mix's templates (none without a mix): a threshold's scope
/// naming one of them is scoped to that template.
pub fn from_args(
    t: &TrafficFlags,
    out: &OutputFlags,
    templates: &[&str],
    p: &mut Problems<'_>,
) -> Output {
    let f = p.file();
    let thresholds = listed(p, &f.thresholds, "thresholds", &t.threshold, "--threshold")
        .into_iter()
        .filter_map(|(value, place)| {
            let parsed = crate::gate::parse(&value).map_err(|e| e.to_string());
            let scoped = parsed.and_then(|th| th.scopes_in(templates).map(|_| th));
            p.check(&place, scoped)
        })
        .collect();
    let redact_headers = listed(
        p,
        &f.redact_headers,
        "redact_headers",
        &t.redact_header,
        "--redact-header",
    )
    .into_iter()
    .filter_map(|(value, place)| p.check(&place, parse::header_name(&value)))
    .map(|n| n.to_string())
    .collect();
    let failure_log_limit = p
        .value(
            t.failure_log_limit.as_deref(),
            "--failure-log-limit",
            f.failure_log_limit.as_ref(),
            "failure_log_limit",
            units::count0,
        )
        .map_or(DEFAULT_FAILURE_LOG_LIMIT, |(v, _)| v);
    check_output_path(p, "--out", &out.out);
    check_output_path(p, "--html", &out.html);
    check_output_path(p, "--junit", &out.junit);
    Output {
        plan: OutputPlan {
            out: out.out.clone(),
            html: out.html.clone(),
            junit: out.junit.clone(),
            quiet: out.quiet,
            failure_log_limit,
        },
        thresholds,
        redact_headers,
    }
}

/// A list setting's values with their places: the file's first, then the repeated flag's
/// (repeatable flags add to the file's list). Every bad one is reported where it came from.
fn listed(
    p: &Problems<'_>,
    file: &Option<Vec<serde_saphyr::Spanned<String>>>,
    key: &str,
    flags: &[String],
    flag: &str,
) -> Vec<(String, String)> {
    let from_file = file
        .iter()
        .flatten()
        .map(|s| (s.value.clone(), p.file_place(key, s.referenced.line())));
    let from_flags = flags.iter().map(|s| (s.clone(), flag.to_string()));
    from_file.chain(from_flags).collect()
}

fn check_output_path(p: &mut Problems<'_>, flag: &str, path: &Option<PathBuf>) {
    let Some(path) = path else { return };
    let parent = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        p.push(
            flag,
            format!(
                "directory {} does not exist, so {} could not be written",
                parent.display(),
                path.display()
            ),
        );
    } else if path.is_dir() {
        p.push(flag, format!("{} is a directory", path.display()));
    }
}
