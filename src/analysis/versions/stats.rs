//! The statistics of an old-versus-new comparison, on histograms rather than raw samples:
//! the Mann–Whitney U test (Wilcoxon rank-sum) with the normal approximation and the tie
//! correction, and the Hodges–Lehmann estimate of the shift with its distribution-free
//! confidence interval (Moses), as Kayenta (Spinnaker's canary judge) uses them.
//!
//! The recorded latencies are histogram buckets (2 significant digits), so every value of a
//! bucket is a tie: the U statistic counts ties as halves and the variance is corrected for
//! them. The shift's estimate is the weighted median of the pairwise differences between
//! buckets, its interval the weighted order statistics the rank-sum's critical value points
//! at. Pure arithmetic, no I/O.

/// A histogram as (value, count) pairs, ascending by value.
pub type Bins = [(u64, u64)];

/// The most buckets per side the pairwise differences are taken over (merging neighbours
/// beyond it keeps the comparison's cost bounded whatever the spread).
const MAX_BINS: usize = 400;

/// The two-sided 95 % normal quantile.
const Z95: f64 = 1.959_963_984_540_054;

/// What the test and the estimate found for `new` against `old`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub old_count: u64,
    pub new_count: u64,
    /// Mann–Whitney's U for "new above old" (ties count half).
    pub u: f64,
    /// Two-sided p-value (normal approximation, continuity and tie corrected).
    pub p_value: f64,
    /// Hodges–Lehmann estimate of the shift (new − old), in the values' unit.
    pub shift: f64,
    /// The shift's 95 % confidence interval.
    pub low: f64,
    pub high: f64,
}

/// Merges neighbouring bins until at most `max` remain (count-weighted mean values).
fn coarsen(bins: &Bins, max: usize) -> Vec<(f64, u64)> {
    if bins.len() <= max {
        return bins.iter().map(|&(v, c)| (v as f64, c)).collect();
    }
    let per = bins.len().div_ceil(max);
    bins.chunks(per)
        .map(|chunk| {
            let n: u64 = chunk.iter().map(|b| b.1).sum();
            let sum: f64 = chunk.iter().map(|&(v, c)| v as f64 * c as f64).sum();
            (if n > 0 { sum / n as f64 } else { 0.0 }, n)
        })
        .collect()
}

/// The complementary error function (Numerical Recipes' `erfcc`: relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// U for "y above x", and the tie-corrected variance of U under the null hypothesis.
fn u_statistic(x: &Bins, y: &Bins) -> (f64, f64) {
    let (n1, n2) = (total(x) as f64, total(y) as f64);
    let n = n1 + n2;
    let mut u = 0.0;
    let mut below_x = 0.0;
    let mut ties = 0.0;
    let (mut i, mut j) = (0, 0);
    while i < x.len() || j < y.len() {
        let v = match (x.get(i), y.get(j)) {
            (Some(a), Some(b)) => a.0.min(b.0),
            (Some(a), None) => a.0,
            (None, Some(b)) => b.0,
            (None, None) => break,
        };
        let cx = x.get(i).filter(|b| b.0 == v).map_or(0, |b| b.1) as f64;
        let cy = y.get(j).filter(|b| b.0 == v).map_or(0, |b| b.1) as f64;
        u += cy * (below_x + 0.5 * cx);
        below_x += cx;
        let t = cx + cy;
        ties += t * t * t - t;
        if cx > 0.0 {
            i += 1;
        }
        if cy > 0.0 {
            j += 1;
        }
    }
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)).max(1.0));
    (u, var)
}

fn total(b: &Bins) -> u64 {
    b.iter().map(|x| x.1).sum()
}

/// The weighted order statistic: the value at 1-based rank `k` of the sorted, weighted list.
fn at_rank(sorted: &[(f64, u64)], k: f64) -> f64 {
    let mut seen = 0.0;
    for &(v, w) in sorted {
        seen += w as f64;
        if seen >= k {
            return v;
        }
    }
    sorted.last().map_or(0.0, |d| d.0)
}

/// Compares `new` with `old` (each a histogram's non-empty bins, ascending); `None` when
/// either side is empty.
pub fn compare(old: &Bins, new: &Bins) -> Option<Comparison> {
    let (n1, n2) = (total(old), total(new));
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (u, var) = u_statistic(old, new);
    let mean = n1 as f64 * n2 as f64 / 2.0;
    let sd = var.max(0.0).sqrt();
    let p_value = if sd == 0.0 {
        1.0
    } else {
        let z = ((u - mean).abs() - 0.5).max(0.0) / sd;
        erfc(z / std::f64::consts::SQRT_2).min(1.0)
    };
    let (xs, ys) = (coarsen(old, MAX_BINS), coarsen(new, MAX_BINS));
    let mut diffs: Vec<(f64, u64)> = Vec::with_capacity(xs.len() * ys.len());
    for &(yv, yc) in &ys {
        for &(xv, xc) in &xs {
            diffs.push((yv - xv, yc * xc));
        }
    }
    diffs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pairs = n1 as f64 * n2 as f64;
    let shift = (at_rank(&diffs, (pairs / 2.0).ceil())
        + at_rank(&diffs, (pairs / 2.0).floor() + 1.0))
        / 2.0;
    // The rank-sum's critical value: the interval runs from the k-th smallest difference to
    // the k-th largest.
    let k = (mean - Z95 * sd).floor().max(1.0);
    Some(Comparison {
        old_count: n1,
        new_count: n2,
        u,
        p_value,
        shift,
        low: at_rank(&diffs, k),
        high: at_rank(&diffs, pairs - k + 1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` values spread evenly over [from, to), as unit bins.
    fn spread(from: u64, to: u64, n: u64) -> Vec<(u64, u64)> {
        let mut bins: Vec<(u64, u64)> = Vec::new();
        for i in 0..n {
            let v = from + (to - from) * i / n;
            match bins.last_mut() {
                Some(b) if b.0 == v => b.1 += 1,
                _ => bins.push((v, 1)),
            }
        }
        bins
    }

    #[test]
    fn a_shifted_distribution_is_found_with_the_shift_inside_its_interval() {
        let old = spread(10_000, 20_000, 500);
        let new = spread(40_000, 50_000, 500);
        let c = compare(&old, &new).expect("both sides");
        assert!(c.p_value < 1e-6, "{c:?}");
        assert!((c.shift - 30_000.0).abs() < 200.0, "{c:?}");
        assert!(c.low <= c.shift && c.shift <= c.high, "{c:?}");
        assert!(c.low > 0.25 * c.shift, "Kayenta would call it high: {c:?}");
    }

    #[test]
    fn the_same_distribution_shows_no_shift() {
        let old = spread(10_000, 20_000, 400);
        let new = spread(10_000, 20_000, 300);
        let c = compare(&old, &new).expect("both sides");
        assert!(c.p_value > 0.5, "{c:?}");
        assert!(c.shift.abs() < 300.0, "{c:?}");
        assert!(c.low < 0.0 && c.high > 0.0, "{c:?}");
    }

    #[test]
    fn identical_values_on_both_sides_are_all_ties() {
        let c = compare(&[(5_000, 100)], &[(5_000, 80)]).expect("both sides");
        assert_eq!(c.shift, 0.0);
        assert_eq!(c.p_value, 1.0);
        assert_eq!(c.u, 100.0 * 80.0 / 2.0);
    }

    #[test]
    fn u_counts_pairs_where_new_is_above_and_half_the_ties() {
        // old {1, 2}, new {2, 3}: pairs (new>old): (2>1), (3>1), (3>2), tie (2,2) → 3.5.
        let c = compare(&[(1, 1), (2, 1)], &[(2, 1), (3, 1)]).expect("both sides");
        assert_eq!(c.u, 3.5);
    }

    #[test]
    fn the_normal_tail_is_accurate() {
        // P(|Z| > 1.96) = 0.05.
        let p = erfc(Z95 / std::f64::consts::SQRT_2);
        assert!((p - 0.05).abs() < 1e-6, "{p}");
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
    }

    #[test]
    fn an_empty_side_compares_to_nothing() {
        assert_eq!(compare(&[], &[(1, 1)]), None);
    }
}
