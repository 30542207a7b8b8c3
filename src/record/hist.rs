//! HDR histograms as zerodrop uses them: microsecond values, 3 significant digits, and a
//! lossless serialised form (HdrHistogram V2 + deflate, base64) so results from several
//! generators merge exactly.

use std::fmt;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// Significant digits kept: values are exact to within 0.1 %.
pub const SIGFIGS: u8 = 3;

/// A latency histogram in microseconds.
#[derive(Clone)]
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl fmt::Debug for Hist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hist(n={}, max={})", self.0.len(), self.0.max())
    }
}

impl Hist {
    pub fn new() -> Hist {
        // Auto-resizing keeps a histogram small until it sees large values; the low bound of
        // 1 µs with 3 digits is exact enough for loopback latencies.
        let mut h = Histogram::new_with_max(1_000_000, SIGFIGS)
            .unwrap_or_else(|_| Histogram::new(SIGFIGS).unwrap_or_else(|_| unreachable_hist()));
        h.auto(true);
        Hist(h)
    }

    /// A histogram of 2 significant digits (values within 1 %): a tenth of the memory, for
    /// the many small per-second, per-template, per-revision cells a comparison needs.
    pub fn coarse() -> Hist {
        let mut h = Histogram::new_with_max(1_000_000, 2)
            .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| unreachable_hist()));
        h.auto(true);
        Hist(h)
    }

    /// Every distinct recorded value (the highest value equivalent to its bucket) with its
    /// count, smallest first.
    pub fn recorded(&self) -> Vec<(u64, u64)> {
        self.0
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// Records one value in microseconds (0 is recorded as 0; values beyond any range saturate).
    #[inline]
    pub fn record(&mut self, micros: u64) {
        // With auto-resize on, `record` grows the histogram; only values beyond u64's
        // trackable range fail, and those saturate.
        if self.0.record(micros).is_err() {
            self.0.saturating_record(micros);
        }
    }

    /// Empties the histogram, keeping its buffer.
    pub fn reset(&mut self) {
        self.0.reset();
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn quantile(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(q)
        }
    }

    pub fn max(&self) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.max() }
    }

    pub fn min(&self) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.min() }
    }

    pub fn mean(&self) -> f64 {
        if self.0.is_empty() {
            0.0
        } else {
            self.0.mean()
        }
    }

    pub fn add(&mut self, other: &Hist) {
        // Both auto-resize, so adding cannot fail for range reasons.
        let _ = self.0.add(&other.0);
    }

    pub fn inner(&self) -> &Histogram<u64> {
        &self.0
    }

    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.len(),
            min_us: self.min(),
            mean_us: (self.mean() * 10.0).round() / 10.0,
            p50_us: self.quantile(0.50),
            p90_us: self.quantile(0.90),
            p99_us: self.quantile(0.99),
            p999_us: self.quantile(0.999),
            max_us: self.max(),
        }
    }

    /// The lossless serialised form.
    pub fn encode(&self) -> EncodedHist {
        let mut buf = Vec::new();
        // Serialising into a Vec cannot fail for I/O reasons; an encoding failure would only
        // come from a corrupt histogram, which we never build, so fall back to empty.
        if V2DeflateSerializer::new()
            .serialize(&self.0, &mut buf)
            .is_err()
        {
            buf.clear();
        }
        EncodedHist(base64_encode(&buf))
    }
}

/// Never reached: `Histogram::new(3)` only fails for sigfigs > 5.
fn unreachable_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 2, 1).unwrap_or_else(|_| std::process::abort())
}

/// Percentiles of one histogram, for readers who do not decode histograms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// A histogram in HdrHistogram's V2-deflate encoding, base64 (the format HdrHistogram's own
/// tools read), so nothing is lost when results are saved, merged or re-rendered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EncodedHist(pub String);

/// The encoded histogram could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("corrupt histogram encoding: {0}")]
pub struct DecodeError(String);

impl EncodedHist {
    pub fn decode(&self) -> Result<Hist, DecodeError> {
        if self.0.is_empty() {
            return Ok(Hist::new());
        }
        let bytes = base64_decode(&self.0).map_err(|e| DecodeError(e.to_string()))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| DecodeError(format!("{e:?}")))?;
        let mut out = Hist::new();
        let _ = out.0.add(&h);
        Ok(out)
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_lossless() {
        let mut h = Hist::new();
        for v in [1, 5, 100, 2_000, 50_000, 1_500_000, 30_000_000] {
            h.record(v);
        }
        let back = h.encode().decode().expect("decodes");
        assert_eq!(back.len(), h.len());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(back.quantile(q), h.quantile(q));
        }
    }

    #[test]
    fn empty_histograms_summarise_to_zero() {
        let s = Hist::new().summary();
        assert_eq!(s.count, 0);
        assert_eq!(s.p99_us, 0);
    }

    #[test]
    fn values_beyond_the_initial_range_are_kept() {
        let mut h = Hist::new();
        h.record(3_600_000_000);
        assert!(h.max() >= 3_599_000_000);
    }
}
