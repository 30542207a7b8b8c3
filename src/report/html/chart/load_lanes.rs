//! Each pod's load on its lane, from the long-lived connections tied to it (gRPC runs): the
//! calls it carried per second, as bars in the lane's top strip, every lane on one scale, so a
//! pod that carries everything after a rollout — connections that never rebalanced — stands
//! out beside lanes left empty. Draws what the analysis attributed; decides nothing.

use std::fmt::Write as _;

use crate::result::RunResult;

use super::{PIN_H, Scale, esc};

/// The largest per-second count on any pod: every lane's bars share one scale.
pub(super) fn peak(r: &RunResult) -> u32 {
    r.analysis
        .pod_load
        .iter()
        .flat_map(|p| p.seconds.iter().map(|s| s.requests))
        .max()
        .unwrap_or(0)
}

/// Draws `pod`'s requests per second in the lane at `y`.
pub(super) fn draw(s: &mut String, r: &RunResult, sc: &Scale, pod: &str, y: f64, peak: u32) {
    let Some(p) = r.analysis.pod_load.iter().find(|p| p.pod == pod) else {
        return;
    };
    // One second's width (xs is a position).
    let w = (sc.xs(1.0) - sc.xs(0.0)).max(1.0);
    for sec in &p.seconds {
        let h = (PIN_H * f64::from(sec.requests) / f64::from(peak.max(1))).max(1.0);
        let failed = if sec.failed > 0 {
            format!(", {} failed", sec.failed)
        } else {
            String::new()
        };
        let _ = write!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#5c6bc0" fill-opacity="0.7" class="load-bar"><title>{}: {} requests in second {}{failed} ({} connections)</title></rect>"##,
            sc.xs(sec.second as f64),
            y + PIN_H - h,
            (w - 0.5).max(0.5),
            esc(pod),
            sec.requests,
            sec.second,
            p.connections
        );
    }
}
