//! Which request template each request of a mix is: a pure function of the run's seed and the
//! request's global sequence number, so two runs with the same seed send the same sequence, and
//! the generators of an Indexed Job (each sending every N-th request) pick exactly what one
//! generator would have picked for the same numbers — no coordination, nothing shared.
//!
//! # How
//!
//! Template shares are cut out of the unit interval (as 64-bit fixed-point fractions, so no
//! floating point runs per request). Request *g* takes the point `u0 + α·π(g) mod 1`, where `α`
//! is the golden ratio's fractional part (an additive-recurrence, or Weyl, sequence: the
//! points of any run of consecutive indices are spread over the interval about as evenly as
//! points can be, so every template's count stays within a few requests of its exact share)
//! and `π` shuffles the indices within each block of 256 with a keyed Feistel permutation.
//! The shuffle keeps each block's set of points — hence the shares — while breaking the
//! sequence's regular pattern, which would otherwise line up with the connection pool's
//! rotation and send one template to some connections (and so to some pods) more than others.
//!
//! Cost per request: a handful of multiplications (none at all with one template), no table
//! bigger than the template count, no allocation.

/// 2^64 / φ: the golden ratio's fractional part in 64-bit fixed point.
const ALPHA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Bits of the index shuffled within a block (blocks of 256 requests).
const BLOCK_BITS: u32 = 8;

/// The weighted, seeded sequence of templates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Upper bounds (exclusive, in 2^-64 units) of each template's share; the last is
    /// `u64::MAX`, and a point equal to it belongs to the last template too.
    bounds: Box<[u64]>,
    seed: u64,
    /// Where the recurrence starts, from the seed.
    start: u64,
}

impl Mix {
    /// A mix of templates with these weights (finite, not negative, not all zero: the plan
    /// checks), seeded by `seed`. One template (or none) always picks index 0.
    pub fn new(weights: &[f64], seed: u64) -> Mix {
        let total: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
        let mut bounds = Vec::with_capacity(weights.len());
        let mut acc = 0.0;
        for w in weights {
            if w.is_finite() && *w > 0.0 {
                acc += w;
            }
            let frac = if total > 0.0 { acc / total } else { 1.0 };
            // 2^64 as f64 is exact; the cast saturates at u64::MAX for frac = 1.
            bounds.push((frac * 18_446_744_073_709_551_616.0) as u64);
        }
        if let Some(last) = bounds.last_mut() {
            *last = u64::MAX;
        }
        Mix {
            bounds: bounds.into_boxed_slice(),
            seed,
            start: splitmix64(seed ^ 0x5EED),
        }
    }

    /// Templates in the mix.
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The template of the request with global sequence number `g`.
    #[inline]
    pub fn pick(&self, g: u64) -> u16 {
        if self.bounds.len() <= 1 {
            return 0;
        }
        let point = self.start.wrapping_add(self.shuffle(g).wrapping_mul(ALPHA));
        let i = self.bounds.partition_point(|&b| b <= point);
        i.min(self.bounds.len() - 1) as u16
    }

    /// `g` with its low `BLOCK_BITS` bits permuted by a four-round Feistel network keyed by
    /// the seed and `g`'s block: a bijection within every block.
    #[inline]
    fn shuffle(&self, g: u64) -> u64 {
        const HALF: u32 = BLOCK_BITS / 2;
        const MASK: u64 = (1 << HALF) - 1;
        let block = g >> BLOCK_BITS;
        let key = splitmix64(self.seed ^ block.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let (mut left, mut right) = ((g >> HALF) & MASK, g & MASK);
        for round in 0..4u64 {
            let k = key.rotate_left((round * 16) as u32);
            let f = (right.wrapping_add(k).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59) & MASK;
            (left, right) = (right, left ^ f);
        }
        (block << BLOCK_BITS) | (left << HALF) | right
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit value from any 64-bit value.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(mix: &Mix, range: std::ops::Range<u64>) -> Vec<u64> {
        let mut c = vec![0u64; mix.len()];
        for g in range {
            c[mix.pick(g) as usize] += 1;
        }
        c
    }

    #[test]
    fn weights_7_2_1_over_10000_requests_send_each_template_within_1_percent_of_its_share() {
        for seed in 0..200u64 {
            let mix = Mix::new(&[7.0, 2.0, 1.0], seed);
            let c = counts(&mix, 0..10_000);
            for (i, want) in [7_000.0, 2_000.0, 1_000.0].iter().enumerate() {
                let got = c[i] as f64;
                assert!(
                    (got - want).abs() <= want * 0.01,
                    "seed {seed}: template {i} sent {got}, its share is {want}: {c:?}"
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence_and_another_seed_another() {
        let a = Mix::new(&[1.0, 1.0, 1.0], 42);
        let b = Mix::new(&[1.0, 1.0, 1.0], 42);
        let c = Mix::new(&[1.0, 1.0, 1.0], 43);
        let seq = |m: &Mix| (0..1_000).map(|g| m.pick(g)).collect::<Vec<_>>();
        assert_eq!(seq(&a), seq(&b));
        assert_ne!(seq(&a), seq(&c));
    }

    #[test]
    fn generators_sharing_a_schedule_pick_what_one_generator_would() {
        // Worker k of 3 sends global numbers k, k+3, …: its picks are the unsharded picks.
        let mix = Mix::new(&[5.0, 3.0, 2.0], 7);
        let whole: Vec<u16> = (0..3_000).map(|g| mix.pick(g)).collect();
        for k in 0..3u64 {
            let worker = Mix::new(&[5.0, 3.0, 2.0], 7);
            for j in 0..1_000u64 {
                let g = k + 3 * j;
                assert_eq!(worker.pick(g), whole[g as usize]);
            }
        }
    }

    #[test]
    fn a_single_template_is_always_picked_and_a_zero_weight_never() {
        let one = Mix::new(&[3.0], 1);
        assert!((0..1_000).all(|g| one.pick(g) == 0));
        let mix = Mix::new(&[1.0, 0.0, 1.0], 1);
        assert_eq!(counts(&mix, 0..10_000)[1], 0);
    }

    #[test]
    fn the_shuffle_is_a_permutation_of_every_block() {
        let mix = Mix::new(&[1.0, 1.0], 9);
        for block in [0u64, 1, 12_345] {
            let mut seen: Vec<u64> = (0..256).map(|p| mix.shuffle((block << 8) | p)).collect();
            seen.sort_unstable();
            let want: Vec<u64> = (0..256).map(|p| (block << 8) | p).collect();
            assert_eq!(seen, want);
        }
    }

    #[test]
    fn templates_are_spread_over_a_rotating_pool_of_connections() {
        // Request g goes to connection g mod 8 in a round-robin pool: every connection must see
        // every template near its share, or pods pinned to connections would see a skewed mix.
        let mix = Mix::new(&[1.0, 1.0], 3);
        for conn in 0..8u64 {
            let ones = (0..2_000u64)
                .map(|j| mix.pick(conn + 8 * j))
                .filter(|&t| t == 1)
                .count() as f64;
            assert!((ones - 1_000.0).abs() < 100.0, "connection {conn}: {ones}");
        }
    }
}
