//! ASID and VMID allocators.
//!
//! An [`IdAllocator`] hands out the identifiers 1..2^bits (bits = 8 or 16, after
//! IDR0.ASID16 / VMID16; 1..=16 is accepted). Identifier 0 is never handed out: Linux
//! reserves ASID 0 and VMID 0, and kdump adoption rejects VMID 0 (spec kdump.md §6).
//!
//! Adoption (kdump.md §6) calls [`IdAllocator::reserve`] for every ASID / VMID that a live,
//! adopted table still uses, so that new domains never alias them. "Already reserved" is
//! fine. If the adoption fails, [`IdAllocator::rollback_reservations`] releases exactly the
//! identifiers that those `reserve` calls took (not the ones that were already allocated);
//! once it succeeds, [`IdAllocator::commit_reservations`] makes them ordinary allocations
//! (released with [`IdAllocator::free`] when the adopted users are gone).
//!
//! The bitmaps are allocated once, by [`IdAllocator::new`]; nothing allocates afterwards.
//! [`IdAllocator::alloc`] is next-fit (it continues after the last identifier handed out and
//! wraps), so a freed identifier is not reused at once; worst case O(2^bits / 64).

use alloc::boxed::Box;
use alloc::vec;

/// Errors of [`IdAllocator`] operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IdError {
    /// The width is outside 1..=16 bits.
    #[error("identifier width {bits} is outside 1..=16 bits")]
    InvalidWidth {
        /// The width given.
        bits: u8,
    },
    /// Identifier 0 is reserved and cannot be reserved, freed or allocated.
    #[error("identifier 0 is reserved")]
    Zero,
    /// The identifier is not below 2^bits.
    #[error("identifier {id} is not below 2^{bits}")]
    OutOfRange {
        /// The identifier.
        id: u32,
        /// The allocator's width.
        bits: u8,
    },
    /// [`IdAllocator::free`] of an identifier that is not allocated.
    #[error("identifier {0} is not allocated")]
    NotAllocated(u16),
}

/// What [`IdAllocator::reserve`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reservation {
    /// The identifier was free and is now reserved by this adoption (a rollback frees it).
    New,
    /// The identifier was already allocated or reserved (left as it was; a rollback keeps
    /// it).
    AlreadyReserved,
}

/// A bitmap allocator of 2^bits identifiers, identifier 0 permanently reserved. See the
/// [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdAllocator {
    /// Bit `id` set: allocated (by `alloc` or `reserve`); bit 0 always set.
    used: Box<[u64]>,
    /// Bit `id` set: reserved by `reserve` since the last commit / rollback.
    adopted: Box<[u64]>,
    bits: u8,
    /// Next-fit cursor: the identifier where the next search starts.
    next: u32,
    /// Number of allocated identifiers, 0 excluded.
    count: u32,
}

impl IdAllocator {
    /// An allocator of the identifiers 1..2^`bits`.
    ///
    /// # Errors
    ///
    /// [`IdError::InvalidWidth`] unless `bits` is 1..=16.
    pub fn new(bits: u8) -> Result<Self, IdError> {
        if !(1..=16).contains(&bits) {
            return Err(IdError::InvalidWidth { bits });
        }
        let ids = 1usize << bits;
        let words = ids.div_ceil(64);
        let mut used = vec![0u64; words].into_boxed_slice();
        if let Some(w) = used.first_mut() {
            // Identifier 0, and the bits beyond 2^bits when the map is shorter than a word.
            *w = 1 | if ids < 64 { !0u64 << ids } else { 0 };
        }
        Ok(Self {
            used,
            adopted: vec![0u64; words].into_boxed_slice(),
            bits,
            next: 1,
            count: 0,
        })
    }

    /// The width in bits.
    #[must_use]
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// How many identifiers can be handed out in total: 2^bits − 1.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        (1u32 << self.bits) - 1
    }

    /// How many identifiers are allocated or reserved (0 excluded).
    #[must_use]
    pub fn allocated(&self) -> u32 {
        self.count
    }

    fn locate(&self, id: u32) -> Result<(usize, u64), IdError> {
        if id == 0 {
            return Err(IdError::Zero);
        }
        if id >> self.bits != 0 {
            return Err(IdError::OutOfRange {
                id,
                bits: self.bits,
            });
        }
        Ok(((id / 64) as usize, 1u64 << (id % 64)))
    }

    /// Allocates a free identifier, or returns `None` when all are taken. Next-fit: the
    /// search starts after the identifier handed out last and wraps around.
    pub fn alloc(&mut self) -> Option<u16> {
        let n = self.used.len();
        let start = (self.next as usize) % (n * 64);
        let (first_word, first_bit) = (start / 64, start % 64);
        // Step 0: the bits of the first word at or above the cursor; steps 1..n: the
        // other words; step n: the first word again, below the cursor.
        for step in 0..=n {
            let w = (first_word + step) % n;
            let word = self.used.get_mut(w)?;
            let mut free = !*word;
            if step == 0 {
                free &= !0u64 << first_bit;
            } else if step == n {
                free &= !(!0u64 << first_bit);
            }
            if free != 0 {
                let bit = free.trailing_zeros();
                *word |= 1 << bit;
                self.count += 1;
                let id = w as u32 * 64 + bit;
                self.next = (id + 1) & ((1u32 << self.bits) - 1);
                return u16::try_from(id).ok();
            }
        }
        None
    }

    /// Frees an allocated or reserved identifier.
    ///
    /// # Errors
    ///
    /// [`IdError::Zero`], [`IdError::OutOfRange`], [`IdError::NotAllocated`]; nothing
    /// changes then.
    pub fn free(&mut self, id: u16) -> Result<(), IdError> {
        let (w, mask) = self.locate(u32::from(id))?;
        let (Some(used), Some(adopted)) = (self.used.get_mut(w), self.adopted.get_mut(w)) else {
            return Err(IdError::OutOfRange {
                id: u32::from(id),
                bits: self.bits,
            });
        };
        if *used & mask == 0 {
            return Err(IdError::NotAllocated(id));
        }
        *used &= !mask;
        *adopted &= !mask;
        self.count -= 1;
        Ok(())
    }

    /// Reserves an identifier that an adopted table uses (kdump.md §6).
    ///
    /// # Errors
    ///
    /// [`IdError::Zero`] for 0 (an adopted STE or CD with VMID / ASID 0 is rejected),
    /// [`IdError::OutOfRange`] for an identifier not below 2^bits. The `u32` argument takes
    /// the raw field, so a value wider than the allocator is reported, not truncated.
    pub fn reserve(&mut self, id: u32) -> Result<Reservation, IdError> {
        let (w, mask) = self.locate(id)?;
        let (Some(used), Some(adopted)) = (self.used.get_mut(w), self.adopted.get_mut(w)) else {
            return Err(IdError::OutOfRange {
                id,
                bits: self.bits,
            });
        };
        if *used & mask != 0 {
            return Ok(Reservation::AlreadyReserved);
        }
        *used |= mask;
        *adopted |= mask;
        self.count += 1;
        Ok(Reservation::New)
    }

    /// Whether `id` is allocated or reserved. Identifier 0 is always reported allocated;
    /// identifiers beyond the width never are.
    #[must_use]
    pub fn is_allocated(&self, id: u32) -> bool {
        if id == 0 {
            return true;
        }
        match self.locate(id) {
            Ok((w, mask)) => self.used.get(w).is_some_and(|u| u & mask != 0),
            Err(_) => false,
        }
    }

    /// Whether `id` was reserved by [`reserve`](Self::reserve) since the last commit or
    /// rollback.
    #[must_use]
    pub fn is_reserved_by_adoption(&self, id: u32) -> bool {
        match self.locate(id) {
            Ok((w, mask)) => self.adopted.get(w).is_some_and(|a| a & mask != 0),
            Err(_) => false,
        }
    }

    /// Frees exactly the identifiers that [`reserve`](Self::reserve) newly reserved since
    /// the last commit or rollback (adoption failed). Returns how many were freed.
    pub fn rollback_reservations(&mut self) -> u32 {
        let mut freed = 0;
        for (used, adopted) in self.used.iter_mut().zip(self.adopted.iter_mut()) {
            freed += adopted.count_ones();
            *used &= !*adopted;
            *adopted = 0;
        }
        self.count -= freed;
        freed
    }

    /// Keeps the reservations made since the last commit or rollback (adoption
    /// succeeded): they become ordinary allocations that a later rollback leaves alone.
    pub fn commit_reservations(&mut self) {
        self.adopted.iter_mut().for_each(|a| *a = 0);
    }
}
