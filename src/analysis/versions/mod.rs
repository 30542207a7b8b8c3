//! Old versus new: which revision is which, the window in which both served, and each
//! template's figures per revision in it — requests, failures by class, failed checks, p50 and
//! p99 — with a Mann–Whitney comparison of their latencies ([`stats`]); and the response
//! checks that pass on one revision and fail on the other ([`breaking`]).
//!
//! It reads the recorder's per-second, per-template, per-revision cells, which exist when the
//! run could tell revisions apart as it went (the local proxy's routes, a version or identity
//! header, pod addresses). Which label is old and which is new comes from the pods that carry
//! it (their `PodCreated`), else from when it was first seen: before the trigger is old.
//! Without cells, a breaking change can still be shown from attributed failures against the
//! baseline (all old) or the settle phase (all new); the comparison then says what is missing.

pub mod breaking;
pub mod stats;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::clock::At;
use crate::model::event::{EventKind, Revision};
use crate::model::outcome::OutcomeClass;
use crate::record::{Counts, Hist, Recorded};
use crate::timeline::Timeline;

pub use breaking::Breaking;

/// Responses per revision below which latencies are not compared (Spinnaker's minimum for a
/// canary metric).
pub const MIN_POINTS: u64 = 50;

/// Kayenta's tolerance: a shift counts when its confidence interval clears this share of the
/// shift's own estimate.
pub const TOLERANCE: f64 = 0.25;

/// The comparison of one run's revisions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionSplit {
    /// How each response's revision was told.
    pub source: String,
    /// Every revision seen, in the order first seen.
    pub revisions: Vec<RevisionSeen>,
    /// The labels compared.
    pub old: String,
    pub new: String,
    /// The whole seconds in which both served (absent when they never did together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<(At, At)>,
    /// Per template, in the window.
    pub templates: Vec<TemplateVersions>,
}

/// One revision seen during the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RevisionSeen {
    pub label: String,
    pub side: Revision,
    /// Its pods, when the timeline shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
    /// Responses it served over the run.
    pub requests: u64,
}

/// One template, old and new side by side in the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateVersions {
    pub template: String,
    pub old: RevisionStats,
    pub new: RevisionStats,
    /// Their latencies compared, when both had enough responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyComparison>,
    /// Why the latencies were not compared, when they were not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One revision's figures for one template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RevisionStats {
    pub revision: String,
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Failures by class.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<OutcomeClass, u64>,
    /// Responses the template's checks ran on.
    pub checked: u64,
    /// Failures per check, by name (checks that never failed are left out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks_failed: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_us: Option<u64>,
}

/// Which way the new revision's latency moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shift {
    Higher,
    Lower,
    Same,
}

/// The new revision's latency against the old one's: Mann–Whitney U, the Hodges–Lehmann
/// shift and its 95 % interval, classified as Kayenta does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyComparison {
    pub old_count: u64,
    pub new_count: u64,
    pub p_value: f64,
    /// New minus old, microseconds.
    pub shift_us: f64,
    pub ci_low_us: f64,
    pub ci_high_us: f64,
    pub shift: Shift,
}

/// One template's accumulated figures for one revision.
#[derive(Clone, Debug, Default)]
pub(crate) struct Agg {
    pub counts: Counts,
    pub checked: u64,
    pub checks_failed: Vec<u64>,
    pub latency: Hist,
}

impl Agg {
    fn add(&mut self, cell: &crate::record::SplitCell) {
        self.counts.merge(&cell.counts);
        self.checked += cell.checked;
        if self.checks_failed.len() < cell.checks_failed.len() {
            self.checks_failed.resize(cell.checks_failed.len(), 0);
        }
        for (a, b) in self.checks_failed.iter_mut().zip(&cell.checks_failed) {
            *a += b;
        }
        if let Ok(h) = cell.latency_hist.decode() {
            self.latency.add(&h);
        }
    }

    pub(crate) fn failed(&self, check: usize) -> u64 {
        self.checks_failed.get(check).copied().unwrap_or(0)
    }
}

/// The cells summed per (template, revision index): over the run, and in `window` seconds.
pub(crate) struct Sums {
    pub run: BTreeMap<(u16, u16), Agg>,
    pub window: BTreeMap<(u16, u16), Agg>,
}

fn sums(recorded: &Recorded, window: Option<(u64, u64)>) -> Sums {
    let mut out = Sums {
        run: BTreeMap::new(),
        window: BTreeMap::new(),
    };
    for s in &recorded.series {
        let inside = window.is_some_and(|(a, b)| s.second >= a && s.second <= b);
        for c in &s.split {
            out.run.entry((c.template, c.revision)).or_default().add(c);
            if inside {
                out.window
                    .entry((c.template, c.revision))
                    .or_default()
                    .add(c);
            }
        }
    }
    out
}

/// Each label's side: from the pods carrying it, else from when it was first seen.
fn sides(recorded: &Recorded, timeline: &Timeline) -> Vec<RevisionSeen> {
    let mut pods: BTreeMap<&str, (Revision, Vec<String>)> = BTreeMap::new();
    for e in &timeline.events {
        if let (
            Some(pod),
            EventKind::PodCreated {
                revision,
                revision_name: Some(name),
            },
        ) = (&e.pod, &e.kind)
        {
            let slot = pods.entry(name).or_insert((*revision, Vec::new()));
            if !slot.1.contains(pod) {
                slot.1.push(pod.clone());
            }
        }
    }
    let trigger = timeline
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Trigger { .. }))
        .map(|e| e.at.second());
    let first_seen = |label: u16| {
        recorded
            .series
            .iter()
            .find(|s| s.split.iter().any(|c| c.revision == label))
            .map(|s| s.second)
    };
    let earliest = (0..recorded.revisions.len() as u16).min_by_key(|l| first_seen(*l));
    recorded
        .revisions
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let requests = recorded
                .series
                .iter()
                .flat_map(|s| &s.split)
                .filter(|c| c.revision as usize == i)
                .map(|c| c.counts.total())
                .sum();
            let (side, pods) = match pods.get(label.as_str()) {
                Some((rev, p)) if *rev != Revision::Unknown => (*rev, p.clone()),
                _ => {
                    let seen = first_seen(i as u16);
                    let old = match trigger {
                        Some(t) => seen.is_some_and(|s| s < t),
                        None => earliest == Some(i as u16),
                    };
                    let side = if old { Revision::Old } else { Revision::New };
                    (side, Vec::new())
                }
            };
            RevisionSeen {
                label: label.clone(),
                side,
                pods,
                requests,
            }
        })
        .collect()
}

/// The most requested label of `side`, as an index.
fn busiest(seen: &[RevisionSeen], side: Revision) -> Option<u16> {
    seen.iter()
        .enumerate()
        .filter(|(_, r)| r.side == side)
        .max_by_key(|(_, r)| r.requests)
        .map(|(i, _)| i as u16)
}

/// The first and last second in which both `old` and `new` served.
fn overlap(recorded: &Recorded, old: u16, new: u16) -> Option<(u64, u64)> {
    let both = |s: &&crate::record::Second| {
        let has = |l| {
            s.split
                .iter()
                .any(|c| c.revision == l && c.counts.total() > 0)
        };
        has(old) && has(new)
    };
    let first = recorded.series.iter().find(both)?.second;
    let last = recorded.series.iter().rev().find(both)?.second;
    Some((first, last))
}

/// The split of a run whose recorder told revisions apart; `None` when it told fewer than an
/// old and a new one.
pub(crate) fn split(recorded: &Recorded, timeline: &Timeline) -> Option<(VersionSplit, Sums)> {
    let seen = sides(recorded, timeline);
    let old = busiest(&seen, Revision::Old)?;
    let new = busiest(&seen, Revision::New)?;
    let window = overlap(recorded, old, new);
    let sums = sums(recorded, window);
    let templates = template_names(recorded)
        .iter()
        .enumerate()
        .filter_map(|(t, name)| {
            let t = t as u16;
            let checks = check_names(recorded, t);
            let o = sums.window.get(&(t, old));
            let n = sums.window.get(&(t, new));
            if o.is_none() && n.is_none() {
                return None;
            }
            let old_stats = revision_stats(&seen[old as usize].label, o, &checks);
            let new_stats = revision_stats(&seen[new as usize].label, n, &checks);
            let (latency, note) = compare(o, n);
            Some(TemplateVersions {
                template: name.clone(),
                old: old_stats,
                new: new_stats,
                latency,
                note,
            })
        })
        .collect();
    let to_at = |(a, b): (u64, u64)| (At(a * 1_000_000), At((b + 1) * 1_000_000));
    let split = VersionSplit {
        source: recorded.revision_source.clone().unwrap_or_default(),
        old: seen[old as usize].label.clone(),
        new: seen[new as usize].label.clone(),
        revisions: seen,
        window: window.map(to_at),
        templates,
    };
    Some((split, sums))
}

/// The templates' names (one unnamed request shape is `default`).
pub(crate) fn template_names(recorded: &Recorded) -> Vec<String> {
    if recorded.templates.is_empty() {
        vec!["default".to_string()]
    } else {
        recorded
            .templates
            .iter()
            .map(|t| t.info.name.clone())
            .collect()
    }
}

/// Template `t`'s checks' names.
pub(crate) fn check_names(recorded: &Recorded, t: u16) -> Vec<String> {
    recorded
        .templates
        .get(t as usize)
        .map(|s| s.info.checks.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

fn revision_stats(label: &str, agg: Option<&Agg>, checks: &[String]) -> RevisionStats {
    let Some(a) = agg else {
        return RevisionStats {
            revision: label.to_string(),
            ..RevisionStats::default()
        };
    };
    let classes = a
        .counts
        .iter()
        .filter(|(c, n)| *n > 0 && c.is_failure())
        .collect();
    let checks_failed = a
        .checks_failed
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| {
            let name = checks
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("check {i}"));
            (name, *n)
        })
        .collect();
    let sent = !a.latency.is_empty();
    RevisionStats {
        revision: label.to_string(),
        requests: a.counts.total(),
        ok: a.counts.ok(),
        failed: a.counts.failed(),
        classes,
        checked: a.checked,
        checks_failed,
        p50_us: sent.then(|| a.latency.quantile(0.5)),
        p99_us: sent.then(|| a.latency.quantile(0.99)),
    }
}

/// The latency comparison of one template, or why there is none.
fn compare(old: Option<&Agg>, new: Option<&Agg>) -> (Option<LatencyComparison>, Option<String>) {
    let count = |a: Option<&Agg>| a.map_or(0, |a| a.latency.len());
    let (n_old, n_new) = (count(old), count(new));
    if n_old < MIN_POINTS || n_new < MIN_POINTS {
        return (
            None,
            Some(format!(
                "too few responses to compare latencies in the window ({n_old} old, {n_new} new; \
                 {MIN_POINTS} each needed)"
            )),
        );
    }
    let (Some(o), Some(n)) = (old, new) else {
        return (None, None);
    };
    let Some(c) = stats::compare(&o.latency.recorded(), &n.latency.recorded()) else {
        return (None, None);
    };
    let bound = TOLERANCE * c.shift.abs();
    let shift = if c.low > bound {
        Shift::Higher
    } else if c.high < -bound {
        Shift::Lower
    } else {
        Shift::Same
    };
    (
        Some(LatencyComparison {
            old_count: c.old_count,
            new_count: c.new_count,
            p_value: c.p_value,
            shift_us: c.shift,
            ci_low_us: c.low,
            ci_high_us: c.high,
            shift,
        }),
        None,
    )
}

#[cfg(test)]
mod tests;
