//! Domains and the [`IommuDriver`] implementation: masters, STEs, CDs, ASIDs / VMIDs,
//! map / unmap with TLB invalidation.

use alloc::vec::Vec;

use iommu_core::{DeviceDesc, DomainId, DomainKind, GroupId, IommuDriver, Prot};
use smmu_regs::cd::Cd;
use smmu_regs::cmd::{Command, TlbiGranule, TlbiRange, TtlHint};
use smmu_regs::fields::{Cacheability, Shareability};
use smmu_regs::ids::Ipa;
use smmu_regs::ste::{Shcfg, Ste, Strw};
use smmu_regs::{Asid, Iova, PhysAddr, StreamId, SubstreamId, Vmid};
use smmu_strtab::{DefaultSte, EnsureError, Ensured, TableMemory, WriteReport, WriteStep};

use crate::cdtab::{CdTable, Stage1CdOptions, stage1_cd};
use crate::error::{Error, IdKind, Unsupported};
use crate::hal::{Diagnostic, Hal};
use crate::master::{Attached, Master};
use crate::pgtable::{
    Aarch64PageTable, IoPageTable, PageTableConfig, PageTableError, PageTableParams, Stage,
};
use crate::smmu::{SmmuV3, StrtabSource};

/// How the driver creates the IO page table of a new paging domain: the constructor half
/// of the page-table seam. Implement it (with [`IoPageTable`]) for the OS's own page
/// tables and use them as the driver's `P` parameter.
pub trait PageTableAlloc<M: TableMemory + ?Sized>: IoPageTable<M> + Sized {
    /// An empty page table with `params`.
    ///
    /// # Errors
    ///
    /// The parameters are not supported, or no memory.
    fn alloc(mem: &M, params: PageTableParams) -> Result<Self, PageTableError>;
}

impl<M: TableMemory + ?Sized> PageTableAlloc<M> for Aarch64PageTable {
    fn alloc(mem: &M, params: PageTableParams) -> Result<Self, PageTableError> {
        Self::new(mem, params)
    }
}

/// The translation context of a paging domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// Stage 1: the ASID of its CD.
    Asid(Asid),
    /// Stage 2: the VMID of its STE.
    Vmid(Vmid),
}

/// A paging domain's page table and what points at it.
#[derive(Debug)]
struct Paging<P> {
    /// `None` only after the table was leaked because its invalidation failed.
    table: Option<P>,
    tag: Tag,
    /// The table's configuration.
    config: PageTableConfig,
    /// Stage 1: the CD 0 of every attached master.
    cd: Option<Cd>,
    /// Stage 2: the STE of every attached StreamID.
    ste: Option<[u64; 8]>,
    /// An invalidation by address failed: the next one covers the whole ASID / VMID.
    stale_tlb: bool,
}

#[derive(Debug)]
enum Body<P> {
    Blocked,
    Identity,
    Paging(Paging<P>),
}

/// The driver's state of one domain ([`IommuDriver::Domain`]).
#[derive(Debug)]
pub struct Domain<P = Aarch64PageTable> {
    id: DomainId,
    kind: DomainKind,
    body: Body<P>,
    /// Masters attached to it.
    users: u32,
}

impl<P> Domain<P> {
    /// The core's name for the domain.
    #[must_use]
    pub fn id(&self) -> DomainId {
        self.id
    }

    /// Its kind.
    #[must_use]
    pub fn kind(&self) -> DomainKind {
        self.kind
    }

    /// The ASID of a stage-1 paging domain.
    #[must_use]
    pub fn asid(&self) -> Option<Asid> {
        match &self.body {
            Body::Paging(Paging {
                tag: Tag::Asid(a), ..
            }) => Some(*a),
            _ => None,
        }
    }

    /// The VMID of a stage-2 paging domain.
    #[must_use]
    pub fn vmid(&self) -> Option<Vmid> {
        match &self.body {
            Body::Paging(Paging {
                tag: Tag::Vmid(v), ..
            }) => Some(*v),
            _ => None,
        }
    }

    /// The page-table configuration of a paging domain (what its CD or STE points at).
    #[must_use]
    pub fn page_table_config(&self) -> Option<PageTableConfig> {
        match &self.body {
            Body::Paging(p) => Some(p.config),
            _ => None,
        }
    }

    /// How many masters are attached.
    #[must_use]
    pub fn users(&self) -> u32 {
        self.users
    }

    fn paging_mut(&mut self) -> Result<&mut Paging<P>, Error> {
        match &mut self.body {
            Body::Paging(p) => Ok(p),
            _ => Err(Error::NotPaging),
        }
    }
}

fn to_sid(sid: iommu_core::StreamId) -> StreamId {
    StreamId(sid.0)
}

impl<H: Hal, P: PageTableAlloc<H>> SmmuV3<H, P> {
    /// Rewrites the STE of `sid` with the hitless entry writer; the hook issues
    /// `CFGI_STE` (leaf) + `CMD_SYNC` after each step.
    fn write_ste(&self, sid: StreamId, target: &[u64; 8]) -> Result<WriteReport, Error> {
        let slot = self.strtab.ste(sid)?;
        let mut hook = |_step: WriteStep| -> Result<(), Error> {
            self.cmdq.submit(
                &self.hal,
                [Command::CfgiSte {
                    ssec: false,
                    sid,
                    leaf: true,
                }],
            )
        };
        Ok(slot.write(target, &mut hook)?)
    }

    /// Writes CD `ssid` of `master`'s table; the hook issues `CFGI_CD` for every StreamID
    /// of the master + `CMD_SYNC`. Leaf = 0: a 2-level table may just have published the
    /// L1CD of a fresh leaf, and any cached copy of it must go too.
    fn write_cd(&self, master: &mut Master, ssid: SubstreamId, cd: &Cd) -> Result<(), Error> {
        let Master { sids, cd_table, .. } = master;
        let Some(table) = cd_table.as_mut() else {
            return Err(Error::NotPaging);
        };
        let sids: &[StreamId] = sids;
        let mut hook = |_step: WriteStep| -> Result<(), Error> {
            self.cmdq.submit(
                &self.hal,
                sids.iter().map(|&sid| Command::CfgiCd {
                    ssec: false,
                    sid,
                    ssid,
                    leaf: false,
                }),
            )
        };
        table.write_cd(&self.hal, ssid, cd, &mut hook)?;
        Ok(())
    }

    /// The bypass STE (SHCFG = incoming where the SMMU implements it).
    fn bypass_ste(&self) -> [u64; 8] {
        DefaultSte::Bypass.words(self.features.caps.attr_types_ovr)
    }

    /// The stage-1 STE of a master with a CD table.
    fn stage1_ste(&self, table: &CdTable) -> Result<[u64; 8], Error> {
        let mut s1 = table.stage1_config();
        if !self.options.coherent {
            s1.cir = Cacheability::NonCacheable;
            s1.cor = Cacheability::NonCacheable;
            s1.csh = Shareability::Outer;
        }
        if self.options.e2h {
            s1.strw = Strw::El2;
        }
        Ok(Ste::stage1(&s1)?.to_words())
    }

    fn alloc_paging(&mut self, stage: Stage) -> Result<Paging<P>, Error> {
        let coherency = self.options.coherency();
        let oas = self.features.caps.oas;
        match stage {
            Stage::Stage1 => {
                let asids = self.asids.as_mut().ok_or(Unsupported::StageUnavailable)?;
                let asid = asids.alloc().ok_or(Error::IdsExhausted(IdKind::Asid))?;
                let params = PageTableParams::new(Stage::Stage1, 48, oas, coherency);
                let built = P::alloc(&self.hal, params)
                    .map_err(Error::from)
                    .and_then(|table| {
                        let opts = Stage1CdOptions::default();
                        match stage1_cd(&table.config(), Asid(asid), &opts) {
                            Ok(cd) => Ok((table, cd)),
                            Err(e) => {
                                // SAFETY: the table was never pointed at by a CD.
                                unsafe { table.release(&self.hal) };
                                Err(e.into())
                            }
                        }
                    });
                match built {
                    Ok((table, cd)) => Ok(Paging {
                        config: table.config(),
                        table: Some(table),
                        tag: Tag::Asid(Asid(asid)),
                        cd: Some(cd),
                        ste: None,
                        stale_tlb: false,
                    }),
                    Err(e) => {
                        let _ = asids.free(asid);
                        Err(e)
                    }
                }
            }
            Stage::Stage2 => {
                let attr_types_ovr = self.features.caps.attr_types_ovr;
                let vmids = self.vmids.as_mut().ok_or(Unsupported::StageUnavailable)?;
                let vmid = vmids.alloc().ok_or(Error::IdsExhausted(IdKind::Vmid))?;
                // IAS = OAS without AArch32 tables; the default tables stop at 48 bits.
                let input_bits = self.features.oas_bits.min(48);
                let params = PageTableParams::new(Stage::Stage2, input_bits, oas, coherency);
                let built = P::alloc(&self.hal, params)
                    .map_err(Error::from)
                    .and_then(|table| {
                        let ste = table
                            .config()
                            .stage2_config(Vmid(vmid))
                            .map_err(Error::from)
                            .and_then(|mut s2| {
                                if !attr_types_ovr {
                                    // SHCFG is RES0 without IDR1.ATTR_TYPES_OVR; leaving
                                    // it 0 also keeps bypass ↔ stage 2 hitless.
                                    s2.shcfg = Shcfg::NonShareable;
                                }
                                Ok(Ste::stage2(&s2)?.to_words())
                            });
                        match ste {
                            Ok(ste) => Ok((table, ste)),
                            Err(e) => {
                                // SAFETY: the table was never pointed at by an STE.
                                unsafe { table.release(&self.hal) };
                                Err(e)
                            }
                        }
                    });
                match built {
                    Ok((table, ste)) => Ok(Paging {
                        config: table.config(),
                        table: Some(table),
                        tag: Tag::Vmid(Vmid(vmid)),
                        cd: None,
                        ste: Some(ste),
                        stale_tlb: false,
                    }),
                    Err(e) => {
                        let _ = vmids.free(vmid);
                        Err(e)
                    }
                }
            }
        }
    }

    /// The command invalidating every TLB entry of `tag`.
    fn tlbi_all(&self, tag: Tag) -> Command {
        match tag {
            Tag::Asid(asid) if self.options.e2h => Command::TlbiEl2Asid { asid },
            Tag::Asid(asid) => Command::TlbiNhAsid {
                vmid: Vmid(0),
                asid,
            },
            Tag::Vmid(vmid) => Command::TlbiS12Vmall { vmid },
        }
    }

    /// The command invalidating `range` at `addr` for `tag`.
    fn tlbi_addr(&self, tag: Tag, addr: u64, range: TlbiRange) -> Command {
        match tag {
            Tag::Asid(asid) if self.options.e2h => Command::TlbiEl2Va {
                asid,
                addr: Iova(addr),
                leaf: false,
                range,
            },
            Tag::Asid(asid) => Command::TlbiNhVa {
                vmid: Vmid(0),
                asid,
                addr: Iova(addr),
                leaf: false,
                range,
            },
            Tag::Vmid(vmid) => Command::TlbiS2Ipa {
                vmid,
                ipa: Ipa(addr),
                leaf: false,
                range,
            },
        }
    }

    /// Invalidates the TLB entries of `[iova, iova + size)` for `tag` (walk caches
    /// included: `Leaf = 0`): range commands with IDR3.RIL, else per page up to
    /// `max_tlbi_pages`, else the whole ASID / VMID; then `CMD_SYNC`.
    fn invalidate_range(&self, tag: Tag, iova: u64, size: u64) -> Result<(), Error> {
        let page = crate::pgtable::PAGE_SIZE;
        let first = iova & !(page - 1);
        let pages = (iova - first).saturating_add(size).div_ceil(page);
        if self.options.range_invalidation {
            let max_scale = if self.features.caps.ds { 63 } else { 31 };
            let chunks =
                TlbiRange::split(iova, size, TlbiGranule::Size4K, TtlHint::Any, max_scale)?;
            self.cmdq.submit(
                &self.hal,
                chunks.map(|(addr, range)| self.tlbi_addr(tag, addr, range)),
            )
        } else if pages <= u64::from(self.options.max_tlbi_pages) {
            self.cmdq.submit(
                &self.hal,
                (0..pages).map(|i| self.tlbi_addr(tag, first + i * page, TlbiRange::NONE)),
            )
        } else {
            self.cmdq.submit(&self.hal, [self.tlbi_all(tag)])
        }
    }

    /// Points every StreamID of `dev` at `target`; on failure, puts back the STEs already
    /// rewritten.
    fn write_master_stes(&self, sids: &[StreamId], target: &[u64; 8]) -> Result<(), Error> {
        let mut old: Vec<(StreamId, [u64; 8])> = Vec::with_capacity(sids.len());
        for &sid in sids {
            let before = self.strtab.ste(sid)?.read()?;
            if let Err(e) = self.write_ste(sid, target) {
                // The failing STE is in a step's state (old or target on the used bits);
                // restore it and the ones before it.
                old.push((sid, before));
                for &(sid, ste) in old.iter().rev() {
                    if self.write_ste(sid, &ste).is_err() {
                        self.hal.diagnostic(Diagnostic::RollbackFailed { sid });
                    }
                }
                return Err(e);
            }
            old.push((sid, before));
        }
        Ok(())
    }

    fn attach(&mut self, dev: DeviceDesc<'_>, domain: &mut Domain<P>) -> Result<(), Error> {
        let mut master = self.masters.take(dev.id)?;
        let result = self.attach_master(&mut master, domain);
        if let Ok(now) = result {
            master.attached = now;
            domain.users += 1;
        }
        self.masters.put_back(dev.id, master);
        result.map(|_| ())
    }

    /// Points `master` at `domain` and returns what it is attached to now. On error the
    /// master's STEs and CD 0 are as they were.
    fn attach_master(&self, master: &mut Master, domain: &Domain<P>) -> Result<Attached, Error> {
        let (target, now, new_cd) = match &domain.body {
            Body::Blocked => (Ste::ABORT.to_words(), Attached::Blocked, None),
            Body::Identity => (self.bypass_ste(), Attached::Identity, None),
            Body::Paging(p) => match (p.tag, p.cd, p.ste) {
                (Tag::Asid(asid), Some(cd), _) => {
                    if master.cd_table.is_none() {
                        master.cd_table = Some(CdTable::new(
                            &self.hal,
                            master.ssid_bits,
                            self.features.two_level_cd,
                            self.options.coherency(),
                        )?);
                    }
                    let table = master.cd_table.as_ref().ok_or(Error::NotPaging)?;
                    (self.stage1_ste(table)?, Attached::Stage1(asid), Some(cd))
                }
                (Tag::Vmid(_), _, Some(ste)) => (ste, Attached::Stage2, None),
                _ => return Err(Error::NotPaging),
            },
        };
        // CD 0 first: the STEs must find it valid as soon as they point at the table.
        let old_cd = match new_cd {
            Some(cd) => {
                let old = master
                    .cd_table
                    .as_ref()
                    .and_then(|t| t.read_cd(SubstreamId(0)))
                    .unwrap_or([0; 8]);
                self.write_cd(master, SubstreamId(0), &cd)?;
                Some(old)
            }
            None => None,
        };
        let sids = master.sids.clone();
        if let Err(e) = self.write_master_stes(&sids, &target) {
            if let (Some(old), Attached::Stage1(_)) = (old_cd, master.attached) {
                // The STEs still point at the CD table: give CD 0 back its old value.
                let _ = self.write_cd(master, SubstreamId(0), &Cd::from_words(old));
            }
            return Err(e);
        }
        if matches!(master.attached, Attached::Stage1(_)) && !matches!(now, Attached::Stage1(_)) {
            // No STE points at the CD table any more: retire the old domain's CD.
            let _ = self.write_cd(master, SubstreamId(0), &Cd::INVALID);
        }
        Ok(now)
    }
}

impl<H: Hal, P: PageTableAlloc<H>> IommuDriver for SmmuV3<H, P> {
    type Error = Error;
    type Domain = Domain<P>;

    /// Inserts the master: checks its StreamIDs (at least one, distinct, in range, not
    /// owned by another device) and makes each live in the stream table (a 2-level table
    /// gets the L2 table of its range now; kdump.md §13.2 per-SID init, which issue 7's
    /// lazy L2 adoption hooks into through `StreamTable::ensure_sid`). No STE is written:
    /// the device keeps the table's default (abort) until it is attached.
    fn probe_device(&mut self, dev: DeviceDesc<'_>) -> Result<(), Error> {
        if dev.stream_ids.is_empty() {
            return Err(Error::NoStreamIds);
        }
        let sids: Vec<StreamId> = dev.stream_ids.iter().copied().map(to_sid).collect();
        self.masters.check_new(dev.id, &sids)?;
        let mut new_l2 = Vec::new();
        let adopted = matches!(self.strtab_source, StrtabSource::Adopted(_));
        for &sid in &sids {
            match self.strtab.ensure_sid(sid) {
                Ok(Ensured::NewL2) => new_l2.push(sid),
                Ok(_) => {}
                // kdump.md §5: a bad adopted L2 rejects this device only.
                Err(error @ EnsureError::OutOfRange { .. }) => return Err(error.into()),
                Err(error) if adopted => return Err(Error::AdoptedL2Rejected { sid, error }),
                Err(error) => return Err(error.into()),
            }
        }
        if self.enabled && !new_l2.is_empty() {
            // The L1 descriptor changed: drop any cached copy (Leaf = 0).
            self.cmdq.submit(
                &self.hal,
                new_l2.iter().map(|&sid| Command::CfgiSte {
                    ssec: false,
                    sid,
                    leaf: false,
                }),
            )?;
        }
        let ssid_bits = dev.pasid_bits.unwrap_or(0).min(self.features.ssid_bits);
        self.masters.insert(
            dev.id,
            Master {
                sids,
                ssid_bits,
                cd_table: None,
                attached: Attached::None,
            },
        );
        Ok(())
    }

    /// Blocks the device (abort STEs), frees its CD table and forgets it.
    fn release_device(&mut self, dev: DeviceDesc<'_>, attached: Option<&mut Domain<P>>) {
        let Some(master) = self.masters.remove(dev.id) else {
            return;
        };
        let abort = Ste::ABORT.to_words();
        let mut clean = true;
        for &sid in &master.sids {
            if self.write_ste(sid, &abort).is_err() {
                clean = false;
                self.hal.diagnostic(Diagnostic::RollbackFailed { sid });
            }
        }
        if let Some(domain) = attached {
            domain.users = domain.users.saturating_sub(1);
        }
        if let Some(table) = master.cd_table {
            let flushed = clean
                && self
                    .cmdq
                    .submit(
                        &self.hal,
                        master
                            .sids
                            .iter()
                            .map(|&sid| Command::CfgiCdAll { ssec: false, sid }),
                    )
                    .is_ok();
            if flushed {
                // SAFETY: every STE of the master is abort (synced) and its cached CDs
                // were invalidated and synced: the SMMU no longer reads the table.
                unsafe { table.release(&self.hal) };
            }
            // Otherwise the table is leaked: the SMMU may still read it.
        }
    }

    /// Every device is its own group: StreamIDs are never shared (duplicates are
    /// refused), and aliasing beyond that is the OS's knowledge.
    fn device_group(&mut self, dev: DeviceDesc<'_>) -> Result<GroupId, Error> {
        self.masters.get(dev.id)?;
        Ok(GroupId(dev.id.0))
    }

    fn max_pasid_bits(&self, dev: DeviceDesc<'_>) -> u8 {
        match self.paging_stage(dev.id) {
            Stage::Stage1 => self.features.ssid_bits,
            Stage::Stage2 => 0,
        }
    }

    /// kdump.md §10: deferred when the table is adopted and any StreamID of the device
    /// has an STE with V = 1 and Config ≠ ABORT (BYPASS, S1, S2, nested: live DMA may be
    /// in flight). Uses the normal O(1) lookup (`probe_device` made every StreamID live),
    /// allocates nothing, and reads dw0 only (one 64-bit load per StreamID).
    fn is_attach_deferred(&self, dev: DeviceDesc<'_>) -> bool {
        match self.strtab_source {
            StrtabSource::Fresh => false,
            StrtabSource::Adopted(_) => dev.stream_ids.iter().any(|&sid| {
                self.strtab
                    .ste(to_sid(sid))
                    .ok()
                    .and_then(|slot| slot.read_word(0).ok())
                    .is_some_and(crate::kdump::live_dw0)
            }),
        }
    }

    /// Blocked and identity domains have no state; paging domains (DMA, unmanaged) get a
    /// page table and an ASID (stage 1: a CD is built) or a VMID (stage 2: an STE is
    /// built), per [`SmmuV3::paging_stage`] of the device the domain is allocated for.
    fn domain_alloc(
        &mut self,
        id: DomainId,
        kind: DomainKind,
        dev: DeviceDesc<'_>,
    ) -> Result<Domain<P>, Error> {
        let body = match kind {
            DomainKind::Blocked => Body::Blocked,
            DomainKind::Identity => Body::Identity,
            DomainKind::Dma | DomainKind::Unmanaged => {
                Body::Paging(self.alloc_paging(self.paging_stage(dev.id))?)
            }
            other => return Err(Unsupported::DomainKind(other).into()),
        };
        Ok(Domain {
            id,
            kind,
            body,
            users: 0,
        })
    }

    /// Invalidates the domain's TLB entries (`TLBI_NH_ASID` / `TLBI_EL2_ASID` /
    /// `TLBI_S12_VMALL` + `CMD_SYNC`), then frees its page table and releases its ASID /
    /// VMID. If the invalidation fails, both are leaked rather than reused while the SMMU
    /// may still hold entries for them.
    fn domain_free(&mut self, domain: Domain<P>) {
        let Body::Paging(mut paging) = domain.body else {
            return;
        };
        if self
            .cmdq
            .submit(&self.hal, [self.tlbi_all(paging.tag)])
            .is_err()
        {
            return;
        }
        if let Some(table) = paging.table.take() {
            // SAFETY: no master is attached (the core frees only unused domains, and each
            // detach rewrote the STEs / retired CD 0 with syncs), and the TLB entries of
            // the ASID / VMID were invalidated and synced above.
            unsafe { table.release(&self.hal) };
        }
        match paging.tag {
            Tag::Asid(a) => {
                if let Some(ids) = self.asids.as_mut() {
                    let _ = ids.free(a.0);
                }
            }
            Tag::Vmid(v) => {
                if let Some(ids) = self.vmids.as_mut() {
                    let _ = ids.free(v.0);
                }
            }
        }
    }

    /// Rewrites the STEs of every StreamID of `dev` for `domain` (blocked: abort;
    /// identity: bypass; stage 1: CD 0 of the device's CD table, then stage-1 STEs;
    /// stage 2: the domain's STE), each with the hitless entry writer + `CFGI_STE` +
    /// `CMD_SYNC`. On failure the STEs (and CD 0) are put back.
    fn attach_device(
        &mut self,
        dev: DeviceDesc<'_>,
        domain: &mut Domain<P>,
        old: Option<&mut Domain<P>>,
    ) -> Result<(), Error> {
        if !self.enabled {
            return Err(Error::NotReady);
        }
        self.attach(dev, domain)?;
        if let Some(old) = old {
            old.users = old.users.saturating_sub(1);
        }
        Ok(())
    }

    fn map(
        &mut self,
        domain: &mut Domain<P>,
        iova: iommu_core::Iova,
        paddr: iommu_core::PhysAddr,
        size: u64,
        prot: Prot,
    ) -> Result<(), Error> {
        let paging = domain.paging_mut()?;
        let table = paging.table.as_mut().ok_or(Error::NotPaging)?;
        table.map(&self.hal, Iova(iova.0), PhysAddr(paddr.0), size, prot)?;
        Ok(())
    }

    /// Unmaps, then invalidates the range (see the TLBI policy on
    /// [`Options`](crate::Options)) and frees the page tables the unmap emptied. If the
    /// invalidation fails the range stays unmapped and the error is returned; the next
    /// invalidation of the domain then covers its whole ASID / VMID.
    fn unmap(
        &mut self,
        domain: &mut Domain<P>,
        iova: iommu_core::Iova,
        size: u64,
    ) -> Result<u64, Error> {
        let paging = domain.paging_mut()?;
        let tag = paging.tag;
        let table = paging.table.as_mut().ok_or(Error::NotPaging)?;
        let unmapped = table.unmap(&self.hal, Iova(iova.0), size)?;
        if unmapped == 0 {
            return Ok(0);
        }
        let invalidated = if paging.stale_tlb {
            self.cmdq.submit(&self.hal, [self.tlbi_all(tag)])
        } else {
            self.invalidate_range(tag, iova.0, size)
        };
        match invalidated {
            Ok(()) => {
                paging.stale_tlb = false;
                if let Some(table) = paging.table.as_mut() {
                    // SAFETY: the TLB invalidation of every unmapped range (this one by
                    // range, earlier failed ones by ASID / VMID) completed with its sync.
                    unsafe { table.reclaim(&self.hal) };
                }
                Ok(unmapped)
            }
            Err(e) => {
                paging.stale_tlb = true;
                Err(e)
            }
        }
    }

    fn iova_to_phys(
        &self,
        domain: &Domain<P>,
        iova: iommu_core::Iova,
    ) -> Option<iommu_core::PhysAddr> {
        let Body::Paging(paging) = &domain.body else {
            return None;
        };
        paging
            .table
            .as_ref()?
            .iova_to_phys(&self.hal, Iova(iova.0))
            .map(|pa| iommu_core::PhysAddr(pa.0))
    }
}
