//! `smmu-testbed`: runs `smmu-v3-driver` on `smmu-model`.
//!
//! * [`ModelHal`] implements the driver's HAL ([`Registers`], [`TableMemory`],
//!   [`Platform`]) over a model [`Smmu`] and its [`PhysMemory`]: register accesses are
//!   forwarded to the model's register file, DMA memory comes from the model's RAM (the
//!   crashkernel region in a kdump boot), and the platform facts (kdump boot, firmware
//!   coherency, poll budget) are configurable.
//! * A non-coherent SMMU can be simulated faithfully: with
//!   [`TestbedBuilder::cpu_cache`], the CPU sees DMA memory through a write-back "cache"
//!   of its own, and only [`TableMemory::clean`] / [`TableMemory::invalidate`] move data
//!   between it and the memory the model walks. A driver that forgets cache maintenance
//!   then fails exactly as on hardware.
//! * [`Testbed`] bundles a model, its memory and a HAL, with helpers to bring a driver up.
//!
//! This crate is not published; it exists for the driver's integration tests (in
//! `tests/`), and for examples and benches.

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smmu_model::{ModelConfig, PhysMemory, RegionKind, Smmu};
use smmu_regs::PhysAddr;
use smmu_strtab::{DmaRegion, MemoryError};
use smmu_v3_driver::{Config, Diagnostic, Error, Platform, Registers, SmmuV3, TableMemory};

pub use smmu_model;

/// Base of the ordinary RAM region of a [`Testbed`].
pub const RAM_BASE: u64 = 0x8000_0000;
/// Base of the crashkernel region of a [`Testbed`].
pub const CRASH_BASE: u64 = 0x1_0000_0000;
/// Cache line size of the simulated CPU cache.
pub const CACHE_LINE: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The CPU's view of one non-coherent region: what the CPU reads and writes (`view`) and
/// what it last exchanged with memory (`synced`), per word. A line is dirty when the two
/// differ.
struct CachedRegion {
    view: Box<[AtomicU64]>,
    synced: Box<[AtomicU64]>,
}

impl CachedRegion {
    fn new(words: usize) -> Self {
        let zeros = || (0..words).map(|_| AtomicU64::new(0)).collect();
        Self {
            view: zeros(),
            synced: zeros(),
        }
    }
}

/// Allocation statistics of a [`ModelHal`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Live allocations: physical address → (length, alignment).
    pub live: BTreeMap<u64, (usize, usize)>,
    /// Allocations made since creation.
    pub total_allocs: u64,
    /// Frees made since creation.
    pub total_frees: u64,
}

impl AllocStats {
    /// Live allocations of exactly `len` bytes aligned to `align`.
    #[must_use]
    pub fn live_with(&self, len: usize, align: usize) -> usize {
        self.live
            .values()
            .filter(|&&(l, a)| l == len && a == align)
            .count()
    }

    /// Bytes held by live allocations.
    #[must_use]
    pub fn live_bytes(&self) -> usize {
        self.live.values().map(|&(l, _)| l).sum()
    }
}

struct Inner {
    smmu: Arc<Smmu>,
    mem: Arc<PhysMemory>,
    kdump: bool,
    firmware_coherent: Option<bool>,
    poll_budget: AtomicU32,
    relax_calls: AtomicU64,
    diagnostics: Mutex<Vec<Diagnostic>>,
    allocs: Mutex<AllocStats>,
    /// `Some` when the CPU cache is simulated: the CPU view of every region, by PA.
    cache: Option<Mutex<BTreeMap<u64, Arc<CachedRegion>>>>,
    /// Values returned instead of the model's for register reads (ID register quirks).
    read_overrides: Mutex<BTreeMap<usize, u32>>,
    fail_allocs: AtomicBool,
    /// `Some` while register writes are recorded.
    reg_log: Mutex<Option<Vec<RegWrite>>>,
    /// `Some` while mapping and cache-maintenance calls are recorded.
    mem_log: Mutex<Option<Vec<MemOp>>>,
    /// Called after every register write reached the model.
    write_hook: Mutex<Option<WriteHook>>,
}

/// A callback run after each register write ([`ModelHal::on_register_write`]).
type WriteHook = Box<dyn FnMut(RegWrite) + Send>;

/// One register write seen by a [`ModelHal`] ([`ModelHal::record_register_writes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegWrite {
    /// The register offset.
    pub offset: usize,
    /// The value written.
    pub value: u64,
    /// Whether it was a 64-bit write.
    pub wide: bool,
}

/// One mapping or cache-maintenance call seen by a [`ModelHal`]
/// ([`ModelHal::record_memory_ops`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemOp {
    /// `map(pa, len)` succeeded.
    Map {
        /// Physical address.
        pa: u64,
        /// Length in bytes.
        len: usize,
    },
    /// `unmap` of the mapping at `pa`.
    Unmap {
        /// Physical address.
        pa: u64,
    },
    /// `clean` of `[pa, pa + len)`.
    Clean {
        /// Physical address of the first byte.
        pa: u64,
        /// Length in bytes.
        len: usize,
    },
    /// `invalidate` of `[pa, pa + len)`.
    Invalidate {
        /// Physical address of the first byte.
        pa: u64,
        /// Length in bytes.
        len: usize,
    },
}

/// What a simulated CPU cache holds for a freshly mapped region before it is
/// invalidated: stale lines (a poison pattern), so that a driver reading mapped memory
/// without [`TableMemory::invalidate`] sees garbage, as it could on hardware.
pub const STALE_LINE: u64 = 0x57a1_e57a_1e57_a1e5;

/// The driver's HAL over `smmu-model`. A cheap handle: clones share the same state.
#[derive(Clone)]
pub struct ModelHal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ModelHal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelHal")
            .field("kdump", &self.inner.kdump)
            .field("firmware_coherent", &self.inner.firmware_coherent)
            .field("cpu_cache", &self.inner.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl ModelHal {
    /// The model.
    #[must_use]
    pub fn smmu(&self) -> &Arc<Smmu> {
        &self.inner.smmu
    }

    /// The model's physical memory.
    #[must_use]
    pub fn memory(&self) -> &Arc<PhysMemory> {
        &self.inner.mem
    }

    /// The region kind DMA memory comes from (crashkernel in a kdump boot).
    #[must_use]
    pub fn alloc_kind(&self) -> RegionKind {
        if self.inner.kdump {
            RegionKind::CrashKernel
        } else {
            RegionKind::Ram
        }
    }

    /// Changes the poll budget (how many times a wait checks before `Error::Timeout`).
    pub fn set_poll_budget(&self, budget: u32) {
        self.inner.poll_budget.store(budget, Ordering::Relaxed);
    }

    /// How many times the driver called [`Platform::relax`].
    #[must_use]
    pub fn relax_calls(&self) -> u64 {
        self.inner.relax_calls.load(Ordering::Relaxed)
    }

    /// Returns and clears the diagnostics the driver reported.
    #[must_use]
    pub fn take_diagnostics(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *lock(&self.inner.diagnostics))
    }

    /// A snapshot of the allocation statistics.
    #[must_use]
    pub fn alloc_stats(&self) -> AllocStats {
        lock(&self.inner.allocs).clone()
    }

    /// Makes reads of the 32-bit register at `offset` return `value` (for example an ID
    /// register the model cannot be configured to report). 64-bit reads covering
    /// `offset` see it too.
    pub fn override_register(&self, offset: usize, value: u32) {
        lock(&self.inner.read_overrides).insert(offset, value);
    }

    /// While `on`, every allocation fails with `MemoryError::NoMemory`.
    pub fn fail_allocations(&self, on: bool) {
        self.inner.fail_allocs.store(on, Ordering::Relaxed);
    }

    /// A new boot on the same model and memory (the HAL of the next kernel, for example
    /// a kdump kernel): same firmware coherency and CPU-cache simulation, fresh
    /// statistics, diagnostics and logs.
    #[must_use]
    pub fn reboot(&self, kdump: bool) -> Self {
        let i = &self.inner;
        Self {
            inner: Arc::new(Inner {
                smmu: Arc::clone(&i.smmu),
                mem: Arc::clone(&i.mem),
                kdump,
                firmware_coherent: i.firmware_coherent,
                poll_budget: AtomicU32::new(i.poll_budget.load(Ordering::Relaxed)),
                relax_calls: AtomicU64::new(0),
                diagnostics: Mutex::new(Vec::new()),
                allocs: Mutex::new(AllocStats::default()),
                cache: i.cache.as_ref().map(|_| Mutex::new(BTreeMap::new())),
                read_overrides: Mutex::new(BTreeMap::new()),
                fail_allocs: AtomicBool::new(false),
                reg_log: Mutex::new(None),
                mem_log: Mutex::new(None),
                write_hook: Mutex::new(None),
            }),
        }
    }

    /// Starts recording register writes (clearing any earlier record).
    pub fn record_register_writes(&self) {
        *lock(&self.inner.reg_log) = Some(Vec::new());
    }

    /// The register writes recorded so far (recording continues).
    #[must_use]
    pub fn register_writes(&self) -> Vec<RegWrite> {
        lock(&self.inner.reg_log).clone().unwrap_or_default()
    }

    /// Runs `hook` after every register write has reached the model, on the writing
    /// thread, before the driver continues: a test can hold the driver at a chosen point
    /// (for example while the SMMU is disabled) and watch what devices see meanwhile.
    /// Replaces an earlier hook.
    pub fn on_register_write(&self, hook: impl FnMut(RegWrite) + Send + 'static) {
        *lock(&self.inner.write_hook) = Some(Box::new(hook));
    }

    fn run_write_hook(&self, offset: usize, value: u64, wide: bool) {
        if let Some(hook) = lock(&self.inner.write_hook).as_mut() {
            hook(RegWrite {
                offset,
                value,
                wide,
            });
        }
    }

    /// Starts recording `map` / `unmap` / `clean` / `invalidate` calls.
    pub fn record_memory_ops(&self) {
        *lock(&self.inner.mem_log) = Some(Vec::new());
    }

    /// The memory operations recorded so far (recording continues).
    #[must_use]
    pub fn memory_ops(&self) -> Vec<MemOp> {
        lock(&self.inner.mem_log).clone().unwrap_or_default()
    }

    fn log_reg(&self, offset: usize, value: u64, wide: bool) {
        if let Some(log) = lock(&self.inner.reg_log).as_mut() {
            log.push(RegWrite {
                offset,
                value,
                wide,
            });
        }
    }

    fn log_mem(&self, op: MemOp) {
        if let Some(log) = lock(&self.inner.mem_log).as_mut() {
            log.push(op);
        }
    }

    fn cached(&self, pa: u64) -> Option<Arc<CachedRegion>> {
        self.inner
            .cache
            .as_ref()
            .and_then(|c| lock(c).get(&pa).cloned())
    }

    /// Copies the dirty lines of `[offset, offset + len)` of a cached region to memory.
    fn clean_lines(&self, region: &DmaRegion, cached: &CachedRegion, offset: usize, len: usize) {
        let words = region.len() / 8;
        let first = offset / CACHE_LINE * CACHE_LINE / 8;
        let end = (offset + len).div_ceil(CACHE_LINE) * CACHE_LINE / 8;
        for line in (first..end.min(words)).step_by(CACHE_LINE / 8) {
            let line_end = (line + CACHE_LINE / 8).min(words);
            let dirty = (line..line_end).any(|w| {
                cached.view[w].load(Ordering::Acquire) != cached.synced[w].load(Ordering::Acquire)
            });
            if !dirty {
                continue;
            }
            for w in line..line_end {
                let v = cached.view[w].load(Ordering::Acquire);
                let pa = region.pa().0 + (w * 8) as u64;
                // The region is RAM (it was allocated there).
                let _ = self.inner.mem.write_u64(pa, v);
                cached.synced[w].store(v, Ordering::Release);
            }
        }
    }
}

// SAFETY: every access goes to the register of the model this HAL was built with; the
// model serialises register accesses with its own locks and orders them with the memory
// accesses (all memory is atomic, register writes take locks), which gives the ordering
// the trait asks for. Reads of overridden registers return a constant and have no effect.
unsafe impl Registers for ModelHal {
    fn read32(&self, offset: usize) -> u32 {
        if let Some(v) = lock(&self.inner.read_overrides).get(&offset) {
            return *v;
        }
        self.inner.smmu.read32(offset as u32)
    }
    fn write32(&self, offset: usize, value: u32) {
        self.log_reg(offset, u64::from(value), false);
        self.inner.smmu.write32(offset as u32, value);
        self.run_write_hook(offset, u64::from(value), false);
    }
    fn read64(&self, offset: usize) -> u64 {
        {
            let o = lock(&self.inner.read_overrides);
            if o.contains_key(&offset) || o.contains_key(&(offset + 4)) {
                let half = |off: usize| {
                    o.get(&off)
                        .copied()
                        .unwrap_or_else(|| self.inner.smmu.read32(off as u32))
                };
                return u64::from(half(offset)) | (u64::from(half(offset + 4)) << 32);
            }
        }
        self.inner.smmu.read64(offset as u32)
    }
    fn write64(&self, offset: usize, value: u64) {
        self.log_reg(offset, value, true);
        self.inner.smmu.write64(offset as u32, value);
        self.run_write_hook(offset, value, true);
    }
}

// SAFETY: the coherency answer is the testbed's configuration, and with a simulated CPU
// cache it says "not coherent"; the kdump flag selects the crashkernel region for every
// allocation; `relax` yields and returns.
unsafe impl Platform for ModelHal {
    fn is_kdump_kernel(&self) -> bool {
        self.inner.kdump
    }
    fn firmware_coherent(&self) -> Option<bool> {
        self.inner.firmware_coherent
    }
    fn poll_budget(&self) -> u32 {
        self.inner.poll_budget.load(Ordering::Relaxed)
    }
    fn relax(&self) {
        self.inner.relax_calls.fetch_add(1, Ordering::Relaxed);
        std::thread::yield_now();
    }
    fn diagnostic(&self, diagnostic: Diagnostic) {
        lock(&self.inner.diagnostics).push(diagnostic);
    }
}

// SAFETY:
// * `alloc_zeroed` takes a fresh, zeroed, page-aligned (and `align`-aligned) block of
//   model RAM, exclusively (the model's allocator never hands out overlapping blocks);
//   the pointer is the model's stable host pointer to those words (valid as long as the
//   `PhysMemory`, which this handle keeps alive), or, with a simulated cache, a heap
//   buffer kept in `cache` until the region is freed. Both are arrays of `AtomicU64`.
// * `map` returns the host pointer of existing RAM (`is_ram` checked), or fails.
// * `clean` / `invalidate` move whole 64-byte lines between the CPU view and memory;
//   `invalidate` writes dirty lines back first (clean-and-invalidate).
unsafe impl TableMemory for ModelHal {
    fn alloc_zeroed(&self, len: usize, align: usize) -> Result<DmaRegion, MemoryError> {
        if self.inner.fail_allocs.load(Ordering::Relaxed) {
            return Err(MemoryError::NoMemory);
        }
        if len == 0 || !align.is_power_of_two() {
            return Err(MemoryError::Unsupported);
        }
        let pa = self
            .inner
            .mem
            .alloc(self.alloc_kind(), len as u64, align as u64)
            .map_err(|_| MemoryError::NoMemory)?;
        let ptr = match &self.inner.cache {
            None => self
                .inner
                .mem
                .host_ptr(pa, len as u64)
                .map_err(|_| MemoryError::NoMemory)?
                .cast::<u64>(),
            Some(cache) => {
                let region = Arc::new(CachedRegion::new(len.div_ceil(8)));
                let ptr = NonNull::from(&region.view[..]).cast::<u64>();
                lock(cache).insert(pa, region);
                ptr
            }
        };
        let mut stats = lock(&self.inner.allocs);
        stats.live.insert(pa, (len, align));
        stats.total_allocs += 1;
        // SAFETY: see the impl's safety comment: `ptr` is valid for `len` bytes of atomic
        // accesses until `free`, and nothing else uses the block.
        Ok(unsafe { DmaRegion::new(PhysAddr(pa), ptr, len) })
    }

    unsafe fn free(&self, region: DmaRegion) {
        let pa = region.pa().0;
        if let Some(cache) = &self.inner.cache {
            lock(cache).remove(&pa);
        }
        let mut stats = lock(&self.inner.allocs);
        if stats.live.remove(&pa).is_some() {
            stats.total_frees += 1;
            drop(stats);
            let _ = self.inner.mem.free(pa, region.len() as u64);
        }
    }

    fn map(&self, pa: PhysAddr, len: usize) -> Result<DmaRegion, MemoryError> {
        if len == 0 || !pa.is_aligned(8) || !self.inner.mem.is_ram(pa.0, len as u64) {
            return Err(MemoryError::MapFailed);
        }
        let ptr = match &self.inner.cache {
            None => self
                .inner
                .mem
                .host_ptr(pa.0, len as u64)
                .map_err(|_| MemoryError::MapFailed)?
                .cast::<u64>(),
            Some(cache) => {
                // The CPU's view starts with stale lines: only `invalidate` shows it
                // what memory holds.
                let region = Arc::new(CachedRegion::new(len.div_ceil(8)));
                for w in 0..region.view.len() {
                    region.view[w].store(STALE_LINE, Ordering::Relaxed);
                    region.synced[w].store(STALE_LINE, Ordering::Relaxed);
                }
                let ptr = NonNull::from(&region.view[..]).cast::<u64>();
                lock(cache).insert(pa.0, region);
                ptr
            }
        };
        self.log_mem(MemOp::Map { pa: pa.0, len });
        // SAFETY: `host_ptr` gives the model's stable pointer to RAM words covering
        // `[pa, pa + len)`, valid as long as the memory (kept alive by this handle); with
        // a simulated cache, a heap buffer kept in `cache` until the region is unmapped.
        Ok(unsafe { DmaRegion::new(pa, ptr, len) })
    }

    unsafe fn unmap(&self, region: DmaRegion) {
        if let Some(cache) = &self.inner.cache {
            lock(cache).remove(&region.pa().0);
        }
        self.log_mem(MemOp::Unmap { pa: region.pa().0 });
    }

    fn clean(&self, region: &DmaRegion, offset: usize, len: usize) {
        self.log_mem(MemOp::Clean {
            pa: region.pa().0 + offset as u64,
            len,
        });
        if let Some(cached) = self.cached(region.pa().0) {
            self.clean_lines(region, &cached, offset, len);
        }
    }

    fn invalidate(&self, region: &DmaRegion, offset: usize, len: usize) {
        self.log_mem(MemOp::Invalidate {
            pa: region.pa().0 + offset as u64,
            len,
        });
        let Some(cached) = self.cached(region.pa().0) else {
            return;
        };
        self.clean_lines(region, &cached, offset, len);
        let words = region.len() / 8;
        let first = offset / CACHE_LINE * CACHE_LINE / 8;
        let end = ((offset + len).div_ceil(CACHE_LINE) * CACHE_LINE / 8).min(words);
        for w in first..end {
            let pa = region.pa().0 + (w * 8) as u64;
            let v = self.inner.mem.read_u64(pa).unwrap_or(0);
            cached.view[w].store(v, Ordering::Release);
            cached.synced[w].store(v, Ordering::Release);
        }
    }
}

/// Options of a [`Testbed`].
#[derive(Debug, Clone)]
pub struct TestbedBuilder {
    model: ModelConfig,
    ram_bytes: u64,
    crash_bytes: u64,
    kdump: bool,
    firmware_coherent: Option<bool>,
    cpu_cache: bool,
    poll_budget: u32,
}

impl TestbedBuilder {
    /// Bytes of ordinary RAM (default 256 MiB; committed lazily by the host).
    #[must_use]
    pub fn ram_bytes(mut self, bytes: u64) -> Self {
        self.ram_bytes = bytes;
        self
    }

    /// Boot the driver as a kdump kernel: allocations come from the crashkernel region.
    #[must_use]
    pub fn kdump(mut self, on: bool) -> Self {
        self.kdump = on;
        self
    }

    /// What firmware says about coherency (`None`: nothing).
    #[must_use]
    pub fn firmware_coherent(mut self, value: Option<bool>) -> Self {
        self.firmware_coherent = value;
        self
    }

    /// Simulate a CPU cache that the SMMU does not snoop (see the crate docs). Use with a
    /// model built with `coherent(false)` or with `firmware_coherent(Some(false))`.
    #[must_use]
    pub fn cpu_cache(mut self, on: bool) -> Self {
        self.cpu_cache = on;
        self
    }

    /// The HAL's poll budget (default 100 000).
    #[must_use]
    pub fn poll_budget(mut self, budget: u32) -> Self {
        self.poll_budget = budget;
        self
    }

    /// Builds the memory, the model and the HAL.
    ///
    /// # Panics
    ///
    /// If the memory regions cannot be created (a test setup error).
    #[must_use]
    pub fn build(self) -> Testbed {
        let mem = Arc::new(PhysMemory::new());
        mem.add_region(RAM_BASE, self.ram_bytes, RegionKind::Ram)
            .expect("RAM region");
        mem.add_region(CRASH_BASE, self.crash_bytes, RegionKind::CrashKernel)
            .expect("crashkernel region");
        let smmu = Arc::new(Smmu::new(self.model, Arc::clone(&mem)));
        let hal = ModelHal {
            inner: Arc::new(Inner {
                smmu: Arc::clone(&smmu),
                mem: Arc::clone(&mem),
                kdump: self.kdump,
                firmware_coherent: self.firmware_coherent,
                poll_budget: AtomicU32::new(self.poll_budget),
                relax_calls: AtomicU64::new(0),
                diagnostics: Mutex::new(Vec::new()),
                allocs: Mutex::new(AllocStats::default()),
                cache: self.cpu_cache.then(|| Mutex::new(BTreeMap::new())),
                read_overrides: Mutex::new(BTreeMap::new()),
                fail_allocs: AtomicBool::new(false),
                reg_log: Mutex::new(None),
                mem_log: Mutex::new(None),
                write_hook: Mutex::new(None),
            }),
        };
        Testbed { mem, smmu, hal }
    }
}

/// A model SMMU, its memory and a HAL for the driver.
#[derive(Debug, Clone)]
pub struct Testbed {
    /// Physical memory: RAM at [`RAM_BASE`], the crashkernel region at [`CRASH_BASE`].
    pub mem: Arc<PhysMemory>,
    /// The model.
    pub smmu: Arc<Smmu>,
    /// The HAL to give the driver.
    pub hal: ModelHal,
}

impl Testbed {
    /// Options for a testbed around a model built with `model`.
    #[must_use]
    pub fn builder(model: ModelConfig) -> TestbedBuilder {
        TestbedBuilder {
            model,
            ram_bytes: 256 << 20,
            crash_bytes: 64 << 20,
            kdump: false,
            firmware_coherent: None,
            cpu_cache: false,
            poll_budget: 100_000,
        }
    }

    /// A testbed with the default options.
    #[must_use]
    pub fn new(model: ModelConfig) -> Self {
        Self::builder(model).build()
    }

    /// Probes, initialises and resets a driver on this testbed.
    ///
    /// # Errors
    ///
    /// Whatever `probe`, `SmmuV3::new` or `SmmuV3::reset` returns.
    pub fn driver(&self, config: &Config) -> Result<SmmuV3<ModelHal>, Error> {
        let (features, options) = smmu_v3_driver::probe(&self.hal, config)?;
        let mut smmu = SmmuV3::new(self.hal.clone(), features, options)?;
        smmu.reset()?;
        Ok(smmu)
    }

    /// The next boot on the same model and memory (see [`ModelHal::reboot`]): the
    /// previous driver is simply forgotten, as in a crash.
    #[must_use]
    pub fn reboot(&self, kdump: bool) -> Self {
        Self {
            mem: Arc::clone(&self.mem),
            smmu: Arc::clone(&self.smmu),
            hal: self.hal.reboot(kdump),
        }
    }

    /// Allocates `len` bytes of ordinary RAM for DMA buffers (not through the HAL, so it
    /// does not count in its statistics).
    ///
    /// # Panics
    ///
    /// When RAM is exhausted (a test setup error).
    #[must_use]
    pub fn alloc_buffer(&self, len: u64) -> u64 {
        self.mem
            .alloc(RegionKind::Ram, len, 4096)
            .expect("buffer allocation")
    }
}
