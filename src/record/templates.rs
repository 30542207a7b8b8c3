//! Figures per request template of a mix, per phase and over the run: counts by outcome, a
//! latency histogram, and how often each of the template's response checks ran and failed.
//!
//! Kept only when they say something the overall figures do not: with several templates, or
//! with checks. A run of one check-free template records nothing here (its figures are the
//! run's), and one template with checks records only its check counts, its other figures
//! being copied from the run's at the end — so the per-request cost of a plain run is one
//! branch.

use serde::{Deserialize, Serialize};

use super::{Counts, EncodedHist, Hist, LatencySummary, SpanStats};
use crate::model::outcome::OutcomeClass;
use crate::model::request::RequestRecord;
use crate::model::template::TemplateInfo;

/// One template's figures over one span (a phase, or the whole run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateSpan {
    /// The phase's name, or `overall`.
    pub name: String,
    pub counts: Counts,
    pub latency: LatencySummary,
    pub latency_hist: EncodedHist,
    /// Responses the template's checks ran on (every response that arrived).
    #[serde(default)]
    pub checked: u64,
    /// Failures of each check, in the template's order of checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks_failed: Vec<u64>,
}

impl TemplateSpan {
    /// Checks that passed ÷ checks that ran, when any ran.
    pub fn checks_passed_ratio(&self) -> Option<(u64, u64)> {
        let ran = self.checked * self.checks_failed.len() as u64;
        let failed: u64 = self.checks_failed.iter().sum();
        (ran > 0).then_some((ran - failed, ran))
    }
}

/// One template's figures: over the run and per phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateStats {
    /// What the template is: its name (its index is its place in the list), what it sends and
    /// its checks, whose failures `checks_failed` counts in this order.
    #[serde(flatten)]
    pub info: TemplateInfo,
    pub overall: TemplateSpan,
    #[serde(default)]
    pub phases: Vec<TemplateSpan>,
}

impl TemplateStats {
    pub fn phase(&self, name: &str) -> Option<&TemplateSpan> {
        self.phases.iter().find(|p| p.name == name)
    }
}

/// What is accumulated per template and span while the run goes on.
#[derive(Clone, Debug, Default)]
pub(super) struct TemplateAcc {
    counts: Counts,
    latency: Hist,
    checked: u64,
    checks_failed: Vec<u64>,
}

impl TemplateAcc {
    fn merge(&mut self, o: &TemplateAcc) {
        self.counts.merge(&o.counts);
        self.latency.add(&o.latency);
        self.checked += o.checked;
        if self.checks_failed.len() < o.checks_failed.len() {
            self.checks_failed.resize(o.checks_failed.len(), 0);
        }
        for (a, b) in self.checks_failed.iter_mut().zip(&o.checks_failed) {
            *a += b;
        }
    }

    fn finish(&self, name: &str) -> TemplateSpan {
        TemplateSpan {
            name: name.to_string(),
            counts: self.counts,
            latency: self.latency.summary(),
            latency_hist: self.latency.encode(),
            checked: self.checked,
            checks_failed: self.checks_failed.clone(),
        }
    }
}

/// The per-template accumulators of a recorder: one row per span (the unphased stretch first,
/// then one per phase), one accumulator per template in each.
#[derive(Debug, Default)]
pub(super) struct Templates {
    infos: Vec<TemplateInfo>,
    /// Whether counts and latency are kept per template (several templates), or only checks.
    full: bool,
    /// Whether anything at all is kept.
    on: bool,
    /// rows[0]: unphased; rows[1 + p]: phase p.
    rows: Vec<Vec<TemplateAcc>>,
}

impl Templates {
    pub(super) fn new(infos: Vec<TemplateInfo>) -> Templates {
        let full = infos.len() > 1;
        let on = full || TemplateInfo::any_checks(&infos);
        let mut t = Templates {
            infos,
            full,
            on,
            rows: Vec::new(),
        };
        t.resize_phases(0);
        t
    }

    /// Makes room for `phases` phases.
    pub(super) fn resize_phases(&mut self, phases: usize) {
        if !self.on {
            return;
        }
        let row = || -> Vec<TemplateAcc> {
            self.infos
                .iter()
                .map(|i| TemplateAcc {
                    checks_failed: vec![0; i.checks.len()],
                    ..TemplateAcc::default()
                })
                .collect()
        };
        let want = phases + 1;
        while self.rows.len() < want {
            let r = row();
            self.rows.push(r);
        }
    }

    /// Adds one request to its template in span `row` (0: unphased, 1 + p: phase p).
    #[inline]
    pub(super) fn add(&mut self, row: usize, r: &RequestRecord) {
        if !self.on {
            return;
        }
        let Some(acc) = self
            .rows
            .get_mut(row)
            .and_then(|row| row.get_mut(r.template as usize))
        else {
            return;
        };
        if self.full {
            acc.counts.add(r.class);
            if r.class != OutcomeClass::DroppedByGenerator {
                acc.latency.record(r.latency().as_micros() as u64);
            }
        }
        if r.status.is_some() && !acc.checks_failed.is_empty() {
            acc.checked += 1;
            let mut bits = r.checks_failed;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                if let Some(n) = acc.checks_failed.get_mut(i) {
                    *n += 1;
                }
                bits &= bits - 1;
            }
        }
    }

    /// The figures of every template, per phase (named by `phases`, the recorded phases) and
    /// over the run. With one template, its counts and latency are the run's own.
    pub(super) fn finish(&self, phases: &[SpanStats], overall: &SpanStats) -> Vec<TemplateStats> {
        if !self.on {
            return Vec::new();
        }
        self.infos
            .iter()
            .enumerate()
            .map(|(t, info)| {
                let mut whole = TemplateAcc::default();
                let mut spans = Vec::with_capacity(phases.len());
                for (row, acc_row) in self.rows.iter().enumerate() {
                    let Some(acc) = acc_row.get(t) else { continue };
                    whole.merge(acc);
                    if row == 0 {
                        continue;
                    }
                    if let Some(p) = phases.get(row - 1) {
                        spans.push(self.span(acc, &p.name, p));
                    }
                }
                TemplateStats {
                    info: info.clone(),
                    overall: self.span(&whole, "overall", overall),
                    phases: spans,
                }
            })
            .collect()
    }

    /// A template's span; with one template, the run's span's counts and latency in it.
    fn span(&self, acc: &TemplateAcc, name: &str, run: &SpanStats) -> TemplateSpan {
        let mut s = acc.finish(name);
        if !self.full {
            s.counts = run.counts;
            s.latency = run.latency;
            s.latency_hist = run.latency_hist.clone();
        }
        s
    }
}
