//! A fixed-capacity map kept sorted by key: O(log n) lookups, no hashing, no allocation,
//! and no power-of-two constraint on the capacity.

use heapless::Vec;

/// Entries sorted by key, at most `N` of them.
pub(crate) struct Table<K, V, const N: usize> {
    entries: Vec<(K, V), N>,
}

impl<K: Ord + Copy, V, const N: usize> Table<K, V, N> {
    /// An empty table.
    pub(crate) const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    fn position(&self, key: K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(&key))
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table holds `N` entries.
    pub(crate) fn is_full(&self) -> bool {
        self.entries.is_full()
    }

    /// Whether `key` is present.
    pub(crate) fn contains(&self, key: K) -> bool {
        self.position(key).is_ok()
    }

    /// The value stored under `key`.
    pub(crate) fn get(&self, key: K) -> Option<&V> {
        let i = self.position(key).ok()?;
        self.entries.get(i).map(|(_, v)| v)
    }

    /// The value stored under `key`, mutably.
    pub(crate) fn get_mut(&mut self, key: K) -> Option<&mut V> {
        let i = self.position(key).ok()?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// The values stored under two different keys, mutably.
    pub(crate) fn get_pair_mut(&mut self, a: K, b: K) -> Option<(&mut V, &mut V)> {
        let i = self.position(a).ok()?;
        let j = self.position(b).ok()?;
        let [x, y] = self.entries.get_disjoint_mut([i, j]).ok()?;
        Some((&mut x.1, &mut y.1))
    }

    /// The entry at position `index` in key order.
    pub(crate) fn at(&self, index: usize) -> Option<(K, &V)> {
        self.entries.get(index).map(|(k, v)| (*k, v))
    }

    /// The value at position `index` in key order, mutably.
    pub(crate) fn at_mut(&mut self, index: usize) -> Option<&mut V> {
        self.entries.get_mut(index).map(|(_, v)| v)
    }

    /// Inserts `value` under `key`. Gives the value back if `key` is present or the table
    /// is full.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Result<(), V> {
        match self.position(key) {
            Ok(_) => Err(value),
            Err(i) => self.entries.insert(i, (key, value)).map_err(|(_, v)| v),
        }
    }

    /// Removes and returns the value stored under `key`.
    pub(crate) fn remove(&mut self, key: K) -> Option<V> {
        let i = self.position(key).ok()?;
        // `i` comes from a successful search, so it is in bounds.
        Some(self.entries.remove(i).1)
    }

    /// The entries in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn sorted_insert_lookup_remove() {
        let mut t: Table<u32, char, 4> = Table::new();
        assert_eq!(t.insert(5, 'e'), Ok(()));
        assert_eq!(t.insert(1, 'a'), Ok(()));
        assert_eq!(t.insert(3, 'c'), Ok(()));
        assert_eq!(t.insert(3, 'x'), Err('x'));
        assert_eq!(
            t.iter().map(|(k, _)| k).collect::<std::vec::Vec<_>>(),
            [1, 3, 5]
        );
        assert_eq!(t.get(3), Some(&'c'));
        assert_eq!(t.get(4), None);
        assert_eq!(t.insert(4, 'd'), Ok(()));
        assert!(t.is_full());
        assert_eq!(t.insert(9, 'z'), Err('z'));
        {
            let (a, b) = t.get_pair_mut(1, 5).unwrap();
            core::mem::swap(a, b);
        }
        assert_eq!(t.get(1), Some(&'e'));
        assert!(t.get_pair_mut(1, 1).is_none());
        assert!(t.get_pair_mut(1, 2).is_none());
        assert_eq!(t.remove(3), Some('c'));
        assert_eq!(t.remove(3), None);
        assert_eq!(t.len(), 3);
        assert_eq!(t.at(1), Some((4, &'d')));
        assert!(t.contains(5) && !t.contains(3));
    }
}
