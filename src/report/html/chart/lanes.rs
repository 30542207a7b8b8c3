//! The chart's lanes: one per pod, with its lifecycle as the analysis reports it, a tick per
//! lifecycle event and a pin per failure attributed to it; a last lane for failures attributed
//! to no pod; and the watch gaps, hatched over every lane.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::analysis::{PodLag, PodReport};
use crate::model::clock::At;
use crate::model::event::{EventKind, Revision};
use crate::model::request::RequestRecord;
use crate::report::fmt;
use crate::result::RunResult;

use super::{
    LANE_DRAINING, LANE_GONE_BUT_ROUTED, LANE_H, LANE_SERVING, LANE_STARTING, LANE_TERMINATING, ML,
    PIN_H, PW, Scale, class_color, esc,
};

/// The pods drawn as lanes and the failures drawn on them.
pub(super) struct Lanes<'a> {
    pods: Vec<(String, Revision, Option<&'a PodReport>)>,
    /// Every logged failure, by sequence number.
    records: HashMap<u64, &'a RequestRecord>,
    /// Logged failures the analysis attributed to no pod.
    unattributed: Vec<&'a RequestRecord>,
    /// The busiest pod's requests in one second (the scale of every lane's load bars).
    load_peak: u32,
}

impl<'a> Lanes<'a> {
    pub(super) fn of(r: &'a RunResult) -> Lanes<'a> {
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
        let lane_pods: Vec<(String, Revision, Option<&PodReport>)> = if r.analysis.pods.is_empty() {
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
        Lanes {
            pods: lane_pods,
            records,
            unattributed,
            load_peak: super::load_lanes::peak(r),
        }
    }

    /// How many lanes: one per pod, one more for unattributed failures.
    pub(super) fn count(&self) -> usize {
        self.pods.len() + usize::from(!self.unattributed.is_empty())
    }

    /// Every lane, the first at `y_lanes`.
    pub(super) fn draw(&self, s: &mut String, r: &RunResult, sc: &Scale, y_lanes: f64) {
        let Lanes {
            pods: lane_pods,
            records,
            unattributed,
            load_peak,
        } = self;
        for (i, (name, revision, report)) in lane_pods.iter().enumerate() {
            let y = y_lanes + i as f64 * LANE_H;
            lane(s, r, sc, (name, *revision, *report), y, records);
            super::load_lanes::draw(s, r, sc, name, y, *load_peak);
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
                failure_mark(s, sc, f, y, 1.0, None);
            }
        }
    }
}

/// Hatches the lanes where a watch was down: the timeline may be missing events there.
pub(super) fn watch_gaps(s: &mut String, r: &RunResult, sc: &Scale, y_lanes: f64, lanes_h: f64) {
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
}

fn lane(
    s: &mut String,
    r: &RunResult,
    sc: &Scale,
    (name, revision, report): (&str, Revision, Option<&PodReport>),
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

    // WebSocket runs: messages answered per second and session ends.
    super::ws_lanes::draw(s, r, sc, name, y, super::ws_lanes::peak(r));

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
