//! Lossless merging of recorded results from several generators (an Indexed Job's workers):
//! counts add per second, per phase and overall; histograms are decoded, added and re-encoded;
//! failure logs are concatenated in due order.

use std::collections::BTreeMap;

use super::{EncodedHist, Recorded, Second, SpanStats};

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

fn merge_second(a: &mut Second, b: &Second) -> Result<(), MergeError> {
    a.counts.merge(&b.counts);
    a.failures_not_kept += b.failures_not_kept;
    a.latency_hist = add_hist(
        &a.latency_hist,
        &b.latency_hist,
        &format!("second {}", a.second),
    )?;
    a.latency = a
        .latency_hist
        .decode()
        .map(|h| h.summary())
        .unwrap_or(a.latency);
    Ok(())
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
    let summary = |h: &EncodedHist, old| h.decode().map(|h| h.summary()).unwrap_or(old);
    a.latency = summary(&a.latency_hist, a.latency);
    a.service_time = summary(&a.service_time_hist, a.service_time);
    a.send_lateness = summary(&a.send_lateness_hist, a.send_lateness);
    Ok(())
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

    fn merge_from(&mut self, other: Recorded) -> Result<(), MergeError> {
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
