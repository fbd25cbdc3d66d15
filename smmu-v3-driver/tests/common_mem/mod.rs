//! Test memory for the page-table and CD-table tests: a host buffer with fake physical
//! addresses that
//!
//! * allocates in 64-byte units with the requested alignment, zeroes on allocation and
//!   poisons on free, and panics on any contract violation (double free, a region it did
//!   not hand out, a clean beyond the region, a read outside RAM);
//! * can fail the Nth allocation from now (`fail_nth`);
//! * optionally simulates a non-coherent SMMU: a second "device view" of RAM that only
//!   `clean` updates (exactly the cleaned words), so a missing clean is visible;
//! * optionally records an event log (allocations, frees, cleans, and syncs pushed by a
//!   test's hook);
//! * never uses the heap after construction unless the log is enabled (for the
//!   allocation-counting test).
#![allow(dead_code)]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use smmu_regs::PhysAddr;
use smmu_strtab::{DmaRegion, MemoryError, TableMemory};

/// Physical address of the first byte of RAM (aligned far beyond any table alignment).
pub const BASE: u64 = 0x8000_0000;
const UNIT: usize = 64;
/// Byte written over freed memory: as descriptors, 0xa7a7... is a table / page descriptor
/// pointing far outside RAM, so a walk through freed memory panics.
pub const POISON: u8 = 0xa7;

/// Something that happened to the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `alloc_zeroed` returned `pa .. pa + len`.
    Alloc { pa: u64, len: usize },
    /// `free` of `pa .. pa + len`.
    Free { pa: u64, len: usize },
    /// `clean` of `pa .. pa + len`.
    Clean { pa: u64, len: usize },
    /// A test's sync hook ran (with the test's step number).
    Sync(u32),
}

struct State {
    used: Vec<bool>,
    /// At the first unit of each live allocation: its length in units.
    alloc_units: Vec<usize>,
    allocs: usize,
    frees: usize,
    live: usize,
    fail_in: Option<usize>,
    log: Option<Vec<Event>>,
}

pub struct TestMem {
    ram: Words,
    dev: Option<Words>,
    state: Mutex<State>,
}

/// A zeroed array of 64-bit words accessed only through raw pointers to single words (no
/// reference to the whole array is ever made, which keeps Miri's borrow tracking cheap).
struct Words {
    base: NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: the words are atomics, accessed only atomically or (bulk fills) by the thread
// that owns the region being filled.
unsafe impl Send for Words {}
// SAFETY: as above.
unsafe impl Sync for Words {}

impl Words {
    fn layout(len: usize) -> Layout {
        Layout::array::<AtomicU64>(len).unwrap()
    }

    fn new(len: usize) -> Self {
        assert!(len > 0);
        // One zeroed allocation (cheap under Miri, unlike building a slice element-wise).
        // SAFETY: the layout has a non-zero size; all-zero bytes are a valid `AtomicU64`.
        let raw = unsafe { alloc_zeroed(Self::layout(len)) };
        let base = NonNull::new(raw.cast::<AtomicU64>()).expect("out of host memory");
        Self { base, len }
    }

    /// Pointer to word `i` (`i <= len`).
    fn ptr(&self, i: usize) -> *mut AtomicU64 {
        assert!(i <= self.len, "word {i} beyond RAM");
        // SAFETY: in bounds of (or one past) the allocation.
        unsafe { self.base.as_ptr().add(i) }
    }

    fn at(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.len, "word {i} beyond RAM");
        // SAFETY: in bounds, initialised, lives as long as `self`.
        unsafe { &*self.ptr(i) }
    }
}

impl Drop for Words {
    fn drop(&mut self) {
        // SAFETY: allocated by `new` with this layout, freed once.
        unsafe { dealloc(self.base.as_ptr().cast::<u8>(), Self::layout(self.len)) };
    }
}

impl TestMem {
    /// `bytes` of coherent RAM.
    pub fn new(bytes: usize) -> Self {
        Self::build(bytes, false)
    }

    /// `bytes` of RAM behind a simulated non-coherent SMMU.
    pub fn non_coherent(bytes: usize) -> Self {
        Self::build(bytes, true)
    }

    fn build(bytes: usize, non_coherent: bool) -> Self {
        assert!(bytes.is_multiple_of(UNIT));
        let units = bytes / UNIT;
        Self {
            ram: Words::new(bytes / 8),
            dev: non_coherent.then(|| Words::new(bytes / 8)),
            state: Mutex::new(State {
                used: vec![false; units],
                alloc_units: vec![0; units],
                allocs: 0,
                frees: 0,
                live: 0,
                fail_in: None,
                log: None,
            }),
        }
    }

    fn word_index(&self, pa: u64) -> usize {
        assert!(pa.is_multiple_of(8), "unaligned read at {pa:#x}");
        let off = pa
            .checked_sub(BASE)
            .unwrap_or_else(|| panic!("read below RAM at {pa:#x}"));
        let idx = usize::try_from(off / 8).unwrap();
        assert!(idx < self.ram.len, "read beyond RAM at {pa:#x}");
        idx
    }

    /// The CPU's view of the word at `pa`.
    pub fn read(&self, pa: u64) -> u64 {
        self.ram.at(self.word_index(pa)).load(Ordering::Acquire)
    }

    /// The SMMU's view of the word at `pa` (the CPU's view on a coherent memory).
    pub fn read_dev(&self, pa: u64) -> u64 {
        let i = self.word_index(pa);
        match &self.dev {
            Some(dev) => dev.at(i).load(Ordering::Acquire),
            None => self.ram.at(i).load(Ordering::Acquire),
        }
    }

    /// Writes the CPU's view of a word (tests only: to corrupt a table on purpose).
    pub fn write(&self, pa: u64, value: u64) {
        self.ram
            .at(self.word_index(pa))
            .store(value, Ordering::Release);
    }

    /// A copy of the CPU's view of the allocated memory (free memory reads as zero), to
    /// compare before and after an operation that must not change anything.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.state.lock().unwrap();
        let words_per_unit = UNIT / 8;
        let mut out = Vec::new();
        for (u, _) in st.used.iter().enumerate().filter(|(_, used)| **used) {
            for i in u * words_per_unit..(u + 1) * words_per_unit {
                out.push((i, self.ram.at(i).load(Ordering::Acquire)));
            }
        }
        Snapshot(out)
    }

    /// Makes the `n`th allocation from now (1 = the next) fail with `NoMemory`.
    pub fn fail_nth(&self, n: usize) {
        assert!(n >= 1);
        self.state.lock().unwrap().fail_in = Some(n);
    }

    /// Stops failing allocations.
    pub fn clear_failure(&self) {
        self.state.lock().unwrap().fail_in = None;
    }

    /// Number of live allocations.
    pub fn live(&self) -> usize {
        self.state.lock().unwrap().live
    }

    /// Number of successful allocations so far.
    pub fn allocs(&self) -> usize {
        self.state.lock().unwrap().allocs
    }

    /// Starts (or restarts) recording events.
    pub fn start_log(&self) {
        self.state.lock().unwrap().log = Some(Vec::new());
    }

    /// Stops recording and returns the events.
    pub fn take_log(&self) -> Vec<Event> {
        self.state.lock().unwrap().log.take().unwrap_or_default()
    }

    /// Records an event (for a test's sync hook).
    pub fn push_event(&self, e: Event) {
        if let Some(log) = &mut self.state.lock().unwrap().log {
            log.push(e);
        }
    }

    fn region_range(&self, region: &DmaRegion) -> (usize, usize) {
        let pa = region.pa().0;
        let off = usize::try_from(pa - BASE).unwrap();
        // The pointer must be the one for that PA.
        let expect = self.ram.ptr(off / 8).cast::<u64>().cast_const();
        assert_eq!(
            region.ptr().as_ptr().cast_const(),
            expect,
            "region pointer does not match its PA"
        );
        (off, region.len())
    }

    /// Sets every byte of `off .. off + len` to `byte`, as the hardware would (one bulk
    /// write; cheap under Miri).
    fn fill(&self, off: usize, len: usize, byte: u8, both: bool) {
        let views = [Some(&self.ram), if both { self.dev.as_ref() } else { None }];
        for view in views.into_iter().flatten() {
            assert!(off.is_multiple_of(8) && (off + len) / 8 <= view.len);
            // SAFETY: in bounds (checked); no other thread accesses this memory concurrently
            // in these tests (the region is being handed out or was handed back), and any
            // byte pattern is a valid `AtomicU64`.
            unsafe { std::ptr::write_bytes(view.ptr(off / 8).cast::<u8>(), byte, len) };
        }
    }
}

// SAFETY: regions point into `ram`, which lives as long as `self`, are handed out to one
// owner at a time (the `used` map), are zeroed, and their PAs are aligned as requested
// (BASE is 2 GiB aligned and starts are multiples of the alignment).
unsafe impl TableMemory for TestMem {
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
        assert!(
            align.is_power_of_two() && len > 0,
            "bad request {len:#x}/{align:#x}"
        );
        let mut st = self.state.lock().unwrap();
        if let Some(n) = st.fail_in {
            if n == 1 {
                st.fail_in = None;
                return Err(MemoryError::NoMemory);
            }
            st.fail_in = Some(n - 1);
        }
        let units = len.div_ceil(UNIT);
        let step = (align / UNIT).max(1);
        let total = st.used.len();
        let mut start = 0;
        let found = loop {
            if start + units > total {
                break None;
            }
            if !st.used[start] && st.used[start..start + units].iter().all(|u| !u) {
                break Some(start);
            }
            start += step;
        };
        let Some(start) = found else {
            return Err(MemoryError::NoMemory);
        };
        st.used[start..start + units]
            .iter_mut()
            .for_each(|u| *u = true);
        st.alloc_units[start] = units;
        st.allocs += 1;
        st.live += 1;
        let off = start * UNIT;
        let pa = BASE + off as u64;
        if let Some(log) = &mut st.log {
            log.push(Event::Alloc { pa, len });
        }
        drop(st);
        self.fill(off, units * UNIT, 0, true);
        let ptr = NonNull::new(self.ram.ptr(off / 8).cast::<u64>()).unwrap();
        // SAFETY: in bounds of `ram` (checked above), 8-byte aligned, accessed atomically
        // only, exclusively owned until freed.
        Ok(unsafe { DmaRegion::new(PhysAddr(pa), ptr, len) })
    }

    unsafe fn free(&self, region: DmaRegion) {
        let (off, len) = self.region_range(&region);
        let mut st = self.state.lock().unwrap();
        let start = off / UNIT;
        assert_eq!(off % UNIT, 0);
        let units = st.alloc_units[start];
        assert!(
            units != 0,
            "free of {:#x}, which is not allocated",
            region.pa().0
        );
        assert_eq!(units, len.div_ceil(UNIT), "free with the wrong length");
        st.alloc_units[start] = 0;
        st.used[start..start + units]
            .iter_mut()
            .for_each(|u| *u = false);
        st.frees += 1;
        st.live -= 1;
        if let Some(log) = &mut st.log {
            log.push(Event::Free {
                pa: region.pa().0,
                len,
            });
        }
        drop(st);
        self.fill(off, units * UNIT, POISON, true);
    }

    fn map(&self, pa: PhysAddr, len: usize) -> Result<DmaRegion, MemoryError> {
        let off = pa.0.checked_sub(BASE).ok_or(MemoryError::MapFailed)? as usize;
        if !off.is_multiple_of(8) || off + len > self.ram.len * 8 {
            return Err(MemoryError::MapFailed);
        }
        let ptr = NonNull::new(self.ram.ptr(off / 8).cast::<u64>()).unwrap();
        // SAFETY: in bounds of `ram`, 8-byte aligned, accessed atomically only.
        Ok(unsafe { DmaRegion::new(pa, ptr, len) })
    }

    unsafe fn unmap(&self, _region: DmaRegion) {}

    fn clean(&self, region: &DmaRegion, offset: usize, len: usize) {
        assert!(offset + len <= region.len(), "clean beyond the region");
        let (off, _) = self.region_range(region);
        let st = self.state.lock().unwrap();
        assert!(
            st.used[(off + offset) / UNIT],
            "clean of memory that is not allocated"
        );
        drop(st);
        let first = (off + offset) / 8;
        let last = (off + offset + len).div_ceil(8);
        if let Some(dev) = &self.dev {
            for i in first..last {
                dev.at(i)
                    .store(self.ram.at(i).load(Ordering::Acquire), Ordering::Release);
            }
        }
        self.push_event(Event::Clean {
            pa: BASE + (off + offset) as u64,
            len,
        });
    }

    fn invalidate(&self, region: &DmaRegion, offset: usize, len: usize) {
        assert!(offset + len <= region.len(), "invalidate beyond the region");
    }
}

/// The allocated memory at one moment, as (word index, value) pairs; compares without
/// printing megabytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot(Vec<(usize, u64)>);

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nonzero = self.0.iter().filter(|(_, w)| *w != 0).count();
        write!(f, "Snapshot({} words, {nonzero} non-zero)", self.0.len())
    }
}

impl Snapshot {
    /// Panics with the first difference (in which words are allocated, or in a value) if
    /// `self != other`.
    pub fn assert_same(&self, other: &Snapshot, what: &str) {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            let pa = BASE + a.0.min(b.0) as u64 * 8;
            assert!(
                a.0 == b.0,
                "{what}: allocated memory differs near pa {pa:#x}"
            );
            assert!(
                a.1 == b.1,
                "{what}: memory changed at pa {pa:#x}: {:#x} -> {:#x}",
                a.1,
                b.1
            );
        }
        assert_eq!(
            self.0.len(),
            other.0.len(),
            "{what}: the amount of allocated memory changed"
        );
    }
}

/// One translation found by [`walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Output address of the input address.
    pub pa: u64,
    /// Level of the leaf descriptor.
    pub level: u32,
    /// The leaf descriptor.
    pub desc: u64,
}

/// What the SMMU needs to walk a table: from the CD (TTB0, T0SZ) or the STE (S2TTB,
/// S2T0SZ, S2SL0).
#[derive(Debug, Clone, Copy)]
pub struct WalkRegs {
    pub ttb: u64,
    pub tsz: u32,
    /// `None`: stage 1 (start level from T0SZ); `Some(sl0)`: stage 2.
    pub s2sl0: Option<u32>,
}

/// An independent VMSAv8-64 walk (4 KiB granule, 48-bit OA, no LPA2), written from the
/// Arm ARM rules, not from the code under test:
///
/// * input size `ias = 64 − TxSZ`; an input at or above 2^ias does not translate;
/// * stage 1 start level = 4 − ⌈(ias − 12) / 9⌉; stage 2 start level = 2 − SL0, where the
///   start level may resolve up to 4 extra bits (concatenated tables);
/// * level L resolves input bits \[12 + 9(3 − L) + 8 : 12 + 9(3 − L)\] (all remaining
///   high bits at the start level);
/// * bit 0 = 0: invalid; at levels 0–2 bits\[1:0\] = 0b11 is a table (next table at bits
///   \[47:12\]) and 0b01 a block (levels 1 and 2 only); at level 3 0b11 is a page and 0b01
///   is invalid.
pub fn walk(read: impl Fn(u64) -> u64, regs: WalkRegs, input: u64) -> Option<Translation> {
    let ias = 64 - regs.tsz;
    if input >> ias != 0 {
        return None;
    }
    let start = match regs.s2sl0 {
        None => 4 - (ias - 12).div_ceil(9),
        Some(sl0) => {
            assert!(sl0 <= 2, "SL0 {sl0} is not a 4K encoding");
            2 - sl0
        }
    };
    let start_bits = ias - (12 + 9 * (3 - start));
    assert!(
        (1..=13).contains(&start_bits),
        "start level {start} cannot resolve {ias} bits"
    );
    if regs.s2sl0.is_none() {
        assert!(start_bits <= 9, "stage 1 has no concatenation");
    }
    let mut table = regs.ttb;
    for level in start..=3 {
        let shift = 12 + 9 * (3 - level);
        let bits = if level == start { start_bits } else { 9 };
        let index = (input >> shift) & ((1 << bits) - 1);
        let desc = read(table + index * 8);
        if desc & 1 == 0 {
            return None;
        }
        let addr_mask = 0x0000_ffff_ffff_f000u64;
        if level == 3 {
            if desc & 2 == 0 {
                return None;
            }
            return Some(Translation {
                pa: (desc & addr_mask) | (input & 0xfff),
                level,
                desc,
            });
        }
        if desc & 2 != 0 {
            table = desc & addr_mask;
            continue;
        }
        if level == 0 {
            return None;
        }
        let low = (1u64 << shift) - 1;
        return Some(Translation {
            pa: (desc & addr_mask & !low) | (input & low),
            level,
            desc,
        });
    }
    None
}
