//! Event records (spec §5) and the model's internal fault log.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use smmu_regs::event::Event;

/// The event type (`EventID`, spec §5.1): the `smmu-regs` definition, re-exported so that
/// the model and the driver name events the same way.
pub use smmu_regs::event::EventId;

/// The `CLASS` field of a translation-fault record: which kind of access faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultClass {
    /// The fetch of a CD (through stage 2).
    Cd = 0,
    /// A translation-table access.
    TranslationTable = 1,
    /// The input address of the transaction itself.
    InputAddress = 2,
}

/// An event record, as the model produces it (spec §5.2). [`to_words`](Self::to_words)
/// gives the 32-byte queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventRecord {
    /// Event type.
    pub id: EventId,
    /// StreamID of the transaction.
    pub sid: u32,
    /// SubstreamID, if the transaction had one.
    pub ssid: Option<u32>,
    /// Input address (translation faults, `F_WALK_EABT`).
    pub input_addr: u64,
    /// Faulting IPA (stage-2 translation faults).
    pub ipa: u64,
    /// Fetch address (`F_STE_FETCH`, `F_CD_FETCH`, `F_WALK_EABT`).
    pub fetch_addr: u64,
    /// `CLASS` (translation faults).
    pub class: FaultClass,
    /// The fault happened at stage 2.
    pub s2: bool,
    /// The transaction was a read.
    pub rnw: bool,
    /// The transaction was an instruction fetch.
    pub ind: bool,
    /// The transaction was privileged.
    pub pnu: bool,
    /// The faulting table access was a read (`F_WALK_EABT`).
    pub ttrnw: bool,
}

impl EventRecord {
    /// A record of type `id` for `sid`/`ssid` with every other field zero.
    #[must_use]
    pub const fn new(id: EventId, sid: u32, ssid: Option<u32>) -> Self {
        Self {
            id,
            sid,
            ssid,
            input_addr: 0,
            ipa: 0,
            fetch_addr: 0,
            class: FaultClass::Cd,
            s2: false,
            rnw: false,
            ind: false,
            pnu: false,
            ttrnw: false,
        }
    }

    /// The record as a typed `smmu-regs` event (spec §5.1–§5.2), which
    /// [`to_words`](Self::to_words) encodes. Every value fits its field: the SubstreamID
    /// is cut to 20 bits, FetchAddr to `[55:3]`, IPA to `[55:12]`, and the E_PAGE_REQUEST
    /// address to `[63:12]`.
    ///
    /// * The SubstreamID is carried with SSV = 1 when the transaction had one; except
    ///   that C_BAD_SUBSTREAMID carries it without SSV, and F_STREAM_DISABLED and
    ///   F_TRANSL_FORBIDDEN carry none.
    /// * Translation faults (0x10–0x13), F_WALK_EABT, F_UUT and F_TLB_CONFLICT carry
    ///   PnU / InD / RnW; the translation faults, F_WALK_EABT and F_TLB_CONFLICT also S2,
    ///   and the first two CLASS; the translation faults also TTRnW; F_TRANSL_FORBIDDEN
    ///   RnW only. The IPA is recorded only for a stage-2 fault (`s2`).
    /// * IMPLEMENTATION DEFINED and reserved IDs (never raised by the model) get the
    ///   common dw0 header only: EventID, SSV, SubstreamID, StreamID.
    /// * Fields the model does not produce (STAG and Stall: nothing stalls; the
    ///   IMPLEMENTATION DEFINED Reasons, GPCF; the raw dw1 of F_BAD_ATS_TREQ and
    ///   E_PAGE_REQUEST) are zero.
    #[must_use]
    pub fn to_event(&self) -> Event {
        use smmu_regs::event::{
            FaultClass as Class, TranslationFault, TranslationFaultKind, field,
        };
        use smmu_regs::ids::Ipa;
        use smmu_regs::{Iova, PhysAddr, StreamId, SubstreamId};

        const ADDR_55_3: u64 = 0x00FF_FFFF_FFFF_FFF8;
        const ADDR_55_12: u64 = 0x00FF_FFFF_FFFF_F000;

        let sid = StreamId(self.sid);
        let (ssv, ssid) = match self.ssid {
            Some(s) => (true, SubstreamId(s & 0xF_FFFF)),
            None => (false, SubstreamId(0)),
        };
        let class = match self.class {
            FaultClass::Cd => Class::Cd,
            FaultClass::TranslationTable => Class::TranslationTable,
            FaultClass::InputAddress => Class::InputAddr,
        };
        let (pnu, ind, rnw, s2) = (self.pnu, self.ind, self.rnw, self.s2);
        let input_addr = Iova(self.input_addr);
        let fetch_addr = PhysAddr(self.fetch_addr & ADDR_55_3);
        let ipa = Ipa(if s2 { self.ipa & ADDR_55_12 } else { 0 });
        match self.id {
            EventId::F_UUT => Event::Uut {
                sid,
                ssv,
                ssid,
                reason: 0,
                pnu,
                ind,
                rnw,
                input_addr,
            },
            EventId::C_BAD_STREAMID => Event::BadStreamId { sid, ssv, ssid },
            EventId::F_STE_FETCH => Event::SteFetch {
                sid,
                ssv,
                ssid,
                reason: 0,
                gpcf: false,
                fetch_addr,
            },
            EventId::C_BAD_STE => Event::BadSte { sid, ssv, ssid },
            EventId::F_BAD_ATS_TREQ => Event::BadAtsTreq {
                sid,
                ssv,
                ssid,
                raw_dw1: 0,
                input_addr,
            },
            EventId::F_STREAM_DISABLED => Event::StreamDisabled { sid },
            EventId::F_TRANSL_FORBIDDEN => Event::TranslForbidden {
                sid,
                rnw,
                input_addr,
            },
            EventId::C_BAD_SUBSTREAMID => Event::BadSubstreamId { sid, ssid },
            EventId::F_CD_FETCH => Event::CdFetch {
                sid,
                ssv,
                ssid,
                reason: 0,
                gpcf: false,
                fetch_addr,
            },
            EventId::C_BAD_CD => Event::BadCd { sid, ssv, ssid },
            EventId::F_WALK_EABT => Event::WalkEabt {
                sid,
                ssv,
                ssid,
                reason: 0,
                pnu,
                ind,
                rnw,
                s2,
                class,
                input_addr,
                fetch_addr,
            },
            EventId::F_TLB_CONFLICT => Event::TlbConflict {
                sid,
                ssv,
                ssid,
                pnu,
                ind,
                rnw,
                s2,
                input_addr,
                ipa,
            },
            EventId::F_CFG_CONFLICT => Event::CfgConflict {
                sid,
                ssv,
                ssid,
                reason: 0,
            },
            EventId::E_PAGE_REQUEST => Event::PageRequest {
                sid,
                ssv,
                ssid,
                raw_dw1: 0,
                input_addr: Iova(self.input_addr & !0xFFF),
            },
            EventId::F_VMS_FETCH => Event::VmsFetch {
                sid,
                ssv,
                ssid,
                reason: 0,
                gpcf: false,
                fetch_addr,
            },
            id => match TranslationFaultKind::from_id(id) {
                Some(kind) => Event::TranslationFault(TranslationFault {
                    kind,
                    sid,
                    ssv,
                    ssid,
                    stall: false,
                    stag: 0,
                    pnu,
                    ind,
                    rnw,
                    s2,
                    class,
                    ttrnw: self.ttrnw,
                    input_addr,
                    ipa,
                }),
                None => {
                    let dw0 = field::SID.set(0, u64::from(sid.0));
                    let dw0 = field::SSV.set(dw0, u64::from(ssv));
                    let words = [field::SSID.set(dw0, u64::from(ssid.0)), 0, 0, 0];
                    if id.is_impdef() {
                        Event::Impdef { id, words }
                    } else {
                        Event::Unknown { id, words }
                    }
                }
            },
        }
    }

    /// Encodes the record as the four 64-bit words of an event queue entry (spec §5.2),
    /// with `smmu_regs::event::Event::encode` of [`to_event`](Self::to_event):
    ///
    /// * dw0: EventID`[7:0]`, SSV`[11]`, SubstreamID`[31:12]`, StreamID`[63:32]`;
    /// * dw1: PnU`[33]`, InD`[34]`, RnW`[35]`, S2`[39]`, CLASS`[41:40]`, TTRnW`[44]`;
    /// * dw2: InputAddr;
    /// * dw3: IPA`[55:12]` for stage-2 translation faults, FetchAddr`[55:3]` for
    ///   `F_STE_FETCH`, `F_CD_FETCH`, `F_WALK_EABT` and `F_VMS_FETCH`.
    #[must_use]
    pub fn to_words(&self) -> [u64; 4] {
        match self.to_event().encode() {
            Ok(words) => words,
            // Not reached: `to_event` cuts every value to its field and builds `Impdef` /
            // `Unknown` only for IDs of that kind (the unit tests encode every ID). Should
            // it happen, the record still names its type.
            Err(_) => [u64::from(self.id.0), 0, 0, 0],
        }
    }
}

/// What happened to an event the SMMU raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Written to the event queue.
    Written,
    /// Not written because recording is disabled for it (`CD.R` = 0, `STE.S2R` = 0,
    /// `CR2.RECINVSID` = 0).
    NotRecorded,
    /// Discarded because `EVENTQEN` = 0 (does not count as an overflow).
    QueueDisabled,
    /// Discarded because the event queue was full (overflow).
    Overflow,
    /// The write of the record to memory aborted (`GERROR.EVENTQ_ABT_ERR`).
    WriteAborted,
}

/// One entry of the internal fault log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultLogEntry {
    /// The event.
    pub record: EventRecord,
    /// What happened to it.
    pub disposition: Disposition,
}

/// The internal log of every fault raised, recorded or not.
pub(crate) struct FaultLog {
    counts: [AtomicU64; 256],
    dispositions: [AtomicU64; 5],
    recent: Mutex<VecDeque<FaultLogEntry>>,
    capacity: usize,
}

impl FaultLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            dispositions: std::array::from_fn(|_| AtomicU64::new(0)),
            recent: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
        }
    }

    pub(crate) fn push(&self, entry: FaultLogEntry) {
        self.counts[usize::from(entry.record.id.0)].fetch_add(1, Ordering::Relaxed);
        self.dispositions[entry.disposition as usize].fetch_add(1, Ordering::Relaxed);
        if self.capacity == 0 {
            return;
        }
        let mut q = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() >= self.capacity {
            q.pop_front();
        }
        q.push_back(entry);
    }

    pub(crate) fn count(&self, id: EventId) -> u64 {
        self.counts[usize::from(id.0)].load(Ordering::Relaxed)
    }

    pub(crate) fn count_disposition(&self, d: Disposition) -> u64 {
        self.dispositions[d as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub(crate) fn recent(&self) -> Vec<FaultLogEntry> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect()
    }

    pub(crate) fn clear(&self) {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_translation_fault() {
        let mut r = EventRecord::new(EventId::F_PERMISSION, 0x1234, Some(5));
        r.input_addr = 0xFFFF_0000_1000;
        r.ipa = 0x8000_1234;
        r.s2 = true;
        r.rnw = true;
        r.class = FaultClass::InputAddress;
        let w = r.to_words();
        assert_eq!(w[0], 0x13 | 1 << 11 | 5 << 12 | 0x1234 << 32);
        assert_eq!(w[1], 1 << 35 | 1 << 39 | 2 << 40);
        assert_eq!(w[2], 0xFFFF_0000_1000);
        assert_eq!(w[3], 0x8000_1000);
    }

    #[test]
    fn bad_substreamid_has_no_ssv() {
        let r = EventRecord::new(EventId::C_BAD_SUBSTREAMID, 1, Some(3));
        assert_eq!(r.to_words()[0], 0x08 | 3 << 12 | 1 << 32);
    }

    #[test]
    fn encodes_stage1_translation_fault_without_ipa() {
        let mut r = EventRecord::new(EventId::F_TRANSLATION, 7, None);
        r.input_addr = 0x1234_5678;
        r.ipa = 0xDEAD_0000; // stage 1: not recorded
        r.pnu = true;
        r.ind = true;
        r.ttrnw = true;
        r.class = FaultClass::TranslationTable;
        // dw1: PnU[33], InD[34], RnW[35] = 0 (a write), CLASS[41:40] = 1, TTRnW[44].
        assert_eq!(
            r.to_words(),
            [
                0x10 | 7 << 32,
                1 << 33 | 1 << 34 | 1 << 40 | 1 << 44,
                0x1234_5678,
                0
            ]
        );
    }

    #[test]
    fn fetch_addresses_are_in_dw3() {
        // F_STE_FETCH: FetchAddr[55:3] in dw3; the low 3 bits and bits above 55 are not
        // part of the field.
        let mut r = EventRecord::new(EventId::F_STE_FETCH, 0x20, None);
        r.fetch_addr = 0xFF00_0000_8000_104F;
        assert_eq!(r.to_words(), [0x03 | 0x20 << 32, 0, 0, 0x8000_1048]);
        // F_CD_FETCH: our model writes its fetch address to dw3 too (spec §5.2).
        let mut r = EventRecord::new(EventId::F_CD_FETCH, 0x21, Some(9));
        r.fetch_addr = 0x4_0000_0040;
        assert_eq!(
            r.to_words(),
            [0x09 | 1 << 11 | 9 << 12 | 0x21 << 32, 0, 0, 0x4_0000_0040]
        );
    }

    #[test]
    fn encodes_walk_eabt() {
        let mut r = EventRecord::new(EventId::F_WALK_EABT, 3, Some(0xF_FFFF));
        r.input_addr = 0xFFFF_8000_0000_1000;
        r.fetch_addr = 0x4_0000_0018;
        r.rnw = true;
        r.s2 = true;
        r.class = FaultClass::TranslationTable;
        r.ttrnw = true; // not a field of this record's layout (smmu-regs)
        assert_eq!(
            r.to_words(),
            [
                0x0B | 1 << 11 | 0xF_FFFF << 12 | 3 << 32,
                1 << 35 | 1 << 39 | 1 << 40,
                0xFFFF_8000_0000_1000,
                0x4_0000_0018
            ]
        );
    }

    #[test]
    fn substream_fields_per_record_type() {
        // C_BAD_STE with SubstreamID 0: SSV = 1, SSID = 0.
        let r = EventRecord::new(EventId::C_BAD_STE, 0x55, Some(0));
        assert_eq!(r.to_words(), [0x04 | 1 << 11 | 0x55 << 32, 0, 0, 0]);
        // F_STREAM_DISABLED carries no SubstreamID.
        let r = EventRecord::new(EventId::F_STREAM_DISABLED, 0x55, Some(5));
        assert_eq!(r.to_words(), [0x06 | 0x55 << 32, 0, 0, 0]);
        // F_TRANSL_FORBIDDEN: StreamID, RnW[35], InputAddr (dw2); no SubstreamID.
        let mut r = EventRecord::new(EventId::F_TRANSL_FORBIDDEN, 0x56, Some(5));
        r.rnw = true;
        r.input_addr = 0x9000_0000;
        assert_eq!(r.to_words(), [0x07 | 0x56 << 32, 1 << 35, 0x9000_0000, 0]);
    }

    #[test]
    fn every_event_id_encodes_and_names_its_stream() {
        for id in 0..=255u8 {
            let id = EventId(id);
            let mut r = EventRecord::new(id, u32::MAX, Some(u32::MAX));
            r.input_addr = u64::MAX;
            r.ipa = u64::MAX;
            r.fetch_addr = u64::MAX;
            r.s2 = true;
            r.rnw = true;
            r.ind = true;
            r.pnu = true;
            r.ttrnw = true;
            let event = r.to_event();
            let words = event.encode().unwrap_or_else(|e| panic!("{id}: {e:?}"));
            assert_eq!(r.to_words(), words);
            assert_eq!(words[0] & 0xFF, u64::from(id.0), "{id}");
            assert_eq!(words[0] >> 32, u64::from(u32::MAX), "{id}");
            assert_eq!(Event::decode(words).id(), id);
            if !id.is_architected() {
                // The common header only: SSV, SubstreamID[31:12], StreamID.
                assert_eq!(
                    words,
                    [
                        u64::from(id.0) | 1 << 11 | 0xF_FFFF << 12 | 0xFFFF_FFFF << 32,
                        0,
                        0,
                        0
                    ]
                );
            }
        }
    }

    #[test]
    fn log_is_bounded() {
        let log = FaultLog::new(2);
        for i in 0..5 {
            log.push(FaultLogEntry {
                record: EventRecord::new(EventId::C_BAD_STE, i, None),
                disposition: Disposition::Written,
            });
        }
        assert_eq!(log.count(EventId::C_BAD_STE), 5);
        assert_eq!(log.total(), 5);
        assert_eq!(log.recent().len(), 2);
        assert_eq!(log.recent()[1].record.sid, 4);
        assert_eq!(log.count_disposition(Disposition::Written), 5);
    }
}
