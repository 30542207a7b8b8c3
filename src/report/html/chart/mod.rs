//! The timeline chart of the HTML report, drawn as inline SVG: requests per second stacked by
//! outcome, failed requests per second by class, p50/p99 latency per second, phase shading, and
//! one lane per pod with its lifecycle and the failures attributed to it.
//!
//! Pure layout: it maps run-axis instants and counts to coordinates and writes SVG. Hover text
//! uses SVG `<title>` elements, so the chart needs no script.
//!
//! - `axes`: round axis maxima, time ticks, panel frames and value labels.
//! - `panels`: requests, failures and latency per second.
//! - `lanes`: one lane per pod (its lifecycle, its events, the failures attributed to it), the
//!   unattributed failures, and the watch gaps over them.
//! - This file: the colours, the scale, the vertical layout, and the parts drawn across every
//!   panel (phase bands, rollout markers).

mod axes;
mod lanes;
mod load_lanes;
mod panels;
mod ws_lanes;

use std::fmt::Write as _;

use crate::model::clock::At;
use crate::model::grpc::GrpcClass;
use crate::model::outcome::OutcomeClass;
use crate::model::phase;
use crate::result::RunResult;

use super::esc;
use crate::report::fmt;

use axes::{panel_frame, time_axis};
use lanes::Lanes;
use panels::{failures_panel, latency_panel, requests_panel};

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
        // WebSocket messages.
        OutcomeClass::WsMessageLost => "#d35400",
        OutcomeClass::WsMessageTimeout => "#6e2c00",
        OutcomeClass::WsUnexpectedReply => "#b7950b",
        OutcomeClass::WsNotSent => "#5d6d7e",
        OutcomeClass::Grpc(g) => grpc_color(g),
    }
}

/// gRPC classes: a status by its family (server says unavailable, deadline, client error,
/// server error), the stream and connection classes each their own.
fn grpc_color(g: GrpcClass) -> &'static str {
    use crate::model::grpc::GrpcCode as C;
    match g {
        GrpcClass::Status(C::Unavailable) => "#d35400",
        GrpcClass::Status(C::DeadlineExceeded | C::Cancelled) => "#a0522d",
        GrpcClass::Status(C::Internal | C::Unknown | C::DataLoss) => "#e4572e",
        GrpcClass::Status(_) => "#f0b429",
        GrpcClass::RefusedStream => "#5d6d7e",
        GrpcClass::StreamReset => "#922b21",
        GrpcClass::GoawayGraceful => "#48c9b0",
        GrpcClass::GoawayAbrupt => "#b03a2e",
        GrpcClass::ResetWithoutGoaway => "#c0392b",
        GrpcClass::ClosedWithoutGoaway => "#ff5fa2",
        GrpcClass::ClientDeadline => "#6e2c00",
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
    /// The run's axis: from its start to the last thing the chart shows (the load's end, the
    /// last second recorded, the last event).
    fn of(r: &RunResult) -> Scale {
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
        Scale {
            t1: end.as_secs_f64().max(1.0),
        }
    }

    /// x of a run-axis instant.
    fn x(&self, at: At) -> f64 {
        self.xs(at.as_secs_f64())
    }

    /// x of seconds since the run's start.
    fn xs(&self, s: f64) -> f64 {
        ML + (s / self.t1).clamp(0.0, 1.0) * PW
    }
}

/// Vertical positions of the chart's parts: the panels, then one lane per pod, then the time
/// axis.
struct Layout {
    y_req: f64,
    y_fail: f64,
    y_lat: f64,
    y_lanes: f64,
    lanes_h: f64,
    y_axis: f64,
    h: f64,
}

impl Layout {
    fn new(lanes: usize) -> Layout {
        let y_req = PHASE_STRIP;
        let y_fail = y_req + REQ_H + GAP;
        let y_lat = y_fail + FAIL_H + GAP;
        let y_lanes = y_lat + LAT_H + GAP;
        let lanes_h = lanes as f64 * LANE_H;
        let y_axis = y_lanes + lanes_h + 4.0;
        let h = y_axis + AXIS_H;
        Layout {
            y_req,
            y_fail,
            y_lat,
            y_lanes,
            lanes_h,
            y_axis,
            h,
        }
    }
}

/// The chart's SVG element.
pub fn render(r: &RunResult) -> String {
    let sc = Scale::of(r);
    let lanes = Lanes::of(r);
    let l = Layout::new(lanes.count());
    let h = l.h;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="timeline" viewBox="0 0 {W} {h}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="timeline of the run">"#
    );
    s.push_str(
        r##"<defs><pattern id="gap" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#b0bec5" fill-opacity="0.5"/></pattern></defs>"##,
    );

    // Phase bands behind everything, labelled in the top strip.
    phase_bands(&mut s, r, &sc, l.y_axis);

    let per_second = if r.recorded.sessions.is_empty() {
        "requests/s"
    } else {
        "messages/s"
    };
    panel_frame(&mut s, l.y_req, REQ_H, per_second);
    panel_frame(&mut s, l.y_fail, FAIL_H, "failed/s");
    panel_frame(&mut s, l.y_lat, LAT_H, "latency");

    requests_panel(&mut s, r, &sc, l.y_req);
    failures_panel(&mut s, r, &sc, l.y_fail);
    latency_panel(&mut s, r, &sc, l.y_lat);

    lanes.draw(&mut s, r, &sc, l.y_lanes);
    // Watch gaps over the lanes: the timeline may be missing events there.
    lanes::watch_gaps(&mut s, r, &sc, l.y_lanes, l.lanes_h);

    // Trigger and completion.
    rollout_markers(&mut s, r, &sc, l.y_axis);

    time_axis(&mut s, &sc, l.y_axis);
    s.push_str("</svg>");
    s
}

/// One band per phase behind every panel, its name in the top strip.
fn phase_bands(s: &mut String, r: &RunResult, sc: &Scale, bottom: f64) {
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
}

/// Dashed lines at the instants the rollout was triggered and completed.
fn rollout_markers(s: &mut String, r: &RunResult, sc: &Scale, bottom: f64) {
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
}
