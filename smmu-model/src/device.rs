//! DMA-capable device models and the transaction ledger.
//!
//! A [`DmaDevice`] has a StreamID (and optionally a SubstreamID) and runs a
//! [`DmaProgram`] — write a pattern to a ring of IOVAs, read descriptors, repeat —
//! either stepped by the caller ([`DmaDevice::step`]) or from its own thread
//! ([`DmaDevice::spawn`]). Every transaction goes through [`Smmu::translate`] and is
//! recorded in a shared [`Ledger`] with:
//!
//! * the **intended** target: the physical address that the issuer's mapping meant for
//!   that IOVA, from an [`ExpectedMapping`] that the test (or the driver glue) keeps up
//!   to date as it maps and unmaps;
//! * the **outcome**: completed at a PA, faulted with an event, aborted silently, or a
//!   bus error.
//!
//! A completed transaction is **misdirected** when it landed somewhere other than the
//! intended PA (including when the mapping meant nothing at all for that IOVA). The
//! oracle is consulted when the transaction is issued and again when it completes; a
//! transaction that lands where either view meant is not misdirected, so that a driver
//! updating its tables and the oracle one after the other is not blamed for the race.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::event::EventId;
use crate::smmu::{Smmu, lock};
use crate::translate::{Access, DmaError, Fault, Transaction};

/// The issuer's view of where each IOVA should land: IOVA page → PA page (4 KiB pages),
/// or the identity for devices that expect bypass.
#[derive(Debug, Default)]
pub struct ExpectedMapping {
    pages: RwLock<BTreeMap<u64, u64>>,
    identity: AtomicBool,
}

impl ExpectedMapping {
    /// An empty mapping (every IOVA is unmapped).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A mapping that expects every IOVA to land at the same PA (bypass).
    #[must_use]
    pub fn identity() -> Self {
        let m = Self::default();
        m.identity.store(true, Ordering::Release);
        m
    }

    /// Switches identity mode on or off (the page table is kept either way).
    pub fn set_identity(&self, on: bool) {
        self.identity.store(on, Ordering::Release);
    }

    /// Records that `[iova, iova + len)` is meant to land at `[pa, pa + len)`
    /// (page granular; both addresses are rounded down to 4 KiB).
    pub fn map(&self, iova: u64, pa: u64, len: u64) {
        let mut p = self
            .pages
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (iova, pa) = (iova >> 12, pa >> 12);
        for i in 0..len.div_ceil(4096) {
            p.insert(iova + i, pa + i);
        }
    }

    /// Records that `[iova, iova + len)` is no longer mapped.
    pub fn unmap(&self, iova: u64, len: u64) {
        let mut p = self
            .pages
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let iova = iova >> 12;
        for i in 0..len.div_ceil(4096) {
            p.remove(&(iova + i));
        }
    }

    /// Forgets every mapping.
    pub fn clear(&self) {
        self.pages
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The PA that `iova` is meant to reach, if any.
    #[must_use]
    pub fn lookup(&self, iova: u64) -> Option<u64> {
        if self.identity.load(Ordering::Acquire) {
            return Some(iova);
        }
        let p = self
            .pages
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        p.get(&(iova >> 12)).map(|pa| pa << 12 | (iova & 0xFFF))
    }
}

/// What happened to one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The access was performed at `pa`.
    Completed {
        /// Where it landed.
        pa: u64,
    },
    /// The SMMU terminated it with an event (recorded in the queue or not).
    Faulted {
        /// The event type.
        event: EventId,
        /// Whether the record was written to the event queue.
        recorded: bool,
    },
    /// The SMMU terminated it without an event (GBPA abort, STE abort).
    Aborted,
    /// It was translated to `pa`, which is not RAM.
    BusError {
        /// Where it was sent.
        pa: u64,
    },
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LedgerEntry {
    /// Global sequence number.
    pub seq: u64,
    /// Index of the device (see [`Ledger::device_name`]).
    pub device: usize,
    /// Index of the phase (see [`Ledger::phase_name`]).
    pub phase: usize,
    /// The IOVA the device used.
    pub iova: u64,
    /// Read or write.
    pub access: Access,
    /// Length in bytes.
    pub len: u32,
    /// The PA the issuer's mapping meant, if it meant one.
    pub intended: Option<u64>,
    /// What happened.
    pub outcome: Outcome,
}

impl LedgerEntry {
    /// Whether the transaction completed somewhere other than where its mapping meant.
    #[must_use]
    pub fn misdirected(&self) -> bool {
        match self.outcome {
            Outcome::Completed { pa } | Outcome::BusError { pa } => self.intended != Some(pa),
            _ => false,
        }
    }
}

/// Per-device (and per-phase) transaction counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Transactions that completed (misdirected ones included).
    pub completed: u64,
    /// Transactions terminated with an event.
    pub faulted: u64,
    /// Transactions terminated silently, or that hit a bus error.
    pub aborted: u64,
    /// Completed (or bus-errored) transactions that landed somewhere other than
    /// intended.
    pub misdirected: u64,
}

impl Counts {
    fn add(&mut self, e: &LedgerEntry) {
        match e.outcome {
            Outcome::Completed { .. } => self.completed += 1,
            Outcome::Faulted { .. } => self.faulted += 1,
            Outcome::Aborted | Outcome::BusError { .. } => self.aborted += 1,
        }
        if e.misdirected() {
            self.misdirected += 1;
        }
    }

    /// Total transactions counted.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.completed + self.faulted + self.aborted
    }
}

#[derive(Debug)]
struct LedgerInner {
    devices: Vec<String>,
    phases: Vec<String>,
    current: usize,
    seq: u64,
    entries: Vec<LedgerEntry>,
    max_entries: usize,
    counts: HashMap<(usize, usize), Counts>,
}

/// The shared record of every device transaction, with phase labels.
#[derive(Debug)]
pub struct Ledger {
    inner: Mutex<LedgerInner>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::new()
    }
}

impl Ledger {
    /// An empty ledger in phase `"default"`, keeping up to 1,000,000 entries (counters
    /// are kept beyond that).
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_entries(1_000_000)
    }

    /// An empty ledger keeping at most `max` entries (counters are unlimited).
    #[must_use]
    pub fn with_max_entries(max: usize) -> Self {
        Self {
            inner: Mutex::new(LedgerInner {
                devices: Vec::new(),
                phases: vec!["default".to_owned()],
                current: 0,
                seq: 0,
                entries: Vec::new(),
                max_entries: max,
                counts: HashMap::new(),
            }),
        }
    }

    /// Starts phase `label` (for example "before crash", "during handover", "after
    /// re-attach"); later transactions are counted under it. Re-entering an earlier
    /// label continues counting under it.
    pub fn set_phase(&self, label: &str) {
        let mut g = lock(&self.inner);
        g.current = match g.phases.iter().position(|p| p == label) {
            Some(i) => i,
            None => {
                g.phases.push(label.to_owned());
                g.phases.len() - 1
            }
        };
    }

    /// The current phase label.
    #[must_use]
    pub fn phase(&self) -> String {
        let g = lock(&self.inner);
        g.phases.get(g.current).cloned().unwrap_or_default()
    }

    /// Registers a device name and returns its index.
    pub fn register_device(&self, name: &str) -> usize {
        let mut g = lock(&self.inner);
        g.devices.push(name.to_owned());
        g.devices.len() - 1
    }

    /// The name of device `index`.
    #[must_use]
    pub fn device_name(&self, index: usize) -> Option<String> {
        lock(&self.inner).devices.get(index).cloned()
    }

    /// The label of phase `index`.
    #[must_use]
    pub fn phase_name(&self, index: usize) -> Option<String> {
        lock(&self.inner).phases.get(index).cloned()
    }

    /// Records a transaction and returns its entry.
    pub fn record(
        &self,
        device: usize,
        iova: u64,
        access: Access,
        len: u32,
        intended: Option<u64>,
        outcome: Outcome,
    ) -> LedgerEntry {
        let mut g = lock(&self.inner);
        let e = LedgerEntry {
            seq: g.seq,
            device,
            phase: g.current,
            iova,
            access,
            len,
            intended,
            outcome,
        };
        g.seq += 1;
        g.counts.entry((device, e.phase)).or_default().add(&e);
        if g.entries.len() < g.max_entries {
            g.entries.push(e.clone());
        }
        e
    }

    /// Counters of device `device` over all phases.
    #[must_use]
    pub fn counts(&self, device: usize) -> Counts {
        let g = lock(&self.inner);
        let mut c = Counts::default();
        for (_, v) in g.counts.iter().filter(|((d, _), _)| *d == device) {
            c.completed += v.completed;
            c.faulted += v.faulted;
            c.aborted += v.aborted;
            c.misdirected += v.misdirected;
        }
        c
    }

    /// Counters of device `device` in phase `label` (zero if the phase never started).
    #[must_use]
    pub fn counts_in_phase(&self, device: usize, label: &str) -> Counts {
        let g = lock(&self.inner);
        g.phases
            .iter()
            .position(|p| p == label)
            .and_then(|ph| g.counts.get(&(device, ph)).copied())
            .unwrap_or_default()
    }

    /// Counters per (device name, phase label), in device then phase order.
    #[must_use]
    pub fn summary(&self) -> Vec<(String, String, Counts)> {
        let g = lock(&self.inner);
        let mut out = Vec::new();
        for (d, dn) in g.devices.iter().enumerate() {
            for (p, pn) in g.phases.iter().enumerate() {
                if let Some(c) = g.counts.get(&(d, p)) {
                    out.push((dn.clone(), pn.clone(), *c));
                }
            }
        }
        out
    }

    /// The kept entries, in order.
    #[must_use]
    pub fn entries(&self) -> Vec<LedgerEntry> {
        lock(&self.inner).entries.clone()
    }

    /// The kept entries that were misdirected.
    #[must_use]
    pub fn misdirected(&self) -> Vec<LedgerEntry> {
        lock(&self.inner)
            .entries
            .iter()
            .filter(|e| e.misdirected())
            .cloned()
            .collect()
    }
}

/// One step of a DMA program. An operation never crosses a 4 KiB page: it is cut at
/// the page end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmaOp {
    /// Write `len` bytes of the repeated little-endian `pattern` at `iova`.
    Write {
        /// Target IOVA.
        iova: u64,
        /// Length in bytes.
        len: u32,
        /// Pattern (repeated every 8 bytes).
        pattern: u64,
    },
    /// Read `len` bytes at `iova` (for example a descriptor).
    Read {
        /// Source IOVA.
        iova: u64,
        /// Length in bytes.
        len: u32,
    },
}

/// A DMA program: a list of operations, run `repeat` times (or forever).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DmaProgram {
    ops: Vec<DmaOp>,
    repeat: Option<u64>,
}

impl DmaProgram {
    /// A program that runs `ops` once.
    #[must_use]
    pub fn new(ops: Vec<DmaOp>) -> Self {
        Self {
            ops,
            repeat: Some(1),
        }
    }

    /// Writes `len` bytes of `pattern` to each IOVA of `ring` in turn (a device
    /// filling receive buffers), once.
    #[must_use]
    pub fn ring_writer(ring: &[u64], len: u32, pattern: u64) -> Self {
        Self::new(
            ring.iter()
                .map(|&iova| DmaOp::Write { iova, len, pattern })
                .collect(),
        )
    }

    /// Precedes every operation with a read of `len` bytes at `desc_iova` (the device
    /// fetching a descriptor).
    #[must_use]
    pub fn with_descriptor_reads(self, desc_iova: u64, len: u32) -> Self {
        let ops = self
            .ops
            .into_iter()
            .flat_map(|op| {
                [
                    DmaOp::Read {
                        iova: desc_iova,
                        len,
                    },
                    op,
                ]
            })
            .collect();
        Self {
            ops,
            repeat: self.repeat,
        }
    }

    /// Runs the operations `n` times.
    #[must_use]
    pub fn repeat(mut self, n: u64) -> Self {
        self.repeat = Some(n);
        self
    }

    /// Runs the operations until the device is stopped.
    #[must_use]
    pub fn forever(mut self) -> Self {
        self.repeat = None;
        self
    }

    /// The operations.
    #[must_use]
    pub fn ops(&self) -> &[DmaOp] {
        &self.ops
    }
}

#[derive(Debug)]
struct ProgramState {
    program: DmaProgram,
    pc: usize,
    iteration: u64,
}

/// A DMA-capable device behind the SMMU.
#[derive(Debug)]
pub struct DmaDevice {
    name: String,
    index: usize,
    sid: u32,
    ssid: Option<u32>,
    smmu: Arc<Smmu>,
    ledger: Arc<Ledger>,
    mapping: Arc<ExpectedMapping>,
    state: Mutex<ProgramState>,
    stop: AtomicBool,
}

impl DmaDevice {
    /// A device named `name` with StreamID `sid`, issuing through `smmu`, recording in
    /// `ledger`, whose intended targets come from `mapping`. It starts with an empty
    /// program.
    #[must_use]
    pub fn new(
        name: &str,
        sid: u32,
        smmu: Arc<Smmu>,
        ledger: Arc<Ledger>,
        mapping: Arc<ExpectedMapping>,
    ) -> Self {
        let index = ledger.register_device(name);
        Self {
            name: name.to_owned(),
            index,
            sid,
            ssid: None,
            smmu,
            ledger,
            mapping,
            state: Mutex::new(ProgramState {
                program: DmaProgram::new(Vec::new()),
                pc: 0,
                iteration: 0,
            }),
            stop: AtomicBool::new(false),
        }
    }

    /// The same device, issuing with SubstreamID `ssid`.
    #[must_use]
    pub fn with_ssid(mut self, ssid: u32) -> Self {
        self.ssid = Some(ssid);
        self
    }

    /// The device name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's index in the ledger.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The StreamID.
    #[must_use]
    pub fn sid(&self) -> u32 {
        self.sid
    }

    /// The issuer's mapping used as the "intended target" oracle.
    #[must_use]
    pub fn mapping(&self) -> &Arc<ExpectedMapping> {
        &self.mapping
    }

    /// Loads a program and rewinds to its start.
    pub fn load(&self, program: DmaProgram) {
        let mut s = lock(&self.state);
        s.program = program;
        s.pc = 0;
        s.iteration = 0;
    }

    /// Issues one transaction now and records it. A write writes `len` bytes of
    /// `pattern`; a read reads `len` bytes (discarded).
    pub fn issue(&self, access: Access, iova: u64, len: u32, pattern: u64) -> Outcome {
        let len = len.min(4096 - (iova & 0xFFF) as u32).max(1);
        let mut t = match access {
            Access::Read => Transaction::read(self.sid, iova, len),
            Access::Write => Transaction::write(self.sid, iova, len),
        };
        t.ssid = self.ssid;
        let intended = self.mapping.lookup(iova);
        let mut buf = [0u8; 4096];
        let data = buf.get_mut(..len as usize).unwrap_or_default();
        let result = match access {
            Access::Read => self.smmu.dma_read(&t, data),
            Access::Write => {
                for (i, b) in data.iter_mut().enumerate() {
                    *b = pattern.to_le_bytes()[i % 8];
                }
                self.smmu.dma_write(&t, data)
            }
        };
        // The mapping may change while the transaction is in flight (a driver updates
        // its tables and this oracle one after the other): either view counts as
        // intended.
        let intended_after = self.mapping.lookup(iova);
        let outcome = match result {
            Ok(x) => Outcome::Completed { pa: x.pa },
            Err(DmaError::Bus { pa, .. }) => Outcome::BusError { pa },
            Err(DmaError::Fault(Fault::Aborted(_))) => Outcome::Aborted,
            Err(DmaError::Fault(Fault::Event {
                record,
                disposition,
                ..
            })) => Outcome::Faulted {
                event: record.id,
                recorded: disposition == crate::event::Disposition::Written,
            },
        };
        let intended = match outcome {
            Outcome::Completed { pa } | Outcome::BusError { pa }
                if intended != Some(pa) && intended_after == Some(pa) =>
            {
                intended_after
            }
            _ => intended,
        };
        self.ledger
            .record(self.index, iova, access, len, intended, outcome);
        outcome
    }

    /// Runs the next operation of the program; `None` when the program has finished.
    pub fn step(&self) -> Option<Outcome> {
        let op = {
            let mut s = lock(&self.state);
            if s.program.ops.is_empty() {
                return None;
            }
            if s.pc >= s.program.ops.len() {
                s.pc = 0;
                s.iteration += 1;
            }
            if let Some(n) = s.program.repeat
                && s.iteration >= n
            {
                return None;
            }
            let op = s.program.ops.get(s.pc).copied();
            s.pc += 1;
            op?
        };
        Some(match op {
            DmaOp::Write { iova, len, pattern } => self.issue(Access::Write, iova, len, pattern),
            DmaOp::Read { iova, len } => self.issue(Access::Read, iova, len, 0),
        })
    }

    /// Runs the program to its end (or until [`stop`](Self::stop)); returns the number
    /// of transactions issued. Never returns for a `forever` program unless stopped.
    pub fn run(&self) -> u64 {
        self.run_paced(u32::MAX, Duration::ZERO)
    }

    /// As [`run`](Self::run), sleeping `pause` after every `burst` transactions, so that
    /// many device threads leave the host CPU to the thread running the driver (the
    /// model's translation takes locks a busy-looping device would hog). A `burst` of 0
    /// counts as 1.
    pub fn run_paced(&self, burst: u32, pause: Duration) -> u64 {
        let burst = u64::from(burst.max(1));
        let mut n = 0;
        while !self.stop.load(Ordering::Acquire) {
            if self.step().is_none() {
                break;
            }
            n += 1;
            if n % burst == 0 && !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
        n
    }

    /// Runs the program on a new thread until it ends or [`stop`](Self::stop) is
    /// called; the thread returns the number of transactions issued.
    pub fn spawn(self: &Arc<Self>) -> JoinHandle<u64> {
        self.spawn_paced(u32::MAX, Duration::ZERO)
    }

    /// As [`spawn`](Self::spawn), at the pace of [`run_paced`](Self::run_paced).
    pub fn spawn_paced(self: &Arc<Self>, burst: u32, pause: Duration) -> JoinHandle<u64> {
        self.stop.store(false, Ordering::Release);
        let me = Arc::clone(self);
        std::thread::spawn(move || me.run_paced(burst, pause))
    }

    /// Asks a running program to stop after the current transaction.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// This device's counters over all phases.
    #[must_use]
    pub fn counts(&self) -> Counts {
        self.ledger.counts(self.index)
    }
}
