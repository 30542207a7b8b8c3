//! The timeline chart of the HTML report, drawn as inline SVG: requests per second stacked by
//! outcome, failed requests per second by class, p50/p99 latency per second, phase shading, and
//! one lane per pod with its lifecycle and the failures attributed to it.
//!
//! Pure layout: it maps run-axis instants and counts to coordinates and writes SVG. Hover text
//! uses SVG `<title>` elements, so the chart needs no script.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::analysis::{PodLag, PodReport};
use crate::model::clock::At;
use crate::model::event::EventKind;
use crate::model::outcome::OutcomeClass;
use crate::model::phase;
use crate::model::request::RequestRecord;
use crate::result::RunResult;

use super::esc;
use crate::report::fmt;

const W: f64 = 1200.0;
const ML: f64 = 160.0;
const MR: f64 = 24.0;
const PW: f64 = W - ML - MR;
const PHASE_STRIP: f64 = 20.0;
const REQ_H: f64 = 120.0;
const FAIL_H: f64 = 70.0;
const LAT_H: f64 = 80.0;
const GAP: f64 = 14.0;
/// A lane: failure pins in its top part, the pod's lifecycle bar below them.
const LANE_H: f64 = 24.0;
const PIN_H: f64 = 9.0;
const AXIS_H: f64 = 26.0;

/// The colour of each outcome class, shared with the legend.
pub fn class_color(c: OutcomeClass) -> &'static str {
    match c {
        OutcomeClass::Ok => "#8cc084",
        OutcomeClass::Http4xx => "#f0b429",
        OutcomeClass::Http5xx => "#e4572e",
        OutcomeClass::ConnectRefused => "#8e44ad",
        OutcomeClass::ConnectTimeout => "#4a235a",
        OutcomeClass::ConnectionReset => "#c0392b",
        OutcomeClass::ClosedBeforeResponse => "#ff5fa2",
        OutcomeClass::RequestTimeout => "#a0522d",
        OutcomeClass::Dns => "#1b998b",
        OutcomeClass::Tls => "#2e86de",
        OutcomeClass::Other => "#7f8c8d",
        OutcomeClass::DroppedByGenerator => "#222222",
    }
}

/// Background of a phase band: fixed for the rollout flow's phases, alternating for others
/// (load stages) so neighbours stay apart.
fn phase_color(name: &str, index: usize) -> &'static str {
    match name {
        phase::BASELINE => "#eaf1f8",
        phase::ROLLOUT => "#fdf0dc",
        phase::SETTLE => "#e9f5e9",
        _ if index % 2 == 0 => "#eef0f2",
        _ => "#f6f3ea",
    }
}

/// Lane segment colours, shared with the legend.
pub const LANE_STARTING: &str = "#cfd8dc";
pub const LANE_SERVING: &str = "#66bb6a";
pub const LANE_TERMINATING: &str = "#ffa726";
pub const LANE_DRAINING: &str = "#9e9e9e";
pub const LANE_GONE_BUT_ROUTED: &str = "#6d1b1b";

struct Scale {
    t1: f64,
}

impl Scale {
    /// x of a run-axis instant.
    fn x(&self, at: At) -> f64 {
        self.xs(at.as_secs_f64())
    }

    /// x of seconds since the run's start.
    fn xs(&self, s: f64) -> f64 {
        ML + (s / self.t1).clamp(0.0, 1.0) * PW
    }
}

/// A round number at or above `v`, for axis maxima.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Tick spacing in seconds giving at most about a dozen ticks.
fn tick_step(t1: f64) -> f64 {
    for step in [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
    ] {
        if t1 / step <= 12.0 {
            return step;
        }
    }
    7200.0
}

fn tick_label(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 60 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The chart's SVG element.
pub fn render(r: &RunResult) -> String {
    let last_event = r.timeline.events.last().map_or(At::ZERO, |e| e.at);
    let last_second = r
        .recorded
        .series
        .last()
        .map_or(At::ZERO, |s| At((s.second + 1) * 1_000_000));
    let end = r
        .load
        .end
        .max(r.recorded.overall.end)
        .max(last_event)
        .max(last_second);
    let sc = Scale {
        t1: end.as_secs_f64().max(1.0),
    };

    let records: HashMap<u64, &RequestRecord> =
        r.recorded.failures.iter().map(|f| (f.seq, f)).collect();
    let attributed: HashMap<u64, ()> = r
        .analysis
        .attributions
        .iter()
        .map(|a| (a.seq, ()))
        .collect();
    let unattributed: Vec<&RequestRecord> = r
        .recorded
        .failures
        .iter()
        .filter(|f| !attributed.contains_key(&f.seq))
        .collect();
    // Lanes come from the analysis (lifecycle bars and attributed failures); a result without
    // one still shows each pod the timeline names, with its events.
    let lane_pods: Vec<(String, crate::model::event::Revision, Option<&PodReport>)> =
        if r.analysis.pods.is_empty() {
            r.timeline
                .pods()
                .into_iter()
                .map(|(name, rev)| (name, rev, None))
                .collect()
        } else {
            r.analysis
                .pods
                .iter()
                .map(|p| (p.name.clone(), p.revision, Some(p)))
                .collect()
        };
    let lanes = lane_pods.len() + usize::from(!unattributed.is_empty());

    let y_req = PHASE_STRIP;
    let y_fail = y_req + REQ_H + GAP;
    let y_lat = y_fail + FAIL_H + GAP;
    let y_lanes = y_lat + LAT_H + GAP;
    let lanes_h = lanes as f64 * LANE_H;
    let y_axis = y_lanes + lanes_h + 4.0;
    let h = y_axis + AXIS_H;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="timeline" viewBox="0 0 {W} {h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="timeline of the run">"#
    );
    s.push_str(
        r##"<defs><pattern id="gap" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#b0bec5" fill-opacity="0.5"/></pattern></defs>"##,
    );

    // Phase bands behind everything, labelled in the top strip.
    let bottom = y_axis;
    for (i, p) in r.recorded.phases.iter().enumerate() {
        let (x0, x1) = (sc.x(p.start), sc.x(p.end));
        let _ = write!(
            s,
            r#"<g><title>{} {}–{}</title><rect x="{x0:.1}" y="0" width="{:.1}" height="{bottom:.1}" fill="{}"/><text x="{:.1}" y="14" class="phase">{}</text></g>"#,
            esc(&p.name),
            fmt::at(p.start),
            fmt::at(p.end),
            (x1 - x0).max(0.0),
            phase_color(&p.name, i),
            x0 + 4.0,
            esc(&p.name)
        );
    }

    panel_frame(&mut s, y_req, REQ_H, "requests/s");
    panel_frame(&mut s, y_fail, FAIL_H, "failed/s");
    panel_frame(&mut s, y_lat, LAT_H, "latency");

    requests_panel(&mut s, r, &sc, y_req);
    failures_panel(&mut s, r, &sc, y_fail);
    latency_panel(&mut s, r, &sc, y_lat);

    // Lanes.
    for (i, (name, revision, report)) in lane_pods.iter().enumerate() {
        let y = y_lanes + i as f64 * LANE_H;
        lane(&mut s, r, &sc, (name, *revision, *report), y, &records);
    }
    if !unattributed.is_empty() {
        let y = y_lanes + lane_pods.len() as f64 * LANE_H;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" class="lane-label">{}</text>"#,
            ML - 8.0,
            y + LANE_H * 0.65,
            // Without pods there is nothing to attribute to: these are simply the failures.
            if lane_pods.is_empty() {
                "failures"
            } else {
                "unattributed"
            }
        );
        let _ = write!(
            s,
            r#"<line x1="{ML}" x2="{:.1}" y1="{:.1}" y2="{:.1}" class="lane-rule"/>"#,
            ML + PW,
            y + LANE_H / 2.0,
            y + LANE_H / 2.0
        );
        for f in unattributed {
            failure_mark(&mut s, &sc, f, y, 1.0, None);
        }
    }

    // Watch gaps over the lanes: the timeline may be missing events there.
    for (resource, from, to) in r.timeline.gaps() {
        let (x0, x1) = (sc.x(from), sc.x(to));
        let _ = write!(
            s,
            r#"<rect x="{x0:.1}" y="{y_lanes:.1}" width="{:.1}" height="{lanes_h:.1}" fill="url(#gap)"><title>{} watch down {}–{}: events may be missing</title></rect>"#,
            (x1 - x0).max(1.0),
            esc(resource),
            fmt::at(from),
            fmt::at(to)
        );
    }

    // Trigger and completion.
    if let Some(ro) = &r.rollout {
        for (at, label) in [
            (ro.triggered_at, "rollout triggered"),
            (ro.completed_at, "rollout completed"),
        ] {
            if let Some(at) = at {
                let x = sc.x(at);
                let _ = write!(
                    s,
                    r#"<line x1="{x:.1}" x2="{x:.1}" y1="{PHASE_STRIP}" y2="{bottom:.1}" class="marker-line"><title>{label} at {}</title></line>"#,
                    fmt::at(at)
                );
            }
        }
    }

    // Time axis.
    let step = tick_step(sc.t1);
    let mut t = 0.0;
    while t <= sc.t1 + 1e-9 {
        let x = sc.xs(t);
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y_axis:.1}" y2="{:.1}" class="tick"/><text x="{x:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text>"#,
            y_axis + 4.0,
            y_axis + 17.0,
            tick_label(t)
        );
        t += step;
    }
    s.push_str("</svg>");
    s
}

fn panel_frame(s: &mut String, y: f64, h: f64, label: &str) {
    let _ = write!(
        s,
        r#"<rect x="{ML}" y="{y:.1}" width="{PW}" height="{h:.1}" class="frame"/><text x="{:.1}" y="{:.1}" class="panel-label">{label}</text>"#,
        ML - 8.0,
        y + h / 2.0 + 4.0
    );
}

fn y_labels(s: &mut String, y: f64, h: f64, max: f64, unit: &dyn Fn(f64) -> String) {
    for (frac, v) in [(0.0, max), (0.5, max / 2.0)] {
        let yy = y + h * frac;
        let _ = write!(
            s,
            r#"<line x1="{ML}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="axis" text-anchor="start">{}</text>"#,
            ML + PW,
            ML + 3.0,
            yy + 11.0,
            unit(v)
        );
    }
}

fn requests_panel(s: &mut String, r: &RunResult, sc: &Scale, y: f64) {
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
        let mut parts = Vec::new();
        let mut top = y + REQ_H;
        let mut rects = String::new();
        for (class, n) in sec.counts.iter().filter(|(_, n)| *n > 0) {
            parts.push(format!("{} {class}", fmt::count(n)));
            let hh = n as f64 / max * REQ_H;
            top -= hh;
            let _ = write!(
                rects,
                r#"<rect x="{x0:.2}" y="{top:.2}" width="{w:.2}" height="{hh:.2}" fill="{}"/>"#,
                class_color(class)
            );
        }
        let _ = write!(
            s,
            "<g><title>{}–{}s: {}; p99 {}</title>{rects}</g>",
            sec.second,
            sec.second + 1,
            parts.join(", "),
            fmt::fmt_us(sec.latency.p99_us)
        );
    }
    y_labels(s, y, REQ_H, max, &|v| format!("{v:.0}/s"));
}

fn failures_panel(s: &mut String, r: &RunResult, sc: &Scale, y: f64) {
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
        let mut parts = Vec::new();
        let mut top = y + FAIL_H;
        let mut rects = String::new();
        for (class, n) in sec
            .counts
            .iter()
            .filter(|(c, n)| *c != OutcomeClass::Ok && *n > 0)
        {
            parts.push(format!("{} {class}", fmt::count(n)));
            // A single failure must stay visible next to a burst of hundreds.
            let hh = (n as f64 / max * FAIL_H).max(2.0);
            top -= hh;
            let _ = write!(
                rects,
                r#"<rect x="{x0:.2}" y="{top:.2}" width="{w:.2}" height="{hh:.2}" fill="{}"/>"#,
                class_color(class)
            );
        }
        let _ = write!(
            s,
            "<g><title>{}–{}s failed: {}</title>{rects}</g>",
            sec.second,
            sec.second + 1,
            parts.join(", ")
        );
    }
    y_labels(s, y, FAIL_H, max, &|v| format!("{v:.0}/s"));
}

fn latency_panel(s: &mut String, r: &RunResult, sc: &Scale, y: f64) {
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

fn lane(
    s: &mut String,
    r: &RunResult,
    sc: &Scale,
    (name, revision, report): (&str, crate::model::event::Revision, Option<&PodReport>),
    y: f64,
    records: &HashMap<u64, &RequestRecord>,
) {
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" class="lane-label"><title>{} ({} revision)</title>{}</text>"#,
        ML - 8.0,
        y + LANE_H * 0.65,
        esc(name),
        fmt::revision(revision),
        esc(&fmt::clip_middle(name, 24))
    );
    if let Some(pod) = report {
        let lag = r
            .analysis
            .deregistration
            .pods
            .iter()
            .find(|l| l.pod == pod.name);
        lifecycle_bar(s, sc, pod, lag, y);
    }

    // Every lifecycle event of the pod, as a tick with its name.
    for e in r.timeline.pod_events(name) {
        let color = match &e.kind {
            EventKind::PodCreated { .. } | EventKind::PodStarted { .. } => "#455a64",
            EventKind::PodReady | EventKind::EndpointAdded { .. } => "#1b5e20",
            EventKind::PodTerminating { .. } | EventKind::StopSignalSent { .. } => "#e65100",
            EventKind::EndpointRemoved { .. } | EventKind::PodNotReady { .. } => "#bf360c",
            EventKind::ContainerExited { .. }
            | EventKind::KilledAtGraceDeadline
            | EventKind::PodDeleted => "#212121",
            EventKind::ProbeFailed { .. } => "#6a1b9a",
            _ => "#607d8b",
        };
        let x = sc.x(e.at);
        let _ = write!(
            s,
            r#"<line x1="{x:.2}" x2="{x:.2}" y1="{:.1}" y2="{:.1}" stroke="{color}" class="event"><title>{} {} at {}{}</title></line>"#,
            y + PIN_H,
            y + LANE_H - 1.0,
            esc(name),
            e.kind.name(),
            fmt::at(e.at),
            esc(&event_detail(&e.kind))
        );
    }

    for a in r.analysis.attributions.iter().filter(|a| a.pod == name) {
        if let Some(f) = records.get(&a.seq) {
            failure_mark(s, sc, f, y, a.confidence, Some(a.method));
        }
    }
}

/// The pod's lifecycle as the analysis reports it: starting, ready, terminating while still an
/// endpoint, and after exit or endpoint removal.
fn lifecycle_bar(s: &mut String, sc: &Scale, pod: &PodReport, lag: Option<&PodLag>, y: f64) {
    let end = At::from_secs_f64(sc.t1);
    let start = pod.created.unwrap_or(At::ZERO);
    let exited = pod.exited.unwrap_or(end);
    // Traffic stops when the endpoint stops being ready (a terminating endpoint can stay listed,
    // not ready, until it is removed): that instant, where the lag measurement gives it, or
    // the removal.
    let out_of_service = match (pod.terminating, lag.and_then(|l| l.to_not_ready)) {
        (Some(t), Some(d)) => t.plus(d).min(pod.endpoint_removed.unwrap_or(end)),
        _ => pod.endpoint_removed.unwrap_or(end),
    };
    // A pod that existed before the run was ready from the start unless it says otherwise.
    let ready = pod.ready.or(if pod.created.is_none() {
        Some(At::ZERO)
    } else {
        None
    });
    let bar_y = y + PIN_H + 2.0;
    let bar_h = LANE_H - PIN_H - 5.0;
    let mut seg = |from: At, to: At, color: &str, what: &str| {
        if to <= from {
            return;
        }
        let (x0, x1) = (sc.x(from), sc.x(to));
        let _ = write!(
            s,
            r#"<rect x="{x0:.2}" y="{bar_y:.1}" width="{:.2}" height="{bar_h:.1}" fill="{color}"><title>{}: {what} {}–{}</title></rect>"#,
            (x1 - x0).max(0.5),
            esc(&pod.name),
            fmt::at(from),
            fmt::at(to)
        );
    };
    let ready_from = ready.unwrap_or(exited).min(exited);
    let ready_to = pod
        .terminating
        .unwrap_or(exited)
        .min(exited)
        .max(ready_from);
    seg(start, ready_from, LANE_STARTING, "starting, not ready");
    seg(ready_from, ready_to, LANE_SERVING, "ready");
    if let Some(t) = pod.terminating {
        // Termination has two clocks: the container's exit and the endpoint leaving service.
        // Whichever comes second decides what the tail of the lane means.
        let first = out_of_service.min(exited).max(t);
        seg(
            t,
            first,
            LANE_TERMINATING,
            "terminating, still a ready endpoint",
        );
        if exited < out_of_service {
            seg(
                exited,
                out_of_service,
                LANE_GONE_BUT_ROUTED,
                "exited, still a ready endpoint",
            );
        } else {
            seg(
                out_of_service,
                exited,
                LANE_DRAINING,
                "terminating, endpoint out of service",
            );
        }
    }
}

fn event_detail(k: &EventKind) -> String {
    match k {
        EventKind::PodNotReady { reason: Some(r) } => format!(" ({r})"),
        EventKind::PodTerminating {
            grace_period: Some(g),
        } => format!(" (grace period {:.0}s)", g.as_secs_f64()),
        EventKind::StopSignalSent { signal } => format!(" ({signal})"),
        EventKind::EndpointAdded { address, .. }
        | EventKind::EndpointChanged { address, .. }
        | EventKind::EndpointRemoved { address } => format!(" ({address})"),
        EventKind::ProbeFailed { probe, detail } => format!(" ({probe}: {detail})"),
        EventKind::ContainerExited { code, signal, .. } => match (code, signal) {
            (_, Some(sig)) => format!(" (signal {sig})"),
            (Some(c), None) => format!(" (code {c})"),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

fn failure_mark(
    s: &mut String,
    sc: &Scale,
    f: &RequestRecord,
    y: f64,
    confidence: f64,
    method: Option<crate::analysis::AttributionMethod>,
) {
    let x = sc.x(f.due);
    let how = match method {
        Some(m) => format!(", attributed by {}", fmt::method(m)),
        None => String::new(),
    };
    let _ = write!(
        s,
        r#"<rect x="{:.2}" y="{:.1}" width="3" height="{PIN_H:.1}" fill="{}" fill-opacity="{:.2}" class="failure"><title>#{} due {} {}{}{how}{}</title></rect>"#,
        x - 1.5,
        y + 1.0,
        class_color(f.class),
        confidence.clamp(0.25, 1.0),
        f.seq,
        fmt::at(f.due),
        f.class,
        f.status.map(|st| format!(" {st}")).unwrap_or_default(),
        f.error
            .as_deref()
            .map(|e| format!(": {}", esc(e)))
            .unwrap_or_default()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_round_up_to_readable_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(48.0), 50.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
        assert_eq!(nice_ceiling(2.2), 2.5);
    }

    #[test]
    fn ticks_stay_few_on_long_runs() {
        assert_eq!(tick_step(10.0), 1.0);
        assert_eq!(tick_step(40.0), 5.0);
        assert!(3600.0 / tick_step(3600.0) <= 12.0);
        assert_eq!(tick_label(90.0), "1m30s");
        assert_eq!(tick_label(120.0), "2m");
    }
}
