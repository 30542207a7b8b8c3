//! What each request looks like, and where it goes: the target, path, method, headers, body,
//! accepted statuses and pod header of [`TrafficFlags`] and the scenario file, validated into
//! the plan's target and [`RequestPlan`]. Problems go to the shared collector.

use std::path::PathBuf;

use bytes::Bytes;

use super::parse;
use super::plan::{PlanKind, RequestPlan};
use super::problems::Problems;
use super::scenario::Headers;
use super::traffic::TrafficFlags;
use crate::load::StatusSet;

/// The target URL (`None` for `local`, whose target is its own proxy) and the request.
pub fn from_args(
    kind: PlanKind,
    t: &TrafficFlags,
    p: &mut Problems<'_>,
) -> (Option<String>, RequestPlan) {
    let f = p.file();
    let target = target(kind, t, p);
    let path = p
        .value(
            t.path.as_deref(),
            "--path",
            f.path.as_ref(),
            "path",
            parse::path,
        )
        .map(|(v, _)| v);
    let method = p
        .value(
            t.method.as_deref(),
            "--method",
            f.method.as_ref(),
            "method",
            parse::method,
        )
        .map_or_else(|| "GET".to_string(), |(m, _)| m);
    let headers = headers(t, p);
    let (body, body_file) = body(t, p);
    let (accept, accept_status) = p
        .value(
            t.accept_status.as_deref(),
            "--accept-status",
            f.accept_status.as_ref(),
            "accept_status",
            parse::status_set,
        )
        .map_or_else(
            || (StatusSet::default(), "200-299".to_string()),
            |(s, _)| {
                let text = s.to_string();
                (s, text)
            },
        );
    // `none` turns the search for a pod-naming header off; a name sets it.
    let pod_header = p
        .value(
            t.pod_header.as_deref(),
            "--pod-header",
            f.pod_header.as_ref(),
            "pod_header",
            |s| match s {
                "none" => Ok(None),
                s => parse::header_name(s).map(|n| Some(n.to_string())),
            },
        )
        .map(|(v, _)| v);
    // Off only when asked: with a name given, the search is moot (the name is used).
    let discover_pod_header = !matches!(pod_header, Some(None));
    let pod_header = pod_header.flatten();
    let request = RequestPlan {
        method,
        path,
        headers,
        body_bytes: body.len(),
        body,
        body_file,
        accept_status,
        accept,
        pod_header,
        discover_pod_header,
    };
    (target, request)
}

/// `--target`: required by `load`, refused by `local`.
fn target(kind: PlanKind, t: &TrafficFlags, p: &mut Problems<'_>) -> Option<String> {
    let f = p.file();
    let target = p
        .value(
            t.target.as_deref(),
            "--target",
            f.target.as_ref(),
            "target",
            parse::url,
        )
        .map(|(v, _)| v);
    // With --ws the URL is the WebSocket's (`config::ws`), which refuses --target.
    let ws = super::ws::given(t, p);
    match kind {
        _ if ws => {}
        PlanKind::Load if target.is_none() && t.target.is_none() && f.target.is_none() => {
            p.push(
                "--target",
                "required: the URL to load (e.g. --target http://127.0.0.1:8080/)",
            );
        }
        PlanKind::Local if t.target.is_some() || f.target.is_some() => {
            p.push(
                "--target",
                "`local` sends load to its own service proxy; give the path with --path instead",
            );
        }
        _ => {}
    }
    target
}

/// The file's headers, then the flags'; a flag replaces the file's headers of the same name,
/// repeated flags are all kept.
fn headers(t: &TrafficFlags, p: &mut Problems<'_>) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if let Some(h) = &p.file().headers {
        let place = p.file_place("headers", h.referenced.line());
        let items: Vec<String> = match &h.value {
            Headers::Map(m) => m.iter().map(|(k, v)| format!("{k}: {}", v.0)).collect(),
            Headers::List(l) => l.clone(),
        };
        for item in items {
            if let Some(pair) = p.check(&place, header_pair(&item)) {
                headers.push(pair);
            }
        }
    }
    let mut flag_headers = Vec::new();
    for item in &t.header {
        if let Some(pair) = p.check("--header", header_pair(item)) {
            flag_headers.push(pair);
        }
    }
    headers.retain(|(k, _)| !flag_headers.iter().any(|(f, _)| f == k));
    headers.extend(flag_headers);
    headers
}

fn header_pair(item: &str) -> Result<(String, String), String> {
    let (n, v) = parse::header(item)?;
    Ok((n.to_string(), v.to_str().unwrap_or_default().to_string()))
}

/// `--body` or `--body-file` (a file named in the scenario is relative to the scenario).
fn body(t: &TrafficFlags, p: &mut Problems<'_>) -> (Bytes, Option<PathBuf>) {
    let f = p.file();
    let text = p.value(t.body.as_deref(), "--body", f.body.as_ref(), "body", |s| {
        Ok(s.to_string())
    });
    let file = FileSetting {
        flag: t.body_file.as_ref(),
        flag_name: "--body-file",
        file: f.body_file.as_ref(),
        key: "body_file",
    };
    match inline_or_file(p, text, file) {
        Some((bytes, path, _)) => (Bytes::from(bytes), path),
        None => (Bytes::new(), None),
    }
}

/// A setting naming a file to read, as a flag or a scenario key.
pub(super) struct FileSetting<'a> {
    pub flag: Option<&'a PathBuf>,
    pub flag_name: &'a str,
    pub file: Option<&'a serde_saphyr::Spanned<String>>,
    pub key: &'a str,
}

/// A value given inline (`inline`: the text and where it came from) or as a file to read
/// (a file named in the scenario is relative to the scenario), not both: its bytes, the file
/// read, and where the value came from. `None` when neither was given or it could not be read
/// (the problem is recorded).
pub(super) fn inline_or_file(
    p: &mut Problems<'_>,
    inline: Option<(String, String)>,
    file: FileSetting<'_>,
) -> Option<(Vec<u8>, Option<PathBuf>, String)> {
    let flag_file = file.flag.map(|p| p.to_string_lossy().to_string());
    let named = p.value(
        flag_file.as_deref(),
        file.flag_name,
        file.file,
        file.key,
        |s| Ok(s.to_string()),
    );
    match (inline, named) {
        (Some((_, first)), Some((_, place))) => {
            p.push(
                place,
                format!("given with {first}: give one or the other, not both"),
            );
            None
        }
        (Some((text, place)), None) => Some((text.into_bytes(), None, place)),
        (None, Some((name, place))) => {
            let path = match p.scenario() {
                Some(s) if file.flag.is_none() => s.resolve(&name),
                _ => PathBuf::from(&name),
            };
            match std::fs::read(&path) {
                Ok(b) => Some((b, Some(path), place)),
                Err(e) => {
                    p.push(place, format!("cannot read {}: {e}", path.display()));
                    None
                }
            }
        }
        (None, None) => None,
    }
}
