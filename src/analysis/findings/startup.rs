//! The startup family: early traffic — failures from a pod shortly after it was declared
//! ready, the mark of a readiness probe that passes before the app can serve.

use super::{Facts, Group, finding, pod_list, requests, secs};
use crate::analysis::fixes;
use crate::model::finding::{Finding, FindingId, Severity};

pub fn early_traffic(g: &Group<'_>, facts: &Facts<'_>) -> Finding {
    let mut ev = g.evidence();
    let mut longest = std::time::Duration::ZERO;
    for pod in g.pods() {
        let Some(p) = facts.pods.get(&pod) else {
            continue;
        };
        let Some(ready) = p.ready else { continue };
        let last = g.of_pod(&pod).map(|f| f.sent).max().unwrap_or(ready);
        let after = last.saturating_sub(ready);
        longest = longest.max(after);
        ev.details.push(format!(
            "{pod}: ready at {ready}; {} failed until {} after that",
            requests(g.of_pod(&pod).count() as u64),
            secs(after)
        ));
    }
    let no_probe = facts.input.workload.readiness_probe == Some(false);
    if no_probe {
        ev.details
            .push("no readiness probe: pods are ready as soon as the container starts".into());
    }
    finding(
        FindingId::EarlyTraffic,
        Severity::Error,
        format!(
            "{} failed on {} within {} of becoming ready",
            requests(g.len()),
            pod_list(&ev.pods),
            secs(longest)
        ),
        ev,
        if no_probe {
            "Without a readiness probe a pod takes traffic the moment its container starts, \
             before the app can serve."
        } else {
            "The readiness probe passed before the app could serve, so the Service sent it \
             traffic too early."
        },
        format!(
            "Make the readiness probe check what the app needs before it serves (warm-up, \
             connections, caches) — here it kept failing for {} after reporting ready; add a \
             startup probe for slow starters.",
            secs(longest)
        ),
        Some(fixes::readiness_probe(&facts.target)),
    )
}
