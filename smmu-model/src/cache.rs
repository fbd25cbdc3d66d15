//! Fixed-capacity, set-associative caches used for the configuration caches (L1STD,
//! STE, CD) and the TLB.
//!
//! Every set is a pre-allocated array of ways behind its own mutex, so a lookup or an
//! insertion never allocates and concurrent lookups of different sets do not contend.
//! Replacement is round-robin within a set. Invalidation scans every set.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// A key that can be hashed cheaply to pick a set.
pub(crate) trait CacheKey: Copy + Eq {
    fn hash64(&self) -> u64;
}

/// A multiplicative mixing hash (64-bit golden ratio), good enough to spread keys over
/// sets and much cheaper than SipHash.
pub(crate) const fn mix(a: u64, b: u64) -> u64 {
    let x = (a ^ b.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 31)
}

struct Set<K, V> {
    ways: Box<[Option<(K, V)>]>,
    next: usize,
}

pub(crate) struct SetAssoc<K, V> {
    sets: Box<[Mutex<Set<K, V>>]>,
}

impl<K: CacheKey, V: Copy> SetAssoc<K, V> {
    /// A cache of at least `capacity` entries (rounded up) with `ways` ways per set.
    pub(crate) fn new(capacity: usize, ways: usize) -> Self {
        let ways = ways.max(1);
        let nsets = capacity.div_ceil(ways).max(1).next_power_of_two();
        let sets = (0..nsets)
            .map(|_| {
                Mutex::new(Set {
                    ways: (0..ways).map(|_| None).collect(),
                    next: 0,
                })
            })
            .collect();
        Self { sets }
    }

    fn set(&self, key: &K) -> MutexGuard<'_, Set<K, V>> {
        let idx = (key.hash64() as usize) & (self.sets.len() - 1);
        // `idx` is masked to the (power-of-two) number of sets, so it is in range.
        let m = &self.sets[idx];
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let set = self.set(key);
        set.ways
            .iter()
            .flatten()
            .find(|(k, _)| k == key)
            .map(|&(_, v)| v)
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        let mut set = self.set(&key);
        if let Some(slot) = set.ways.iter_mut().flatten().find(|(k, _)| *k == key) {
            slot.1 = value;
            return;
        }
        let n = set.ways.len();
        let victim = match set.ways.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                let v = set.next % n;
                set.next = (v + 1) % n;
                v
            }
        };
        if let Some(slot) = set.ways.get_mut(victim) {
            *slot = Some((key, value));
        }
    }

    /// Removes every entry for which `drop` returns true; returns how many.
    pub(crate) fn invalidate(&self, mut drop: impl FnMut(&K, &V) -> bool) -> usize {
        let mut n = 0;
        for m in self.sets.iter() {
            let mut set = m.lock().unwrap_or_else(PoisonError::into_inner);
            for slot in set.ways.iter_mut() {
                if let Some((k, v)) = slot
                    && drop(k, v)
                {
                    *slot = None;
                    n += 1;
                }
            }
        }
        n
    }

    pub(crate) fn len(&self) -> usize {
        self.sets
            .iter()
            .map(|m| {
                m.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .ways
                    .iter()
                    .flatten()
                    .count()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    struct K(u64);
    impl CacheKey for K {
        fn hash64(&self) -> u64 {
            mix(self.0, 0)
        }
    }

    #[test]
    fn insert_get_evict_invalidate() {
        let c: SetAssoc<K, u32> = SetAssoc::new(8, 2);
        for i in 0..100 {
            c.insert(K(i), i as u32);
        }
        assert!(c.len() <= 8);
        c.insert(K(7), 70);
        assert_eq!(c.get(&K(7)), Some(70));
        c.insert(K(7), 71);
        assert_eq!(c.get(&K(7)), Some(71));
        assert_eq!(c.invalidate(|k, _| k.0 == 7), 1);
        assert_eq!(c.get(&K(7)), None);
        c.invalidate(|_, _| true);
        assert_eq!(c.len(), 0);
    }
}
