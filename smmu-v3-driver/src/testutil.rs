//! Test doubles for the unit tests (run under Miri): host-buffer DMA memory and a
//! register-level fake SMMU that consumes the command queue and produces events.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::missing_panics_doc
)]

extern crate std;

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::alloc::{Layout, alloc_zeroed};
use std::boxed::Box;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::vec::Vec;

use smmu_regs::PhysAddr;
use smmu_regs::cmd::{Command, CompletionSignal};
use smmu_regs::regs::{QueueSize, offset};
use smmu_strtab::{DmaRegion, MemoryError, TableMemory};

use crate::hal::{Diagnostic, Platform, Registers};

/// Physical address of the first byte of [`HostMem`].
pub(crate) const MEM_BASE: u64 = 0x4000_0000;

/// DMA memory: a bump allocator over a host buffer of atomics.
pub(crate) struct HostMem {
    words: Box<[AtomicU64]>,
    next: Mutex<usize>,
    pub(crate) live: AtomicUsize,
}

/// `words` zeroed atomics, allocated zeroed in one go (fast under Miri).
fn zeroed_words(words: usize) -> Box<[AtomicU64]> {
    if words == 0 {
        return Box::default();
    }
    let layout = Layout::array::<AtomicU64>(words).unwrap();
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc_zeroed(layout) }.cast::<AtomicU64>();
    assert!(!ptr.is_null());
    // SAFETY: `ptr` is a fresh allocation of `words` AtomicU64s with the global
    // allocator's layout for them; all-zero bytes are a valid AtomicU64; the Box takes
    // ownership and frees it with the same layout.
    unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(ptr, words)) }
}

impl HostMem {
    pub(crate) fn new(bytes: usize) -> Self {
        Self {
            words: zeroed_words(bytes / 8),
            next: Mutex::new(0),
            live: AtomicUsize::new(0),
        }
    }

    /// The word at `pa`, if it is inside the buffer.
    pub(crate) fn word(&self, pa: u64) -> Option<&AtomicU64> {
        let off = pa.checked_sub(MEM_BASE)?;
        if !off.is_multiple_of(8) {
            return None;
        }
        self.words.get(usize::try_from(off / 8).ok()?)
    }
}

// SAFETY: regions are disjoint ranges of `words` (bump allocation, never reused), which
// outlive them; they are zero when handed out (fresh), 8-byte aligned, accessed only
// atomically; PA = MEM_BASE + offset is aligned as requested because MEM_BASE is.
unsafe impl TableMemory for HostMem {
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
        let mut next = self.next.lock().unwrap();
        let start = next.next_multiple_of(align.max(8));
        let end = start.checked_add(len).ok_or(MemoryError::NoMemory)?;
        if end > self.words.len() * 8 || len == 0 {
            return Err(MemoryError::NoMemory);
        }
        *next = end;
        self.live.fetch_add(1, Ordering::Relaxed);
        let ptr = NonNull::from(&self.words[start / 8..end.div_ceil(8)]).cast::<u64>();
        // SAFETY: see the impl's safety comment.
        Ok(unsafe { DmaRegion::new(PhysAddr(MEM_BASE + start as u64), ptr, len) })
    }
    unsafe fn free(&self, _region: DmaRegion) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
    fn map(&self, _pa: PhysAddr, _len: usize) -> Result<DmaRegion, MemoryError> {
        Err(MemoryError::MapFailed)
    }
    unsafe fn unmap(&self, _region: DmaRegion) {}
    fn clean(&self, _region: &DmaRegion, _offset: usize, _len: usize) {}
    fn invalidate(&self, _region: &DmaRegion, _offset: usize, _len: usize) {}
}

/// Register state of the fake SMMU.
#[derive(Default)]
pub(crate) struct FakeState {
    pub(crate) idr: [u32; 6],
    pub(crate) aidr: u32,
    pub(crate) cr0: u32,
    pub(crate) cr0ack: u32,
    pub(crate) gbpa: u32,
    pub(crate) irq_ctrl: u32,
    pub(crate) gerror: u32,
    pub(crate) gerrorn: u32,
    pub(crate) cmdq_base: u64,
    pub(crate) cmdq_prod: u32,
    pub(crate) cmdq_cons: u32,
    pub(crate) evtq_base: u64,
    pub(crate) evtq_prod: u32,
    pub(crate) evtq_cons: u32,
    pub(crate) other: BTreeMap<usize, u64>,
    /// Every register write, in order.
    pub(crate) writes: Vec<(usize, u64)>,
    /// Commands executed, in order.
    pub(crate) executed: Vec<Command>,
    /// Opcodes refused with CERROR_ILL.
    pub(crate) illegal: Vec<u8>,
    /// Opcodes whose next fetch fails once with CERROR_ABT.
    pub(crate) abort_once: Vec<u8>,
    /// `CMD_SYNC` never completes.
    pub(crate) stall_sync: bool,
    /// Commands are consumed only by `process`.
    pub(crate) manual: bool,
    /// CR0ACK follows CR0 only after this many CR0ACK reads.
    pub(crate) cr0ack_delay: u32,
}

/// A register-level fake SMMU over [`HostMem`].
pub(crate) struct FakeSmmu {
    pub(crate) mem: HostMem,
    st: Mutex<FakeState>,
    pub(crate) budget: u32,
    pub(crate) kdump: bool,
    pub(crate) firmware_coherent: Option<bool>,
    diags: Mutex<Vec<Diagnostic>>,
}

/// IDR0 of a typical SMMU: S1P, S2P, AArch64, COHACC, ASID16, MSI, VMID16, LE tables,
/// terminate-only, 2-level stream tables.
pub(crate) const IDR0: u32 = 0b11
    | (0b10 << 2)
    | (1 << 4)
    | (1 << 12)
    | (1 << 13)
    | (1 << 18)
    | (0b10 << 21)
    | (1 << 24)
    | (1 << 27);
/// IDR1: SIDSIZE 16, CMDQS 8, EVENTQS 8.
pub(crate) const IDR1: u32 = 16 | (8 << 16) | (8 << 21);
/// IDR5: OAS 48, 4K and 64K granules.
pub(crate) const IDR5: u32 = 5 | (1 << 4) | (1 << 6);

impl FakeSmmu {
    pub(crate) fn new() -> Self {
        let st = FakeState {
            idr: [IDR0, IDR1, 0, 1 << 10, 0, IDR5],
            aidr: 2,
            ..FakeState::default()
        };
        Self {
            mem: HostMem::new(64 << 10),
            st: Mutex::new(st),
            // Timeouts are exercised: keep them short under Miri.
            budget: if cfg!(miri) { 40 } else { 1000 },
            kdump: false,
            firmware_coherent: None,
            diags: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, FakeState> {
        self.st.lock().unwrap()
    }

    pub(crate) fn take_diagnostics(&self) -> Vec<Diagnostic> {
        core::mem::take(&mut *self.diags.lock().unwrap())
    }

    fn cmdq_size(st: &FakeState) -> QueueSize {
        QueueSize::effective(
            (st.cmdq_base & 0x1f) as u8,
            ((st.idr[1] >> 21) & 0x1f) as u8,
        )
    }

    /// Consumes commands now (manual mode).
    pub(crate) fn process(&self) {
        let mut st = self.state();
        self.consume(&mut st);
    }

    fn consume(&self, st: &mut FakeState) {
        loop {
            if st.cr0ack & 0b1000 == 0 || (st.gerror ^ st.gerrorn) & 1 != 0 {
                return;
            }
            let q = Self::cmdq_size(st);
            let cons = st.cmdq_cons & q.pointer_mask();
            if q.is_empty(st.cmdq_prod, cons) {
                return;
            }
            let base = st.cmdq_base & 0x00ff_ffff_ffff_ffe0;
            let addr = base + u64::from(q.index(cons)) * 16;
            let (Some(w0), Some(w1)) = (self.mem.word(addr), self.mem.word(addr + 8)) else {
                return self.cmd_error(st, 2);
            };
            let words = [w0.load(Ordering::Acquire), w1.load(Ordering::Acquire)];
            let opcode = words[0] as u8;
            if let Some(i) = st.abort_once.iter().position(|&o| o == opcode) {
                st.abort_once.remove(i);
                return self.cmd_error(st, 2);
            }
            let cmd = Command::decode(words);
            if st.illegal.contains(&opcode) || Command::decode_non_secure(words, false).is_err() {
                return self.cmd_error(st, 1);
            }
            if let Command::Sync { cs, msi_addr, .. } = cmd {
                if st.stall_sync {
                    return;
                }
                if cs == CompletionSignal::SigIrq && msi_addr.0 != 0 {
                    let w = self.mem.word(msi_addr.0 & !7).unwrap();
                    let shift = (msi_addr.0 & 4) * 8;
                    w.fetch_and(!(0xFFFF_FFFFu64 << shift), Ordering::AcqRel);
                }
            }
            st.executed.push(cmd);
            st.cmdq_cons = (st.cmdq_cons & !0xF_FFFF) | q.inc(cons);
        }
    }

    fn cmd_error(&self, st: &mut FakeState, code: u32) {
        st.cmdq_cons = (st.cmdq_cons & 0xF_FFFF) | (code << 24);
        if (st.gerror ^ st.gerrorn) & 1 == 0 {
            st.gerror ^= 1;
        }
    }

    fn evtq_size(st: &FakeState) -> QueueSize {
        QueueSize::effective(
            (st.evtq_base & 0x1f) as u8,
            ((st.idr[1] >> 16) & 0x1f) as u8,
        )
    }

    /// The SMMU records an event (or overflows when the queue is full).
    pub(crate) fn push_event(&self, words: [u64; 4]) {
        let mut st = self.state();
        let q = Self::evtq_size(&st);
        let prod = st.evtq_prod & q.pointer_mask();
        if q.is_full(prod, st.evtq_cons & q.pointer_mask()) {
            if (st.evtq_prod ^ st.evtq_cons) & (1 << 31) == 0 {
                st.evtq_prod ^= 1 << 31;
            }
            return;
        }
        let base = st.evtq_base & 0x00ff_ffff_ffff_ffe0;
        let addr = base + u64::from(q.index(prod)) * 32;
        for (i, w) in words.iter().enumerate() {
            self.mem
                .word(addr + 8 * i as u64)
                .unwrap()
                .store(*w, Ordering::Release);
        }
        st.evtq_prod = (st.evtq_prod & (1 << 31)) | q.inc(prod);
    }
}

// SAFETY: a fake: accesses go to the fake's state under its lock.
unsafe impl Registers for FakeSmmu {
    fn read32(&self, off: usize) -> u32 {
        let mut st = self.state();
        match off {
            offset::IDR0 => st.idr[0],
            offset::IDR1 => st.idr[1],
            offset::IDR3 => st.idr[3],
            offset::IDR5 => st.idr[5],
            offset::AIDR => st.aidr,
            offset::CR0 => st.cr0,
            offset::CR0ACK => {
                if st.cr0ack_delay > 0 {
                    st.cr0ack_delay -= 1;
                } else {
                    st.cr0ack = st.cr0;
                }
                st.cr0ack
            }
            offset::GBPA => st.gbpa,
            offset::IRQ_CTRL | offset::IRQ_CTRLACK => st.irq_ctrl,
            offset::GERROR => st.gerror,
            offset::GERRORN => st.gerrorn,
            offset::CMDQ_PROD => st.cmdq_prod,
            offset::CMDQ_CONS => st.cmdq_cons,
            offset::EVENTQ_PROD => st.evtq_prod,
            offset::EVENTQ_CONS => st.evtq_cons,
            _ => st.other.get(&off).copied().unwrap_or(0) as u32,
        }
    }

    fn write32(&self, off: usize, value: u32) {
        let mut st = self.state();
        st.writes.push((off, u64::from(value)));
        match off {
            offset::CR0 => {
                st.cr0 = value;
                if st.cr0ack_delay == 0 {
                    st.cr0ack = value;
                }
            }
            offset::GBPA if value & (1 << 31) != 0 => st.gbpa = value & !(1 << 31),
            offset::IRQ_CTRL => st.irq_ctrl = value,
            offset::GERRORN => st.gerrorn = value,
            offset::CMDQ_PROD => st.cmdq_prod = value,
            offset::CMDQ_CONS => st.cmdq_cons = value,
            offset::EVENTQ_PROD => st.evtq_prod = value,
            offset::EVENTQ_CONS => st.evtq_cons = value,
            _ => {
                st.other.insert(off, u64::from(value));
            }
        }
        if !st.manual && matches!(off, offset::CMDQ_PROD | offset::GERRORN | offset::CR0) {
            self.consume(&mut st);
        }
    }

    fn read64(&self, off: usize) -> u64 {
        let st = self.state();
        match off {
            offset::CMDQ_BASE => st.cmdq_base,
            offset::EVENTQ_BASE => st.evtq_base,
            _ => st.other.get(&off).copied().unwrap_or(0),
        }
    }

    fn write64(&self, off: usize, value: u64) {
        let mut st = self.state();
        st.writes.push((off, value));
        match off {
            offset::CMDQ_BASE => st.cmdq_base = value,
            offset::EVENTQ_BASE => st.evtq_base = value,
            _ => {
                st.other.insert(off, value);
            }
        }
    }
}

// SAFETY: a fake; `relax` returns.
unsafe impl Platform for FakeSmmu {
    fn is_kdump_kernel(&self) -> bool {
        self.kdump
    }
    fn firmware_coherent(&self) -> Option<bool> {
        self.firmware_coherent
    }
    fn poll_budget(&self) -> u32 {
        self.budget
    }
    fn relax(&self) {
        std::thread::yield_now();
    }
    fn diagnostic(&self, diagnostic: Diagnostic) {
        self.diags.lock().unwrap().push(diagnostic);
    }
}

// SAFETY: forwards to `HostMem`.
unsafe impl TableMemory for FakeSmmu {
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
        self.mem.alloc_zeroed(len, align)
    }
    unsafe fn free(&self, region: DmaRegion) {
        // SAFETY: forwarded.
        unsafe { self.mem.free(region) }
    }
    fn map(&self, pa: PhysAddr, len: usize) -> Result<DmaRegion, MemoryError> {
        self.mem.map(pa, len)
    }
    unsafe fn unmap(&self, region: DmaRegion) {
        // SAFETY: forwarded.
        unsafe { self.mem.unmap(region) }
    }
    fn clean(&self, region: &DmaRegion, offset: usize, len: usize) {
        self.mem.clean(region, offset, len);
    }
    fn invalidate(&self, region: &DmaRegion, offset: usize, len: usize) {
        self.mem.invalidate(region, offset, len);
    }
}
