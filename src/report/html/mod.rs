//! The HTML report (`--html FILE`): one self-contained page a CI artifact opens offline — the
//! verdict, the timeline chart (`chart`), the findings with their fixes, and the tables.
//!
//! Everything is inline (CSS, SVG; no script, no font, no image fetched), and a
//! Content-Security-Policy forbids any fetch, so the page renders the same without a network.
//! It formats what the analysis and the gate decided and never re-decides. Secrets are masked
//! before anything is written.

mod chart;
mod sessions;

use std::fmt::Write as _;

use crate::model::finding::Finding;
use crate::model::outcome::OutcomeClass;
use crate::result::RunResult;

use super::fmt;
use super::json;
use super::redact::Redactor;

mod mix;

/// Failures listed in the page's failure log; the JSON keeps them all.
const FAILURE_ROWS: usize = 200;

/// Text escaped for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    fmt::escape(s, &[('"', "&quot;"), ('\'', "&#39;")], |_| true)
}

const CSS: &str = r#"
:root { --pass: #1e7d32; --fail: #c62828; --warn: #b26a00; --ink: #1d2329; --dim: #5f6b76; --line: #dde3e8; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #fafbfc; }
main { max-width: 1240px; margin: 0 auto; padding: 16px 20px 40px; }
h1 { font-size: 15px; font-weight: 600; color: var(--dim); margin: 0 0 8px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
.verdict { display: flex; gap: 16px; align-items: flex-start; padding: 14px 16px; border-radius: 8px; border: 2px solid; background: #fff; }
.verdict.pass { border-color: var(--pass); } .verdict.fail { border-color: var(--fail); }
.badge { font-weight: 800; font-size: 26px; letter-spacing: 1px; padding: 2px 14px; border-radius: 6px; color: #fff; }
.pass .badge { background: var(--pass); } .fail .badge { background: var(--fail); }
.reasons { margin: 0; padding: 0; list-style: none; } .reasons li:first-child { font-size: 17px; font-weight: 600; }
.reasons li + li { color: var(--dim); margin-top: 2px; }
.meta { color: var(--dim); margin: 8px 0 0; font-size: 13px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin: 10px 0; }
svg.timeline { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: #37474f; }
svg .phase { font-weight: 600; fill: #546e7a; } svg .panel-label, svg .lane-label { text-anchor: end; }
svg .panel-label { font-weight: 600; } svg .axis { fill: #607d8b; font-size: 10px; }
svg .frame { fill: none; stroke: #cfd8dc; } svg .grid { stroke: #cfd8dc; stroke-dasharray: 2 3; }
svg .tick { stroke: #90a4ae; } svg .lane-rule { stroke: #cfd8dc; }
svg .p99 { fill: none; stroke: #d84315; stroke-width: 1.6; } svg .p50 { fill: none; stroke: #546e7a; stroke-width: 1.2; stroke-dasharray: 4 3; }
svg .hover { fill: transparent; } svg .hover:hover { fill: rgba(0,0,0,0.06); }
svg .marker-line { stroke: #37474f; stroke-width: 1.2; stroke-dasharray: 5 4; }
svg .event { stroke-width: 1.5; } svg .empty { fill: #2e7d32; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--dim); margin-top: 6px; }
.sw { display: inline-block; width: 11px; height: 11px; border-radius: 2px; vertical-align: -1px; margin-right: 4px; }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: #f2f5f7; font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.bad { color: var(--fail); font-weight: 600; } td.good { color: var(--pass); font-weight: 600; } td.wrap { white-space: normal; }
.finding { border-left: 5px solid var(--dim); } .finding.error { border-left-color: var(--fail); } .finding.warning { border-left-color: var(--warn); }
.finding h3 { margin: 0 0 6px; font-size: 15px; } .sev { font-size: 11px; text-transform: uppercase; padding: 1px 6px; border-radius: 4px; color: #fff; background: var(--dim); margin-right: 6px; vertical-align: 1px; }
.error .sev { background: var(--fail); } .warning .sev { background: var(--warn); }
.finding dl { display: grid; grid-template-columns: 80px 1fr; gap: 3px 10px; margin: 0; } .finding dt { color: var(--dim); } .finding dd { margin: 0; }
pre { background: #263238; color: #eceff1; padding: 8px 10px; border-radius: 6px; overflow-x: auto; font-size: 12px; margin: 6px 0 0; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.tables { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; } .scroll { overflow-x: auto; max-width: 100%; }
details summary { cursor: pointer; color: var(--dim); }
.note { margin: 6px 0 0; color: var(--warn); font-size: 13px; }
"#;

/// The report page.
pub fn render(result: &RunResult, redactor: &Redactor) -> String {
    let r = json::redacted(result, redactor);
    let mut h = String::new();
    let title = match &r.rollout {
        Some(ro) => format!("zerodrop · {}", ro.description),
        None => "zerodrop".to_string(),
    };
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"><title>{} — {}</title><style>{CSS}</style></head><body><main>"#,
        esc(&title),
        if r.verdict.passed { "PASS" } else { "FAIL" }
    );
    let _ = write!(h, "<h1>{}</h1>", esc(&title));
    verdict(&mut h, &r);
    let _ = write!(
        h,
        r#"<h2>Timeline</h2><div class="card">{}"#,
        chart::render(&r)
    );
    legend(&mut h, &r);
    h.push_str("</div>");
    findings(&mut h, &r);
    gate(&mut h, &r);
    h.push_str(r#"<h2>Phases and outcomes</h2><div class="tables">"#);
    phases(&mut h, &r);
    outcomes(&mut h, &r);
    h.push_str("</div>");
    mix::templates(&mut h, &r);
    mix::versions(&mut h, &r);
    sessions::render(&mut h, &r);
    pods(&mut h, &r);
    failures(&mut h, &r);
    let plan = serde_json::to_string_pretty(&r.plan).unwrap_or_default();
    let _ = write!(
        h,
        "<h2>Plan</h2><details><summary>the plan this run followed (secrets masked)</summary><pre><code>{}</code></pre></details>",
        esc(&plan)
    );
    let _ = write!(
        h,
        r#"<p class="meta">zerodrop {} · result schema v{} · started {}</p></main></body></html>"#,
        esc(&r.zerodrop_version),
        r.schema_version,
        r.started_at
    );
    h.push('\n');
    h
}

fn verdict(h: &mut String, r: &RunResult) {
    let (class, word) = if r.verdict.passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let _ = write!(
        h,
        r#"<section class="verdict {class}"><span class="badge">{word}</span><div><ul class="reasons">"#
    );
    for reason in &r.verdict.reasons {
        let _ = write!(h, "<li>{}</li>", esc(reason));
    }
    if r.verdict.reasons.is_empty() {
        h.push_str("<li>no reason recorded</li>");
    }
    h.push_str("</ul>");
    let o = &r.recorded.overall;
    let mut meta = vec![
        format!("exit code {}", r.verdict.exit_code),
        format!(
            "{} {} over {}",
            fmt::count(o.counts.total()),
            if r.recorded.sessions.is_empty() {
                "requests"
            } else {
                "messages"
            },
            fmt::secs(Some(r.load.end.saturating_sub(r.load.start)))
        ),
    ];
    meta.extend(fmt::send_timing(r));
    if let Some(ro) = &r.rollout {
        meta.push(format!("rollout {}", ro.outcome));
    }
    if r.interrupted {
        meta.push("interrupted: partial data".to_string());
    }
    if r.workers > 1 {
        meta.push(format!("{} generators merged", r.workers));
    }
    let _ = write!(h, r#"<p class="meta">{}</p>"#, esc(&meta.join(" · ")));
    // What the run did not test (`--via endpoints`: the Service's proxy path).
    for n in &r.analysis.notes {
        let _ = write!(h, r#"<p class="note">note: {}</p>"#, esc(n));
    }
    h.push_str("</div></section>");
}

fn legend(h: &mut String, r: &RunResult) {
    h.push_str(r#"<div class="legend">"#);
    let seen = &r.recorded.overall.counts;
    for c in OutcomeClass::ALL
        .into_iter()
        .filter(|c| *c == OutcomeClass::Ok || seen.get(*c) > 0)
    {
        let _ = write!(
            h,
            r#"<span><span class="sw" style="background:{}"></span>{c}</span>"#,
            chart::class_color(c)
        );
    }
    if r.analysis.pods.is_empty() {
        h.push_str(
            "<span>pins: failed requests, coloured by outcome · hover for details</span></div>",
        );
        return;
    }
    for (color, what) in [
        (chart::LANE_STARTING, "pod starting"),
        (chart::LANE_SERVING, "ready"),
        (
            chart::LANE_TERMINATING,
            "terminating, still a ready endpoint",
        ),
        (chart::LANE_DRAINING, "terminating, out of service"),
        (
            chart::LANE_GONE_BUT_ROUTED,
            "exited, still a ready endpoint",
        ),
    ] {
        let _ = write!(
            h,
            r#"<span><span class="sw" style="background:{color}"></span>{what}</span>"#
        );
    }
    if !r.analysis.pod_load.is_empty() {
        h.push_str("<span>bars atop a lane: requests/s the pod carried on its long-lived connections</span>");
    }
    h.push_str(
        "<span>ticks on a lane: lifecycle events · pins above a lane: failures attributed to that pod, coloured by outcome (faint: by timing only), diamonds for responses that failed a check · dashed lines: rollout triggered / completed · hatched: a watch was down · hover for details</span></div>",
    );
}

fn findings(h: &mut String, r: &RunResult) {
    let fs = &r.analysis.findings;
    let _ = write!(h, "<h2>Findings ({})</h2>", fs.len());
    if fs.is_empty() {
        let why = if r.command == crate::model::result::Command::Load {
            "`zerodrop load` watches no cluster, so failures are listed below but not explained."
        } else {
            "No finding: nothing the analysis recognises went wrong."
        };
        let _ = write!(h, r#"<div class="card">{}</div>"#, esc(why));
        return;
    }
    for f in fs {
        finding(h, f);
    }
}

fn finding(h: &mut String, f: &Finding) {
    let sev = fmt::severity(f.severity);
    let _ = write!(
        h,
        r#"<div class="card finding {sev}"><h3><span class="sev">{sev}</span>{} <code>{}</code></h3><dl>"#,
        esc(&f.title),
        f.id
    );
    let ev = &f.evidence;
    let mut facts = vec![format!("{} failures", fmt::count(ev.failures))];
    facts.extend(fmt::evidence_facts(ev));
    let _ = write!(h, "<dt>evidence</dt><dd>{}", esc(&facts.join(" · ")));
    if !ev.details.is_empty() {
        h.push_str("<ul>");
        for d in &ev.details {
            let _ = write!(h, "<li>{}</li>", esc(d));
        }
        h.push_str("</ul>");
    }
    h.push_str("</dd>");
    let _ = write!(h, "<dt>cause</dt><dd>{}</dd>", esc(&f.cause));
    let _ = write!(h, "<dt>fix</dt><dd>{}", esc(&f.fix));
    if let Some(y) = &f.fix_yaml {
        let _ = write!(h, "<pre><code>{}</code></pre>", esc(y));
    }
    h.push_str("</dd>");
    if !ev.examples.is_empty() {
        let seqs: Vec<String> = ev.examples.iter().map(|s| format!("#{s}")).collect();
        let _ = write!(
            h,
            "<dt>examples</dt><dd>{} (see the failure log)</dd>",
            esc(&seqs.join(" "))
        );
    }
    h.push_str("</dl></div>");
}

fn gate(h: &mut String, r: &RunResult) {
    h.push_str("<h2>Gate</h2><table><tr><th></th><th>check</th><th>measured</th></tr>");
    let mut row = |passed: bool, name: &str, actual: &str| {
        let (cls, mark) = if passed {
            ("good", "✓ pass")
        } else {
            ("bad", "✗ fail")
        };
        let _ = write!(
            h,
            r#"<tr><td class="{cls}">{mark}</td><td><code>{}</code></td><td class="wrap">{}</td></tr>"#,
            esc(name),
            esc(actual)
        );
    };
    if let Some(z) = &r.verdict.zero_drop {
        let actual = fmt::zero_drop(z);
        let name = if r.recorded.sessions.is_empty() {
            "no dropped requests"
        } else {
            "no dropped messages"
        };
        row(z.passed, name, &actual);
    }
    if let Some(c) = &r.verdict.sessions {
        row(
            c.passed,
            "no session without a goodbye",
            &fmt::session_check(c),
        );
    }
    for t in &r.thresholds {
        row(t.passed, &t.expression, &t.actual);
    }
    h.push_str("</table>");
}

fn phases(h: &mut String, r: &RunResult) {
    h.push_str(
        r#"<div class="scroll"><table><tr><th>phase</th><th>from</th><th>to</th><th>requests</th><th>failed</th><th>dropped</th><th>p50</th><th>p99</th><th>max</th></tr>"#,
    );
    let row = |h: &mut String,
               name: &str,
               from: crate::model::clock::At,
               to: crate::model::clock::At,
               requests: u64,
               failed: u64,
               dropped: u64,
               l: &crate::record::LatencySummary| {
        let bad = |n: u64| if n > 0 { "n bad" } else { "n" };
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="{}">{}</td><td class="{}">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(name),
            fmt::at(from),
            fmt::at(to),
            fmt::count(requests),
            bad(failed),
            fmt::count(failed),
            bad(dropped),
            fmt::count(dropped),
            fmt::fmt_us(l.p50_us),
            fmt::fmt_us(l.p99_us),
            fmt::fmt_us(l.max_us)
        );
    };
    if r.analysis.phases.is_empty() {
        for p in &r.recorded.phases {
            row(
                h,
                &p.name,
                p.start,
                p.end,
                p.counts.total(),
                p.counts.failed(),
                p.counts.get(OutcomeClass::DroppedByGenerator),
                &p.latency,
            );
        }
    } else {
        for p in &r.analysis.phases {
            row(
                h,
                &p.name,
                p.start,
                p.end,
                p.requests,
                p.failed,
                p.dropped_by_generator,
                &p.latency,
            );
        }
    }
    let o = &r.recorded.overall;
    row(
        h,
        "whole run",
        o.start,
        o.end,
        o.counts.total(),
        o.counts.failed(),
        o.counts.get(OutcomeClass::DroppedByGenerator),
        &o.latency,
    );
    h.push_str("</table></div>");
}

fn outcomes(h: &mut String, r: &RunResult) {
    let o = &r.recorded.overall;
    h.push_str(r#"<table><tr><th>outcome</th><th>requests</th><th>statuses</th></tr>"#);
    for (class, n) in o.counts.iter().filter(|(_, n)| *n > 0) {
        let statuses = fmt::class_statuses(o, class);
        let _ = write!(
            h,
            r#"<tr><td><span class="sw" style="background:{}"></span>{class}</td><td class="n">{}</td><td>{}</td></tr>"#,
            chart::class_color(class),
            fmt::count(n),
            esc(&statuses)
        );
    }
    h.push_str("</table>");
}

fn pods(h: &mut String, r: &RunResult) {
    let a = &r.analysis;
    if a.pods.is_empty() {
        return;
    }
    h.push_str(
        r#"<h2>Pods</h2><div class="scroll"><table><tr><th>pod</th><th>revision</th><th>created</th><th>ready</th><th>terminating</th><th>endpoint removed</th><th>exited</th><th>failures</th><th>possible</th><th>lag to not ready</th><th>lag to removal</th></tr>"#,
    );
    for p in &a.pods {
        let lag = a.deregistration.pods.iter().find(|l| l.pod == p.name);
        let _ = write!(
            h,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="{}">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(&p.name),
            esc(&fmt::pod_revision(p)),
            fmt::opt_at(p.created),
            fmt::opt_at(p.ready),
            fmt::opt_at(p.terminating),
            fmt::opt_at(p.endpoint_removed),
            fmt::opt_at(p.exited),
            if p.failures > 0 { "n bad" } else { "n" },
            fmt::count(p.failures),
            fmt::count(p.possible_failures),
            fmt::secs(lag.and_then(|l| l.to_not_ready)),
            fmt::secs(lag.and_then(|l| l.to_removed)),
        );
    }
    h.push_str("</table></div>");
    let lag = &a.deregistration;
    if lag.median_to_not_ready.is_some() || lag.median_to_removed.is_some() {
        let _ = write!(
            h,
            r#"<p class="meta">Endpoint de-registration lag after termination began: not ready median {} (max {}); removed median {} (max {}).</p>"#,
            fmt::secs(lag.median_to_not_ready),
            fmt::secs(lag.max_to_not_ready),
            fmt::secs(lag.median_to_removed),
            fmt::secs(lag.max_to_removed)
        );
    }
    if a.unexplained_failures > 0 {
        let _ = write!(
            h,
            r#"<p class="meta">{} failures match no finding; they are listed in the failure log below.</p>"#,
            fmt::count(a.unexplained_failures)
        );
    }
    for line in fmt::attribution_summary(a)
        .into_iter()
        .chain(a.attribution_check.as_ref().map(fmt::attribution_check))
    {
        let _ = write!(h, r#"<p class="meta">{}.</p>"#, esc(&line));
    }
}

fn failures(h: &mut String, r: &RunResult) {
    let log = &r.recorded.failures;
    if log.is_empty() {
        return;
    }
    let _ = write!(
        h,
        r#"<h2>Failure log</h2><p class="meta">{} failed requests kept in detail{}{}.</p><div class="scroll"><table><tr><th>#</th><th>due</th><th>took</th><th>outcome</th><th>pod</th><th>how attributed</th><th>connection</th><th>error</th></tr>"#,
        fmt::count(log.len() as u64),
        if log.len() > FAILURE_ROWS {
            format!("; the first {FAILURE_ROWS} are shown, the JSON has all")
        } else {
            String::new()
        },
        if r.recorded.failures_not_kept > 0 {
            format!(
                "; {} more were counted but not kept",
                fmt::count(r.recorded.failures_not_kept)
            )
        } else {
            String::new()
        }
    );
    for f in log.iter().take(FAILURE_ROWS) {
        let attribution = r.analysis.attributions.iter().find(|a| a.seq == f.seq);
        let conn = match (&f.conn, &f.dialed) {
            (Some(c), _) => format!(
                "{} → {}{}",
                c.local,
                c.peer,
                if c.reused { " (reused)" } else { " (new)" }
            ),
            (None, Some(d)) => format!("dialing {d}"),
            _ => String::new(),
        };
        let _ = write!(
            h,
            r#"<tr><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td><span class="sw" style="background:{}"></span>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td class="wrap"><code>{}</code></td></tr>"#,
            f.seq,
            fmt::at(f.due),
            fmt::fmt_us(f.latency().as_micros() as u64),
            chart::class_color(f.class),
            f.class,
            f.status.map(|s| format!(" {s}")).unwrap_or_default(),
            esc(attribution.map_or("-", |a| a.pod.as_str())),
            attribution.map_or("-", |a| fmt::method(a.method)),
            esc(&conn),
            esc(f.error.as_deref().unwrap_or(""))
        );
    }
    h.push_str("</table></div>");
}
