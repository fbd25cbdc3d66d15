//! Infrastructure of the smmu-rs criterion benches (`benches/benches/*.rs`): a host
//! [`TableMemory`](smmu_strtab::TableMemory) ([`hostmem::HostMem`]), one fixture per bench
//! that builds the tables (or, for [`deferred`] and [`probe`], runs `smmu-v3-driver` on
//! `smmu-model` through `smmu-testbed`) and provides the subject and its baseline, and
//! the shared criterion configuration.
//!
//! Every bench compares a subject against a baseline **measured in the same run, in the
//! same criterion group**, and each fixture checks at setup (and in this crate's unit
//! tests) that subject and baseline read or write the same values, so that a bench can
//! never silently measure nothing. See `benches/README.md` for the commands, what each
//! bench measures, and the figures.
//!
//! This is bench code: it is not published and uses `expect` for setup errors.

pub mod adopt;
pub mod deferred;
pub mod hostmem;
pub mod lookup;
pub mod model;
pub mod probe;
pub mod writer;

use std::time::Duration;

use criterion::Criterion;

/// The criterion configuration of every bench: 30 samples, 1 s warm-up, 4 s measurement.
/// Command-line options (`--measurement-time`, `--sample-size`, …) still override it.
#[must_use]
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

/// Order in which StreamIDs are visited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// 0, 1, 2, …
    Sequential,
    /// Uniformly random over the StreamID space (fixed seed).
    Random,
}

impl Pattern {
    /// Bench-id fragment.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sequential => "sequential",
            Self::Random => "random",
        }
    }
}

/// `0 .. n`.
#[must_use]
pub fn sequential_sids(n: usize) -> Box<[u32]> {
    (0..n as u32).collect()
}

/// `n` StreamIDs below `2^bits`, uniformly random (xorshift64*, seed `seed`), so every
/// run looks up the same sequence.
#[must_use]
pub fn random_sids(n: usize, bits: u32, seed: u64) -> Box<[u32]> {
    let mut x = seed.max(1);
    let mask = (1u64 << bits) - 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32 & mask) as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_sids_are_in_range_and_spread() {
        let s = random_sids(4096, 16, 1);
        assert!(s.iter().all(|&x| x < 1 << 16));
        let l1: std::collections::BTreeSet<_> = s.iter().map(|x| x >> 8).collect();
        assert!(l1.len() > 240, "touches most L1 ranges: {}", l1.len());
        assert_eq!(s, random_sids(4096, 16, 1), "deterministic");
    }
}
