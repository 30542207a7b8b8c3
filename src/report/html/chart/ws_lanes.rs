//! WebSocket sessions on the pod lanes: the messages each pod answered per second, as bars in
//! the lane's top strip, and a mark at every session the server ended or that failed — a
//! hollow circle for a goodbye (1000 / 1001 / 1012), a red cross for a drop (1006) or any
//! other failure. Draws what the analysis attributed; decides nothing.

use std::fmt::Write as _;

use crate::report::fmt;
use crate::result::RunResult;

use super::{LANE_H, PIN_H, Scale, esc};

/// The largest per-second count on any pod: every lane's bars share one scale.
pub(super) fn peak(r: &RunResult) -> u64 {
    r.analysis.sessions.as_ref().map_or(0, |a| {
        a.pods
            .iter()
            .flat_map(|p| p.per_second.iter().map(|(_, n)| *n))
            .max()
            .unwrap_or(0)
    })
}

/// Draws `pod`'s messages per second and session ends in the lane at `y`.
pub(super) fn draw(s: &mut String, r: &RunResult, sc: &Scale, pod: &str, y: f64, peak: u64) {
    let Some(a) = &r.analysis.sessions else {
        return;
    };
    // One second's width (xs is a position).
    let w = (sc.xs(1.0) - sc.xs(0.0)).max(1.0);
    if let Some(p) = a.pods.iter().find(|p| p.pod == pod) {
        for (second, n) in &p.per_second {
            let h = (PIN_H * *n as f64 / peak.max(1) as f64).max(1.0);
            let _ = write!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#64b5f6" fill-opacity="0.7" class="msg-bar"><title>{}: {n} messages answered in second {second}</title></rect>"##,
                sc.xs(*second as f64),
                y + PIN_H - h,
                (w - 0.5).max(0.5),
                esc(pod),
            );
        }
    }
    for e in a.ends.iter().filter(|e| e.pod == pod) {
        let x = sc.x(e.at);
        let cy = y + LANE_H / 2.0;
        let what = match e.code {
            Some(c) => format!("{} (close {c})", e.class),
            None => e.class.to_string(),
        };
        let title = format!("{pod}: session ended {what} at {}", fmt::at(e.at));
        if e.class.is_graceful() {
            let _ = write!(
                s,
                r##"<circle cx="{x:.1}" cy="{cy:.1}" r="2.5" fill="none" stroke="#2e7d32" class="session-end"><title>{}</title></circle>"##,
                esc(&title)
            );
        } else {
            let _ = write!(
                s,
                r##"<path d="M{:.1} {:.1}l5 5m0 -5l-5 5" stroke="#c62828" stroke-width="1.5" class="session-drop"><title>{}</title></path>"##,
                x - 2.5,
                cy - 2.5,
                esc(&title)
            );
        }
    }
}
