//! The capacity family: fewer ready endpoints than desired while errors or latency rose, no
//! ready endpoint at all, and a rollout p99 far above the baseline's. These rest on windows
//! of the run and on latency, not only on individual failures.

use std::time::Duration;

use super::{Facts, Group, clip, finding, requests, secs};
use crate::analysis::endpoints::Window;
use crate::analysis::fixes;
use crate::model::clock::At;
use crate::model::event::EventKind;
use crate::model::finding::{Finding, FindingId, Severity};
use crate::model::phase::{BASELINE, ROLLOUT};

/// The part of the run where the rollout could matter: from the trigger (or the first
/// request) to the end of the load. Endpoint changes while replicas are torn down after the
/// load are not the rollout's.
fn rollout_span(facts: &Facts<'_>) -> (At, At) {
    let trigger = facts
        .timeline
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Trigger { .. }))
        .map(|e| e.at);
    let overall = &facts.recorded.overall;
    (trigger.unwrap_or(overall.start), overall.end)
}

fn clipped(ws: &[Window], facts: &Facts<'_>) -> Vec<Window> {
    let (from, to) = rollout_span(facts);
    ws.iter().filter_map(|w| clip(w, from, to)).collect()
}

/// From the first window's start to the last one's end.
fn span(ws: &[Window]) -> Option<(At, At)> {
    Some((ws.first()?.start, ws.last()?.end))
}

fn describe(w: &Window) -> String {
    format!(
        "{} to {} ({}): {} of {} ready",
        w.start,
        w.end,
        secs(w.end.saturating_sub(w.start)),
        w.min_ready,
        w.desired
    )
}

/// Baseline p99 in µs, from the baseline phase or, without one, the whole run.
fn baseline_p99(facts: &Facts<'_>) -> u64 {
    facts
        .recorded
        .phase(BASELINE)
        .map_or(facts.recorded.overall.latency.p99_us, |p| p.latency.p99_us)
}

/// A p99 that counts as "far above" the baseline's.
fn regressed(p99_us: u64, base_us: u64, facts: &Facts<'_>) -> bool {
    let input = facts.input;
    let by_ratio = base_us > 0 && p99_us as f64 >= base_us as f64 * input.latency_ratio;
    let by_amount =
        Duration::from_micros(p99_us.saturating_sub(base_us)) >= input.latency_min_increase;
    by_ratio && by_amount
}

pub fn capacity_dip(g: &Group<'_>, facts: &Facts<'_>) -> Option<Finding> {
    let dips = clipped(facts.dips, facts);
    if dips.is_empty() && g.items.is_empty() {
        return None;
    }
    let base = baseline_p99(facts);
    // Seconds of the series overlapping a dip whose p99 regressed.
    let slow: Vec<(u64, u64)> = facts
        .recorded
        .series
        .iter()
        .filter(|s| {
            let (from, to) = (At(s.second * 1_000_000), At((s.second + 1) * 1_000_000));
            dips.iter().any(|w| w.start < to && from < w.end)
        })
        .filter(|s| regressed(s.latency.p99_us, base, facts))
        .map(|s| (s.second, s.latency.p99_us))
        .collect();
    if g.items.is_empty() && slow.is_empty() {
        return None;
    }
    let mut ev = g.evidence();
    if ev.window.is_none() {
        ev.window = span(&dips);
    }
    ev.details.extend(
        dips.iter()
            .map(|w| format!("below desired {}", describe(w))),
    );
    if let Some((sec, p99)) = slow.iter().max_by_key(|s| s.1) {
        ev.details.push(format!(
            "p99 reached {} in second {sec} against a baseline p99 of {}",
            secs(Duration::from_micros(*p99)),
            secs(Duration::from_micros(base))
        ));
    }
    let min = dips.iter().map(|w| w.min_ready).min().unwrap_or(0);
    let desired = dips.iter().map(|w| w.desired).max().unwrap_or(0);
    let what = if g.items.is_empty() {
        "latency rose".to_string()
    } else {
        format!("{} failed", requests(g.len()))
    };
    Some(finding(
        FindingId::CapacityDip,
        if g.items.is_empty() {
            Severity::Warning
        } else {
            Severity::Error
        },
        format!("{what} while ready endpoints dropped to {min} of {desired}"),
        ev,
        "The rollout took pods out of service before their replacements were ready, leaving \
         too few to carry the load.",
        "Roll with maxUnavailable: 0 and maxSurge ≥ 1 so a new pod is ready before an old one \
         goes, and run enough replicas to carry the load with one fewer."
            .into(),
        Some(fixes::surge_strategy(facts.timeline.desired_replicas)),
    ))
}

pub fn no_endpoints(g: &Group<'_>, facts: &Facts<'_>) -> Option<Finding> {
    let zero = clipped(facts.zero, facts);
    if zero.is_empty() && g.items.is_empty() {
        return None;
    }
    let mut ev = g.evidence();
    if ev.window.is_none() {
        ev.window = span(&zero);
    }
    let total: Duration = zero.iter().map(|w| w.end.saturating_sub(w.start)).sum();
    ev.details.extend(
        zero.iter()
            .map(|w| format!("no ready endpoint from {} to {}", w.start, w.end)),
    );
    let replicas = facts.timeline.desired_replicas;
    if let Some(r) = replicas.filter(|r| *r < 2) {
        ev.details.push(format!("desired replicas: {r}"));
    }
    let mut yaml = fixes::surge_strategy(Some(replicas.unwrap_or(2).max(2)));
    yaml.push_str("---\n");
    yaml.push_str(&fixes::pod_disruption_budget(&facts.target));
    Some(finding(
        FindingId::NoEndpoints,
        if g.items.is_empty() {
            Severity::Warning
        } else {
            Severity::Error
        },
        format!(
            "the Service had no ready endpoint for {}{}",
            secs(total),
            if g.items.is_empty() {
                String::new()
            } else {
                format!("; {} failed", requests(g.len()))
            }
        ),
        ev,
        "Every pod was out of service at once: old pods left before a new one was ready.",
        "Run at least 2 replicas, roll with maxUnavailable: 0 and maxSurge: 1, and add a \
         PodDisruptionBudget so voluntary disruptions keep one pod serving."
            .into(),
        Some(yaml),
    ))
}

pub fn latency_regression(facts: &Facts<'_>) -> Option<Finding> {
    let ratio = facts.p99_ratio?;
    let base = facts.recorded.phase(BASELINE)?;
    let roll = facts.recorded.phase(ROLLOUT)?;
    if !regressed(roll.latency.p99_us, base.latency.p99_us, facts) {
        return None;
    }
    // With 1 % or more of the rollout's requests failed, its p99 may be nothing but the
    // failures' own latency, which other findings already explain: no separate claim.
    if roll.counts.failed() * 100 >= roll.latency.count.max(1) {
        return None;
    }
    let mut details = vec![format!(
        "baseline p99 {} over {} requests; rollout p99 {} over {}",
        secs(Duration::from_micros(base.latency.p99_us)),
        base.latency.count,
        secs(Duration::from_micros(roll.latency.p99_us)),
        roll.latency.count
    )];
    let failed = roll.counts.failed();
    if failed > 0 {
        details.push(format!(
            "the rollout p99 includes the latency of its {failed} failed request{} (explained by other findings)",
            if failed == 1 { "" } else { "s" }
        ));
    }
    let evidence = crate::model::finding::Evidence {
        window: Some((roll.start, roll.end)),
        details,
        ..Default::default()
    };
    Some(finding(
        FindingId::LatencyRegression,
        Severity::Warning,
        format!(
            "rollout p99 {} is {ratio:.1}× the baseline p99 {}",
            secs(Duration::from_micros(roll.latency.p99_us)),
            secs(Duration::from_micros(base.latency.p99_us))
        ),
        evidence,
        "Requests queued during the rollout: fewer pods, or cold new ones, carried the load.",
        "Keep capacity during the surge (maxUnavailable: 0, maxSurge ≥ 1, enough replicas) and \
         let new pods warm up before their readiness probe passes (minReadySeconds helps)."
            .into(),
        Some(fixes::surge_strategy(facts.timeline.desired_replicas)),
    ))
}
