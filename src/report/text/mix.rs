//! The summary's sections on a mix of request templates: each template's figures and failed
//! checks over the run, then — when the run told revisions apart — old and new side by side,
//! per template, in the window where both served.

use super::{Align, Painter, Style, nonzero, note, plain, table};
use crate::report::fmt;
use crate::result::RunResult;

/// Per template: requests, ok, failed, failed checks, p50 and p99.
pub(super) fn templates(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let templates = &r.recorded.templates;
    if templates.is_empty() {
        return;
    }
    let weights: Vec<String> = templates
        .iter()
        .map(|t| format!("{}", t.info.weight))
        .collect();
    out.push(p.paint(
        &format!("Templates (weights {})", weights.join(":")),
        Style::Bold,
    ));
    let rows: Vec<Vec<(String, Style)>> = templates
        .iter()
        .map(|t| {
            let s = &t.overall;
            let checks = fmt::template_checks_failed(t, s);
            let bad = if checks == "—" {
                Style::Plain
            } else {
                Style::Bad
            };
            vec![
                plain(format!("{} {}", t.info.method, t.info.name)),
                plain(fmt::count(s.counts.total())),
                plain(fmt::count(s.counts.ok())),
                nonzero(s.counts.failed(), Style::Bad),
                (checks, bad),
                plain(fmt::fmt_us(s.latency.p50_us)),
                plain(fmt::fmt_us(s.latency.p99_us)),
            ]
        })
        .collect();
    out.extend(table(
        p,
        "  ",
        &[
            ("template", Align::Left),
            ("requests", Align::Right),
            ("ok", Align::Right),
            ("failed", Align::Right),
            ("failed checks", Align::Left),
            ("p50", Align::Right),
            ("p99", Align::Right),
        ],
        &rows,
    ));
    out.push(String::new());
}

/// Old and new side by side in the window where both served.
pub(super) fn versions(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let Some(v) = &r.analysis.versions else {
        return;
    };
    let window = match v.window {
        Some((a, b)) => format!("{}–{}, while both served", fmt::at(a), fmt::at(b)),
        None => "never served together".to_string(),
    };
    out.push(p.paint(
        &format!("Old ({}) vs new ({}): {window}", v.old, v.new),
        Style::Bold,
    ));
    let mut rows = Vec::new();
    for t in &v.templates {
        for (i, (side, s)) in [("old", &t.old), ("new", &t.new)].into_iter().enumerate() {
            let checks = fmt::checks_failed(s.checks_failed.iter().map(|(k, n)| (k.as_str(), *n)));
            let bad = if checks == "—" {
                Style::Plain
            } else {
                Style::Bad
            };
            let opt = |us: Option<u64>| us.map_or("—".to_string(), fmt::fmt_us);
            rows.push(vec![
                plain(if i == 0 {
                    t.template.clone()
                } else {
                    String::new()
                }),
                plain(format!("{} ({side})", s.revision)),
                plain(fmt::count(s.requests)),
                nonzero(s.failed, Style::Bad),
                (checks, bad),
                plain(opt(s.p50_us)),
                plain(opt(s.p99_us)),
            ]);
        }
    }
    out.extend(table(
        p,
        "  ",
        &[
            ("template", Align::Left),
            ("revision", Align::Left),
            ("requests", Align::Right),
            ("failed", Align::Right),
            ("failed checks", Align::Left),
            ("p50", Align::Right),
            ("p99", Align::Right),
        ],
        &rows,
    ));
    for t in &v.templates {
        let text = match (&t.latency, &t.note) {
            (Some(c), _) => format!("{}: latency {}", t.template, fmt::comparison(c)),
            (None, Some(n)) => format!("{}: {n}", t.template),
            (None, None) => continue,
        };
        note(p, out, &text, Style::Dim);
    }
    note(
        p,
        out,
        &format!("revisions told by {}", v.source),
        Style::Dim,
    );
    out.push(String::new());
}
