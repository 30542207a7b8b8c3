//! What a threshold is measured on: the run's or a phase's figures, of every template of a mix
//! or of one ([`Scopes`]), and the latency quantiles read from their lossless histograms.

use super::threshold::Scopes;
use crate::record::{Counts, EncodedHist, LatencySummary, TemplateSpan};
use crate::result::RunResult;

/// What a threshold is measured on: a phase's or the run's figures, of every template or of
/// one.
pub(super) struct View<'a> {
    pub(super) counts: &'a Counts,
    pub(super) latency: &'a LatencySummary,
    pub(super) latency_hist: &'a EncodedHist,
    /// (checks passed, checks run), when any check ran.
    pub(super) checks: Option<(u64, u64)>,
}

/// The run's phases' names, for messages.
pub(super) fn phase_names(result: &RunResult) -> String {
    let names: Vec<&str> = result
        .recorded
        .phases
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    if names.is_empty() {
        "it has no phases".to_string()
    } else {
        format!("its phases: {}", names.join(", "))
    }
}

/// Checks passed and run over every template in `phase` (or the run).
fn all_checks(result: &RunResult, phase: Option<&str>) -> Option<(u64, u64)> {
    let mut passed = 0;
    let mut ran = 0;
    for t in &result.recorded.templates {
        let span = match phase {
            None => Some(&t.overall),
            Some(p) => t.phase(p),
        };
        if let Some((p, r)) = span.and_then(TemplateSpan::checks_passed_ratio) {
            passed += p;
            ran += r;
        }
    }
    (ran > 0).then_some((passed, ran))
}

pub(super) fn scope<'a>(result: &'a RunResult, scopes: &Scopes) -> Result<View<'a>, String> {
    let rec = &result.recorded;
    let phase = scopes.phase.as_deref();
    if let Some(name) = &scopes.template {
        let t = rec
            .templates
            .iter()
            .find(|t| &t.info.name == name)
            .ok_or_else(|| format!("the run recorded nothing for template `{name}`"))?;
        let span = match phase {
            None => &t.overall,
            Some(p) => t
                .phase(p)
                .ok_or_else(|| format!("the run has no `{p}` phase ({})", phase_names(result)))?,
        };
        return Ok(View {
            counts: &span.counts,
            latency: &span.latency,
            latency_hist: &span.latency_hist,
            checks: span.checks_passed_ratio(),
        });
    }
    let span = match phase {
        None => &rec.overall,
        Some(name) => rec
            .phase(name)
            .ok_or_else(|| format!("the run has no `{name}` phase ({})", phase_names(result)))?,
    };
    Ok(View {
        counts: &span.counts,
        latency: &span.latency,
        latency_hist: &span.latency_hist,
        checks: all_checks(result, phase),
    })
}

/// The template names of a result, for sorting a threshold's scopes.
pub(super) fn template_names(result: &RunResult) -> Vec<&str> {
    result
        .recorded
        .templates
        .iter()
        .map(|t| t.info.name.as_str())
        .collect()
}

/// A latency quantile in microseconds from the scope's lossless histogram; falls back to the
/// stored summary for the percentiles it holds if the histogram cannot be decoded.
pub(super) fn quantile_us(v: &View<'_>, q: f64) -> Option<u64> {
    if v.latency.count == 0 {
        return None;
    }
    match v.latency_hist.decode() {
        Ok(h) if !h.is_empty() => Some(h.quantile(q)),
        _ => {
            let s = v.latency;
            let table = [
                (0.5, s.p50_us),
                (0.9, s.p90_us),
                (0.99, s.p99_us),
                (0.999, s.p999_us),
                (1.0, s.max_us),
            ];
            table
                .iter()
                .find(|(p, _)| (p - q).abs() < 1e-9)
                .map(|(_, v)| *v)
        }
    }
}
