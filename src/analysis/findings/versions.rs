//! Findings of two versions live at once: a response check that passes on one revision and
//! fails on the other (a breaking change of the new version, or of the old one), and a new
//! revision slower than the old one in the window where both served.

use super::{Facts, Group, finding, pod_list, requests};
use crate::analysis::versions::{Breaking, LatencyComparison, Shift, TemplateVersions};
use crate::model::finding::{Evidence, Finding, FindingId, Severity};
use crate::model::numbers::{fmt_us, p_value, thousands};

/// How much of an example response a finding quotes.
const EXAMPLE_CHARS: usize = 300;

fn count_text(c: &crate::analysis::versions::breaking::Count, check: &str) -> String {
    match c.checked {
        Some(n) => format!(
            "{}: {} of {} checked responses failed `{check}`",
            c.label,
            thousands(c.failed),
            thousands(n)
        ),
        None => format!("{}: {} failed `{check}`", c.label, thousands(c.failed)),
    }
}

fn details(b: &Breaking) -> Vec<String> {
    vec![
        format!(
            "template {}, check `{}`{}",
            b.template_name,
            b.check_name,
            if b.warn { " (warn)" } else { "" }
        ),
        count_text(&b.pass, &b.check_name),
        count_text(&b.fail, &b.check_name),
        format!("counted {}", b.how),
    ]
}

/// The first failure of the group with an excerpt of its response, quoted and cut short.
fn example(g: &Group<'_>) -> Option<String> {
    let f = g
        .items
        .iter()
        .find_map(|(f, _)| f.excerpt.as_ref().map(|e| (f, e)))?;
    let text: String = f.1.chars().take(EXAMPLE_CHARS).collect();
    let cut = if f.1.chars().count() > EXAMPLE_CHARS {
        "…"
    } else {
        ""
    };
    Some(format!("example response (seq {}): {text}{cut}", f.0.seq))
}

/// One finding for every check that breaks on the side `id` names.
pub fn breaking_change(id: FindingId, g: &Group<'_>, facts: &Facts<'_>) -> Option<Finding> {
    let found: Vec<&Breaking> = facts
        .breaking
        .iter()
        .filter(|b| b.finding() == id)
        .collect();
    let first = *found.first()?;
    let mut ev = if g.items.is_empty() {
        Evidence::default()
    } else {
        g.evidence()
    };
    for b in &found {
        ev.details.extend(details(b));
    }
    if let Some(e) = example(g) {
        ev.details.push(e);
    }
    let (passing, failing) = (&first.pass.label, &first.fail.label);
    let more = match found.len() {
        1 => String::new(),
        n => format!(" (and {} more checks)", n - 1),
    };
    let severity = if found.iter().all(|b| b.warn) {
        Severity::Warning
    } else {
        Severity::Error
    };
    let (title, cause, fix) = if id == FindingId::BreakingChangeNewVersion {
        (
            format!(
                "check `{}` of {} passes on the old revision ({passing}) and fails on the new one ({failing}){more}",
                first.check_name, first.template_name
            ),
            "The new version changed what clients read (a renamed or removed field, a changed \
             status or header) while old clients — and old pods — are still live: every client \
             that has not been updated breaks as soon as a new pod answers it.",
            "Expand, then contract: ship the new field beside the old one (add, never rename or \
             remove), move clients to it, and remove the old one in a later release once no \
             client or pod reads it; or version the API (/v2) and keep /v1 until its clients \
             are gone. Roll this release back until then.",
        )
    } else {
        (
            format!(
                "check `{}` of {} passes on the new revision ({passing}) and fails on the old one ({failing}){more}",
                first.check_name, first.template_name
            ),
            "Requests that only the new version understands reached old pods during the \
             rollout: the writer (or a client) moved before every reader could handle it, or \
             the old version was contracted too early.",
            "Ship the reader before the writer: first a release that accepts both the old and \
             the new form, then — once every pod runs it — the one that sends the new form; \
             expand before contract, and keep new clients off the new form until the rollout \
             is done.",
        )
    };
    let pods_line = if ev.pods.is_empty() {
        String::new()
    } else {
        format!(" on {}", pod_list(&ev.pods))
    };
    ev.details.insert(
        0,
        format!("{} failed the check{pods_line}", requests(ev.failures)),
    );
    Some(finding(
        id,
        severity,
        title,
        ev,
        cause,
        fix.to_string(),
        None,
    ))
}

/// Whether `t`'s new revision is far slower than its old one: Mann–Whitney says higher (its
/// interval clear of a quarter of the shift, as Kayenta judges), the shift itself is at least
/// the analysis' minimum (a consistent sub-millisecond shift is not a slower release), and
/// the p99 is at least the analysis' ratio above the old one's.
fn slower(t: &TemplateVersions, facts: &Facts<'_>) -> Option<(f64, u64, u64)> {
    let c = t.latency.as_ref()?;
    let (o, n) = (t.old.p99_us?, t.new.p99_us?);
    let ratio = n as f64 / o.max(1) as f64;
    let input = facts.input;
    let shifted = c.shift_us >= input.version_min_increase.as_micros() as f64;
    (c.shift == Shift::Higher && shifted && ratio >= input.version_ratio).then_some((ratio, o, n))
}

fn comparison_text(c: &LatencyComparison) -> String {
    format!(
        "Mann–Whitney: new higher by {} (Hodges–Lehmann; 95 % interval {} to {}), {}, over {} old and {} new responses",
        fmt_us(c.shift_us.max(0.0).round() as u64),
        fmt_us(c.ci_low_us.max(0.0).round() as u64),
        fmt_us(c.ci_high_us.max(0.0).round() as u64),
        p_value(c.p_value),
        thousands(c.old_count),
        thousands(c.new_count)
    )
}

/// The new revision slower than the old one, template by template, in the window where both
/// served.
pub fn slower_new_version(facts: &Facts<'_>) -> Option<Finding> {
    let split = facts.split?;
    let slow: Vec<(&TemplateVersions, (f64, u64, u64))> = split
        .templates
        .iter()
        .filter_map(|t| slower(t, facts).map(|s| (t, s)))
        .collect();
    let (worst, (ratio, o, n)) = *slow.iter().max_by(|a, b| a.1.0.total_cmp(&b.1.0))?;
    let mut details = Vec::new();
    for (t, (r, o, n)) in &slow {
        details.push(format!(
            "template {}: new ({}) p99 {} against old ({}) p99 {}: {r:.1}×",
            t.template,
            split.new,
            fmt_us(*n),
            split.old,
            fmt_us(*o)
        ));
        if let Some(c) = &t.latency {
            details.push(comparison_text(c));
        }
    }
    details.push(format!("revisions told by {}", split.source));
    let ev = Evidence {
        window: split.window,
        details,
        ..Evidence::default()
    };
    Some(finding(
        FindingId::SlowerNewVersion,
        Severity::Error,
        format!(
            "the new revision ({}) is slower than the old one ({}) on {}: p99 {} against {} ({ratio:.1}×)",
            split.new,
            split.old,
            worst.template,
            fmt_us(n),
            fmt_us(o)
        ),
        ev,
        "Under the same load, in the same seconds, the new version answers the same requests \
         more slowly: the release itself is slower (a new query, a cold cache, a heavier \
         dependency), not the rollout.",
        "Look at the new release for the template's path (profile it, compare its queries); \
         warm it up before it takes traffic if it is a cold start; roll back until it is as \
         fast as the old one."
            .into(),
        None,
    ))
}
