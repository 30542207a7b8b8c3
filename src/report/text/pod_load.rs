//! The summary's line on each pod's load from its long-lived connections (gRPC runs): the
//! calls and connections the analysis tied to each, so a pod that carried everything stands
//! out beside pods that carried nothing.

use crate::analysis::Analysis;

/// `load by pod over the run: web-1 9,800 on 3 connections, …`, or nothing without pod loads.
pub(super) fn shares(a: &Analysis) -> Option<String> {
    if a.pod_load.is_empty() {
        return None;
    }
    let each: Vec<String> = a
        .pod_load
        .iter()
        .map(|l| {
            format!(
                "{} {} on {} connection{}",
                l.pod,
                super::fmt::count(l.requests),
                l.connections,
                if l.connections == 1 { "" } else { "s" }
            )
        })
        .collect();
    let mut line = format!("load by pod over the run: {}", each.join(", "));
    if a.pod_load_unattributed > 0 {
        line.push_str(&format!(
            "; {} on connections tied to no pod",
            super::fmt::count(a.pod_load_unattributed)
        ));
    }
    Some(line)
}
