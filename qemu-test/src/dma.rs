//! DMA buffers: memory a device reads and writes behind the compiler's back.
//!
//! A [`DmaBuffer`] is carved from a [`Bump`] DMA region and never handed out as a Rust
//! reference: the CPU touches it only with volatile byte accesses, so a device write
//! between two CPU accesses is never assumed away. The identity map makes the CPU address
//! the physical address.

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::heap::Bump;

/// A physically contiguous buffer for device DMA.
#[derive(Debug)]
pub struct DmaBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

impl DmaBuffer {
    /// `len` zeroed bytes from `region`, aligned to 4 KiB. `None` if the region is full.
    pub fn new(region: &Bump, len: usize) -> Option<Self> {
        let layout = Layout::from_size_align(len, 4096).ok()?;
        let ptr = region.allocate_zeroed(layout)?;
        Some(Self { ptr, len })
    }

    /// The physical (= bus, without an IOMMU) address.
    pub fn pa(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// Reads byte `i`.
    ///
    /// # Panics
    ///
    /// If `i` is out of range.
    pub fn get(&self, i: usize) -> u8 {
        assert!(i < self.len, "DMA buffer index {i} out of range");
        // SAFETY: `i` is inside the allocation, which this buffer owns; a volatile read
        // of a byte the device may have written is always a valid `u8`.
        unsafe { self.ptr.as_ptr().add(i).read_volatile() }
    }

    /// Writes byte `i`.
    ///
    /// # Panics
    ///
    /// If `i` is out of range.
    pub fn set(&self, i: usize, value: u8) {
        assert!(i < self.len, "DMA buffer index {i} out of range");
        // SAFETY: as in `get`; no Rust reference to the buffer exists.
        unsafe { self.ptr.as_ptr().add(i).write_volatile(value) }
    }

    /// Fills the buffer with [`pattern`]`(seed, i)`.
    pub fn fill_pattern(&self, seed: u8) {
        for i in 0..self.len {
            self.set(i, pattern(seed, i));
        }
    }

    /// Fills the buffer with `value`.
    pub fn fill(&self, value: u8) {
        for i in 0..self.len {
            self.set(i, value);
        }
    }

    /// The first index in `range` where the buffer differs from `expected(i)`.
    pub fn first_mismatch(
        &self,
        range: core::ops::Range<usize>,
        expected: impl Fn(usize) -> u8,
    ) -> Option<usize> {
        range
            .filter(|&i| i < self.len)
            .find(|&i| self.get(i) != expected(i))
    }
}

/// A test pattern that differs at every byte of a 4 KiB page and between seeds.
pub fn pattern(seed: u8, i: usize) -> u8 {
    (i as u8).wrapping_mul(7) ^ ((i >> 8) as u8) ^ seed
}
