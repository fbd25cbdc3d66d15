//! A tiny deterministic pseudo-random generator (SplitMix64) for the programs' `--seed`:
//! StreamID choice, device layout and DMA patterns. Not for anything cryptographic.

/// SplitMix64: a 64-bit state advanced by a fixed odd increment, output through a
/// bit mixer. The same seed always gives the same sequence.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        // The high half of a 64×64-bit product: unbiased enough for layouts.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// `count` distinct values in `0..n`, in the order drawn. Returns fewer when `n` is
    /// smaller than `count`.
    pub fn distinct(&mut self, count: usize, n: u64) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::with_capacity(count);
        let count = count.min(usize::try_from(n).unwrap_or(usize::MAX));
        while out.len() < count {
            let v = self.below(n);
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(10) < 10);
            b.below(10);
        }
        let d = a.distinct(16, 16);
        let mut sorted = d.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..16).collect::<Vec<_>>());
        assert_eq!(Rng::new(1).below(0), 0);
    }
}
