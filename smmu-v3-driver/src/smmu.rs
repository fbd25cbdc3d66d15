//! The driver instance: structure init, reset, command submission, event and GERROR
//! handling.

use alloc::collections::BTreeMap;
use core::marker::PhantomData;

use iommu_core::DeviceId;

use smmu_regs::StreamId;
use smmu_regs::cmd::Command;
use smmu_regs::event::Event;
use smmu_regs::fields::{Cacheability, Shareability};
use smmu_regs::pri::PriEntry;
use smmu_regs::regs::{Cr0, Cr1, Cr2, Gbpa, Gerror, IrqCtrl, QueueKind, offset};
use smmu_strtab::{StreamTable, StreamTableCaps};

use crate::cmdq::CommandQueue;
use crate::error::{Error, Unsupported, Wait};
use crate::evtq::{Drained, InQueue};
use crate::hal::{Diagnostic, Hal};
use crate::idalloc::IdAllocator;
use crate::kdump::{self, AdoptionOutcome};
use crate::master::Masters;
use crate::pgtable::{Aarch64PageTable, Stage};
use crate::probe::{Features, Options};

/// Where the stream table came from: the branch point of kdump adoption.
///
/// Every place whose behaviour depends on it matches on it exhaustively:
/// [`SmmuV3::new`] (structure init), [`SmmuV3::reset`], and the driver's
/// `is_attach_deferred`. Issue 7 adds an `Adopted` variant (a live table taken over with
/// `StreamTable::adopt`, kdump.md §4) and its arms: the adopt-mode reset of kdump.md §7
/// and the deferral rule of §10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StrtabSource {
    /// Allocated by this driver; a full reset programs it into STRTAB_BASE.
    Fresh,
    /// The live table of a previous kernel, taken over in place with
    /// `StreamTable::adopt` (kdump.md §4): the adopt-mode reset (§7) keeps the SMMU
    /// enabled, and devices with live STEs are deferred (§10).
    Adopted(crate::kdump::AdoptSource),
}

/// An Arm SMMUv3, driven through the HAL `H`, with IO page tables of type `P` (the
/// default [`Aarch64PageTable`], or the OS's own [`IoPageTable`](crate::pgtable::IoPageTable)).
///
/// Life cycle: [`probe`](crate::probe) → [`SmmuV3::new`] (structure init: queues and
/// stream table, nothing written to the SMMU) → [`SmmuV3::reset`] (programs and
/// enables it) → hand it to `iommu_core::IommuCore`, which calls the
/// [`IommuDriver`](iommu_core::IommuDriver) methods.
///
/// The queue paths take `&self` and are thread-safe: [`submit`](Self::submit),
/// [`drain_events`](Self::drain_events), [`handle_gerror`](Self::handle_gerror) may run
/// concurrently on several CPUs (the type is `Sync` when `H` is `Sync`). Device and domain
/// management takes `&mut self` (the OS serialises it, as `iommu_core` does).
///
/// Dropping the driver disables the SMMU (GBPA abort, CR0 cleared, bounded waits) before
/// its tables and queues are freed. To model a crash (the kdump scenario), leak it with
/// `core::mem::forget` instead.
pub struct SmmuV3<H: Hal, P = Aarch64PageTable> {
    pub(crate) hal: H,
    pub(crate) features: Features,
    pub(crate) options: Options,
    pub(crate) strtab: StreamTable<H>,
    pub(crate) strtab_source: StrtabSource,
    pub(crate) cmdq: CommandQueue<H>,
    /// `None` in a kdump boot (kdump.md §8).
    pub(crate) evtq: Option<InQueue<H>>,
    /// `Some` only when the PRI queue is used.
    pub(crate) priq: Option<InQueue<H>>,
    pub(crate) masters: Masters,
    /// Stage-1 ASIDs (with S1P).
    pub(crate) asids: Option<IdAllocator>,
    /// Stage-2 VMIDs (with S2P).
    pub(crate) vmids: Option<IdAllocator>,
    /// Per-device paging stage chosen with [`SmmuV3::set_paging_stage`].
    pub(crate) stage_overrides: BTreeMap<DeviceId, Stage>,
    pub(crate) enabled: bool,
    /// A reset started: the SMMU may point at this driver's tables and queues.
    pub(crate) programmed: bool,
    pub(crate) page_tables: PhantomData<fn() -> P>,
}

impl<H: Hal, P> core::fmt::Debug for SmmuV3<H, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SmmuV3")
            .field("features", &self.features)
            .field("options", &self.options)
            .field("strtab", &self.strtab)
            .field("strtab_source", &self.strtab_source)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl<H: Hal> SmmuV3<H> {
    /// Structure init (kdump.md §2 step 3) with the default page tables
    /// ([`Aarch64PageTable`]): allocates the command queue, the event queue (not in a
    /// kdump boot), the PRI queue (when used) and the stream table. Writes no register.
    ///
    /// # Errors
    ///
    /// [`Error::Memory`] / [`Error::Table`] when memory cannot be allocated.
    pub fn new(hal: H, features: Features, options: Options) -> Result<Self, Error> {
        Self::with_page_tables(hal, features, options)
    }
}

impl<H: Hal, P> SmmuV3<H, P> {
    /// As [`SmmuV3::new`], for IO page tables of type `P` (the OS's
    /// [`IoPageTable`](crate::pgtable::IoPageTable) + [`PageTableAlloc`](crate::PageTableAlloc)).
    ///
    /// # Errors
    ///
    /// [`Error::Memory`] / [`Error::Table`] when memory cannot be allocated.
    pub fn with_page_tables(
        hal: H,
        mut features: Features,
        mut options: Options,
    ) -> Result<Self, Error> {
        let coherency = options.coherency();
        let cmdq = CommandQueue::new(
            hal.clone(),
            options.cmdq_log2size,
            coherency,
            options.msi_poll,
        )?;
        let evtq = if options.kdump {
            None
        } else {
            Some(InQueue::new(
                hal.clone(),
                QueueKind::Eventq,
                options.evtq_log2size,
                coherency,
            )?)
        };
        let priq = match options.priq_log2size {
            Some(log2) => Some(InQueue::new(hal.clone(), QueueKind::Priq, log2, coherency)?),
            None => None,
        };
        let mut asids = if features.stage1 {
            Some(IdAllocator::new(features.asid_bits)?)
        } else {
            None
        };
        let mut vmids = if features.stage2 {
            Some(IdAllocator::new(features.vmid_bits)?)
        } else {
            None
        };
        let (strtab, strtab_source) =
            Self::init_stream_table(&hal, &mut features, &mut options, &mut asids, &mut vmids)?;
        Ok(Self {
            hal,
            features,
            options,
            strtab,
            strtab_source,
            cmdq,
            evtq,
            priq,
            masters: Masters::new(),
            asids,
            vmids,
            stage_overrides: BTreeMap::new(),
            enabled: false,
            programmed: false,
            page_tables: PhantomData,
        })
    }

    /// Stream table init (kdump.md §2 step 3, §13.3).
    ///
    /// With the adopt option set ([`Options::adopt`]), the live table is adopted
    /// (`StreamTable::adopt` on STRTAB_BASE / STRTAB_BASE_CFG, then the ASID / VMID
    /// reservation scan, kdump.md §4, §6). A linear adopted table clears the 2-level
    /// feature bit (§4.3 item 5). On any adoption error everything is undone, the
    /// option is cleared, the reason is reported ([`Diagnostic::AdoptionFallback`],
    /// [`Options::adoption`]) and the fresh path runs (§4.5).
    ///
    /// Fresh path: a linear or 2-level table shaped by the options (every STE abort;
    /// 2-level tables get their L2 tables when a device is probed).
    fn init_stream_table(
        hal: &H,
        features: &mut Features,
        options: &mut Options,
        asids: &mut Option<IdAllocator>,
        vmids: &mut Option<IdAllocator>,
    ) -> Result<(StreamTable<H>, StrtabSource), Error> {
        if let Some(source) = options.adopt {
            match kdump::adopt(hal, features, &options.adopt_policy, asids, vmids) {
                Ok(table) => {
                    if matches!(table.geometry().format(), smmu_strtab::Format::Linear) {
                        features.two_level_strtab = false;
                    }
                    hal.diagnostic(Diagnostic::Adopted { source });
                    return Ok((table, StrtabSource::Adopted(source)));
                }
                Err(reason) => {
                    options.adopt = None;
                    options.adoption = AdoptionOutcome::FellBack(reason);
                    hal.diagnostic(Diagnostic::AdoptionFallback { reason });
                }
            }
        }
        let caps = StreamTableCaps::from(&features.caps);
        let table = StreamTable::new(hal.clone(), caps, &options.strtab_policy)?;
        Ok((table, StrtabSource::Fresh))
    }

    /// Programs and enables the SMMU (the reset of spec order, kdump.md §7 "normal
    /// reset").
    ///
    /// Full reset: GBPA abort (so nothing bypasses while the SMMU is off), disable and
    /// wait for CR0ACK, acknowledge stale global errors, interrupts off, CR1 / CR2,
    /// STRTAB_BASE / STRTAB_BASE_CFG, command queue on, event queue and PRI queue on (not
    /// in a kdump boot), IRQ_CTRL, `CFGI_ALL` + `TLBI_EL2_ALL` (with IDR0.HYP) +
    /// `TLBI_NSNH_ALL` + `CMD_SYNC`, then SMMUEN. Every wait is bounded.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the SMMU does not acknowledge a step;
    /// [`Error::CommandError`] if it refuses an invalidation.
    pub fn reset(&mut self) -> Result<(), Error> {
        match self.strtab_source {
            StrtabSource::Fresh => self.full_reset(),
            StrtabSource::Adopted(_) => self.adopt_reset(),
        }
    }

    /// The adopt-mode reset (kdump.md §7). SMMUEN is 1 at every point: no GBPA write, no
    /// disable, no CR1 / CR2 / STRTAB_BASE / STRTAB_BASE_CFG write.
    ///
    /// 1. CR0 read; the enable set keeps only SMMUEN and ATSCHK (ATSCHK unchanged, step 7).
    /// 2. CR0 = enable set (command, event and PRI queues off), CR0ACK awaited.
    /// 3. Stale GERROR acknowledged through GERRORN (a CMDQ_ERR would stall the new queue).
    /// 4. IRQ_CTRL = 0 (so the MSI configuration may be rewritten, as in the full reset),
    ///    command queue programmed and CMDQEN set.
    /// 5. `CFGI_ALL` + `TLBI_EL2_ALL` (IDR0.HYP) + `TLBI_NSNH_ALL` + `CMD_SYNC`.
    /// 6. Event / PRI queues only outside kdump (a planned handover), never in kdump (§8).
    /// 8. IRQ_CTRL: GERROR only in kdump.
    /// 9. Final CR0 write with SMMUEN still set.
    fn adopt_reset(&mut self) -> Result<(), Error> {
        self.enabled = false;
        self.programmed = true;
        let cr0 = Cr0::from_bits_retain(self.hal.read32(offset::CR0));
        let enables = cr0 & (Cr0::SMMUEN | Cr0::ATSCHK);
        self.write_cr0(enables)?;
        self.ack_stale_gerror();
        self.write_irq_ctrl(IrqCtrl::empty())?;
        if self.features.msi {
            self.hal.write64(offset::GERROR_IRQ_CFG0, 0);
            if self.evtq.is_some() {
                self.hal.write64(offset::EVENTQ_IRQ_CFG0, 0);
            }
            if self.priq.is_some() {
                self.hal.write64(offset::PRIQ_IRQ_CFG0, 0);
            }
        }
        let enables = self.start_command_queue(enables)?;
        self.invalidate_all()?;
        let enables = self.start_event_queues(enables)?;
        self.write_irq_ctrl(self.irq_enables())?;
        self.write_cr0(enables)?;
        self.enabled = true;
        Ok(())
    }

    fn full_reset(&mut self) -> Result<(), Error> {
        self.enabled = false;
        self.programmed = true;
        let cr0 = Cr0::from_bits_retain(self.hal.read32(offset::CR0));
        if cr0.contains(Cr0::SMMUEN) {
            self.hal.diagnostic(Diagnostic::EnabledAtReset);
        }
        self.set_gbpa_abort()?;
        self.write_cr0(Cr0::empty())?;
        self.ack_stale_gerror();
        self.write_irq_ctrl(IrqCtrl::empty())?;
        if self.features.msi {
            // Wired interrupts: no MSI writes to whatever a previous owner configured.
            self.hal.write64(offset::GERROR_IRQ_CFG0, 0);
            self.hal.write64(offset::EVENTQ_IRQ_CFG0, 0);
            if self.features.pri {
                self.hal.write64(offset::PRIQ_IRQ_CFG0, 0);
            }
        }
        self.hal.write32(offset::CR1, u32::from(self.cr1()));
        let mut cr2 = Cr2::RECINVSID | Cr2::PTM;
        if self.options.e2h {
            cr2 |= Cr2::E2H;
        }
        self.hal.write32(offset::CR2, cr2.bits());
        self.hal
            .write64(offset::STRTAB_BASE, self.strtab.strtab_base());
        self.hal
            .write32(offset::STRTAB_BASE_CFG, self.strtab.strtab_base_cfg());
        let enables = self.start_command_queue(Cr0::empty())?;
        let enables = self.start_event_queues(enables)?;
        self.write_irq_ctrl(self.irq_enables())?;
        self.invalidate_all()?;
        self.write_cr0(enables | Cr0::SMMUEN)?;
        self.enabled = true;
        Ok(())
    }

    /// CR1: write-back inner-shareable table and queue accesses on a coherent SMMU,
    /// non-cacheable otherwise.
    fn cr1(&self) -> Cr1 {
        let (c, sh) = if self.options.coherent {
            (Cacheability::WriteBack, Shareability::Inner)
        } else {
            (Cacheability::NonCacheable, Shareability::Outer)
        };
        Cr1::new()
            .with_queue_ic(c)
            .with_queue_oc(c)
            .with_queue_sh(sh)
            .with_table_ic(c)
            .with_table_oc(c)
            .with_table_sh(sh)
    }

    /// Programs the command queue and enables it on top of `enables` (kdump.md §7 step 4;
    /// shared with the adopt-mode reset).
    fn start_command_queue(&mut self, enables: Cr0) -> Result<Cr0, Error> {
        self.hal
            .write64(offset::CMDQ_BASE, self.cmdq.base_register()?);
        self.hal.write32(offset::CMDQ_PROD, 0);
        self.hal.write32(offset::CMDQ_CONS, 0);
        let enables = enables | Cr0::CMDQEN;
        self.write_cr0(enables)?;
        self.cmdq.set_enabled(true);
        Ok(enables)
    }

    /// Programs and enables the event queue and the PRI queue, when present (never in a
    /// kdump boot: kdump.md §8).
    fn start_event_queues(&mut self, mut enables: Cr0) -> Result<Cr0, Error> {
        if let Some(q) = &mut self.evtq {
            self.hal.write64(offset::EVENTQ_BASE, q.base_register()?);
            self.hal.write32(offset::EVENTQ_PROD, 0);
            self.hal.write32(offset::EVENTQ_CONS, 0);
            q.reset_pointers();
            enables |= Cr0::EVENTQEN;
            self.write_cr0(enables)?;
        }
        if let Some(q) = &mut self.priq {
            self.hal.write64(offset::PRIQ_BASE, q.base_register()?);
            self.hal.write32(offset::PRIQ_PROD, 0);
            self.hal.write32(offset::PRIQ_CONS, 0);
            q.reset_pointers();
            enables |= Cr0::PRIQEN;
            self.write_cr0(enables)?;
        }
        Ok(enables)
    }

    /// GERROR always; the event and PRI queue interrupts when those queues run.
    fn irq_enables(&self) -> IrqCtrl {
        let mut irqs = IrqCtrl::GERROR_IRQEN;
        if self.evtq.is_some() {
            irqs |= IrqCtrl::EVENTQ_IRQEN;
        }
        if self.priq.is_some() {
            irqs |= IrqCtrl::PRIQ_IRQEN;
        }
        irqs
    }

    /// Invalidates every cached configuration and TLB entry (kdump.md §7 step 5).
    fn invalidate_all(&self) -> Result<(), Error> {
        // TLBI_EL2_ALL whenever the SMMU has HYP, not only when this kernel uses E2H
        // (kdump.md §7 step 5 names only the latter): adopted STEs of a kernel 1 that ran
        // with E2H carry STRW = EL2, and their EL2 TLB entries must go as well.
        let el2 = self.features.hyp.then_some(Command::TlbiEl2All);
        let cmds = [Command::cfgi_all()]
            .into_iter()
            .chain(el2)
            .chain([Command::TlbiNsnhAll]);
        self.cmdq.submit(&self.hal, cmds)
    }

    /// Writes CR0 and waits until CR0ACK reflects it.
    fn write_cr0(&self, value: Cr0) -> Result<(), Error> {
        self.hal.write32(offset::CR0, value.bits());
        self.poll(Wait::Cr0Ack, || {
            value.is_acknowledged_by(Cr0::from_bits_retain(self.hal.read32(offset::CR0ACK)))
        })
    }

    /// Writes IRQ_CTRL and waits until IRQ_CTRLACK reflects it.
    fn write_irq_ctrl(&self, value: IrqCtrl) -> Result<(), Error> {
        self.hal.write32(offset::IRQ_CTRL, value.bits());
        self.poll(Wait::IrqCtrlAck, || {
            value.is_acknowledged_by(IrqCtrl::from_bits_retain(
                self.hal.read32(offset::IRQ_CTRLACK),
            ))
        })
    }

    /// Sets GBPA.ABORT with the Update protocol (other attributes unchanged).
    fn set_gbpa_abort(&self) -> Result<(), Error> {
        let read = || Gbpa::from(self.hal.read32(offset::GBPA));
        self.poll(Wait::Gbpa, || !read().update())?;
        let gbpa = read();
        if gbpa.abort() {
            return Ok(());
        }
        self.hal.write32(
            offset::GBPA,
            u32::from(gbpa.with_abort(true).with_update(true)),
        );
        self.poll(Wait::Gbpa, || !read().update())
    }

    /// Acknowledges every active global error (left by firmware or a previous kernel:
    /// an active CMDQ_ERR would stall the new command queue).
    fn ack_stale_gerror(&self) {
        let gerror = Gerror::from_bits_retain(self.hal.read32(offset::GERROR));
        let gerrorn = Gerror::from_bits_retain(self.hal.read32(offset::GERRORN));
        let active = gerror.active(gerrorn);
        if !active.is_empty() {
            self.hal
                .diagnostic(Diagnostic::StaleGlobalErrors { active });
            self.cmdq.acknowledge(&self.hal, Gerror::all());
        }
    }

    /// Checks `done` up to the platform's poll budget.
    pub(crate) fn poll(&self, what: Wait, mut done: impl FnMut() -> bool) -> Result<(), Error> {
        let mut left = self.hal.poll_budget();
        loop {
            if done() {
                return Ok(());
            }
            if left == 0 {
                return Err(Error::Timeout { what });
            }
            left -= 1;
            self.hal.relax();
        }
    }

    /// Issues `cmds` as one batch followed by a `CMD_SYNC`, and waits for the sync.
    ///
    /// Thread-safe. A command the SMMU refuses (`CERROR_ILL`) is skipped, reported as a
    /// [`Diagnostic::CommandError`], and returned as [`Error::CommandError`] with its
    /// position in `cmds` once the rest of the batch has run; the queue keeps working.
    ///
    /// # Errors
    ///
    /// [`Error::Regs`] if a command cannot be encoded (nothing is issued),
    /// [`Error::CommandError`], [`Error::Timeout`] ([`Wait::CmdqSpace`] or
    /// [`Wait::CmdSync`]), [`Error::ServiceFailureMode`], [`Error::NotReady`] before
    /// [`reset`](Self::reset).
    pub fn submit(&self, cmds: &[Command]) -> Result<(), Error> {
        for cmd in cmds {
            cmd.encode()?;
        }
        self.cmdq.submit(&self.hal, cmds.iter().copied())
    }

    /// Issues the commands of `cmds` (an iterator, so that long invalidation lists need
    /// no buffer) as one batch followed by a `CMD_SYNC`. Commands are encoded as they are
    /// written: one that cannot be encoded stops the batch with [`Error::Regs`] (commands
    /// before it may have run).
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    pub fn submit_iter(&self, cmds: impl IntoIterator<Item = Command>) -> Result<(), Error> {
        self.cmdq.submit(&self.hal, cmds)
    }

    /// Drains the event queue: calls `f` with each record, decoded (StreamID, address,
    /// cause), in order; acknowledges and counts an overflow (reported as
    /// [`Diagnostic::EventQueueOverflow`]). Handles at most one queue's worth per call.
    /// Without an event queue (kdump boot) it does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Access`] only on an internal bounds violation.
    pub fn drain_events(&self, mut f: impl FnMut(&Event)) -> Result<Drained, Error> {
        let Some(q) = &self.evtq else {
            return Ok(Drained::default());
        };
        let drained = q.drain::<H, 4>(&self.hal, |words| f(&Event::decode(words)))?;
        if drained.overflow {
            self.hal.diagnostic(Diagnostic::EventQueueOverflow {
                total: q.overflows(),
            });
        }
        Ok(drained)
    }

    /// Event queue overflows seen (and acknowledged) so far.
    #[must_use]
    pub fn event_overflows(&self) -> u64 {
        self.evtq.as_ref().map_or(0, InQueue::overflows)
    }

    /// Drains the PRI queue, calling `f` with each page request in order. The OS answers
    /// each page request group with `CMD_PRI_RESP` through [`submit`](Self::submit).
    /// Without a PRI queue it does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Access`] only on an internal bounds violation.
    pub fn drain_page_requests(&self, mut f: impl FnMut(&PriEntry)) -> Result<Drained, Error> {
        let Some(q) = &self.priq else {
            return Ok(Drained::default());
        };
        let drained = q.drain::<H, 2>(&self.hal, |words| f(&PriEntry::decode(words)))?;
        if drained.overflow {
            self.hal.diagnostic(Diagnostic::PriQueueOverflow);
        }
        Ok(drained)
    }

    /// Handles global errors (the GERROR interrupt): reports the active ones, repairs the
    /// command queue if CMDQ_ERR is active and no batch is in flight (a batch in flight
    /// repairs it itself), acknowledges the others, and returns the active set.
    ///
    /// # Errors
    ///
    /// [`Error::ServiceFailureMode`] when GERROR.SFM_ERR is active (not acknowledged:
    /// the SMMU needs a reset).
    pub fn handle_gerror(&self) -> Result<Gerror, Error> {
        let gerror = Gerror::from_bits_retain(self.hal.read32(offset::GERROR));
        let gerrorn = Gerror::from_bits_retain(self.hal.read32(offset::GERRORN));
        let active = gerror.active(gerrorn);
        if active.is_empty() {
            return Ok(active);
        }
        self.hal.diagnostic(Diagnostic::GlobalErrors { active });
        if active.contains(Gerror::SFM_ERR) {
            self.hal.diagnostic(Diagnostic::ServiceFailureMode);
            return Err(Error::ServiceFailureMode);
        }
        let others = active.difference(Gerror::CMDQ_ERR);
        if !others.is_empty() {
            self.cmdq.acknowledge(&self.hal, others);
        }
        if active.contains(Gerror::CMDQ_ERR) {
            self.cmdq.recover(&self.hal)?;
        }
        Ok(active)
    }

    /// The HAL.
    #[must_use]
    pub fn hal(&self) -> &H {
        &self.hal
    }

    /// What the hardware implements.
    #[must_use]
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// How the driver runs it.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The stream table (geometry, STE lookup).
    #[must_use]
    pub fn stream_table(&self) -> &StreamTable<H> {
        &self.strtab
    }

    /// Where the stream table came from.
    #[must_use]
    pub fn strtab_source(&self) -> StrtabSource {
        self.strtab_source
    }

    /// What came of the adoption of a live stream table (kdump.md §3, §4.5).
    #[must_use]
    pub fn adoption(&self) -> AdoptionOutcome {
        self.options.adoption
    }

    /// Whether the ASID (`stage2 == false`) or VMID `id` is allocated or reserved (for
    /// example by the adoption scan of kdump.md §6).
    #[must_use]
    pub fn id_in_use(&self, stage2: bool, id: u32) -> bool {
        let ids = if stage2 { &self.vmids } else { &self.asids };
        ids.as_ref().is_some_and(|ids| ids.is_allocated(id))
    }

    /// Chooses the stage of the paging (DMA and unmanaged) domains allocated for `dev`
    /// from now on, instead of [`Options::paging_stage`]; `None` returns to that default.
    /// It may be set before the device is probed, so that its default DMA domain already
    /// has this stage. Domains already allocated keep theirs; a domain of either stage
    /// can be attached to any master.
    ///
    /// # Errors
    ///
    /// [`Unsupported::StageUnavailable`] when the SMMU does not implement `stage`.
    ///
    /// # Example
    ///
    /// ```
    /// # fn f<H: smmu_v3_driver::Hal>(smmu: &mut smmu_v3_driver::SmmuV3<H>)
    /// #     -> Result<(), smmu_v3_driver::Error> {
    /// use iommu_core::DeviceId;
    /// use smmu_v3_driver::pgtable::Stage;
    ///
    /// // Device 7's DMA domains are translated by stage 2 (a VMID, no CD table).
    /// smmu.set_paging_stage(DeviceId(7), Some(Stage::Stage2))?;
    /// assert_eq!(smmu.paging_stage(DeviceId(7)), Stage::Stage2);
    /// # Ok(()) }
    /// ```
    pub fn set_paging_stage(&mut self, dev: DeviceId, stage: Option<Stage>) -> Result<(), Error> {
        match stage {
            None => {
                self.stage_overrides.remove(&dev);
            }
            Some(stage) => {
                let implemented = match stage {
                    Stage::Stage1 => self.features.stage1,
                    Stage::Stage2 => self.features.stage2,
                };
                if !implemented {
                    return Err(Unsupported::StageUnavailable.into());
                }
                self.stage_overrides.insert(dev, stage);
            }
        }
        Ok(())
    }

    /// The stage of the paging domains allocated for `dev`: its
    /// [`set_paging_stage`](Self::set_paging_stage) choice, else
    /// [`Options::paging_stage`].
    #[must_use]
    pub fn paging_stage(&self, dev: DeviceId) -> Stage {
        self.stage_overrides
            .get(&dev)
            .copied()
            .unwrap_or(self.options.paging_stage)
    }

    /// How many devices are probed.
    #[must_use]
    pub fn probed_devices(&self) -> usize {
        self.masters.len()
    }

    /// Whether [`reset`](Self::reset) has enabled the SMMU.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The current STE of `sid` (8 words), for diagnostics and tests.
    ///
    /// # Errors
    ///
    /// [`Error::Lookup`] when the StreamID has no STE (out of range, or no L2 table yet).
    pub fn ste(&self, sid: StreamId) -> Result<[u64; 8], Error> {
        Ok(self.strtab.ste(sid)?.read()?)
    }

    /// Disables the SMMU: GBPA abort, then CR0 cleared (bounded waits). Tables and
    /// queues stay allocated (until the driver is dropped); a new [`reset`](Self::reset)
    /// brings the SMMU back.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the SMMU does not acknowledge.
    pub fn disable(&mut self) -> Result<(), Error> {
        self.enabled = false;
        self.cmdq.set_enabled(false);
        self.set_gbpa_abort()?;
        self.write_cr0(Cr0::empty())
    }
}

impl<H: Hal, P> Drop for SmmuV3<H, P> {
    fn drop(&mut self) {
        // Best effort: the tables and queues are freed right after, so the SMMU must not
        // use them any more. A timeout here leaves nothing better to do. An SMMU this
        // driver never programmed is left alone.
        if self.programmed {
            let _ = self.disable();
        }
    }
}
