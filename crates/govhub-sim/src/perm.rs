//! Keyed permutations of `0..n`, so a department's subset of residents (or a
//! generation's updated records) is "the first `m` of a shuffled list" without ever
//! building the list: both directions are O(1) for any `n`.

use crate::rng::hash;

/// Feistel rounds: four make a keyed bijection whose output looks unrelated to its
/// input, which is all a simulator needs (this is no cipher).
const ROUNDS: u64 = 4;

/// A bijection on `0..n` chosen by a key: a balanced Feistel network on the smallest
/// even-bit power of two covering `n`, with cycle walking to stay below `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    key: u64,
}

impl Permutation {
    /// The permutation of `0..n` selected by `key`.
    pub(crate) fn new(n: u64, key: u64) -> Permutation {
        let bits = u64::BITS - n.saturating_sub(1).leading_zeros();
        Permutation {
            n,
            half_bits: bits.div_ceil(2).max(1),
            key,
        }
    }

    /// Size of the permuted range.
    pub(crate) fn len(&self) -> u64 {
        self.n
    }

    fn mask(&self) -> u64 {
        (1u64 << self.half_bits) - 1
    }

    fn encrypt(&self, x: u64) -> u64 {
        let (mut left, mut right) = (x >> self.half_bits, x & self.mask());
        for round in 0..ROUNDS {
            let f = hash(&[self.key, round, right]) & self.mask();
            (left, right) = (right, left ^ f);
        }
        (left << self.half_bits) | right
    }

    fn decrypt(&self, y: u64) -> u64 {
        let (mut left, mut right) = (y >> self.half_bits, y & self.mask());
        for round in (0..ROUNDS).rev() {
            let f = hash(&[self.key, round, left]) & self.mask();
            (left, right) = (right ^ f, left);
        }
        (left << self.half_bits) | right
    }

    /// The image of `j` (`j < n`). The domain is less than 4n, so cycle walking takes
    /// a few steps on average.
    pub(crate) fn apply(&self, j: u64) -> u64 {
        if self.n <= 1 {
            return j;
        }
        let mut y = self.encrypt(j);
        while y >= self.n {
            y = self.encrypt(y);
        }
        y
    }

    /// The `j` whose image is `k` (`k < n`).
    pub(crate) fn invert(&self, k: u64) -> u64 {
        if self.n <= 1 {
            return k;
        }
        let mut x = self.decrypt(k);
        while x >= self.n {
            x = self.decrypt(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_bijection_with_its_inverse() {
        for n in [1u64, 2, 3, 7, 64, 100, 1000, 1025] {
            let p = Permutation::new(n, 99);
            let mut seen = vec![false; n as usize];
            for j in 0..n {
                let k = p.apply(j);
                assert!(k < n, "n={n}");
                assert!(!seen[k as usize], "n={n} k={k} twice");
                seen[k as usize] = true;
                assert_eq!(p.invert(k), j);
            }
        }
    }

    #[test]
    fn large_ranges_work_in_constant_time() {
        let p = Permutation::new(5_000_000, 7);
        let k = p.apply(4_999_999);
        assert!(k < 5_000_000);
        assert_eq!(p.invert(k), 4_999_999);
        assert_ne!(
            Permutation::new(1000, 1).apply(5),
            Permutation::new(1000, 2).apply(5)
        );
    }
}
