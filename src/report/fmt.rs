//! Formatting shared by the renderers: durations, instants on the run axis, counts, names of
//! enum values as reports spell them, word wrapping and markup escaping. Formatting only: nothing here adds up
//! or decides anything. Counts and microsecond durations are spelled by `model::numbers`, as
//! the gate spells them in the verdict it writes (the gate cannot import the reports).

use crate::analysis::{Analysis, AttributionCheck, AttributionMethod};
use crate::model::clock::At;
use crate::model::event::Revision;
use crate::model::finding::{Evidence, Severity};
use crate::model::outcome::OutcomeClass;
use crate::model::result::ZeroDropCheck;

pub use crate::model::numbers::{fmt_us, requests};

/// How late the sends left their due instants, for a summary line: `sends 0.44ms late at p99`,
/// after `--send-window 2.00ms: ` when the user chose the window. None for the closed loop (no
/// schedule to be late for), WebSocket runs (sessions report their own figures) and runs that
/// sent nothing. Latency is measured from the due instant, so this says how much of it was the
/// generator's own wait.
pub fn send_timing(r: &crate::result::RunResult) -> Option<String> {
    let closed_loop = r.plan["traffic"]["pattern"]["kind"].as_str() == Some("max");
    let o = &r.recorded.overall;
    if closed_loop || !r.recorded.sessions.is_empty() || o.counts.total() == 0 {
        return None;
    }
    let late = format!("sends {} late at p99", fmt_us(o.send_lateness.p99_us));
    Some(match r.plan["traffic"]["send_window"].as_f64() {
        Some(w) => format!("--send-window {}: {late}", fmt_us((w * 1e6).round() as u64)),
        None => late,
    })
}

/// An instant on the run axis as seconds since the run's start ("12.3s").
pub fn at(a: At) -> String {
    format!("{:.1}s", a.as_secs_f64())
}

/// An optional instant, "-" when unknown.
pub fn opt_at(a: Option<At>) -> String {
    a.map_or_else(|| "-".to_string(), at)
}

/// Seconds, for lag figures ("1.35s").
pub fn secs(d: Option<std::time::Duration>) -> String {
    d.map_or_else(|| "-".to_string(), |d| format!("{:.2}s", d.as_secs_f64()))
}

pub use crate::model::numbers::thousands as count;

/// The exact HTTP statuses counted under `class` ("503 ×12, 502 ×3"); empty for classes that
/// are not an HTTP error class.
pub fn class_statuses(span: &crate::record::SpanStats, class: OutcomeClass) -> String {
    span.statuses
        .iter()
        .filter(|(code, _)| {
            matches!(
                (class, **code / 100),
                (OutcomeClass::Http4xx, 4) | (OutcomeClass::Http5xx, 5)
            )
        })
        .map(|(code, k)| format!("{code} ×{}", count(*k)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn revision(r: Revision) -> &'static str {
    match r {
        Revision::Old => "old",
        Revision::New => "new",
        Revision::Unknown => "?",
    }
}

/// A pod's revision with its name when known ("new v2", "old 7d9f8c6b5").
pub fn pod_revision(p: &crate::analysis::PodReport) -> String {
    match &p.revision_name {
        Some(n) => format!("{} {n}", revision(p.revision)),
        None => revision(p.revision).to_string(),
    }
}

pub fn method(m: AttributionMethod) -> &'static str {
    match m {
        AttributionMethod::ProxyRoute => "proxy route",
        AttributionMethod::PeerAddress => "peer address",
        AttributionMethod::IdentityHeader => "identity header",
        AttributionMethod::ConnectionEnd => "connection end (inferred)",
        AttributionMethod::SoleCandidate => "sole candidate (inferred)",
        AttributionMethod::TimeWindow => "timing only",
    }
}

/// How the logged failures were tied to pods, in words, when any was: most reports attribute
/// exactly, and where they do not the reader must know the pod was inferred, not observed.
pub fn attribution_summary(a: &Analysis) -> Option<String> {
    let mut by: std::collections::BTreeMap<AttributionMethod, u64> = Default::default();
    for x in &a.attributions {
        *by.entry(x.method).or_default() += 1;
    }
    if by.is_empty() || by.keys().all(|m| m.is_exact()) {
        return None;
    }
    let header = a.pod_header.as_ref().map(|h| {
        format!(
            " (`{}`{})",
            h.name,
            if h.discovered {
                ", which zerodrop found naming the pods before the load"
            } else {
                ""
            }
        )
    });
    let mut parts: Vec<String> = by
        .iter()
        .map(|(m, n)| match m {
            AttributionMethod::IdentityHeader => format!(
                "{} by {}{}",
                count(*n),
                method(*m),
                header.as_deref().unwrap_or_default()
            ),
            _ => format!("{} by {}", count(*n), method(*m)),
        })
        .collect();
    // A header was read but tied nothing (no failure came on a connection it had named): say
    // so, or the reader would not know the app names its pods.
    if let Some(h) = header
        .as_deref()
        .filter(|_| !by.contains_key(&AttributionMethod::IdentityHeader))
    {
        parts.push(format!(
            "none by {}{h}",
            method(AttributionMethod::IdentityHeader)
        ));
    }
    let inferred = by
        .keys()
        .any(|m| !m.is_exact() && *m != AttributionMethod::IdentityHeader);
    Some(format!(
        "failures tied to pods: {}{}",
        parts.join(", "),
        if inferred {
            " — inferred from what the path leaves (connection ends, timing), not observed; \
             a response header naming the pod (--pod-header) makes it exact"
        } else {
            ""
        }
    ))
}

/// The opaque mode's score of the inferred attribution against the proxy's route map.
pub fn attribution_check(c: &AttributionCheck) -> String {
    let top = match (c.top_finding, c.top_finding_exact) {
        (Some(a), Some(b)) if a == b => format!("top finding {a}, as with the route map"),
        (a, b) => format!(
            "top finding {} (with the route map: {})",
            a.map_or("none".into(), |f| f.to_string()),
            b.map_or("none".into(), |f| f.to_string())
        ),
    };
    format!(
        "attribution checked against the proxy's route map (--proxy opaque): {} of {} failures \
         right, {} wrong, {} unattributed; {} called near-certain, {} of them wrong; {top}",
        count(c.right),
        count(c.checkable),
        count(c.wrong),
        count(c.unattributed),
        count(c.near_certain),
        count(c.near_certain_wrong),
    )
}

pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

/// What the default gate measured, in words ("3 failed outside the baseline, 0 dropped by the
/// generator").
pub fn zero_drop(z: &ZeroDropCheck) -> String {
    let mut s = format!(
        "{} failed{}, {} dropped by the generator",
        count(z.failed_outside_baseline),
        if z.has_baseline {
            " outside the baseline"
        } else {
            ""
        },
        count(z.dropped_by_generator)
    );
    if z.baseline_failures > 0 {
        s.push_str(&format!(
            "; {} failed during the baseline (not the rollout's)",
            count(z.baseline_failures)
        ));
    }
    s
}

/// The gate's session line, in words.
pub fn session_check(c: &crate::model::result::SessionCheck) -> String {
    let mut s = format!(
        "{} of {} sessions ended without a goodbye outside the baseline ({} dropped: 1006)",
        count(c.failed_outside_baseline),
        count(c.sessions),
        count(c.dropped)
    );
    if c.baseline_failures > 0 {
        s.push_str(&format!(
            "; {} during the baseline (not the rollout's)",
            count(c.baseline_failures)
        ));
    }
    s
}

/// A finding's evidence as short facts: its window, its pods, and its classes with their counts.
/// Each renderer puts its own count of failures before them.
pub fn evidence_facts(ev: &Evidence) -> Vec<String> {
    let mut facts = Vec::new();
    if let Some((from, to)) = ev.window {
        facts.push(format!("{}–{}", at(from), at(to)));
    }
    if !ev.pods.is_empty() {
        facts.push(format!("pods {}", ev.pods.join(", ")));
    }
    if !ev.classes.is_empty() {
        let classes: Vec<String> = ev.classes.iter().map(|(c, n)| format!("{n} {c}")).collect();
        facts.push(classes.join(", "));
    }
    facts
}

/// The classes worth listing: everything but `ok`, in taxonomy order.
pub fn failure_classes() -> impl Iterator<Item = OutcomeClass> {
    OutcomeClass::ALL
        .into_iter()
        .filter(|c| *c != OutcomeClass::Ok)
}

/// Wraps `text` to lines of at most `width` characters (a longer word gets a line of its own),
/// the first line prefixed by `first`, the rest by `rest`.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut prefix_len = first.chars().count();
    let mut empty = true;
    for word in text.split_whitespace() {
        let len = line.chars().count();
        let wlen = word.chars().count();
        if !empty && len + 1 + wlen > width {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            prefix_len = rest.chars().count();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    if !empty || line.chars().count() > prefix_len || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `s` cut to `max` characters, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `s` cut to `max` characters in the middle, keeping both ends: pod names differ at their end
/// (`web-7d9f8c6b54-x2x4q`), so clipping there would make them all look the same.
pub fn clip_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(1);
    let head = keep / 2;
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// `s` escaped for markup (HTML or XML): `&`, `<` and `>` always, each character `extra` names
/// by its entity, and any other character kept where `keep` allows it, dropped otherwise.
pub(crate) fn escape(s: &str, extra: &[(char, &str)], keep: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => match extra.iter().find(|(k, _)| *k == c) {
                Some((_, entity)) => out.push_str(entity),
                None if keep(c) => out.push(c),
                None => {}
            },
        }
    }
    out
}

/// Failed checks by name ("reads fullname ×105, status ×2"); `—` when none failed.
pub fn checks_failed<'a>(failed: impl IntoIterator<Item = (&'a str, u64)>) -> String {
    let parts: Vec<String> = failed
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} ×{}", count(n)))
        .collect();
    if parts.is_empty() {
        "—".to_string()
    } else {
        parts.join(", ")
    }
}

/// A template's failed checks over a span, by its checks' names.
pub fn template_checks_failed(
    t: &crate::record::TemplateStats,
    span: &crate::record::TemplateSpan,
) -> String {
    checks_failed(
        t.info
            .checks
            .iter()
            .zip(&span.checks_failed)
            .map(|(c, n)| (c.name.as_str(), *n)),
    )
}

/// A latency comparison in words: "new higher by 58ms (95 % interval 57ms to 59ms, p < 0.001,
/// Mann–Whitney over 580 old and 1,160 new)".
pub fn comparison(c: &crate::analysis::versions::LatencyComparison) -> String {
    use crate::analysis::versions::Shift;
    let signed = |us: f64| {
        let v = fmt_us(us.abs().round() as u64);
        if us < 0.0 { format!("-{v}") } else { v }
    };
    let verdict = match c.shift {
        Shift::Higher => format!("new higher by {}", signed(c.shift_us)),
        Shift::Lower => format!("new lower by {}", signed(-c.shift_us)),
        Shift::Same => "no meaningful shift".to_string(),
    };
    format!(
        "{verdict} (shift {}, 95 % interval {} to {}, {}; Mann–Whitney over {} old and {} new)",
        signed(c.shift_us),
        signed(c.ci_low_us),
        signed(c.ci_high_us),
        crate::model::numbers::p_value(c.p_value),
        count(c.old_count),
        count(c.new_count)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_line_within_the_width_and_indents_the_rest() {
        let text = "handle SIGTERM: stop accepting, finish in-flight requests, then exit cleanly";
        let lines = wrap(text, 30, "fix: ", "     ");
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        assert!(lines[0].starts_with("fix: handle"));
        assert!(lines[1].starts_with("     "));
        assert_eq!(
            lines
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            format!("fix: {text}")
        );
    }

    #[test]
    fn middle_clipping_keeps_both_ends() {
        assert_eq!(clip_middle("web-7d9f8c6b54-x2x4q", 11), "web-7…x2x4q");
        assert_eq!(clip_middle("web", 11), "web");
    }

    #[test]
    fn clipping_marks_the_cut() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }

    #[test]
    fn a_discovered_pod_header_is_named_even_when_it_tied_no_failure() {
        let a = Analysis {
            attributions: vec![crate::analysis::Attribution {
                seq: 1,
                pod: "web-1".into(),
                method: AttributionMethod::SoleCandidate,
                confidence: 0.9,
            }],
            pod_header: Some(crate::analysis::PodHeader {
                name: "x-served-by".into(),
                discovered: true,
            }),
            ..Analysis::default()
        };
        let line = attribution_summary(&a).expect("an inferred failure is summarised");
        assert!(line.contains("1 by sole candidate (inferred)"), "{line}");
        assert!(
            line.contains("none by identity header (`x-served-by`, which zerodrop found"),
            "{line}"
        );
    }
}
