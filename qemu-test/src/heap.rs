//! A bump allocator: hands out memory from one RAM region front to back and never frees.
//!
//! The global allocator (`alloc` for the driver and the program) is one [`Bump`] over the
//! linker script's heap region. The DMA memory the driver's HAL hands to the SMMU (phase
//! 2) comes from other [`Bump`]s over the `dma0` / `dma1` regions, so that a "kdump
//! kernel" can start with a fresh region while everything "kernel 1" allocated stays in
//! place. Never freeing is what a crashed kernel's memory looks like anyway, and the
//! program is short-lived.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};

/// A lock-free bump allocator over `[next, end)`.
#[derive(Debug)]
pub struct Bump {
    next: AtomicUsize,
    end: AtomicUsize,
    start: AtomicUsize,
}

impl Bump {
    /// An allocator with no memory: every allocation fails until [`Bump::init`].
    pub const fn empty() -> Self {
        Self {
            next: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            start: AtomicUsize::new(0),
        }
    }

    /// Gives the allocator the region `start .. end`.
    ///
    /// # Safety
    ///
    /// The region is RAM mapped as Normal memory, readable and writable, used by nothing
    /// else for the rest of the program, and `init` is called before any allocation and
    /// at most once.
    pub unsafe fn init(&self, start: usize, end: usize) {
        self.start.store(start, Ordering::Relaxed);
        self.end.store(end.max(start), Ordering::Relaxed);
        self.next.store(start, Ordering::Release);
    }

    /// Allocates `layout` (uninitialised). `None` when the region is exhausted.
    pub fn allocate(&self, layout: Layout) -> Option<NonNull<u8>> {
        let end = self.end.load(Ordering::Relaxed);
        let mut current = self.next.load(Ordering::Acquire);
        loop {
            if current == 0 {
                return None;
            }
            let start = current.checked_next_multiple_of(layout.align())?;
            let new = start.checked_add(layout.size())?;
            if new > end {
                return None;
            }
            match self
                .next
                .compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return NonNull::new(start as *mut u8),
                Err(seen) => current = seen,
            }
        }
    }

    /// Allocates `layout` and fills it with zeros.
    pub fn allocate_zeroed(&self, layout: Layout) -> Option<NonNull<u8>> {
        let p = self.allocate(layout)?;
        // SAFETY: `allocate` returned `layout.size()` bytes of the region, writable and
        // owned by the caller from now on.
        unsafe { ptr::write_bytes(p.as_ptr(), 0, layout.size()) };
        Some(p)
    }

    /// Bytes handed out so far (including alignment padding).
    pub fn used(&self) -> usize {
        self.next
            .load(Ordering::Relaxed)
            .saturating_sub(self.start.load(Ordering::Relaxed))
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.end
            .load(Ordering::Relaxed)
            .saturating_sub(self.next.load(Ordering::Relaxed))
    }

    /// The region `(start, end)` given to [`Bump::init`].
    pub fn region(&self) -> (usize, usize) {
        (
            self.start.load(Ordering::Relaxed),
            self.end.load(Ordering::Relaxed),
        )
    }
}

// SAFETY: `alloc` returns either null or a block of `layout.size()` bytes aligned to
// `layout.align()` that no other allocation overlaps (the bump pointer only moves
// forward, by compare-and-swap); `dealloc` does nothing, which is allowed.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocate(layout)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
