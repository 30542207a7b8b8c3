//! Response checks that pass on one revision and fail on the other: a breaking change of the
//! new version (old clients broken by a rename, a removed field, a changed status) or of the
//! old one (new requests that old pods cannot handle: contracted, or written, too early).
//!
//! With per-revision figures (the recorder's cells) both sides are counted over the whole
//! run. Without them, the old side's evidence is the baseline (before the trigger only old
//! pods serve) and the new side's the settle phase (after the rollout only new pods do), and
//! the failing side is counted from failures tied to pods of that revision. On a cluster path
//! a failure's pod, and so its revision, may be inferred from its connection (`infer`): such a
//! failure counts only when that attribution is near-certain ([`NEAR_CERTAIN`]); the evidence
//! says how many were inferred and how many were left out as less sure.
//!
//! The rule, with minimum counts so that a handful of responses proves nothing: on the
//! passing side at least [`MIN_CHECKED`] responses were checked and at most 0.1 % failed the
//! check; on the failing side at least [`MIN_FAILED`] responses failed it, at least 1 % of
//! those checked, and at least ten times the passing side's rate.

use super::{Sums, VersionSplit, check_names, template_names};
use crate::model::event::Revision;
use crate::model::finding::FindingId;
use crate::model::outcome::OutcomeClass;
use crate::model::phase::{BASELINE, SETTLE};
use crate::model::request::RequestRecord;
use crate::record::Recorded;

use crate::analysis::NEAR_CERTAIN;

/// The revision a failure came from and how surely: 1 when a version header, an exact route
/// or an identity header told it; the attribution's confidence when its pod was inferred from
/// its connection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Side {
    pub revision: Revision,
    pub confidence: f64,
    /// The pod was inferred (connection end, sole candidate), not observed.
    pub inferred: bool,
}

impl Side {
    pub const UNKNOWN: Side = Side {
        revision: Revision::Unknown,
        confidence: 0.0,
        inferred: false,
    };

    /// The revision when it is near-certain, else unknown.
    pub fn sure(self) -> Revision {
        if self.confidence >= NEAR_CERTAIN {
            self.revision
        } else {
            Revision::Unknown
        }
    }
}

/// Responses checked on the passing side before it counts as passing.
pub const MIN_CHECKED: u64 = 20;
/// Failures on the failing side before it counts as failing.
pub const MIN_FAILED: u64 = 5;

/// One revision's count for one check.
#[derive(Clone, Debug, PartialEq)]
pub struct Count {
    /// The revision's label (`v1`), or where the count comes from (`the baseline`).
    pub label: String,
    /// Responses checked, when known.
    pub checked: Option<u64>,
    pub failed: u64,
}

/// A check that passes on one revision and fails on the other.
#[derive(Clone, Debug, PartialEq)]
pub struct Breaking {
    pub template: u16,
    pub template_name: String,
    pub check: usize,
    pub check_name: String,
    pub warn: bool,
    /// The side it fails on: `New` for a breaking change of the new version.
    pub failing: Revision,
    pub pass: Count,
    pub fail: Count,
    /// How the counts were made, in words.
    pub how: String,
}

impl Breaking {
    pub fn finding(&self) -> FindingId {
        if self.failing == Revision::Old {
            FindingId::BreakingChangeOldVersion
        } else {
            FindingId::BreakingChangeNewVersion
        }
    }
}

/// Whether the counts show a check passing on one side and failing on the other.
fn breaks(
    pass_checked: u64,
    pass_failed: u64,
    fail_checked: Option<u64>,
    fail_failed: u64,
) -> bool {
    let passing = pass_checked >= MIN_CHECKED && pass_failed * 1_000 <= pass_checked;
    let failing = fail_failed >= MIN_FAILED
        && fail_checked.is_none_or(|c| {
            fail_failed * 100 >= c && fail_failed * pass_checked >= 10 * pass_failed * c
        });
    passing && failing
}

/// Every breaking check of the run: from the split's cells when there are any, else from the
/// phases and the failures tied to pods (`side_of` gives a failure's revision side).
pub(crate) fn find(
    recorded: &Recorded,
    split: Option<&(VersionSplit, Sums)>,
    side_of: &dyn Fn(&RequestRecord) -> Side,
) -> Vec<Breaking> {
    match split {
        Some((s, sums)) => from_cells(recorded, s, sums),
        None => from_phases(recorded, side_of),
    }
}

fn index_of(s: &VersionSplit, label: &str) -> Option<u16> {
    s.revisions
        .iter()
        .position(|r| r.label == label)
        .map(|i| i as u16)
}

/// A template's index, name, and its checks' names and warn flags.
type TemplateChecks = (u16, String, Vec<(String, bool)>);

/// Each template's checks.
fn checks_of(recorded: &Recorded) -> Vec<TemplateChecks> {
    template_names(recorded)
        .into_iter()
        .enumerate()
        .map(|(t, name)| {
            let warn: Vec<bool> = recorded
                .templates
                .get(t)
                .map(|s| s.info.checks.iter().map(|c| c.warn).collect())
                .unwrap_or_default();
            let checks = check_names(recorded, t as u16)
                .into_iter()
                .zip(warn)
                .collect();
            (t as u16, name, checks)
        })
        .collect()
}

fn from_cells(recorded: &Recorded, s: &VersionSplit, sums: &Sums) -> Vec<Breaking> {
    let (Some(old), Some(new)) = (index_of(s, &s.old), index_of(s, &s.new)) else {
        return Vec::new();
    };
    let how = format!("per revision over the run, told by {}", s.source);
    let mut out = Vec::new();
    for (t, name, checks) in checks_of(recorded) {
        let (Some(o), Some(n)) = (sums.run.get(&(t, old)), sums.run.get(&(t, new))) else {
            continue;
        };
        for (i, (check, warn)) in checks.iter().enumerate() {
            let count = |label: &str, checked, failed| Count {
                label: label.to_string(),
                checked: Some(checked),
                failed,
            };
            let (oc, of, nc, nf) = (o.checked, o.failed(i), n.checked, n.failed(i));
            let (failing, pass, fail) = if breaks(oc, of, Some(nc), nf) {
                (Revision::New, count(&s.old, oc, of), count(&s.new, nc, nf))
            } else if breaks(nc, nf, Some(oc), of) {
                (Revision::Old, count(&s.new, nc, nf), count(&s.old, oc, of))
            } else {
                continue;
            };
            out.push(Breaking {
                template: t,
                template_name: name.clone(),
                check: i,
                check_name: check.clone(),
                warn: *warn,
                failing,
                pass,
                fail,
                how: how.clone(),
            });
        }
    }
    out
}

/// One check's failures tied to each revision: near-certain ones counted (`inferred` of
/// them through a pod inferred from the connection), less sure ones left out (`unsure`).
#[derive(Default)]
struct Tied {
    old: u64,
    new: u64,
    inferred: u64,
    unsure: u64,
}

impl Tied {
    fn of(recorded: &Recorded, t: u16, i: usize, side_of: &dyn Fn(&RequestRecord) -> Side) -> Tied {
        let mut out = Tied::default();
        let failed = recorded.failures.iter();
        for s in failed
            .filter(|f| f.template == t && f.check_failed(i))
            .map(side_of)
        {
            match s.sure() {
                Revision::Old => out.old += 1,
                Revision::New => out.new += 1,
                Revision::Unknown => {
                    out.unsure += u64::from(s.revision != Revision::Unknown);
                    continue;
                }
            }
            out.inferred += u64::from(s.inferred);
        }
        out
    }

    /// How the failing side was counted, in words.
    fn how(&self) -> String {
        let mut how = "the phase in which only one revision served, and the failures tied to pods \
                       (no response's revision was known as it came: a version or identity \
                       header tells it on every path)"
            .to_string();
        if self.inferred > 0 || self.unsure > 0 {
            how.push_str(&format!(
                "; {} of those failures' pods inferred from their connections (near-certain), \
                 {} tied less surely left out",
                self.inferred, self.unsure
            ));
        }
        how
    }
}

fn from_phases(recorded: &Recorded, side_of: &dyn Fn(&RequestRecord) -> Side) -> Vec<Breaking> {
    let mut out = Vec::new();
    for (t, name, checks) in checks_of(recorded) {
        let Some(stats) = recorded.templates.get(t as usize) else {
            continue;
        };
        for (i, (check, warn)) in checks.iter().enumerate() {
            let phase = |p: &str| {
                stats
                    .phase(p)
                    .map(|s| (s.checked, s.checks_failed.get(i).copied().unwrap_or(0)))
            };
            let tied = Tied::of(recorded, t, i, side_of);
            let tied_count = |label: &str, failed| Count {
                label: label.to_string(),
                checked: None,
                failed,
            };
            let phase_count = |label: &str, (checked, failed): (u64, u64)| Count {
                label: label.to_string(),
                checked: Some(checked),
                failed,
            };
            let found = match (phase(BASELINE), phase(SETTLE)) {
                (Some(b), _) if tied.old == 0 && breaks(b.0, b.1, None, tied.new) => Some((
                    Revision::New,
                    phase_count("the baseline (old pods only)", b),
                    tied_count("failures tied to new pods", tied.new),
                )),
                (_, Some(s)) if tied.new == 0 && breaks(s.0, s.1, None, tied.old) => Some((
                    Revision::Old,
                    phase_count("the settle phase (new pods only)", s),
                    tied_count("failures tied to old pods", tied.old),
                )),
                _ => None,
            };
            if let Some((failing, pass, fail)) = found {
                out.push(Breaking {
                    template: t,
                    template_name: name.clone(),
                    check: i,
                    check_name: check.clone(),
                    warn: *warn,
                    failing,
                    pass,
                    fail,
                    how: tied.how(),
                });
            }
        }
    }
    out
}

/// The breaking change a failed check's response belongs to, if any: one of its failed checks
/// breaks on its revision's side (or on either, when its revision is unknown or less than
/// near-certain).
pub fn cause_of(f: &RequestRecord, side: Side, found: &[Breaking]) -> Option<FindingId> {
    let side = side.sure();
    if f.class != OutcomeClass::CheckFailed {
        return None;
    }
    found
        .iter()
        .find(|b| {
            b.template == f.template
                && f.check_failed(b.check)
                && (side == Revision::Unknown || side == b.failing)
        })
        .map(Breaking::finding)
}
