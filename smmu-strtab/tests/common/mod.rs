//! Test support: a recording, bounds-checking `TableMemory` over a fake physical address
//! space, an independent stream-table walker written from the spec rules, and entry-writer
//! recorders.
#![allow(dead_code, clippy::missing_panics_doc)]

use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use smmu_regs::PhysAddr;
use smmu_strtab::{DmaRegion, MemoryError, TableMemory, WriteStep};

/// Base of the fake physical RAM (2^38, so every table alignment holds in offsets too).
pub const RAM_BASE: u64 = 0x40_0000_0000;
/// What a non-coherent CPU sees in memory it never invalidated (a stale cache line).
pub const POISON: u64 = 0xdead_beef_dead_beef;

/// One event seen by the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Alloc { pa: u64, len: usize, align: usize },
    Free { pa: u64, len: usize },
    Map { pa: u64, len: usize },
    Unmap { pa: u64, len: usize },
    Clean { pa: u64, len: usize },
    Invalidate { pa: u64, len: usize },
    Sync(WriteStep),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Alloc,
    Map,
}

/// A piece of physical memory: the device view (`ram`) and, for a non-coherent system, the
/// CPU's cached view (`cpu`), which only `clean` / `invalidate` reconcile.
struct Chunk {
    pa: u64,
    ram: Vec<AtomicU64>,
    cpu: Option<Vec<AtomicU64>>,
}

impl Chunk {
    fn contains(&self, pa: u64, len: usize) -> bool {
        pa >= self.pa && pa + len as u64 <= self.pa + self.ram.len() as u64 * 8
    }
    fn cpu_view(&self) -> &[AtomicU64] {
        self.cpu.as_deref().unwrap_or(&self.ram)
    }
}

struct Live {
    pa: u64,
    len: usize,
    ptr: usize,
    kind: Kind,
}

#[derive(Default)]
struct Inner {
    chunks: Vec<Chunk>,
    next_pa: u64,
    live: Vec<Live>,
    events: Vec<Event>,
    /// Fail allocations once this many more succeeded.
    alloc_budget: Option<usize>,
    fail_maps: bool,
}

/// The test memory. `coherent = false` simulates a CPU cache that the SMMU does not snoop.
pub struct TestMem {
    inner: Mutex<Inner>,
    coherent: bool,
}

impl TestMem {
    pub fn new(coherent: bool) -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_pa: RAM_BASE,
                ..Inner::default()
            }),
            coherent,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn new_chunk(&self, inner: &mut Inner, len: usize, align: usize, cpu_fill: u64) -> u64 {
        let align = align.max(8) as u64;
        let pa = inner.next_pa.next_multiple_of(align);
        let words = len.div_ceil(8).max(1);
        // Leave a gap after each chunk so that neighbouring tables are not contiguous.
        inner.next_pa = pa + (words as u64) * 8 + 4096;
        let ram = (0..words).map(|_| AtomicU64::new(0)).collect();
        let cpu = (!self.coherent).then(|| (0..words).map(|_| AtomicU64::new(cpu_fill)).collect());
        inner.chunks.push(Chunk { pa, ram, cpu });
        pa
    }

    /// Adds RAM that a "previous kernel" owns (not allocated through the trait), zeroed in
    /// the device view and stale (POISON) in a non-coherent CPU view.
    pub fn add_ram(&self, len: usize, align: usize) -> u64 {
        let mut inner = self.lock();
        self.new_chunk(&mut inner, len, align, POISON)
    }

    /// Reads a word as the device sees it.
    pub fn peek(&self, pa: u64) -> Option<u64> {
        let inner = self.lock();
        let c = inner.chunks.iter().find(|c| c.contains(pa, 8))?;
        pa.is_multiple_of(8)
            .then(|| c.ram[((pa - c.pa) / 8) as usize].load(Ordering::SeqCst))
    }

    /// Writes a word as the device (or a previous kernel, or a rogue DMA) would.
    pub fn poke(&self, pa: u64, value: u64) {
        let inner = self.lock();
        let c = inner
            .chunks
            .iter()
            .find(|c| c.contains(pa, 8))
            .expect("poke outside RAM");
        c.ram[((pa - c.pa) / 8) as usize].store(value, Ordering::SeqCst);
    }

    /// Reads `n` words at `pa` as the device sees them (one lock), `None` if any is outside
    /// RAM.
    pub fn peek_words(&self, pa: u64, n: usize) -> Option<Vec<u64>> {
        let inner = self.lock();
        let c = inner.chunks.iter().find(|c| c.contains(pa, n * 8))?;
        if !pa.is_multiple_of(8) {
            return None;
        }
        let first = ((pa - c.pa) / 8) as usize;
        Some(
            c.ram[first..first + n]
                .iter()
                .map(|w| w.load(Ordering::SeqCst))
                .collect(),
        )
    }

    /// Writes consecutive words at `pa` as the device would (one lock).
    pub fn poke_words(&self, pa: u64, words: &[u64]) {
        let inner = self.lock();
        let c = inner
            .chunks
            .iter()
            .find(|c| c.contains(pa, words.len() * 8))
            .expect("poke outside RAM");
        let first = ((pa - c.pa) / 8) as usize;
        for (w, v) in c.ram[first..].iter().zip(words) {
            w.store(*v, Ordering::SeqCst);
        }
    }

    /// Reads the 8 words of the entry at `pa` as the device sees it.
    pub fn peek_entry(&self, pa: u64) -> [u64; 8] {
        let w = self.peek_words(pa, 8).expect("entry outside RAM");
        std::array::from_fn(|i| w[i])
    }

    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    pub fn clear_events(&self) {
        self.lock().events.clear();
    }

    pub fn record(&self, e: Event) {
        self.lock().events.push(e);
    }

    /// Number of live allocations and mappings.
    pub fn live(&self) -> (usize, usize) {
        let inner = self.lock();
        let a = inner.live.iter().filter(|l| l.kind == Kind::Alloc).count();
        (a, inner.live.len() - a)
    }

    /// Bytes mapped (live) right now.
    pub fn mapped_bytes(&self) -> usize {
        self.lock()
            .live
            .iter()
            .filter(|l| l.kind == Kind::Map)
            .map(|l| l.len)
            .sum()
    }

    pub fn set_alloc_budget(&self, budget: Option<usize>) {
        self.lock().alloc_budget = budget;
    }

    pub fn set_fail_maps(&self, fail: bool) {
        self.lock().fail_maps = fail;
    }

    fn region_for(chunk: &Chunk, pa: u64, len: usize) -> DmaRegion {
        let off = ((pa - chunk.pa) / 8) as usize;
        let base = chunk.cpu_view().as_ptr().cast::<u64>().cast_mut();
        // `wrapping_add` keeps the provenance of the chunk's buffer; `off` is in bounds.
        let ptr = NonNull::new(base.wrapping_add(off)).expect("non-null");
        // SAFETY: the pointer is into a live chunk buffer of at least `len` bytes from `off`
        // (checked by the callers), 8-aligned, and accessed only through atomics/raw
        // pointers; chunks are removed only on `free`, after the region is released.
        unsafe { DmaRegion::new(PhysAddr(pa), ptr, len) }
    }

    /// Checks `region` is live and `offset .. offset + len` inside it; returns the PA range.
    fn check_range(
        inner: &Inner,
        region: &DmaRegion,
        offset: usize,
        len: usize,
        what: &str,
    ) -> (u64, usize) {
        let pa = region.pa().0;
        let live = inner.live.iter().find(|l| {
            l.pa == pa && l.len == region.len() && l.ptr == region.ptr().as_ptr() as usize
        });
        assert!(
            live.is_some(),
            "{what} on a region that is not live: {region:?}"
        );
        assert!(
            offset.checked_add(len).is_some_and(|e| e <= region.len()),
            "{what} outside the region: offset {offset} len {len} region {region:?}"
        );
        (pa + offset as u64, len)
    }

    fn copy(&self, inner: &Inner, pa: u64, len: usize, to_ram: bool) {
        if self.coherent {
            return;
        }
        let c = inner
            .chunks
            .iter()
            .find(|c| c.contains(pa, len))
            .expect("range outside RAM");
        let first = ((pa - c.pa) / 8) as usize;
        let cpu = c.cpu.as_ref().expect("non-coherent chunk");
        let words = first..first + len.div_ceil(8);
        for (ram, cpu) in c.ram[words.clone()].iter().zip(&cpu[words]) {
            let (from, to) = if to_ram { (cpu, ram) } else { (ram, cpu) };
            to.store(from.load(Ordering::SeqCst), Ordering::SeqCst);
        }
    }
}

// SAFETY: regions point into chunk buffers that stay allocated until `free` (allocations)
// or for the memory's lifetime (RAM added by tests); allocations never overlap; PAs are
// aligned as requested; the buffers are zero when allocated.
unsafe impl TableMemory for TestMem {
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
        let mut inner = self.lock();
        if let Some(budget) = inner.alloc_budget.as_mut() {
            if *budget == 0 {
                return Err(MemoryError::NoMemory);
            }
            *budget -= 1;
        }
        assert!(
            align.is_power_of_two(),
            "alignment {align} is not a power of two"
        );
        let pa = self.new_chunk(&mut inner, len, align, 0);
        let chunk = inner.chunks.last().expect("just pushed");
        let region = Self::region_for(chunk, pa, len);
        inner.live.push(Live {
            pa,
            len,
            ptr: region.ptr().as_ptr() as usize,
            kind: Kind::Alloc,
        });
        inner.events.push(Event::Alloc { pa, len, align });
        Ok(region)
    }

    unsafe fn free(&self, region: DmaRegion) {
        let mut inner = self.lock();
        let (pa, len) = (region.pa().0, region.len());
        let pos = inner
            .live
            .iter()
            .position(|l| {
                l.kind == Kind::Alloc
                    && l.pa == pa
                    && l.len == len
                    && l.ptr == region.ptr().as_ptr() as usize
            })
            .unwrap_or_else(|| panic!("free of a region that was not allocated: {region:?}"));
        inner.live.remove(pos);
        assert!(
            !inner
                .live
                .iter()
                .any(|l| l.kind == Kind::Map && l.pa < pa + len as u64 && pa < l.pa + l.len as u64),
            "free of a region that is still mapped"
        );
        // Drop the buffer: any later access through a stale pointer is a use-after-free
        // that Miri reports.
        inner.chunks.retain(|c| c.pa != pa);
        inner.events.push(Event::Free { pa, len });
    }

    fn map(&self, pa: PhysAddr, len: usize) -> Result<DmaRegion, MemoryError> {
        let mut inner = self.lock();
        if inner.fail_maps || !pa.0.is_multiple_of(8) || len == 0 {
            return Err(MemoryError::MapFailed);
        }
        let Some(chunk) = inner.chunks.iter().find(|c| c.contains(pa.0, len)) else {
            return Err(MemoryError::MapFailed);
        };
        let region = Self::region_for(chunk, pa.0, len);
        inner.live.push(Live {
            pa: pa.0,
            len,
            ptr: region.ptr().as_ptr() as usize,
            kind: Kind::Map,
        });
        inner.events.push(Event::Map { pa: pa.0, len });
        Ok(region)
    }

    unsafe fn unmap(&self, region: DmaRegion) {
        let mut inner = self.lock();
        let (pa, len) = (region.pa().0, region.len());
        let pos = inner
            .live
            .iter()
            .position(|l| {
                l.kind == Kind::Map
                    && l.pa == pa
                    && l.len == len
                    && l.ptr == region.ptr().as_ptr() as usize
            })
            .unwrap_or_else(|| panic!("unmap of a region that was not mapped: {region:?}"));
        inner.live.remove(pos);
        inner.events.push(Event::Unmap { pa, len });
    }

    fn clean(&self, region: &DmaRegion, offset: usize, len: usize) {
        let mut inner = self.lock();
        let (pa, len) = Self::check_range(&inner, region, offset, len, "clean");
        self.copy(&inner, pa, len, true);
        inner.events.push(Event::Clean { pa, len });
    }

    fn invalidate(&self, region: &DmaRegion, offset: usize, len: usize) {
        let mut inner = self.lock();
        let (pa, len) = Self::check_range(&inner, region, offset, len, "invalidate");
        self.copy(&inner, pa, len, false);
        inner.events.push(Event::Invalidate { pa, len });
    }
}

/// What an SMMU finds for a StreamID, walking the tables from the registers (spec §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// The STE words.
    Ste([u64; 8]),
    /// The StreamID is out of range (C_BAD_STREAMID): SID ≥ 2^effective LOG2SIZE, or the
    /// L1 descriptor has Span 0 / reserved / too large, or the L2 index is beyond the Span.
    OutOfRange,
    /// A table word could not be fetched (F_STE_FETCH).
    FetchAbort,
}

/// An independent walker, written from spec smmuv3.md §1.6, §2.4 and §3 (not from the
/// crate's code): reads the device view of `mem`.
pub fn walk(
    mem: &TestMem,
    strtab_base: u64,
    strtab_base_cfg: u32,
    sid_size: u32,
    sid: u32,
) -> Walk {
    let log2size = strtab_base_cfg & 0x3f;
    let split_field = (strtab_base_cfg >> 6) & 0x1f;
    let fmt = (strtab_base_cfg >> 16) & 0x3;
    let eff = log2size.min(sid_size);
    if u64::from(sid) >= 1u64 << eff {
        return Walk::OutOfRange;
    }
    // ADDR[55:6].
    let addr = strtab_base & 0x00ff_ffff_ffff_ffc0;
    let low_mask = |bits: u32| {
        if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        }
    };
    let fetch_ste = |pa: u64| -> Walk {
        match mem.peek_words(pa, 8) {
            Some(w) => Walk::Ste(std::array::from_fn(|i| w[i])),
            None => Walk::FetchAbort,
        }
    };
    if fmt != 1 {
        // Linear (reserved FMT values behave as linear). The SMMU ignores ADDR bits below
        // the table size, using the literal LOG2SIZE.
        let base = addr & !low_mask(log2size + 6);
        return fetch_ste(base + 64 * u64::from(sid));
    }
    let split = if matches!(split_field, 6 | 8 | 10) {
        split_field
    } else {
        6
    };
    let l1_shift = log2size.saturating_sub(split);
    let l1_align_bits = (l1_shift + 3).max(6);
    let l1_base = addr & !low_mask(l1_align_bits);
    let l1_index = if split >= log2size {
        0
    } else {
        u64::from(sid) >> split
    };
    let Some(desc) = mem.peek(l1_base + 8 * l1_index) else {
        return Walk::FetchAbort;
    };
    let span = (desc & 0x1f) as u32;
    if span == 0 || span >= 12 || span > split + 1 {
        return Walk::OutOfRange;
    }
    let l2_index = u64::from(sid) & ((1u64 << split) - 1);
    if l2_index >= 1u64 << (span - 1) {
        return Walk::OutOfRange;
    }
    // L2Ptr[55:6], low bits below the L2 size treated as zero.
    let l2 = desc & 0x00ff_ffff_ffff_ffc0 & !((64u64 << (span - 1)) - 1);
    fetch_ste(l2 + 64 * l2_index)
}

/// Records the entry (device view) at every sync of an entry write, and checks the
/// hitless invariants of spec §8.1 against independent used-bit rules supplied by the
/// test.
pub struct Recorder<'m> {
    pub mem: &'m TestMem,
    pub entry_pa: u64,
    pub seen: Vec<(WriteStep, [u64; 8])>,
}

impl<'m> Recorder<'m> {
    pub fn new(mem: &'m TestMem, entry_pa: u64) -> Self {
        Self {
            mem,
            entry_pa,
            seen: Vec::new(),
        }
    }

    pub fn hook(&mut self) -> impl FnMut(WriteStep) -> Result<(), std::convert::Infallible> + '_ {
        |step| {
            self.mem.record(Event::Sync(step));
            let e = self.mem.peek_entry(self.entry_pa);
            self.seen.push((step, e));
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Used bits, written independently from the spec tables (smmuv3.md §2.1, §2.5, §8.1) as raw
// masks, to check the writer without trusting the crate's own used-bit functions.

const fn bits(hi: u32, lo: u32) -> u64 {
    (u64::MAX >> (63 - hi)) & !((1u64 << lo) - 1)
}

/// STE used bits (spec §8.1 STE table).
pub fn spec_ste_used(e: &[u64; 8]) -> [u64; 8] {
    let mut u = [0u64; 8];
    u[0] = 1; // V
    if e[0] & 1 == 0 {
        return u;
    }
    u[0] |= bits(3, 1); // Config
    let cfg = (e[0] >> 1) & 7;
    if cfg & 1 != 0 {
        // S1Fmt[5:4], S1ContextPtr[55:6], S1CDMax[63:59]
        u[0] |= bits(5, 4) | bits(55, 6) | bits(63, 59);
        // S1DSS[1:0] S1CIR[3:2] S1COR[5:4] S1CSH[7:6] MEV[19] S1STALLD[27] EATS[29:28] STRW[31:30]
        u[1] |= bits(7, 0) | (1 << 19) | (1 << 27) | bits(29, 28) | bits(31, 30);
        u[2] |= bits(15, 0); // S2VMID
        if e[1] & 3 == 1 {
            u[1] |= bits(45, 44); // SHCFG when S1DSS = bypass
        }
    }
    if cfg & 2 != 0 {
        // S2FWB[25] EATS[29:28] SHCFG[45:44] MEV[19]
        u[1] |= (1 << 25) | bits(29, 28) | bits(45, 44) | (1 << 19);
        // S2VMID, VTCR dw2[50:32], S2AA64[51], S2ENDI[52], S2PTW[54], S2S[57], S2R[58]
        u[2] |=
            bits(15, 0) | bits(50, 32) | (1 << 51) | (1 << 52) | (1 << 54) | (1 << 57) | (1 << 58);
        u[3] |= bits(55, 4); // S2TTB
    }
    if cfg == 4 {
        u[1] |= bits(45, 44);
    }
    u
}

/// STE update-safe bits (spec §8.1): MEV; EATS[0] unless EATS[1] or S2S in either.
pub fn spec_ste_safe(cur: &[u64; 8], target: &[u64; 8]) -> [u64; 8] {
    let mut s = [0u64; 8];
    s[1] = 1 << 19;
    let s1chk = (cur[1] | target[1]) & (1 << 29) != 0;
    let s2s = (cur[2] | target[2]) & (1 << 57) != 0;
    if !s1chk && !s2s {
        s[1] |= 1 << 28;
    }
    s
}

/// CD used bits (spec §8.1 CD table).
pub fn spec_cd_used(e: &[u64; 8]) -> [u64; 8] {
    if e[0] & (1 << 31) == 0 {
        return [1 << 31, 0, 0, 0, 0, 0, 0, 0];
    }
    let mut u = [u64::MAX; 8];
    if e[0] & (1 << 14) != 0 {
        u[0] &= !bits(13, 0); // T0SZ, TG0, IR0, OR0, SH0
        u[1] &= !bits(55, 4); // TTB0
    }
    u
}

/// Whether `a` and `b` agree on `mask`, word by word.
pub fn agree(a: &[u64; 8], b: &[u64; 8], mask: &[u64; 8]) -> bool {
    (0..8).all(|i| (a[i] ^ b[i]) & mask[i] == 0)
}

/// Result of checking the recorded intermediate entries of one transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub syncs: usize,
    /// V = 0 at some sync.
    pub invalid_written: bool,
}

/// Checks every recorded entry: when valid, the bits it uses (minus the safe bits) equal
/// those of `init` or of `target`. Panics (fails the test) on a mixed entry.
pub fn check_hitless(
    seen: &[(WriteStep, [u64; 8])],
    init: &[u64; 8],
    target: &[u64; 8],
    used: fn(&[u64; 8]) -> [u64; 8],
    safe: fn(&[u64; 8], &[u64; 8]) -> [u64; 8],
    v_bit: u64,
) -> Checked {
    let safe = safe(init, target);
    let mut invalid_written = false;
    for (step, e) in seen {
        if e[0] & v_bit == 0 {
            invalid_written = true;
            continue;
        }
        let mut mask = used(e);
        for i in 0..8 {
            mask[i] &= !safe[i];
        }
        assert!(
            agree(e, init, &mask) || agree(e, target, &mask),
            "mixed entry at {step:?}: {e:x?}\n init {init:x?}\n target {target:x?}"
        );
    }
    Checked {
        syncs: seen.len(),
        invalid_written,
    }
}

pub fn no_safe(_: &[u64; 8], _: &[u64; 8]) -> [u64; 8] {
    [0; 8]
}
