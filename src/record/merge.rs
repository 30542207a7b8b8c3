//! Lossless merging of recorded results from several generators (an Indexed Job's workers):
//! counts add per second, per phase, per template and overall; histograms are decoded, added
//! and re-encoded; revision labels are united (each generator numbered them as it met them)
//! and the per-second cells merged by template and revision; failure logs are concatenated in
//! due order.

use std::collections::BTreeMap;

use super::{
    EncodedHist, LatencySummary, Recorded, Second, SpanStats, SplitCell, TemplateSpan,
    TemplateStats,
};

/// Results that cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A histogram in one of the inputs is corrupt.
    #[error("{what}: {source}")]
    Histogram {
        what: String,
        source: super::DecodeError,
    },
    /// Nothing to merge.
    #[error("no results to merge")]
    Empty,
}

pub(super) fn add_hist(
    a: &EncodedHist,
    b: &EncodedHist,
    what: &str,
) -> Result<EncodedHist, MergeError> {
    let mut ha = a.decode().map_err(|source| MergeError::Histogram {
        what: what.to_string(),
        source,
    })?;
    let hb = b.decode().map_err(|source| MergeError::Histogram {
        what: what.to_string(),
        source,
    })?;
    ha.add(&hb);
    Ok(ha.encode())
}

fn add_counts(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

fn merge_cells(a: &mut Vec<SplitCell>, b: &[SplitCell], what: &str) -> Result<(), MergeError> {
    for cell in b {
        match a
            .iter_mut()
            .find(|c| c.template == cell.template && c.revision == cell.revision)
        {
            Some(c) => {
                c.counts.merge(&cell.counts);
                c.checked += cell.checked;
                add_counts(&mut c.checks_failed, &cell.checks_failed);
                c.latency_hist = add_hist(&c.latency_hist, &cell.latency_hist, what)?;
            }
            None => a.push(cell.clone()),
        }
    }
    Ok(())
}

fn merge_second(a: &mut Second, b: &Second) -> Result<(), MergeError> {
    merge_cells(&mut a.split, &b.split, &format!("second {}", a.second))?;
    a.counts.merge(&b.counts);
    a.failures_not_kept += b.failures_not_kept;
    a.latency_hist = add_hist(
        &a.latency_hist,
        &b.latency_hist,
        &format!("second {}", a.second),
    )?;
    a.latency = summary_of(&a.latency_hist, a.latency);
    Ok(())
}

/// The summary of a merged histogram (`old` if it cannot be decoded).
fn summary_of(h: &EncodedHist, old: LatencySummary) -> LatencySummary {
    h.decode().map(|h| h.summary()).unwrap_or(old)
}

fn merge_span(a: &mut SpanStats, b: &SpanStats) -> Result<(), MergeError> {
    let what = format!("phase {}", a.name);
    a.start = a.start.min(b.start);
    a.end = a.end.max(b.end);
    a.counts.merge(&b.counts);
    for (status, n) in &b.statuses {
        *a.statuses.entry(*status).or_default() += n;
    }
    a.latency_hist = add_hist(&a.latency_hist, &b.latency_hist, &what)?;
    a.service_time_hist = add_hist(&a.service_time_hist, &b.service_time_hist, &what)?;
    a.send_lateness_hist = add_hist(&a.send_lateness_hist, &b.send_lateness_hist, &what)?;
    a.latency = summary_of(&a.latency_hist, a.latency);
    a.service_time = summary_of(&a.service_time_hist, a.service_time);
    a.send_lateness = summary_of(&a.send_lateness_hist, a.send_lateness);
    Ok(())
}

fn merge_template_span(
    a: &mut TemplateSpan,
    b: &TemplateSpan,
    what: &str,
) -> Result<(), MergeError> {
    a.counts.merge(&b.counts);
    a.checked += b.checked;
    add_counts(&mut a.checks_failed, &b.checks_failed);
    a.latency_hist = add_hist(&a.latency_hist, &b.latency_hist, what)?;
    a.latency = summary_of(&a.latency_hist, a.latency);
    Ok(())
}

fn merge_templates(a: &mut Vec<TemplateStats>, b: Vec<TemplateStats>) -> Result<(), MergeError> {
    for t in b {
        let Some(mine) = a.iter_mut().find(|m| m.info.name == t.info.name) else {
            a.push(t);
            continue;
        };
        let what = format!("template {}", t.info.name);
        merge_template_span(&mut mine.overall, &t.overall, &what)?;
        for p in t.phases {
            match mine.phases.iter_mut().find(|q| q.name == p.name) {
                Some(q) => merge_template_span(q, &p, &what)?,
                None => mine.phases.push(p),
            }
        }
    }
    Ok(())
}

/// Puts `other`'s revision labels into `labels` and renumbers its cells to match.
fn unite_revisions(labels: &mut Vec<String>, other: &mut Recorded) {
    let map: Vec<u16> = other
        .revisions
        .iter()
        .map(|l| match labels.iter().position(|m| m == l) {
            Some(i) => i as u16,
            None => {
                labels.push(l.clone());
                (labels.len() - 1) as u16
            }
        })
        .collect();
    for s in &mut other.series {
        for c in &mut s.split {
            c.revision = map.get(c.revision as usize).copied().unwrap_or(c.revision);
        }
    }
}

/// Seconds sorted by index with duplicates (the same second from two sources) combined.
pub(super) fn merge_same_seconds(sorted: Vec<Second>) -> Vec<Second> {
    let mut out: Vec<Second> = Vec::with_capacity(sorted.len());
    for s in sorted {
        match out.last_mut() {
            Some(last) if last.second == s.second => {
                // Both histograms came from this process's own encoder; a failure here would
                // be a bug, and keeping the counts is better than losing the second.
                let _ = merge_second(last, &s);
            }
            _ => out.push(s),
        }
    }
    out
}

impl Recorded {
    /// Combines the results of several generators into one, losing nothing.
    ///
    /// Connection numbers are unique within one generator only: each part's are moved into a
    /// range of their own (part K's connection N becomes K·2⁴⁰ + N), in its failures and its
    /// connection lives and WebSocket sessions alike, so a connection of one generator is never
    /// taken for another's.
    pub fn merge(parts: Vec<Recorded>) -> Result<Recorded, MergeError> {
        let mut parts = parts.into_iter().enumerate().map(|(k, mut p)| {
            p.renumber_connections(k as u64);
            p
        });
        let mut acc = parts.next().ok_or(MergeError::Empty)?;
        for part in parts {
            acc.merge_from(part)?;
        }
        Ok(acc)
    }

    fn renumber_connections(&mut self, part: u64) {
        let offset = part << 40;
        for f in &mut self.failures {
            if let Some(c) = f.conn.as_mut() {
                c.id += offset;
            }
        }
        for c in &mut self.connections {
            c.id += offset;
        }
        for c in &mut self.load_by_connection {
            c.id += offset;
        }
        for s in &mut self.sessions.log {
            if let Some(c) = s.conn.as_mut() {
                c.id += offset;
            }
        }
    }

    fn merge_from(&mut self, mut other: Recorded) -> Result<(), MergeError> {
        unite_revisions(&mut self.revisions, &mut other);
        if self.revision_source.is_none() {
            self.revision_source = other.revision_source.take();
        }
        merge_templates(&mut self.templates, std::mem::take(&mut other.templates))?;
        let mut seconds: BTreeMap<u64, Second> =
            self.series.drain(..).map(|s| (s.second, s)).collect();
        for s in other.series {
            match seconds.get_mut(&s.second) {
                Some(existing) => merge_second(existing, &s)?,
                None => {
                    seconds.insert(s.second, s);
                }
            }
        }
        self.series = seconds.into_values().collect();

        for p in other.phases {
            match self.phases.iter_mut().find(|q| q.name == p.name) {
                Some(q) => merge_span(q, &p)?,
                None => self.phases.push(p),
            }
        }
        self.phases.sort_by_key(|p| p.start);
        merge_span(&mut self.overall, &other.overall)?;

        self.failures.extend(other.failures);
        self.failures.sort_by_key(|f| (f.due, f.seq));
        self.failures_not_kept += other.failures_not_kept;
        self.connections.extend(other.connections);
        self.connections.sort_by_key(|c| (c.opened, c.id));
        self.connections_not_kept += other.connections_not_kept;
        self.load_by_connection.extend(other.load_by_connection);
        self.load_by_connection_not_kept += other.load_by_connection_not_kept;
        self.sessions.merge_from(other.sessions)?;
        Ok(())
    }
}
