//! The page's sections on a mix of request templates: each template over the run, and the
//! per-revision view — old and new side by side per template in the window where both served,
//! with the latency comparison and each revision's pods.

use std::fmt::Write as _;

use super::esc;
use crate::report::fmt;
use crate::result::RunResult;

/// A table cell that is red when `text` reports something failed.
fn cell(text: &str, failed: bool) -> String {
    format!(
        r#"<td class="{}">{}</td>"#,
        if failed { "wrap bad" } else { "wrap" },
        esc(text)
    )
}

/// Per template: weight, requests, ok, failed, failed checks, p50, p99.
pub(super) fn templates(h: &mut String, r: &RunResult) {
    let templates = &r.recorded.templates;
    if templates.is_empty() {
        return;
    }
    h.push_str(
        r#"<h2>Templates</h2><div class="scroll"><table><tr><th>template</th><th>request</th><th>weight</th><th>requests</th><th>ok</th><th>failed</th><th>failed checks</th><th>checks</th><th>p50</th><th>p99</th></tr>"#,
    );
    for t in templates {
        let s = &t.overall;
        let failed_checks = fmt::template_checks_failed(t, s);
        let checks: Vec<String> = t
            .info
            .checks
            .iter()
            .map(|c| {
                let warn = if c.warn { " (warn)" } else { "" };
                if c.name == c.description {
                    format!("{}{warn}", c.name)
                } else {
                    format!("{}: {}{warn}", c.name, c.description)
                }
            })
            .collect();
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{} {}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="{}">{}</td>{}{}<td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(&t.info.name),
            esc(&t.info.method),
            esc(&t.info.path),
            t.info.weight,
            fmt::count(s.counts.total()),
            fmt::count(s.counts.ok()),
            if s.counts.failed() > 0 { "n bad" } else { "n" },
            fmt::count(s.counts.failed()),
            cell(&failed_checks, failed_checks != "—"),
            cell(&checks.join("; "), false),
            fmt::fmt_us(s.latency.p50_us),
            fmt::fmt_us(s.latency.p99_us),
        );
    }
    h.push_str("</table></div>");
}

/// Old and new side by side, per template, in the window where both served.
pub(super) fn versions(h: &mut String, r: &RunResult) {
    let Some(v) = &r.analysis.versions else {
        return;
    };
    let window = match v.window {
        Some((a, b)) => format!(
            "{} to {}, the seconds in which both served",
            fmt::at(a),
            fmt::at(b)
        ),
        None => "the revisions never served together".to_string(),
    };
    let _ = write!(
        h,
        r#"<h2>Old ({}) vs new ({})</h2><p class="meta">{}; revisions told by {}.</p><div class="scroll"><table><tr><th>template</th><th>revision</th><th>requests</th><th>ok</th><th>failed</th><th>failed checks</th><th>p50</th><th>p99</th><th>latency, new against old</th></tr>"#,
        esc(&v.old),
        esc(&v.new),
        esc(&window),
        esc(&v.source)
    );
    for t in &v.templates {
        let comparison = match (&t.latency, &t.note) {
            (Some(c), _) => fmt::comparison(c),
            (None, Some(n)) => n.clone(),
            (None, None) => String::new(),
        };
        for (i, (side, s)) in [("old", &t.old), ("new", &t.new)].into_iter().enumerate() {
            let checks = fmt::checks_failed(s.checks_failed.iter().map(|(k, n)| (k.as_str(), *n)));
            let opt = |us: Option<u64>| us.map_or("—".to_string(), fmt::fmt_us);
            let first = if i == 0 {
                format!(r#"<td rowspan="2">{}</td>"#, esc(&t.template))
            } else {
                String::new()
            };
            let last = if i == 0 {
                format!(r#"<td rowspan="2" class="wrap">{}</td>"#, esc(&comparison))
            } else {
                String::new()
            };
            let _ = write!(
                h,
                r#"<tr>{first}<td>{} ({side})</td><td class="n">{}</td><td class="n">{}</td><td class="{}">{}</td>{}<td class="n">{}</td><td class="n">{}</td>{last}</tr>"#,
                esc(&s.revision),
                fmt::count(s.requests),
                fmt::count(s.ok),
                if s.failed > 0 { "n bad" } else { "n" },
                fmt::count(s.failed),
                cell(&checks, checks != "—"),
                opt(s.p50_us),
                opt(s.p99_us),
            );
        }
    }
    h.push_str("</table></div>");
    let pods: Vec<String> = v
        .revisions
        .iter()
        .filter(|r| !r.pods.is_empty())
        .map(|r| {
            format!(
                "{} ({}): {}",
                r.label,
                fmt::revision(r.side),
                r.pods.join(", ")
            )
        })
        .collect();
    if !pods.is_empty() {
        let _ = write!(
            h,
            r#"<p class="meta">Pods per revision — {}.</p>"#,
            esc(&pods.join("; "))
        );
    }
}
