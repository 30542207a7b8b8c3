//! The terminal summary: the verdict in words first, then phases, outcomes, the templates of a
//! mix and old versus new (`mix`), pods, findings with their fixes, and thresholds.
//!
//! [`render`] is a pure function of the result and a colour flag; the caller decides colour
//! ([`super::use_color`]: a terminal and no `NO_COLOR`). Every line fits 100 columns. It formats
//! what the analysis and the gate decided; it never re-decides or adds anything up.

mod pod_load;

use std::fmt::Write as _;

use crate::model::finding::{Finding, Severity};
use crate::result::RunResult;

use super::fmt;
use super::redact::Redactor;

mod mix;
mod sessions;

/// The widest line the summary prints.
pub const WIDTH: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Good,
    Bad,
    Warn,
    Dim,
    Bold,
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, s: &str, style: Style) -> String {
        if !self.color || style == Style::Plain || s.is_empty() {
            return s.to_string();
        }
        let code = match style {
            Style::Plain => "0",
            Style::Good => "1;32",
            Style::Bad => "1;31",
            Style::Warn => "33",
            Style::Dim => "2",
            Style::Bold => "1",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Renders rows under headers, columns separated by two spaces; the first column is clipped
/// so the table fits the width. Styles apply after padding so alignment ignores escape codes.
fn table(
    p: &Painter,
    indent: &str,
    headers: &[(&str, Align)],
    rows: &[Vec<(String, Style)>],
) -> Vec<String> {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (i, (cell, _)) in row.iter().enumerate().take(n) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let total: usize = indent.len() + widths.iter().sum::<usize>() + 2 * (n.saturating_sub(1));
    if total > WIDTH {
        let excess = total - WIDTH;
        if let Some(first) = widths.first_mut() {
            *first = first.saturating_sub(excess).max(8);
        }
    }
    let line = |cells: Vec<(String, Style)>| {
        let mut out = indent.to_string();
        for (i, (text, style)) in cells.into_iter().enumerate().take(n) {
            // Names (first column) differ at their end: keep both ends.
            let text = if i == 0 {
                fmt::clip_middle(&text, widths[i])
            } else {
                fmt::clip(&text, widths[i])
            };
            let pad = widths[i].saturating_sub(text.chars().count());
            if i > 0 {
                out.push_str("  ");
            }
            let padded = match headers[i].1 {
                Align::Left if i + 1 == n => text.clone(),
                Align::Left => format!("{text}{}", " ".repeat(pad)),
                Align::Right => format!("{}{text}", " ".repeat(pad)),
            };
            out.push_str(&p.paint(&padded, style));
        }
        out.trim_end().to_string()
    };
    let mut out = vec![line(
        headers
            .iter()
            .map(|(h, _)| (h.to_string(), Style::Dim))
            .collect(),
    )];
    for row in rows {
        out.push(line(row.clone()));
    }
    out
}

/// An indented remark under a section, wrapped to the width.
fn note(p: &Painter, out: &mut Vec<String>, text: &str, style: Style) {
    for l in fmt::wrap(text, WIDTH, "  ", "    ") {
        out.push(p.paint(&l, style));
    }
}

fn plain(s: impl Into<String>) -> (String, Style) {
    (s.into(), Style::Plain)
}

fn nonzero(n: u64, style: Style) -> (String, Style) {
    (fmt::count(n), if n > 0 { style } else { Style::Plain })
}

/// The summary printed after a run or by `zerodrop report`, with the always-masked headers
/// masked.
pub fn render(result: &RunResult, color: bool) -> String {
    render_with(result, color, &Redactor::default())
}

/// [`render`], masking the headers `redactor` names too.
pub fn render_with(result: &RunResult, color: bool, redactor: &Redactor) -> String {
    let p = Painter { color };
    let mut out = Vec::new();
    verdict(&p, result, &mut out);
    context(&p, result, &mut out);
    phases(&p, result, &mut out);
    outcomes(&p, result, &mut out);
    mix::templates(&p, result, &mut out);
    mix::versions(&p, result, &mut out);
    sessions::render(&p, result, &mut out);
    pods(&p, result, &mut out);
    findings(&p, result, &mut out);
    thresholds(&p, result, &mut out);
    let mut s = String::new();
    for l in out {
        let _ = writeln!(s, "{l}");
    }
    // Descriptions and reasons come from user input (a rollout command, a target URL): mask
    // anything that looks like a secret wherever it appears.
    redactor.text(&s)
}

fn verdict(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let v = &r.verdict;
    let (word, style) = if v.passed {
        ("PASS", Style::Good)
    } else {
        ("FAIL", Style::Bad)
    };
    let mut reasons = v.reasons.iter();
    let first = reasons
        .next()
        .map_or_else(|| "no reason recorded".to_string(), String::clone);
    let head = format!("{word}  ");
    let lines = fmt::wrap(&first, WIDTH, &head, "      ");
    for (i, l) in lines.into_iter().enumerate() {
        if i == 0 {
            out.push(format!(
                "{}{}",
                p.paint(word, style),
                p.paint(&l[word.len()..], Style::Bold)
            ));
        } else {
            out.push(l);
        }
    }
    for reason in reasons {
        out.extend(fmt::wrap(reason, WIDTH, "      ", "        "));
    }
    if r.interrupted {
        out.push(p.paint(
            "      partial: the run was interrupted; figures cover only what ran",
            Style::Warn,
        ));
    }
    out.push(String::new());
}

fn context(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let mut parts = vec![format!("zerodrop {}", command_name(r))];
    if let Some(ro) = &r.rollout {
        parts.push(ro.description.clone());
        parts.push(format!("rollout {}", ro.outcome));
    }
    let o = &r.recorded.overall;
    parts.push(format!(
        "{} {} over {}",
        fmt::count(o.counts.total()),
        sessions::unit(r),
        fmt::secs(Some(r.load.end.saturating_sub(r.load.start)))
    ));
    if r.workers > 1 {
        parts.push(format!("{} generators", r.workers));
    }
    parts.extend(fmt::send_timing(r));
    parts.push(format!("started {}", r.started_at));
    // Wrap between parts, not inside one, so a timestamp is never split from its label.
    let mut line = String::new();
    for part in parts {
        if part.chars().count() > WIDTH {
            // Only a part too long for any line is broken inside (a long command line).
            if !line.is_empty() {
                out.push(p.paint(&line, Style::Dim));
                line.clear();
            }
            let mut wrapped = fmt::wrap(&part, WIDTH, "", "  ");
            line = wrapped.pop().unwrap_or_default();
            for l in wrapped {
                out.push(p.paint(&l, Style::Dim));
            }
            continue;
        }
        if !line.is_empty() && line.chars().count() + 3 + part.chars().count() > WIDTH {
            out.push(p.paint(&line, Style::Dim));
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(" · ");
        }
        line.push_str(&part);
    }
    out.push(p.paint(&line, Style::Dim));
    // What the run did not test (`--via endpoints`: the Service's proxy path).
    for n in &r.analysis.notes {
        note(p, out, &format!("note: {n}"), Style::Warn);
    }
    out.push(String::new());
}

fn command_name(r: &RunResult) -> &'static str {
    use crate::model::result::Command;
    match r.command {
        Command::Load => "load",
        Command::Local => "local",
        Command::Run => "run",
        Command::Merge => "merge",
    }
}

fn phases(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let headers = [
        ("phase", Align::Left),
        ("from", Align::Right),
        ("to", Align::Right),
        (sessions::unit(r), Align::Right),
        ("failed", Align::Right),
        ("dropped", Align::Right),
        ("p50", Align::Right),
        ("p99", Align::Right),
        ("max", Align::Right),
    ];
    let mut rows = Vec::new();
    if r.analysis.phases.is_empty() {
        for s in &r.recorded.phases {
            rows.push(phase_row(&s.name, s.start, s.end, &s.counts, &s.latency));
        }
    } else {
        for ph in &r.analysis.phases {
            rows.push(vec![
                plain(ph.name.clone()),
                plain(fmt::at(ph.start)),
                plain(fmt::at(ph.end)),
                plain(fmt::count(ph.requests)),
                nonzero(ph.failed, Style::Bad),
                nonzero(ph.dropped_by_generator, Style::Bad),
                plain(fmt::fmt_us(ph.latency.p50_us)),
                plain(fmt::fmt_us(ph.latency.p99_us)),
                plain(fmt::fmt_us(ph.latency.max_us)),
            ]);
        }
    }
    let o = &r.recorded.overall;
    let mut total = phase_row("whole run", o.start, o.end, &o.counts, &o.latency);
    if let Some(name) = total.first_mut() {
        name.1 = Style::Bold;
    }
    rows.push(total);
    out.extend(table(p, "", &headers, &rows));
    out.push(String::new());
}

fn phase_row(
    name: &str,
    start: crate::model::clock::At,
    end: crate::model::clock::At,
    c: &crate::record::Counts,
    l: &crate::record::LatencySummary,
) -> Vec<(String, Style)> {
    use crate::model::outcome::OutcomeClass;
    vec![
        plain(name),
        plain(fmt::at(start)),
        plain(fmt::at(end)),
        plain(fmt::count(c.total())),
        nonzero(c.failed(), Style::Bad),
        nonzero(c.get(OutcomeClass::DroppedByGenerator), Style::Bad),
        plain(fmt::fmt_us(l.p50_us)),
        plain(fmt::fmt_us(l.p99_us)),
        plain(fmt::fmt_us(l.max_us)),
    ]
}

fn outcomes(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    use crate::model::outcome::OutcomeClass;
    let o = &r.recorded.overall;
    out.push(p.paint("Outcomes", Style::Bold));
    let mut rows = Vec::new();
    for (class, n) in o.counts.iter().filter(|(_, n)| *n > 0) {
        let statuses = fmt::class_statuses(o, class);
        let style = if class == OutcomeClass::Ok {
            Style::Good
        } else {
            Style::Bad
        };
        rows.push(vec![
            (class.name().to_string(), style),
            plain(fmt::count(n)),
            plain(statuses),
        ]);
    }
    if rows.is_empty() {
        out.push(format!("  no {} were due", sessions::unit(r)));
    } else {
        out.extend(table(
            p,
            "  ",
            &[
                ("class", Align::Left),
                (sessions::unit(r), Align::Right),
                ("statuses", Align::Left),
            ],
            &rows,
        ));
    }
    if r.recorded.failures_not_kept > 0 {
        note(
            p,
            out,
            &format!(
                "{} failures beyond the failure log's limit were counted but not kept in detail",
                fmt::count(r.recorded.failures_not_kept)
            ),
            Style::Dim,
        );
    }
    out.push(String::new());
}

fn pods(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let a = &r.analysis;
    if a.pods.is_empty() {
        return;
    }
    out.push(p.paint("Pods", Style::Bold));
    let rows: Vec<Vec<(String, Style)>> = a
        .pods
        .iter()
        .map(|pod| {
            vec![
                plain(pod.name.clone()),
                plain(fmt::pod_revision(pod)),
                plain(fmt::opt_at(pod.created)),
                plain(fmt::opt_at(pod.ready)),
                plain(fmt::opt_at(pod.terminating)),
                plain(fmt::opt_at(pod.endpoint_removed)),
                plain(fmt::opt_at(pod.exited)),
                nonzero(pod.failures, Style::Bad),
                nonzero(pod.possible_failures, Style::Warn),
            ]
        })
        .collect();
    out.extend(table(
        p,
        "  ",
        &[
            ("pod", Align::Left),
            ("rev", Align::Left),
            ("created", Align::Right),
            ("ready", Align::Right),
            ("terminating", Align::Right),
            ("ep removed", Align::Right),
            ("exited", Align::Right),
            ("failures", Align::Right),
            ("possible", Align::Right),
        ],
        &rows,
    ));
    pod_notes(p, r, out);
    out.push(String::new());
}

/// What the pod table does not say: de-registration lag, unexplained failures, how failures
/// were tied to pods, and watch gaps.
fn pod_notes(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let a = &r.analysis;
    let lag = &a.deregistration;
    if lag.median_to_not_ready.is_some() || lag.median_to_removed.is_some() {
        note(
            p,
            out,
            &format!(
                "endpoint de-registration lag after termination began: not ready median {} \
                 (max {}), removed median {} (max {})",
                fmt::secs(lag.median_to_not_ready),
                fmt::secs(lag.max_to_not_ready),
                fmt::secs(lag.median_to_removed),
                fmt::secs(lag.max_to_removed),
            ),
            Style::Plain,
        );
    }
    if let Some(line) = pod_load::shares(a) {
        note(p, out, &line, Style::Plain);
    }
    if a.unexplained_failures > 0 {
        note(
            p,
            out,
            &format!(
                "{} failures match no finding (see the failure log in the JSON or HTML report)",
                fmt::count(a.unexplained_failures)
            ),
            Style::Warn,
        );
    }
    if let Some(line) = fmt::attribution_summary(a) {
        note(p, out, &line, Style::Plain);
    }
    if let Some(c) = &a.attribution_check {
        note(p, out, &fmt::attribution_check(c), Style::Plain);
    }
    for (resource, from, to) in r.timeline.gaps() {
        note(
            p,
            out,
            &format!(
                "the {resource} watch was down from {} to {}: events in between may be missing",
                fmt::at(from),
                fmt::at(to)
            ),
            Style::Warn,
        );
    }
}

fn findings(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let fs = &r.analysis.findings;
    if fs.is_empty() {
        return;
    }
    out.push(p.paint("Findings", Style::Bold));
    for f in fs {
        finding(p, f, out);
    }
}

fn finding(p: &Painter, f: &Finding, out: &mut Vec<String>) {
    let (mark, style) = match f.severity {
        Severity::Error => ("✗", Style::Bad),
        Severity::Warning => ("!", Style::Warn),
        Severity::Info => ("i", Style::Dim),
    };
    let head = format!("{} [{}] {}", f.id, fmt::severity(f.severity), f.title);
    let lines = fmt::wrap(&head, WIDTH, "  ", "      ");
    for (i, l) in lines.into_iter().enumerate() {
        if i == 0 {
            out.push(format!(
                "{} {}",
                p.paint(&format!("  {mark}"), style),
                &l[2..]
            ));
        } else {
            out.push(l);
        }
    }
    let ev = &f.evidence;
    let mut facts = Vec::new();
    if ev.failures > 0 {
        facts.push(format!("{} failures", fmt::count(ev.failures)));
    }
    facts.extend(fmt::evidence_facts(ev));
    if !facts.is_empty() {
        out.extend(fmt::wrap(
            &facts.join(" · "),
            WIDTH,
            "      evidence: ",
            "                ",
        ));
    }
    for d in &ev.details {
        out.extend(fmt::wrap(d, WIDTH, "      - ", "        "));
    }
    out.extend(fmt::wrap(&f.cause, WIDTH, "      cause: ", "             "));
    let fix = fmt::wrap(&f.fix, WIDTH, "      fix:   ", "             ");
    out.extend(fix.into_iter().map(|l| p.paint(&l, Style::Good)));
    if let Some(yaml) = &f.fix_yaml {
        // YAML cannot be re-wrapped; a shallow indent leaves its comments room.
        for l in yaml.lines() {
            out.push(fmt::clip(&format!("        {l}"), WIDTH));
        }
    }
    if !ev.examples.is_empty() {
        let seqs: Vec<String> = ev.examples.iter().map(|s| format!("#{s}")).collect();
        out.extend(
            fmt::wrap(
                &seqs.join(" "),
                WIDTH,
                "      examples in the failure log: ",
                "        ",
            )
            .into_iter()
            .map(|l| p.paint(&l, Style::Dim)),
        );
    }
    out.push(String::new());
}

fn thresholds(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    out.push(p.paint("Gate", Style::Bold));
    let mut checks = Vec::new();
    if let Some(z) = &r.verdict.zero_drop {
        checks.push((
            z.passed,
            format!("no dropped {}", sessions::unit(r)),
            fmt::zero_drop(z),
        ));
    }
    if let Some(c) = &r.verdict.sessions {
        checks.push((
            c.passed,
            "no session without a goodbye".to_string(),
            fmt::session_check(c),
        ));
    }
    for t in &r.thresholds {
        checks.push((t.passed, t.expression.clone(), t.actual.clone()));
    }
    if checks.is_empty() {
        out.push("  no gate was evaluated".to_string());
        return;
    }
    // Names are short; the measurement wraps under itself rather than being clipped.
    let name_width = checks
        .iter()
        .map(|(_, n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    for (passed, name, actual) in checks {
        let (mark, style) = if passed {
            ("✓", Style::Good)
        } else {
            ("✗", Style::Bad)
        };
        let name = fmt::clip(&name, name_width);
        let pad = " ".repeat(name_width - name.chars().count());
        let hang = " ".repeat(6 + name_width);
        let lines = fmt::wrap(&actual, WIDTH, &hang, &hang);
        for (i, l) in lines.into_iter().enumerate() {
            if i == 0 {
                out.push(format!(
                    "  {} {name}{pad}   {}",
                    p.paint(mark, style),
                    &l[hang.len()..]
                ));
            } else {
                out.push(l);
            }
        }
    }
}
