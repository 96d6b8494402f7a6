//! Deterministic randomness: a seeded generator and stateless hashing.
//!
//! Everything the simulator produces is a pure function of the seed and an index, so
//! any record of a 5-million-resident population can be generated on its own, in any
//! order, and is the same on every platform and every run.

/// SplitMix64: a tiny, fast generator whose output depends only on the seed, on every
/// platform and every version of govhub, which is what a reproducible population needs.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        finalize(self.0)
    }

    /// A number in `0..n` (`n > 0`), with negligible bias for the small `n` used here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

/// The SplitMix64 output function: a bijective mix of 64 bits.
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A well-mixed 64-bit value of `parts`, in order. Stateless, so a record, a fault
/// decision or a permutation round can be derived from its coordinates alone.
pub(crate) fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x243F_6A88_85A3_08D3, |h, &p| {
        finalize(h ^ finalize(p.wrapping_add(0x9E37_79B9_7F4A_7C15)))
    })
}

/// FNV-1a of `text`, to feed strings (query values, tags) into [`hash`].
pub(crate) fn hash_str(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// `h` as a number in `[0, 1)`, for comparing against a rate.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let a: Vec<u64> = {
            let mut r = SplitMix64::new(7);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let mut r = SplitMix64::new(7);
        assert!(a.iter().all(|x| *x == r.next_u64()));
        assert_ne!(SplitMix64::new(8).next_u64(), a[0]);
    }

    #[test]
    fn hashes_depend_on_every_part_and_its_order() {
        assert_eq!(hash(&[1, 2]), hash(&[1, 2]));
        assert_ne!(hash(&[1, 2]), hash(&[2, 1]));
        assert_ne!(hash(&[1]), hash(&[1, 0]));
        assert_ne!(hash_str("a"), hash_str("b"));
        let u = unit(u64::MAX);
        assert!((0.0..1.0).contains(&u));
    }
}
