//! The chart's three panels, one column per second: requests stacked by outcome class, failed
//! requests by class, and p50/p99 latency with the exact figures on hover.

use std::fmt::Write as _;

use crate::model::outcome::OutcomeClass;
use crate::report::fmt;
use crate::result::RunResult;

use super::axes::{nice_ceiling, y_labels};
use super::{FAIL_H, LAT_H, ML, PW, REQ_H, Scale, class_color};

pub(super) fn requests_panel(s: &mut String, r: &RunResult, sc: &Scale, y: f64) {
    let max = r
        .recorded
        .series
        .iter()
        .map(|sec| sec.counts.total())
        .max()
        .unwrap_or(0) as f64;
    let max = nice_ceiling(max);
    for sec in &r.recorded.series {
        let x0 = sc.xs(sec.second as f64);
        let w = (sc.xs(sec.second as f64 + 1.0) - x0).max(0.5);
        let classes = sec.counts.iter().filter(|(_, n)| *n > 0);
        let (rects, parts) = stack(x0, w, y + REQ_H, classes, |n| n as f64 / max * REQ_H);
        let _ = write!(
            s,
            "<g><title>{}–{}s: {parts}; p99 {}</title>{rects}</g>",
            sec.second,
            sec.second + 1,
            fmt::fmt_us(sec.latency.p99_us)
        );
    }
    y_labels(s, y, REQ_H, max, &|v| format!("{v:.0}/s"));
}

pub(super) fn failures_panel(s: &mut String, r: &RunResult, sc: &Scale, y: f64) {
    let failed = |sec: &crate::record::Second| sec.counts.total() - sec.counts.ok();
    let max = r.recorded.series.iter().map(failed).max().unwrap_or(0);
    if max == 0 {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" class="empty" text-anchor="middle">no request failed</text>"#,
            ML + PW / 2.0,
            y + FAIL_H / 2.0 + 4.0
        );
        return;
    }
    let max = nice_ceiling(max as f64);
    for sec in r.recorded.series.iter().filter(|sec| failed(sec) > 0) {
        let x0 = sc.xs(sec.second as f64);
        let w = (sc.xs(sec.second as f64 + 1.0) - x0).max(1.5);
        let classes = sec
            .counts
            .iter()
            .filter(|(c, n)| *c != OutcomeClass::Ok && *n > 0);
        // A single failure must stay visible next to a burst of hundreds.
        let height = |n: u64| (n as f64 / max * FAIL_H).max(2.0);
        let (rects, parts) = stack(x0, w, y + FAIL_H, classes, height);
        let _ = write!(
            s,
            "<g><title>{}–{}s failed: {parts}</title>{rects}</g>",
            sec.second,
            sec.second + 1,
        );
    }
    y_labels(s, y, FAIL_H, max, &|v| format!("{v:.0}/s"));
}

/// One second's bar at `x0`, `w` wide: a rectangle per class stacked up from `bottom`, each
/// `height(n)` tall. Returns the rectangles and the "N class, …" of its hover title.
fn stack(
    x0: f64,
    w: f64,
    bottom: f64,
    classes: impl Iterator<Item = (OutcomeClass, u64)>,
    height: impl Fn(u64) -> f64,
) -> (String, String) {
    let mut parts = Vec::new();
    let mut top = bottom;
    let mut rects = String::new();
    for (class, n) in classes {
        parts.push(format!("{} {class}", fmt::count(n)));
        let hh = height(n);
        top -= hh;
        let _ = write!(
            rects,
            r#"<rect x="{x0:.2}" y="{top:.2}" width="{w:.2}" height="{hh:.2}" fill="{}"/>"#,
            class_color(class)
        );
    }
    (rects, parts.join(", "))
}

pub(super) fn latency_panel(s: &mut String, r: &RunResult, sc: &Scale, y: f64) {
    let series: Vec<_> = r
        .recorded
        .series
        .iter()
        .filter(|sec| sec.latency.count > 0)
        .collect();
    let max_us = series
        .iter()
        .map(|sec| sec.latency.p99_us)
        .max()
        .unwrap_or(0);
    if max_us == 0 {
        return;
    }
    let max_ms = nice_ceiling(max_us as f64 / 1000.0);
    let yv = |us: u64| y + LAT_H - (us as f64 / 1000.0 / max_ms).min(1.0) * LAT_H;
    for (pick, class, label) in [(0usize, "p50", "p50"), (1usize, "p99", "p99")] {
        let pts: Vec<String> = series
            .iter()
            .map(|sec| {
                let v = if pick == 0 {
                    sec.latency.p50_us
                } else {
                    sec.latency.p99_us
                };
                format!("{:.1},{:.1}", sc.xs(sec.second as f64 + 0.5), yv(v))
            })
            .collect();
        let _ = write!(
            s,
            r#"<polyline points="{}" class="{class}"><title>{label} latency per second</title></polyline>"#,
            pts.join(" ")
        );
    }
    // Invisible per-second hover targets carrying the exact figures.
    for sec in &series {
        let x0 = sc.xs(sec.second as f64);
        let w = (sc.xs(sec.second as f64 + 1.0) - x0).max(0.5);
        let _ = write!(
            s,
            r#"<rect x="{x0:.2}" y="{y:.1}" width="{w:.2}" height="{LAT_H}" class="hover"><title>{}–{}s: p50 {}, p99 {}, max {}</title></rect>"#,
            sec.second,
            sec.second + 1,
            fmt::fmt_us(sec.latency.p50_us),
            fmt::fmt_us(sec.latency.p99_us),
            fmt::fmt_us(sec.latency.max_us)
        );
    }
    y_labels(s, y, LAT_H, max_ms, &|v| format!("{v:.0}ms"));
}
