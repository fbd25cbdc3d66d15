//! Translation of a device transaction: GBPA, stream-table walk, STE, CD, stage 1,
//! stage 2, permission checks and fault reporting (spec §2, §3, §5, §7.6 "spec"
//! column).

use std::sync::atomic::Ordering;

use crate::event::{Disposition, EventId, EventRecord, FaultClass};
use crate::mem::MemError;
use crate::regs::*;
use crate::smmu::{CachedSte, CdKey, SidKey, Smmu, TlbEntry, TlbKey, TlbTag};
use crate::structs::{
    CdInfo, S1Ste, S2Cfg, SteInfo, SteKind, addr_field, decode_cd, decode_ste, field,
};
use crate::walk::{AccessKind, PermFault, S1Controls, WalkError, s1_check, s2_check, walk};

/// Bits [55:0]: the part of an input address that the TLB and TLBI compare.
const VA_MASK: u64 = 0x00FF_FFFF_FFFF_FFFF;

/// Read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// A read (`RnW` = 1).
    Read,
    /// A write (`RnW` = 0).
    Write,
}

/// A transaction issued by a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transaction {
    /// StreamID.
    pub sid: u32,
    /// SubstreamID (PASID), if the transaction carries one.
    pub ssid: Option<u32>,
    /// Input address (IOVA).
    pub addr: u64,
    /// Read or write.
    pub access: Access,
    /// Size in bytes (informational; a transaction must not cross a 4 KiB page).
    pub size: u32,
    /// Privileged (`PnU` = 1) rather than unprivileged.
    pub privileged: bool,
    /// Instruction fetch (`InD` = 1) rather than data; only meaningful for reads.
    pub instruction: bool,
}

impl Transaction {
    /// An unprivileged data read of `size` bytes at `addr` from stream `sid`.
    #[must_use]
    pub const fn read(sid: u32, addr: u64, size: u32) -> Self {
        Self {
            sid,
            ssid: None,
            addr,
            access: Access::Read,
            size,
            privileged: false,
            instruction: false,
        }
    }

    /// An unprivileged data write of `size` bytes at `addr` from stream `sid`.
    #[must_use]
    pub const fn write(sid: u32, addr: u64, size: u32) -> Self {
        Self {
            access: Access::Write,
            ..Self::read(sid, addr, size)
        }
    }

    /// The same transaction with SubstreamID `ssid`.
    #[must_use]
    pub const fn with_ssid(mut self, ssid: u32) -> Self {
        self.ssid = Some(ssid);
        self
    }

    /// The same transaction, privileged.
    #[must_use]
    pub const fn privileged(mut self) -> Self {
        self.privileged = true;
        self
    }

    /// The same transaction as an instruction fetch.
    #[must_use]
    pub const fn instruction(mut self) -> Self {
        self.instruction = true;
        self
    }
}

/// How a successful translation was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TranslationKind {
    /// `SMMUEN` = 0 and `GBPA.ABORT` = 0: the address passed through.
    GlobalBypass,
    /// The STE is `Config` = bypass.
    SteBypass,
    /// Stage 1 bypassed by `STE.S1DSS` = bypass, stage 2 not enabled.
    Stage1Bypass,
    /// Stage 1 only.
    Stage1,
    /// Stage 2 only (or stage 1 bypassed by `S1DSS` on a nested STE).
    Stage2,
    /// Stage 1 then stage 2.
    Nested,
}

/// A successful translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Translated {
    /// Output physical address.
    pub pa: u64,
    /// How it was translated.
    pub kind: TranslationKind,
    /// Whether the final translation came from the TLB.
    pub tlb_hit: bool,
}

/// Why a transaction was terminated without an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbortCause {
    /// `SMMUEN` = 0 and `GBPA.ABORT` = 1.
    GlobalAbort,
    /// The STE is valid with `Config` = abort (0b0xx).
    SteAbort,
}

/// A terminated transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Terminated with an abort and no event, as the spec requires.
    Aborted(AbortCause),
    /// Terminated because of an event (whether or not it was recorded in the queue).
    Event {
        /// The event record.
        record: EventRecord,
        /// What happened to the record.
        disposition: Disposition,
        /// The transaction completes with RAZ/WI instead of an abort (`CD.A` = 0).
        razwi: bool,
    },
}

impl Fault {
    /// The event type, if the fault raised an event.
    #[must_use]
    pub const fn event_id(&self) -> Option<EventId> {
        match self {
            Self::Aborted(_) => None,
            Self::Event { record, .. } => Some(record.id),
        }
    }
}

/// Internal failure of a stage-2 translation.
enum S2Fail {
    Fault(EventId),
    Abort(u64),
}

/// Result of a stage-2 translation.
struct S2Out {
    pa: u64,
    attrs: u64,
    size_log2: u32,
    tlb_hit: bool,
}

fn perm_event(p: PermFault) -> EventId {
    match p {
        PermFault::Access => EventId::F_ACCESS,
        PermFault::Permission => EventId::F_PERMISSION,
    }
}

impl Smmu {
    /// Translates a transaction. Faults are recorded in the event queue (and always in
    /// the internal fault log) as the spec says; the returned [`Fault`] tells the
    /// device what happened.
    ///
    /// # Errors
    ///
    /// [`Fault`] when the transaction is terminated.
    pub fn translate(&self, t: &Transaction) -> Result<Translated, Fault> {
        self.counters.translations.fetch_add(1, Ordering::Relaxed);
        if self.cr0ack.load(Ordering::Acquire) & CR0_SMMUEN == 0 {
            let gbpa = self.gbpa.load(Ordering::Acquire);
            if gbpa & GBPA_ABORT != 0 {
                return Err(Fault::Aborted(AbortCause::GlobalAbort));
            }
            return Ok(Translated {
                pa: t.addr,
                kind: TranslationKind::GlobalBypass,
                tlb_hit: false,
            });
        }
        let _guard = self.walk_read();
        self.translate_enabled(t)
    }

    /// Translates, then reads `buf.len()` bytes from the output address. A RAZ/WI
    /// termination fills `buf` with zeros and still returns the fault.
    ///
    /// # Errors
    ///
    /// [`DmaError::Fault`] if translation failed, [`DmaError::Bus`] if the output
    /// address is not RAM.
    pub fn dma_read(&self, t: &Transaction, buf: &mut [u8]) -> Result<Translated, DmaError> {
        let t = Transaction {
            access: Access::Read,
            size: u32::try_from(buf.len()).unwrap_or(u32::MAX),
            ..*t
        };
        match self.translate(&t) {
            Ok(x) => {
                self.mem
                    .read_bytes(x.pa, buf)
                    .map_err(|e| DmaError::Bus { pa: x.pa, error: e })?;
                Ok(x)
            }
            Err(f) => {
                if let Fault::Event { razwi: true, .. } = f {
                    buf.fill(0);
                }
                Err(DmaError::Fault(f))
            }
        }
    }

    /// Translates, then writes `data` at the output address.
    ///
    /// # Errors
    ///
    /// [`DmaError::Fault`] if translation failed (nothing is written),
    /// [`DmaError::Bus`] if the output address is not RAM.
    pub fn dma_write(&self, t: &Transaction, data: &[u8]) -> Result<Translated, DmaError> {
        let t = Transaction {
            access: Access::Write,
            size: u32::try_from(data.len()).unwrap_or(u32::MAX),
            ..*t
        };
        let x = self.translate(&t).map_err(DmaError::Fault)?;
        self.mem
            .write_bytes(x.pa, data)
            .map_err(|e| DmaError::Bus { pa: x.pa, error: e })?;
        Ok(x)
    }

    fn event(&self, id: EventId, t: &Transaction, a: AccessKind) -> EventRecord {
        let mut r = EventRecord::new(id, t.sid, t.ssid);
        r.input_addr = t.addr;
        r.rnw = !a.write;
        r.ind = a.instruction;
        r.pnu = a.privileged;
        r.class = FaultClass::InputAddress;
        r
    }

    /// Raises a configuration event (always recorded) and makes the fault.
    fn cfg_fault(&self, id: EventId, t: &Transaction, fetch: u64) -> Fault {
        let mut r = EventRecord::new(id, t.sid, t.ssid);
        r.fetch_addr = fetch;
        let disposition = self.raise(r, true);
        Fault::Event {
            record: r,
            disposition,
            razwi: false,
        }
    }

    fn xlate_fault(&self, r: EventRecord, record: bool, razwi: bool) -> Fault {
        let disposition = self.raise(r, record);
        Fault::Event {
            record: r,
            disposition,
            razwi,
        }
    }

    fn translate_enabled(&self, t: &Transaction) -> Result<Translated, Fault> {
        let ste = self.stream_config(t)?;
        // STE.PRIVCFG / INSTCFG override the incoming attributes; writes are data.
        let privileged = match ste.privcfg {
            2 => false,
            3 => true,
            _ => t.privileged,
        };
        let write = t.access == Access::Write;
        let instruction = !write
            && match ste.instcfg {
                2 => false,
                3 => true,
                _ => t.instruction,
            };
        let a = AccessKind {
            write,
            privileged,
            instruction,
        };
        match ste.kind {
            SteKind::Abort => Err(Fault::Aborted(AbortCause::SteAbort)),
            SteKind::Bypass => {
                if t.ssid.is_some() {
                    return Err(self.cfg_fault(EventId::C_BAD_SUBSTREAMID, t, 0));
                }
                Ok(Translated {
                    pa: t.addr,
                    kind: TranslationKind::SteBypass,
                    tlb_hit: false,
                })
            }
            SteKind::S2 => {
                if t.ssid.is_some() {
                    return Err(self.cfg_fault(EventId::C_BAD_SUBSTREAMID, t, 0));
                }
                self.stage2_only(t, &ste, a)
            }
            SteKind::S1 | SteKind::Nested => self.stage1(t, &ste, a),
        }
    }

    // ------------------------------------------------------------------------------
    // Stream table
    // ------------------------------------------------------------------------------

    /// Finds the STE for `t.sid` (configuration cache, or a walk of the stream table).
    fn stream_config(&self, t: &Transaction) -> Result<SteInfo, Fault> {
        let key = SidKey(t.sid);
        if let Some(c) = self.ste_cache.get(&key) {
            return match c {
                CachedSte::Valid(s) => Ok(s),
                CachedSte::Invalid => Err(self.cfg_fault(EventId::C_BAD_STE, t, 0)),
            };
        }
        self.counters.ste_fetches.fetch_add(1, Ordering::Relaxed);
        let ste_addr = self.ste_address(t)?;
        let mut words = [0u64; 8];
        for (i, w) in words.iter_mut().enumerate() {
            *w = self
                .mem
                .read_u64(ste_addr + 8 * i as u64)
                .map_err(|_| self.cfg_fault(EventId::F_STE_FETCH, t, ste_addr))?;
        }
        match decode_ste(&words, &self.cfg) {
            Some(s) => {
                self.ste_cache.insert(key, CachedSte::Valid(s));
                Ok(s)
            }
            None => {
                if self.cfg.cache_invalid_ste {
                    self.ste_cache.insert(key, CachedSte::Invalid);
                }
                Err(self.cfg_fault(EventId::C_BAD_STE, t, 0))
            }
        }
    }

    fn bad_streamid(&self, t: &Transaction) -> Fault {
        let record = self.cr2.load(Ordering::Acquire) & CR2_RECINVSID != 0;
        let r = EventRecord::new(EventId::C_BAD_STREAMID, t.sid, t.ssid);
        let disposition = self.raise(r, record);
        Fault::Event {
            record: r,
            disposition,
            razwi: false,
        }
    }

    /// The address of the STE for `t.sid` (spec §3).
    fn ste_address(&self, t: &Transaction) -> Result<u64, Fault> {
        let cfg = u64::from(self.strtab_cfg.load(Ordering::Acquire));
        let base_reg = self.strtab_base.load(Ordering::Acquire);
        let lit = field(cfg, 0, 6) as u32;
        let eff = lit.min(self.cfg.sid_bits_eff());
        let sid = u64::from(t.sid);
        if sid >> eff != 0 {
            return Err(self.bad_streamid(t));
        }
        let base = addr_field(base_reg, 6);
        let two_level = self.cfg.two_level_strtab && field(cfg, 16, 2) == 1;
        if !two_level {
            // Linear: ADDR[LOG2SIZE+5:0] treated as zero, with the literal LOG2SIZE.
            let mask = 1u64.checked_shl(lit + 6).map_or(u64::MAX, |v| v - 1);
            return Ok((base & !mask) + sid * 64);
        }
        let split = self.l1_split();
        // ADDR[MAX(5, LOG2SIZE-SPLIT-1+3):0] treated as zero.
        let top = (i64::from(lit) - i64::from(split) + 2).max(5) as u32;
        let mask = 1u64.checked_shl(top + 1).map_or(u64::MAX, |v| v - 1);
        let l1_base = base & !mask;
        let l1_idx = (t.sid).checked_shr(split).unwrap_or(0);
        let l1_key = SidKey(l1_idx);
        let desc = match self.l1_cache.get(&l1_key) {
            Some(d) => d,
            None => {
                let addr = l1_base + u64::from(l1_idx) * 8;
                let d = self
                    .mem
                    .read_u64(addr)
                    .map_err(|_| self.cfg_fault(EventId::F_STE_FETCH, t, addr))?;
                let span = field(d, 0, 5) as u32;
                // Only a descriptor that selects an L2 table is cached.
                if span != 0 && span < 12 && span <= split + 1 {
                    self.l1_cache.insert(l1_key, d);
                }
                d
            }
        };
        let span = field(desc, 0, 5) as u32;
        if span == 0 || span >= 12 || span > split + 1 {
            return Err(self.bad_streamid(t));
        }
        let l2_idx = sid & ((1u64 << split) - 1);
        if l2_idx >> (span - 1) != 0 {
            return Err(self.bad_streamid(t));
        }
        // L2Ptr[5+(Span-1):0] treated as zero.
        let l2 = addr_field(desc, 6) & !((1u64 << (5 + span)) - 1);
        Ok(l2 + l2_idx * 64)
    }

    // ------------------------------------------------------------------------------
    // Stage 2
    // ------------------------------------------------------------------------------

    /// Stage-2 translation of `ipa` (with the TLB, tag S2/VMID).
    fn s2_xlate(&self, s2: &S2Cfg, ipa: u64, a: AccessKind) -> Result<S2Out, S2Fail> {
        let p = &s2.walk;
        if ipa >> p.input_bits != 0 {
            return Err(S2Fail::Fault(EventId::F_TRANSLATION));
        }
        let key = TlbKey {
            tag: TlbTag::S2 { vmid: s2.vmid },
            page: ipa >> 12,
        };
        if let Some(e) = self.tlb.get(&key)
            && e.overlaps(ipa, 1)
            && let Some(attrs) = e.s2
        {
            s2_check(attrs, s2.affd, a).map_err(|f| S2Fail::Fault(perm_event(f)))?;
            return Ok(S2Out {
                pa: e.out_base + (ipa - e.block_base),
                attrs,
                size_log2: e.size_log2,
                tlb_hit: true,
            });
        }
        let leaf = walk(&self.mem, p, ipa, Ok::<u64, ()>).map_err(|e| match e {
            WalkError::Translation | WalkError::Nested(()) => S2Fail::Fault(EventId::F_TRANSLATION),
            WalkError::AddrSize => S2Fail::Fault(EventId::F_ADDR_SIZE),
            WalkError::Abort(pa) => S2Fail::Abort(pa),
        })?;
        let check = s2_check(leaf.attrs, s2.affd, a);
        if check != Err(PermFault::Access) {
            let block_base = ipa & !((1u64 << leaf.size_log2) - 1);
            self.tlb.insert(
                key,
                TlbEntry {
                    block_base,
                    size_log2: leaf.size_log2,
                    out_base: leaf.out_base,
                    ipa_base: block_base,
                    s1: None,
                    s2: Some(leaf.attrs),
                    global: false,
                },
            );
        }
        check.map_err(|f| S2Fail::Fault(perm_event(f)))?;
        Ok(S2Out {
            pa: leaf.out_base + (ipa & ((1u64 << leaf.size_log2) - 1)),
            attrs: leaf.attrs,
            size_log2: leaf.size_log2,
            tlb_hit: false,
        })
    }

    fn s2_fault(
        &self,
        t: &Transaction,
        a: AccessKind,
        s2: &S2Cfg,
        fail: S2Fail,
        ipa: u64,
        class: FaultClass,
    ) -> Fault {
        let (id, fetch) = match fail {
            S2Fail::Fault(id) => (id, 0),
            S2Fail::Abort(pa) => (EventId::F_WALK_EABT, pa),
        };
        let mut r = self.event(id, t, a);
        r.s2 = true;
        r.class = class;
        r.ipa = ipa;
        r.fetch_addr = fetch;
        r.ttrnw = id == EventId::F_WALK_EABT;
        // Translation-related faults are recorded only with STE.S2R; F_WALK_EABT
        // always.
        let record = id == EventId::F_WALK_EABT || s2.record;
        self.xlate_fault(r, record, false)
    }

    fn stage2_only(
        &self,
        t: &Transaction,
        ste: &SteInfo,
        a: AccessKind,
    ) -> Result<Translated, Fault> {
        let Some(s2) = ste.s2 else {
            return Err(self.cfg_fault(EventId::C_BAD_STE, t, 0));
        };
        // Stage 1 bypassed: an input above IAS is a stage-1 address size fault.
        if t.addr >> self.cfg.oas_bits != 0 {
            let r = self.event(EventId::F_ADDR_SIZE, t, a);
            return Err(self.xlate_fault(r, s2.record, false));
        }
        match self.s2_xlate(&s2, t.addr, a) {
            Ok(o) => {
                self.count_tlb(o.tlb_hit);
                Ok(Translated {
                    pa: o.pa,
                    kind: TranslationKind::Stage2,
                    tlb_hit: o.tlb_hit,
                })
            }
            Err(f) => {
                self.count_tlb(false);
                Err(self.s2_fault(t, a, &s2, f, t.addr, FaultClass::InputAddress))
            }
        }
    }

    fn count_tlb(&self, hit: bool) {
        if hit {
            self.counters.tlb_hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.tlb_misses.fetch_add(1, Ordering::Relaxed);
        }
    }

    // ------------------------------------------------------------------------------
    // Context descriptors
    // ------------------------------------------------------------------------------

    /// Translates a CD-fetch IPA through stage 2 when the stream is nested.
    fn cd_fetch_addr(&self, t: &Transaction, ste: &SteInfo, ipa: u64) -> Result<u64, Fault> {
        match (ste.kind, ste.s2) {
            (SteKind::Nested, Some(s2)) => {
                let rd = AccessKind {
                    write: false,
                    privileged: false,
                    instruction: false,
                };
                let a = AccessKind {
                    write: t.access == Access::Write,
                    privileged: t.privileged,
                    instruction: t.instruction,
                };
                self.s2_xlate(&s2, ipa, rd)
                    .map(|o| o.pa)
                    .map_err(|f| self.s2_fault(t, a, &s2, f, ipa, FaultClass::Cd))
            }
            _ => Ok(ipa),
        }
    }

    fn context_descriptor(
        &self,
        t: &Transaction,
        ste: &SteInfo,
        s1: &S1Ste,
        idx: u32,
    ) -> Result<CdInfo, Fault> {
        let key = CdKey { sid: t.sid, idx };
        if let Some(cd) = self.cd_cache.get(&key) {
            return Ok(cd);
        }
        self.counters.cd_fetches.fetch_add(1, Ordering::Relaxed);
        let cd_ipa = if s1.cdmax == 0 {
            s1.ctx_ptr
        } else if s1.fmt == 0 {
            s1.ctx_ptr + u64::from(idx) * 64
        } else {
            let split = if s1.fmt == 1 { 6 } else { 10 };
            let l1_ipa = s1.ctx_ptr + u64::from(idx >> split) * 8;
            let l1_pa = self.cd_fetch_addr(t, ste, l1_ipa)?;
            let l1 = self
                .mem
                .read_u64(l1_pa)
                .map_err(|_| self.cfg_fault(EventId::F_CD_FETCH, t, l1_pa))?;
            if l1 & 1 == 0 {
                return Err(self.cfg_fault(EventId::C_BAD_SUBSTREAMID, t, 0));
            }
            addr_field(l1, 12) + u64::from(idx & ((1 << split) - 1)) * 64
        };
        let cd_pa = self.cd_fetch_addr(t, ste, cd_ipa)?;
        let mut words = [0u64; 8];
        for (i, w) in words.iter_mut().enumerate() {
            *w = self
                .mem
                .read_u64(cd_pa + 8 * i as u64)
                .map_err(|_| self.cfg_fault(EventId::F_CD_FETCH, t, cd_pa))?;
        }
        let e2h = self.cr2.load(Ordering::Acquire) & CR2_E2H != 0;
        match decode_cd(&words, &self.cfg, s1.stalld, s1.el2, e2h) {
            Some(cd) => {
                self.cd_cache.insert(key, cd);
                Ok(cd)
            }
            None => Err(self.cfg_fault(EventId::C_BAD_CD, t, 0)),
        }
    }

    // ------------------------------------------------------------------------------
    // Stage 1 (and nested)
    // ------------------------------------------------------------------------------

    fn stage1(&self, t: &Transaction, ste: &SteInfo, a: AccessKind) -> Result<Translated, Fault> {
        let Some(s1) = ste.s1 else {
            return Err(self.cfg_fault(EventId::C_BAD_STE, t, 0));
        };
        let nested = ste.kind == SteKind::Nested;
        let idx = match t.ssid {
            Some(ssid) => {
                if s1.cdmax == 0 || ssid >> s1.cdmax != 0 {
                    return Err(self.cfg_fault(EventId::C_BAD_SUBSTREAMID, t, 0));
                }
                if ssid == 0 && s1.dss == 2 {
                    return Err(self.cfg_fault(EventId::F_STREAM_DISABLED, t, 0));
                }
                ssid
            }
            None if s1.cdmax == 0 => 0,
            None => match s1.dss {
                1 => {
                    // Stage 1 bypass for traffic without a substream.
                    return if nested {
                        self.stage2_only(t, ste, a)
                    } else {
                        Ok(Translated {
                            pa: t.addr,
                            kind: TranslationKind::Stage1Bypass,
                            tlb_hit: false,
                        })
                    };
                }
                2 => 0,
                _ => return Err(self.cfg_fault(EventId::F_STREAM_DISABLED, t, 0)),
            },
        };
        let cd = self.context_descriptor(t, ste, &s1, idx)?;
        let razwi = !cd.abort;
        let s1_fault = |id: EventId| {
            let r = self.event(id, t, a);
            self.xlate_fault(r, cd.record, razwi)
        };
        // TTB selection (AArch64): VA[55] picks TTB0/TTB1; VA[55:IA] must all equal
        // VA[55], and VA[63:56] too unless TBI applies.
        let top = (t.addr >> 55) & 1;
        let i = top as usize;
        let Some(ttb) = cd.ttb.get(i).copied().flatten() else {
            return Err(s1_fault(EventId::F_TRANSLATION));
        };
        let ia = ttb.walk.input_bits;
        let upper = (t.addr & VA_MASK) >> ia;
        let want = if top == 1 { VA_MASK >> ia } else { 0 };
        let tbi = cd.tbi.get(i).copied().unwrap_or(false);
        let top_byte = t.addr >> 56;
        let top_ok = tbi || top_byte == if top == 1 { 0xFF } else { 0 };
        if upper != want || !top_ok {
            return Err(s1_fault(EventId::F_TRANSLATION));
        }
        let va = t.addr & VA_MASK;
        let ctl = S1Controls {
            regime: cd.regime,
            affd: cd.affd,
            wxn: cd.wxn,
            pan: cd.pan,
        };
        let tag = if s1.el2 {
            TlbTag::El2 { asid: cd.asid }
        } else {
            TlbTag::Nh {
                vmid: ste.vmid,
                asid: cd.asid,
            }
        };
        let key = TlbKey {
            tag,
            page: va >> 12,
        };
        let kind = if nested {
            TranslationKind::Nested
        } else {
            TranslationKind::Stage1
        };
        let s2 = if nested { ste.s2 } else { None };
        // TLB hit: permission checks on the cached attributes.
        if let Some(e) = self.tlb.get(&key)
            && e.overlaps(va, 1)
            && let Some((attrs, table)) = e.s1
        {
            self.count_tlb(true);
            s1_check(attrs, table, &ctl, a).map_err(|f| s1_fault(perm_event(f)))?;
            let off = va - e.block_base;
            if let (Some(s2), Some(s2attrs)) = (s2, e.s2)
                && let Err(f) = s2_check(s2attrs, s2.affd, a)
            {
                let ipa = e.ipa_base + off;
                return Err(self.s2_fault(
                    t,
                    a,
                    &s2,
                    S2Fail::Fault(perm_event(f)),
                    ipa,
                    FaultClass::InputAddress,
                ));
            }
            return Ok(Translated {
                pa: e.out_base + off,
                kind,
                tlb_hit: true,
            });
        }
        self.count_tlb(false);
        let input = va & ((1u64 << ia) - 1);
        let rd = AccessKind {
            write: false,
            privileged: false,
            instruction: false,
        };
        let mut nested_fault: Option<(S2Fail, u64)> = None;
        let walked = walk(&self.mem, &ttb.walk, input, |tipa| match s2 {
            Some(s2) => self.s2_xlate(&s2, tipa, rd).map(|o| o.pa).map_err(|f| {
                nested_fault = Some((f, tipa));
            }),
            None => Ok(tipa),
        });
        let leaf = match walked {
            Ok(l) => l,
            Err(WalkError::Translation) => return Err(s1_fault(EventId::F_TRANSLATION)),
            Err(WalkError::AddrSize) => return Err(s1_fault(EventId::F_ADDR_SIZE)),
            Err(WalkError::Abort(pa)) => {
                let mut r = self.event(EventId::F_WALK_EABT, t, a);
                r.class = FaultClass::TranslationTable;
                r.fetch_addr = pa;
                r.ttrnw = true;
                return Err(self.xlate_fault(r, true, false));
            }
            Err(WalkError::Nested(())) => {
                return Err(match (nested_fault, s2) {
                    (Some((f, tipa)), Some(s2)) => {
                        self.s2_fault(t, a, &s2, f, tipa, FaultClass::TranslationTable)
                    }
                    _ => s1_fault(EventId::F_TRANSLATION),
                });
            }
        };
        let s1_size = leaf.size_log2;
        let out = leaf.out_base + (input & ((1u64 << s1_size) - 1));
        let check = s1_check(leaf.attrs, leaf.table, &ctl, a);
        let global = leaf.attrs & (1 << 11) == 0;
        if let Err(PermFault::Access) = check {
            return Err(s1_fault(EventId::F_ACCESS));
        }
        let Some(s2) = s2 else {
            let block_base = va & !((1u64 << s1_size) - 1);
            self.tlb.insert(
                key,
                TlbEntry {
                    block_base,
                    size_log2: s1_size,
                    out_base: leaf.out_base,
                    ipa_base: leaf.out_base,
                    s1: Some((leaf.attrs, leaf.table)),
                    s2: None,
                    global,
                },
            );
            check.map_err(|f| s1_fault(perm_event(f)))?;
            return Ok(Translated {
                pa: out,
                kind,
                tlb_hit: false,
            });
        };
        check.map_err(|f| s1_fault(perm_event(f)))?;
        // Nested: the stage-1 output is an IPA.
        let o = self
            .s2_xlate(&s2, out, a)
            .map_err(|f| self.s2_fault(t, a, &s2, f, out, FaultClass::InputAddress))?;
        let size = s1_size.min(o.size_log2);
        let mask = (1u64 << size) - 1;
        self.tlb.insert(
            key,
            TlbEntry {
                block_base: va & !mask,
                size_log2: size,
                out_base: o.pa & !mask,
                ipa_base: out & !mask,
                s1: Some((leaf.attrs, leaf.table)),
                s2: Some(o.attrs),
                global,
            },
        );
        Ok(Translated {
            pa: o.pa,
            kind,
            tlb_hit: false,
        })
    }
}

/// Why a DMA access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DmaError {
    /// The SMMU terminated the transaction.
    #[error("transaction terminated by the SMMU: {0:?}")]
    Fault(Fault),
    /// The transaction was translated to an address that is not RAM.
    #[error("bus error at {pa:#x}: {error}")]
    Bus {
        /// The output address.
        pa: u64,
        /// The memory error.
        error: MemError,
    },
}
