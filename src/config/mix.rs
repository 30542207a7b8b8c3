//! The scenario's `requests`: a weighted mix of request templates, each with a name, method,
//! path (or a full URL on the target), headers, a body (or `body_file`), accepted statuses and
//! response checks ([`super::checks`]). Read from the scenario's [`Node`] tree so that every
//! problem — an unknown key, a weight that is not positive, a bad JSON Pointer, a regex that
//! does not compile — is reported at once, each naming the file, line and key
//! (`requests[2].checks[1].json`).
//!
//! The plan's shared headers (the file's `headers` and `-H` flags) go to every template, a
//! template's own header of the same name winning; `--accept-status` (or the file's) is the
//! default of templates that give none. Path, method and body belong to the templates: given
//! at the top level or by flags beside `requests`, they are refused rather than guessed at.

use std::path::PathBuf;

use bytes::Bytes;
use serde_saphyr::Spanned;

use super::checks;
use super::parse;
use super::plan::{PlanKind, RequestPlan, RequestShape, TemplatePlan};
use super::problems::Problems;
use super::scenario::Node;
use super::traffic::TrafficFlags;
use crate::model::phase::{BASELINE, ROLLOUT, SETTLE};
use crate::model::template::MAX_TEMPLATES;

/// The keys a template may have.
const KEYS: &str =
    "name, weight, method, path, url, headers, body, body_file, accept_status, checks";

/// Where a value is: the file, its line and its key path.
pub(super) fn place(p: &Problems<'_>, key: &str, node: &Spanned<Node>) -> String {
    p.file_place(key, node.referenced.line())
}

/// The templates of the scenario's `requests`, or none (the run sends its one request).
pub fn from_args(
    kind: PlanKind,
    t: &TrafficFlags,
    target: Option<&str>,
    base: &RequestPlan,
    p: &mut Problems<'_>,
) -> Vec<TemplatePlan> {
    let Some(requests) = &p.file().requests else {
        return Vec::new();
    };
    single_request_settings(t, p);
    let Node::Seq(items) = &requests.value else {
        let at = place(p, "requests", requests);
        p.push(
            at,
            format!(
                "expected a list of request templates (each a map: {KEYS}), got {}",
                requests.value.kind()
            ),
        );
        return Vec::new();
    };
    if items.is_empty() {
        let at = place(p, "requests", requests);
        p.push(at, "the list is empty: give at least one request template");
        return Vec::new();
    }
    if items.len() > MAX_TEMPLATES {
        let at = place(p, "requests", requests);
        p.push(
            at,
            format!(
                "{} templates: a mix has at most {MAX_TEMPLATES}",
                items.len()
            ),
        );
    }
    let cx = Context { kind, target, base };
    let templates: Vec<TemplatePlan> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| template(&cx, i, item, p))
        .collect();
    distinct_names(items, p);
    templates
}

/// Path, method and body are per template when there is a mix.
fn single_request_settings(t: &TrafficFlags, p: &mut Problems<'_>) {
    let flags = [
        ("--path", t.path.is_some()),
        ("--method", t.method.is_some()),
        ("--body", t.body.is_some()),
        ("--body-file", t.body_file.is_some()),
    ];
    for (flag, given) in flags {
        if given {
            p.push(
                flag,
                "the scenario's `requests` give each template its own; set it there, per template",
            );
        }
    }
    let f = p.file();
    let keys = [
        ("path", &f.path),
        ("method", &f.method),
        ("body", &f.body),
        ("body_file", &f.body_file),
    ];
    for (key, value) in keys {
        if let Some(v) = value {
            let at = p.file_place(key, v.referenced.line());
            p.push(
                at,
                "with `requests`, give it per template (each template has its own)",
            );
        }
    }
}

/// What every template is read against.
struct Context<'a> {
    kind: PlanKind,
    target: Option<&'a str>,
    base: &'a RequestPlan,
}

/// One template's raw keys.
#[derive(Default)]
struct Raw<'a> {
    name: Option<&'a Spanned<Node>>,
    weight: Option<&'a Spanned<Node>>,
    method: Option<&'a Spanned<Node>>,
    path: Option<&'a Spanned<Node>>,
    url: Option<&'a Spanned<Node>>,
    headers: Option<&'a Spanned<Node>>,
    body: Option<&'a Spanned<Node>>,
    body_file: Option<&'a Spanned<Node>>,
    accept_status: Option<&'a Spanned<Node>>,
    checks: Option<&'a Spanned<Node>>,
}

fn raw<'a>(key: &str, entries: &'a [(String, Spanned<Node>)], p: &mut Problems<'_>) -> Raw<'a> {
    let mut r = Raw::default();
    for (k, v) in entries {
        let slot = match k.as_str() {
            "name" => &mut r.name,
            "weight" => &mut r.weight,
            "method" => &mut r.method,
            "path" => &mut r.path,
            "url" => &mut r.url,
            "headers" => &mut r.headers,
            "body" => &mut r.body,
            "body_file" => &mut r.body_file,
            "accept_status" => &mut r.accept_status,
            "checks" => &mut r.checks,
            other => {
                let at = place(p, &format!("{key}.{other}"), v);
                p.push(
                    at,
                    format!("unknown key `{other}` in a request template; use {KEYS}"),
                );
                continue;
            }
        };
        *slot = Some(v);
    }
    r
}

/// A scalar as text, or a problem naming `key`.
pub(super) fn scalar(
    p: &mut Problems<'_>,
    key: &str,
    node: &Spanned<Node>,
    what: &str,
) -> Option<String> {
    match node.value.text() {
        Some(t) => Some(t),
        None => {
            let at = place(p, key, node);
            p.push(at, format!("expected {what}, got {}", node.value.kind()));
            None
        }
    }
}

/// A parsed scalar, or a problem naming `key`.
pub(super) fn parsed<T>(
    p: &mut Problems<'_>,
    key: &str,
    node: &Spanned<Node>,
    what: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    let text = scalar(p, key, node, what)?;
    let at = place(p, key, node);
    p.check(&at, parse(&text))
}

fn template(
    cx: &Context<'_>,
    i: usize,
    item: &Spanned<Node>,
    p: &mut Problems<'_>,
) -> Option<TemplatePlan> {
    let key = format!("requests[{i}]");
    let Node::Map(entries) = &item.value else {
        let at = place(p, &key, item);
        p.push(
            at,
            format!(
                "a request template is a map ({KEYS}), got {}",
                item.value.kind()
            ),
        );
        return None;
    };
    let before = p.count();
    let r = raw(&key, entries, p);
    let name = r
        .name
        .and_then(|n| parsed(p, &format!("{key}.name"), n, "a name", template_name));
    if r.name.is_none() {
        let at = place(p, &key, item);
        p.push(
            at,
            "a request template needs a `name` (thresholds and reports use it)",
        );
    }
    let weight = r.weight.map_or(Some(1.0), |w| {
        parsed(p, &format!("{key}.weight"), w, "a number", weight)
    });
    let method = r.method.map_or(Some(cx.base.shape.method.clone()), |m| {
        parsed(
            p,
            &format!("{key}.method"),
            m,
            "an HTTP method",
            parse::method,
        )
    });
    let path = path(cx, &key, &r, p);
    let headers = headers(cx, &key, r.headers, p);
    let (body, body_file) = body(&key, &r, p);
    let (accept, accept_status) = accept(cx, &key, r.accept_status, p);
    let (infos, compiled) = checks::from_node(&key, r.checks, p);
    if p.count() > before {
        return None;
    }
    Some(TemplatePlan {
        name: name?,
        weight: weight?,
        shape: RequestShape {
            method: method?,
            path,
            headers,
            body_bytes: body.len(),
            body,
            body_file,
            accept_status,
            accept,
        },
        checks: infos,
        compiled,
    })
}

/// The template's accepted statuses, or the plan's.
fn accept(
    cx: &Context<'_>,
    key: &str,
    own: Option<&Spanned<Node>>,
    p: &mut Problems<'_>,
) -> (crate::load::StatusSet, String) {
    let Some(a) = own else {
        let shape = &cx.base.shape;
        return (shape.accept.clone(), shape.accept_status.clone());
    };
    let k = format!("{key}.accept_status");
    let set = parsed(p, &k, a, "statuses", parse::status_set).unwrap_or_default();
    let text = set.to_string();
    (set, text)
}

/// A template's name: what thresholds and reports call it.
fn template_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    let valid = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(format!(
            "`{s}`: a template's name is letters, digits, `_`, `-` and `.` (thresholds scope to it: `{s}:p(99)<300ms`)"
        ));
    }
    if [BASELINE, ROLLOUT, SETTLE].contains(&s) {
        return Err(format!(
            "`{s}` is the name of a phase: a threshold `{s}:…` could not tell them apart; rename the template"
        ));
    }
    Ok(s.to_string())
}

fn weight(s: &str) -> Result<f64, String> {
    let w: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a positive number such as 3 or 0.5, got `{s}`"))?;
    if !w.is_finite() || w <= 0.0 {
        return Err(format!(
            "a weight must be a positive number (a template that should not be sent is left out), got `{s}`"
        ));
    }
    Ok(w)
}

/// `path`, or `url` on the target's origin, as a path; none means the target's own path.
fn path(cx: &Context<'_>, key: &str, r: &Raw<'_>, p: &mut Problems<'_>) -> Option<String> {
    match (r.path, r.url) {
        (Some(_), Some(u)) => {
            let at = place(p, &format!("{key}.url"), u);
            p.push(at, "give either path or url, not both");
            None
        }
        (Some(path), None) => parsed(p, &format!("{key}.path"), path, "a path", parse::path),
        (None, Some(u)) => {
            let k = format!("{key}.url");
            let url = parsed(p, &k, u, "a URL", parse::url)?;
            let at = place(p, &k, u);
            p.check(&at, same_origin(cx, &url))
        }
        (None, None) => None,
    }
}

/// The path of `url`, which must be on the target's scheme, host and port: every template of
/// a mix shares the run's connections.
fn same_origin(cx: &Context<'_>, url: &str) -> Result<String, String> {
    let target = match (cx.kind, cx.target) {
        (PlanKind::Local, _) => {
            return Err(
                "`local` sends to its own service proxy: give the template a path instead".into(),
            );
        }
        (_, None) => {
            return Err(
                "no --target to compare it with (in a cluster the target is chosen at run time): give the template a path instead".into(),
            );
        }
        (_, Some(t)) => t,
    };
    let (u, t): (http::Uri, http::Uri) = match (url.parse(), target.parse()) {
        (Ok(u), Ok(t)) => (u, t),
        _ => return Err(format!("`{url}` is not a URL")),
    };
    if u.scheme() != t.scheme() || u.authority() != t.authority() {
        return Err(format!(
            "`{url}` is not on the target {target}: every template of a mix goes to the target's scheme, host and port (give a path)"
        ));
    }
    Ok(u.path_and_query().map_or("/", |pq| pq.as_str()).to_string())
}

/// The shared headers with the template's own (which win by name).
fn headers(
    cx: &Context<'_>,
    key: &str,
    own: Option<&Spanned<Node>>,
    p: &mut Problems<'_>,
) -> Vec<(String, String)> {
    let mut mine: Vec<(String, String)> = Vec::new();
    if let Some(h) = own {
        let k = format!("{key}.headers");
        let items: Vec<String> = match &h.value {
            Node::Map(entries) => entries
                .iter()
                .map(|(name, v)| format!("{name}: {}", v.value.text().unwrap_or_default()))
                .collect(),
            Node::Seq(list) => list.iter().filter_map(|v| v.value.text()).collect(),
            other => {
                let at = place(p, &k, h);
                p.push(
                    at,
                    format!(
                        "expected headers as a map or a list of `Name: value`, got {}",
                        other.kind()
                    ),
                );
                Vec::new()
            }
        };
        let at = place(p, &k, h);
        for item in items {
            if let Some((n, v)) = p.check(&at, parse::header(&item)) {
                mine.push((n.to_string(), v.to_str().unwrap_or_default().to_string()));
            }
        }
    }
    let mut out: Vec<(String, String)> = cx
        .base
        .shape
        .headers
        .iter()
        .filter(|(n, _)| !mine.iter().any(|(m, _)| m.eq_ignore_ascii_case(n)))
        .cloned()
        .collect();
    out.extend(mine);
    out
}

/// `body` or `body_file` (relative to the scenario file).
fn body(key: &str, r: &Raw<'_>, p: &mut Problems<'_>) -> (Bytes, Option<PathBuf>) {
    match (r.body, r.body_file) {
        (Some(_), Some(f)) => {
            let at = place(p, &format!("{key}.body_file"), f);
            p.push(at, "give either body or body_file, not both");
            (Bytes::new(), None)
        }
        (Some(b), None) => {
            let text = scalar(p, &format!("{key}.body"), b, "the body as text");
            (Bytes::from(text.unwrap_or_default()), None)
        }
        (None, Some(f)) => {
            let k = format!("{key}.body_file");
            let Some(name) = scalar(p, &k, f, "a file name") else {
                return (Bytes::new(), None);
            };
            let path = match p.scenario() {
                Some(s) => s.resolve(&name),
                None => PathBuf::from(&name),
            };
            match std::fs::read(&path) {
                Ok(b) => (Bytes::from(b), Some(path)),
                Err(e) => {
                    let at = place(p, &k, f);
                    p.push(at, format!("cannot read {}: {e}", path.display()));
                    (Bytes::new(), None)
                }
            }
        }
        (None, None) => (Bytes::new(), None),
    }
}

/// Template names must be distinct: thresholds and reports refer to them. Read from the
/// items themselves, so a duplicate is reported even when either template has other problems.
fn distinct_names(items: &[Spanned<Node>], p: &mut Problems<'_>) {
    for (i, item) in items.iter().enumerate() {
        let Some(name) = name_of(item) else { continue };
        if items[..i].iter().any(|o| name_of(o) == Some(name)) {
            let at = p.file_place(&format!("requests[{i}].name"), item.referenced.line());
            p.push(
                at,
                format!("two templates are named `{name}`: names must be distinct"),
            );
        }
    }
}

fn name_of(n: &Spanned<Node>) -> Option<&str> {
    let Node::Map(entries) = &n.value else {
        return None;
    };
    entries.iter().find_map(|(k, v)| match (&**k, &v.value) {
        ("name", Node::Str(s)) => Some(s.trim()),
        _ => None,
    })
}
